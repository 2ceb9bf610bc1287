//! LoRA weights and forward passes.
//!
//! A LoRA adapter adds a low-rank update to a frozen weight `W` (`[out, in]`):
//! `W' = W + s·B·A` with `A` `[r, in]`, `B` `[out, r]` and scale `s = alpha / r` (PEFT's
//! convention). Serving never merges: `x·W'ᵀ = x·Wᵀ + s·(x·Aᵀ)·Bᵀ` costs `r·(in + out)` extra
//! multiply-adds per row instead of a copy of `W` per adapter.

use tch::{Kind, Tensor};

/// Errors from LoRA weights of the wrong shape.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    /// A tensor has the wrong number of dimensions or mismatched sizes.
    #[error("LoRA shape mismatch: {0}")]
    Shape(String),
    /// An adapter index in a batch points past the stacked adapters.
    #[error("adapter index {index} out of range for {count} stacked adapters")]
    AdapterIndex {
        /// The offending index.
        index: i64,
        /// How many adapters are stacked.
        count: i64,
    },
}

/// One adapter's weights for one target module.
#[derive(Debug)]
pub struct LoraWeights {
    /// Down projection, `[rank, in_features]`.
    pub a: Tensor,
    /// Up projection, `[out_features, rank]`.
    pub b: Tensor,
    /// `lora_alpha / rank`.
    pub scale: f64,
}

impl LoraWeights {
    /// Checks shapes and builds the adapter; `alpha` is PEFT's `lora_alpha`.
    pub fn new(a: Tensor, b: Tensor, alpha: f64) -> Result<Self, LoraError> {
        let (a_size, b_size) = (a.size(), b.size());
        if a_size.len() != 2 || b_size.len() != 2 || a_size[0] != b_size[1] || a_size[0] == 0 {
            return Err(LoraError::Shape(format!(
                "A must be [r, in] and B [out, r] with r > 0, got A {a_size:?} and B {b_size:?}"
            )));
        }
        let rank = a_size[0] as f64;
        Ok(Self { a, b, scale: alpha / rank })
    }

    /// The rank `r`.
    pub fn rank(&self) -> i64 {
        self.a.size()[0]
    }

    /// `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` for `x` `[n, in]` and `w` `[out, in]`, without merging.
    pub fn forward(&self, x: &Tensor, w: &Tensor) -> Result<Tensor, LoraError> {
        check_linear(x, w)?;
        if self.a.size()[1] != w.size()[1] || self.b.size()[0] != w.size()[0] {
            return Err(LoraError::Shape(format!(
                "adapter A {:?} / B {:?} does not fit the base weight {:?}",
                self.a.size(),
                self.b.size(),
                w.size()
            )));
        }
        let base = x.matmul(&w.tr());
        let delta = x.matmul(&self.a.tr()).matmul(&self.b.tr()) * self.scale;
        Ok(base + delta)
    }

    /// The merged weight `W + s·B·A`; for checking and for exporting a merged model.
    pub fn merged(&self, w: &Tensor) -> Tensor {
        w + self.b.matmul(&self.a) * self.scale
    }
}

fn check_linear(x: &Tensor, w: &Tensor) -> Result<(), LoraError> {
    let (xs, ws) = (x.size(), w.size());
    if xs.len() != 2 || ws.len() != 2 || xs[1] != ws[1] {
        return Err(LoraError::Shape(format!(
            "x must be [n, in] and W [out, in], got {xs:?} and {ws:?}"
        )));
    }
    Ok(())
}

/// The batched multi-adapter forward: one base matmul for all `n` rows, then each row's own
/// delta with the adapter `indices[i]` picked out of the stacks.
///
/// - `x`: `[n, in]`; `w`: `[out, in]`
/// - `a_stack`: `[k, r, in]`; `b_stack`: `[k, out, r]`; `scales`: `[k]` (zero-padded ranks are
///   fine: adapters of smaller rank are padded with zeros up to `r`)
/// - `indices`: `[n]` (int64), each in `0..k`
pub fn batched_lora_forward(
    x: &Tensor,
    w: &Tensor,
    a_stack: &Tensor,
    b_stack: &Tensor,
    scales: &Tensor,
    indices: &Tensor,
) -> Result<Tensor, LoraError> {
    check_linear(x, w)?;
    let (n, k) = (x.size()[0], a_stack.size().first().copied().unwrap_or(0));
    if a_stack.dim() != 3 || b_stack.dim() != 3 || a_stack.size()[2] != w.size()[1] {
        return Err(LoraError::Shape(format!(
            "stacks must be A [k, r, in] and B [k, out, r], got {:?} and {:?}",
            a_stack.size(),
            b_stack.size()
        )));
    }
    if b_stack.size()[0] != k
        || b_stack.size()[1] != w.size()[0]
        || b_stack.size()[2] != a_stack.size()[1]
    {
        return Err(LoraError::Shape(format!(
            "B stack {:?} does not match A stack {:?} and W {:?}",
            b_stack.size(),
            a_stack.size(),
            w.size()
        )));
    }
    if indices.size() != [n] || scales.size() != [k] {
        return Err(LoraError::Shape(format!(
            "expected indices [{n}] and scales [{k}], got {:?} and {:?}",
            indices.size(),
            scales.size()
        )));
    }
    let indices = indices.to_kind(Kind::Int64);
    if n > 0 {
        let (lo, hi) = (indices.min().int64_value(&[]), indices.max().int64_value(&[]));
        if lo < 0 || hi >= k {
            return Err(LoraError::AdapterIndex { index: if lo < 0 { lo } else { hi }, count: k });
        }
    }
    let base = x.matmul(&w.tr());
    // Gather each row's A and B, then two batched matrix-vector products: [n,1,in]·[n,in,r].
    let a_rows = a_stack.index_select(0, &indices);
    let b_rows = b_stack.index_select(0, &indices);
    let shrunk = x.unsqueeze(1).bmm(&a_rows.transpose(1, 2));
    let expanded = shrunk.bmm(&b_rows.transpose(1, 2)).squeeze_dim(1);
    let row_scales = scales.index_select(0, &indices).unsqueeze(1).to_kind(x.kind());
    Ok(base + expanded * row_scales)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn randn(shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Double, Device::Cpu))
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    /// The unmerged forward equals the forward through the merged weight.
    #[test]
    fn unmerged_forward_matches_merged_weights() {
        tch::manual_seed(7);
        let (n, d_in, d_out, r) = (5, 48, 32, 8);
        let (x, w) = (randn(&[n, d_in]), randn(&[d_out, d_in]));
        let lora = LoraWeights::new(randn(&[r, d_in]), randn(&[d_out, r]), 16.0).unwrap();
        assert_eq!(lora.scale, 2.0);

        let unmerged = lora.forward(&x, &w).unwrap();
        let merged = x.matmul(&lora.merged(&w).tr());
        assert_eq!(unmerged.size(), [n, d_out]);
        assert!(max_abs_diff(&unmerged, &merged) < 1e-9);
        // And the delta is really there: the base alone differs.
        assert!(max_abs_diff(&unmerged, &x.matmul(&w.tr())) > 1e-3);
    }

    /// Every row of a batch with mixed adapters equals that row through its own adapter alone.
    #[test]
    fn batched_forward_matches_per_row_adapters() {
        tch::manual_seed(11);
        let (n, d_in, d_out, r, k) = (9, 40, 24, 4, 3);
        let (x, w) = (randn(&[n, d_in]), randn(&[d_out, d_in]));
        let adapters: Vec<LoraWeights> = (0..k)
            .map(|i| {
                LoraWeights::new(randn(&[r, d_in]), randn(&[d_out, r]), 4.0 * (i + 1) as f64)
                    .unwrap()
            })
            .collect();
        let a_stack =
            Tensor::stack(&adapters.iter().map(|l| l.a.shallow_clone()).collect::<Vec<_>>(), 0);
        let b_stack =
            Tensor::stack(&adapters.iter().map(|l| l.b.shallow_clone()).collect::<Vec<_>>(), 0);
        let scales = Tensor::from_slice(&adapters.iter().map(|l| l.scale).collect::<Vec<_>>());
        let idx: Vec<i64> = (0..n).map(|i| (i * 2) % k).collect();
        let indices = Tensor::from_slice(&idx);

        let batched = batched_lora_forward(&x, &w, &a_stack, &b_stack, &scales, &indices).unwrap();
        for (row, &adapter) in idx.iter().enumerate() {
            let xi = x.narrow(0, row as i64, 1);
            let expected = adapters[adapter as usize].forward(&xi, &w).unwrap();
            let got = batched.narrow(0, row as i64, 1);
            assert!(max_abs_diff(&got, &expected) < 1e-9, "row {row} (adapter {adapter})");
        }
    }

    #[test]
    fn bad_shapes_and_indices_are_errors_not_panics() {
        let (x, w) = (randn(&[2, 8]), randn(&[4, 8]));
        assert!(matches!(
            LoraWeights::new(randn(&[2, 8]), randn(&[4, 3]), 1.0),
            Err(LoraError::Shape(_))
        ));
        let lora = LoraWeights::new(randn(&[2, 7]), randn(&[4, 2]), 1.0).unwrap();
        assert!(matches!(lora.forward(&x, &w), Err(LoraError::Shape(_))));

        let (a, b, s) =
            (randn(&[3, 2, 8]), randn(&[3, 4, 2]), Tensor::from_slice(&[1.0f64, 1.0, 1.0]));
        let bad_index = Tensor::from_slice(&[0i64, 3]);
        assert!(matches!(
            batched_lora_forward(&x, &w, &a, &b, &s, &bad_index),
            Err(LoraError::AdapterIndex { index: 3, count: 3 })
        ));
        let negative = Tensor::from_slice(&[-1i64, 0]);
        assert!(matches!(
            batched_lora_forward(&x, &w, &a, &b, &s, &negative),
            Err(LoraError::AdapterIndex { index: -1, .. })
        ));
        let short = Tensor::from_slice(&[0i64]);
        assert!(matches!(
            batched_lora_forward(&x, &w, &a, &b, &s, &short),
            Err(LoraError::Shape(_))
        ));
    }
}
