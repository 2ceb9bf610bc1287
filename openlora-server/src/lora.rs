//! LoRA weights and forward passes.
//!
//! A LoRA adapter adds a low-rank update to a frozen weight `W` (`[out, in]`):
//! `W' = W + s·B·A` with `A` `[r, in]`, `B` `[out, r]` and scale `s = alpha / r` (PEFT's
//! convention). Serving never merges: `x·W'ᵀ = x·Wᵀ + s·(x·Aᵀ)·Bᵀ` costs `r·(in + out)` extra
//! multiply-adds per row instead of a copy of `W` per adapter.

use tch::{Device, Kind, Tensor};

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

/// The seven linear modules of a Llama block that an adapter may target, by PEFT's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModuleKind {
    /// `self_attn.q_proj`
    Q,
    /// `self_attn.k_proj`
    K,
    /// `self_attn.v_proj`
    V,
    /// `self_attn.o_proj`
    O,
    /// `mlp.gate_proj`
    Gate,
    /// `mlp.up_proj`
    Up,
    /// `mlp.down_proj`
    Down,
}

impl ModuleKind {
    /// All seven, in a fixed order (the index of each is [`ModuleKind::index`]).
    pub const ALL: [ModuleKind; 7] =
        [Self::Q, Self::K, Self::V, Self::O, Self::Gate, Self::Up, Self::Down];

    /// PEFT's module name (`q_proj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Q => "q_proj",
            Self::K => "k_proj",
            Self::V => "v_proj",
            Self::O => "o_proj",
            Self::Gate => "gate_proj",
            Self::Up => "up_proj",
            Self::Down => "down_proj",
        }
    }

    /// The parent module in the checkpoint (`self_attn` or `mlp`).
    pub fn parent(self) -> &'static str {
        match self {
            Self::Q | Self::K | Self::V | Self::O => "self_attn",
            Self::Gate | Self::Up | Self::Down => "mlp",
        }
    }

    /// Position in [`ModuleKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses PEFT's module name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Which adapter slot each row of a batch uses for one module, prepared once per step and
/// shared by every layer. Built from per-row slot indices where `-1` means "no adapter".
#[derive(Debug)]
pub struct LoraMapping {
    rows: usize,
    /// Rows that carry an adapter, ascending (`[m]`, int64).
    active_rows: Tensor,
    /// The slot of each active row (`[m]`, int64).
    active_slots: Tensor,
    /// Whether every row is active (then `active_rows` is `0..n` and need not be gathered).
    all_active: bool,
    /// Rows grouped by slot, on the host: `(slot, rows)`.
    groups_host: Vec<(i64, Vec<i64>)>,
    /// The same as tensors, built on first use by the grouped backend.
    groups: std::cell::OnceCell<Vec<(i64, Tensor)>>,
    device: Device,
    /// Largest slot index used plus one (for bounds checks).
    max_slot: i64,
    /// The per-row slots as given (`-1` = none), for kernels that take them from the host.
    indices: Vec<i64>,
}

impl LoraMapping {
    /// Prepares the mapping of `indices` (one slot per row, `-1` = none) on `device`.
    pub fn new(indices: &[i64], device: Device) -> Self {
        let mut rows = Vec::new();
        let mut slots = Vec::new();
        let mut by_slot: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
        for (row, &slot) in indices.iter().enumerate() {
            if slot >= 0 {
                rows.push(row as i64);
                slots.push(slot);
                by_slot.entry(slot).or_default().push(row as i64);
            }
        }
        let max_slot = slots.iter().copied().max().map_or(0, |m| m + 1);
        Self {
            rows: indices.len(),
            all_active: rows.len() == indices.len(),
            active_rows: Tensor::from_slice(&rows).to_device(device),
            active_slots: Tensor::from_slice(&slots).to_device(device),
            groups_host: by_slot.into_iter().collect(),
            groups: std::cell::OnceCell::new(),
            device,
            max_slot,
            indices: indices.to_vec(),
        }
    }

    /// The per-row slots as given (`-1` = none).
    pub fn indices(&self) -> &[i64] {
        &self.indices
    }

    /// Whether no row uses an adapter (the module then runs as the plain base layer).
    pub fn is_empty(&self) -> bool {
        self.groups_host.is_empty()
    }

    /// Distinct adapter slots in the batch.
    pub fn distinct(&self) -> usize {
        self.groups_host.len()
    }

    fn groups(&self) -> &[(i64, Tensor)] {
        self.groups.get_or_init(|| {
            self.groups_host
                .iter()
                .map(|(slot, rows)| (*slot, Tensor::from_slice(rows).to_device(self.device)))
                .collect()
        })
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// A batched multi-adapter LoRA kernel.
///
/// Semantics (what every implementation must compute, written as the plain loop; `A` is
/// `[slots, r, in]`, `Bt` is `[slots, r, out]`, the transpose of PEFT's `lora_B` with the
/// adapter's scale folded in, and `idx[i] = -1` leaves row `i` alone):
///
/// ```text
/// for i in 0..n:
///     if idx[i] >= 0:
///         y[i] += (x[i] @ A[idx[i]].T) @ Bt[idx[i]]
/// ```
///
/// Ranks smaller than `r` are stored zero-padded, which adds exact zeros.
pub trait LoraBackend: Send + std::fmt::Debug {
    /// A short name for logs and benchmarks.
    fn name(&self) -> &'static str;

    /// Adds each row's LoRA delta to `y` (`[n, out]`) for input `x` (`[n, in]`).
    fn add_lora(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> Result<(), LoraError>;
}

pub(crate) fn check_stacks(
    y: &Tensor,
    x: &Tensor,
    a: &Tensor,
    b: &Tensor,
    m: &LoraMapping,
) -> Result<(), LoraError> {
    let (ys, xs, as_, bs) = (y.size(), x.size(), a.size(), b.size());
    if xs.len() != 2
        || ys.len() != 2
        || as_.len() != 3
        || bs.len() != 3
        || xs[0] != ys[0]
        || xs[0] as usize != m.rows
        || as_[2] != xs[1]
        || bs[2] != ys[1]
        || bs[1] != as_[1]
        || bs[0] != as_[0]
    {
        return Err(LoraError::Shape(format!(
            "y {ys:?}, x {xs:?}, A {as_:?}, B {bs:?} for {} mapped rows",
            m.rows
        )));
    }
    if m.max_slot > as_[0] {
        return Err(LoraError::AdapterIndex { index: m.max_slot - 1, count: as_[0] });
    }
    Ok(())
}

/// BGMV on tch: gather each active row's `A` and `B` by slot (`index_select`), then two batched
/// matrix-vector products (`bmm`), then add into the active rows. Cost is independent of how
/// many distinct adapters the batch holds.
#[derive(Debug, Default, Clone, Copy)]
pub struct GatherBackend;

impl LoraBackend for GatherBackend {
    fn name(&self) -> &'static str {
        "gather-bmm"
    }

    fn add_lora(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> Result<(), LoraError> {
        check_stacks(y, x, a, b, mapping)?;
        if mapping.is_empty() {
            return Ok(());
        }
        let xs = if mapping.all_active {
            x.shallow_clone()
        } else {
            x.index_select(0, &mapping.active_rows)
        };
        let a_rows = a.index_select(0, &mapping.active_slots).to_kind(x.kind()); // [m, r, in]
        let b_rows = b.index_select(0, &mapping.active_slots).to_kind(x.kind()); // [m, r, out]
        let shrunk = xs.unsqueeze(1).bmm(&a_rows.transpose(1, 2)); // [m, 1, r]
        let delta = shrunk.bmm(&b_rows).squeeze_dim(1); // [m, out]
        if mapping.all_active {
            let _ = y.g_add_(&delta);
        } else {
            let _ = y.index_add_(0, &mapping.active_rows, &delta);
        }
        Ok(())
    }
}

/// BGMV as a CPU kernel over the slot memory ([`crate::cpu::bgmv`]): no gathered copies, one
/// pass per row over its adapter's `A` and `Bt`. For f32, f64 and bf16 CPU tensors; anything
/// else (CUDA tensors, f16) goes through [`GatherBackend`].
#[derive(Debug, Default, Clone, Copy)]
pub struct BgmvBackend;

impl BgmvBackend {
    fn run<T, X, W>(
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> bool
    where
        T: crate::cpu::Scalar,
        X: crate::cpu::Store<T>,
        W: crate::cpu::Load<T>,
    {
        use crate::cpu::{stored, stored_mut};
        let x = x.contiguous();
        let (d_in, r, d_out) = (a.size()[2] as usize, a.size()[1] as usize, b.size()[2] as usize);
        let (Some(xs), Some(av), Some(bv)) =
            (stored::<T, X>(&x), stored::<T, W>(a), stored::<T, W>(b))
        else {
            return false;
        };
        let Some(ys) = stored_mut::<T, X>(y) else { return false };
        crate::cpu::bgmv::<T, X, W>(ys, xs, av, bv, &mapping.indices, d_in, r, d_out);
        true
    }
}

impl LoraBackend for BgmvBackend {
    fn name(&self) -> &'static str {
        "bgmv-cpu"
    }

    fn add_lora(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> Result<(), LoraError> {
        use crate::cpu::Bf16;
        check_stacks(y, x, a, b, mapping)?;
        if mapping.is_empty() {
            return Ok(());
        }
        // Activations and slots each in their stored type; arithmetic in f64 for f64
        // activations, else in f32.
        let done = match (y.kind(), a.kind()) {
            (Kind::Float, Kind::Float) => Self::run::<f32, f32, f32>(y, x, a, b, mapping),
            (Kind::Double, Kind::Double) => Self::run::<f64, f64, f64>(y, x, a, b, mapping),
            (Kind::Float, Kind::BFloat16) => Self::run::<f32, f32, Bf16>(y, x, a, b, mapping),
            (Kind::BFloat16, Kind::BFloat16) => Self::run::<f32, Bf16, Bf16>(y, x, a, b, mapping),
            (Kind::BFloat16, Kind::Float) => Self::run::<f32, Bf16, f32>(y, x, a, b, mapping),
            _ => false,
        };
        if done { Ok(()) } else { GatherBackend.add_lora(y, x, a, b, mapping) }
    }
}

/// SGMV-style on tch: rows grouped by adapter slot, two plain matmuls per distinct adapter.
/// Faster than [`GatherBackend`] when few adapters serve many rows (long prefills), slower when
/// every row has its own adapter.
#[derive(Debug, Default, Clone, Copy)]
pub struct GroupedBackend;

impl LoraBackend for GroupedBackend {
    fn name(&self) -> &'static str {
        "grouped-mm"
    }

    fn add_lora(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> Result<(), LoraError> {
        check_stacks(y, x, a, b, mapping)?;
        for (slot, rows) in mapping.groups() {
            let xs = x.index_select(0, rows);
            let (a_s, b_s) = (a.get(*slot).to_kind(x.kind()), b.get(*slot).to_kind(x.kind()));
            let delta = xs.matmul(&a_s.tr()).matmul(&b_s);
            let _ = y.index_add_(0, rows, &delta);
        }
        Ok(())
    }
}

/// SGMV for long segments, BGMV for the rest, in one call: rows of an adapter that holds at
/// least `grouped_min_rows` rows in the batch (a prompt being prefilled) go through two plain
/// matmuls for that adapter ([`GroupedBackend`]'s way); all other rows (decode tokens, one or a
/// few per adapter) go through the BGMV kernel ([`BgmvBackend`]). The thresholds come from the
/// backend comparison in BENCHMARKS.md.
#[derive(Debug, Default, Clone, Copy)]
pub struct AutoBackend {
    /// Minimum rows of one adapter for the grouped path; `None` picks it by the kernel that
    /// runs ([`AutoBackend::default_min_rows`]).
    pub grouped_min_rows: Option<usize>,
}

impl AutoBackend {
    /// The grouped path's threshold for activations on `device`: 128 rows where the AVX-512
    /// BGMV kernel runs (it matches two matmuls up to about 64 rows of one adapter in f32 and
    /// 128 in bf16), 8 elsewhere (the portable kernel is 2–3× slower).
    pub fn default_min_rows(device: Device) -> usize {
        #[cfg(target_arch = "x86_64")]
        if device == Device::Cpu && crate::cpu::avx512::available() {
            return 128;
        }
        let _ = device;
        8
    }
}

impl LoraBackend for AutoBackend {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn add_lora(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> Result<(), LoraError> {
        check_stacks(y, x, a, b, mapping)?;
        let min_rows = self.grouped_min_rows.unwrap_or_else(|| Self::default_min_rows(x.device()));
        let big = |rows: &Vec<i64>| rows.len() >= min_rows;
        if !mapping.groups_host.iter().any(|(_, rows)| big(rows)) {
            return BgmvBackend.add_lora(y, x, a, b, mapping);
        }
        let mut rest = mapping.indices.clone();
        for (i, (slot, rows)) in mapping.groups_host.iter().enumerate() {
            if big(rows) {
                for &r in rows {
                    rest[r as usize] = -1;
                }
                let rows_t = &mapping.groups()[i].1;
                let xs = x.index_select(0, rows_t);
                let (a_s, b_s) = (a.get(*slot).to_kind(x.kind()), b.get(*slot).to_kind(x.kind()));
                let delta = xs.matmul(&a_s.tr()).matmul(&b_s);
                let _ = y.index_add_(0, rows_t, &delta);
            }
        }
        if rest.iter().any(|&s| s >= 0) {
            BgmvBackend.add_lora(y, x, a, b, &LoraMapping::new(&rest, mapping.device))?;
        }
        Ok(())
    }
}

/// Preallocated adapter slots for one linear module (vLLM's `lora_a_stacked`/`lora_b_stacked`):
/// `A` `[max_loras, max_rank, in]` and `Bt` `[max_loras, max_rank, out]` (`lora_B` transposed,
/// so the expand step reads contiguous rows), with each adapter's scale folded into `Bt` and
/// ranks below `max_rank` zero-padded.
#[derive(Debug)]
pub struct LoraSlots {
    /// The stacked down projections.
    pub a: Tensor,
    /// The stacked up projections, transposed and scaled.
    pub b: Tensor,
}

impl LoraSlots {
    /// Zeroed slots stored as `kind` (the model's dtype, or bf16 to halve the bytes each row
    /// reads; values are widened to the activations' dtype when used).
    pub fn new(
        max_loras: i64,
        max_rank: i64,
        d_in: i64,
        d_out: i64,
        kind: Kind,
        device: Device,
    ) -> Self {
        Self {
            a: Tensor::zeros([max_loras, max_rank, d_in], (kind, device)),
            b: Tensor::zeros([max_loras, max_rank, d_out], (kind, device)),
        }
    }

    /// Writes one adapter (`a` `[r, in]`, `b` `[out, r]`, already scaled) into `slot`.
    pub fn set_lora(&mut self, slot: i64, a: &Tensor, b_scaled: &Tensor) -> Result<(), LoraError> {
        let (slots, max_rank, d_in) = (self.a.size()[0], self.a.size()[1], self.a.size()[2]);
        let d_out = self.b.size()[2];
        let r = a.size().first().copied().unwrap_or(0);
        if slot < 0 || slot >= slots {
            return Err(LoraError::AdapterIndex { index: slot, count: slots });
        }
        if a.size() != [r, d_in] || b_scaled.size() != [d_out, r] || r > max_rank {
            return Err(LoraError::Shape(format!(
                "adapter A {:?} / B {:?} does not fit slots of rank ≤ {max_rank}, in {d_in}, out {d_out}",
                a.size(),
                b_scaled.size()
            )));
        }
        self.reset_lora(slot)?;
        self.a.get(slot).narrow(0, 0, r).copy_(a);
        self.b.get(slot).narrow(0, 0, r).copy_(&b_scaled.tr());
        Ok(())
    }

    /// Zeroes `slot`.
    pub fn reset_lora(&mut self, slot: i64) -> Result<(), LoraError> {
        let slots = self.a.size()[0];
        if slot < 0 || slot >= slots {
            return Err(LoraError::AdapterIndex { index: slot, count: slots });
        }
        let _ = self.a.get(slot).zero_();
        let _ = self.b.get(slot).zero_();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Both tch backends equal the plain loop of the trait's docs, with unused rows and slots.
    #[test]
    fn backends_match_the_loop_semantics() {
        tch::manual_seed(3);
        let (n, d_in, d_out, r, slots) = (7i64, 12i64, 10i64, 4i64, 5i64);
        let x = randn(&[n, d_in]);
        let mut lora = LoraSlots::new(slots, r, d_in, d_out, Kind::Double, Device::Cpu);
        for s in 0..slots {
            let rank = 1 + s % r;
            lora.set_lora(s, &randn(&[rank, d_in]), &randn(&[d_out, rank])).unwrap();
        }
        lora.reset_lora(4).unwrap();
        let idx = [2i64, -1, 0, 2, 4, -1, 3];
        let mapping = LoraMapping::new(&idx, Device::Cpu);
        let y0 = randn(&[n, d_out]);
        let expected = y0.copy();
        for (i, &s) in idx.iter().enumerate() {
            if s >= 0 {
                let xi = x.get(i as i64);
                let d = lora.b.get(s).tr().matmul(&lora.a.get(s).matmul(&xi));
                let mut row = expected.get(i as i64);
                let _ = row.g_add_(&d);
            }
        }
        let backends: [&dyn LoraBackend; 4] = [
            &GatherBackend,
            &GroupedBackend,
            &BgmvBackend,
            &AutoBackend { grouped_min_rows: Some(2) },
        ];
        for backend in backends {
            let mut y = y0.copy();
            backend.add_lora(&mut y, &x, &lora.a, &lora.b, &mapping).unwrap();
            assert!(max_abs_diff(&y, &expected) < 1e-10, "{}", backend.name());
        }
        let all = LoraMapping::new(&[1, 1, 1, 1, 1, 1, 1], Device::Cpu);
        let mut y = y0.copy();
        GatherBackend.add_lora(&mut y, &x, &lora.a, &lora.b, &all).unwrap();
        let mut y2 = y0.copy();
        BgmvBackend.add_lora(&mut y2, &x, &lora.a, &lora.b, &all).unwrap();
        assert!(max_abs_diff(&y, &y2) < 1e-10);
        let expected = &y0 + x.matmul(&lora.a.get(1).tr()).matmul(&lora.b.get(1));
        assert!(max_abs_diff(&y, &expected) < 1e-10);
        let out_of_range = LoraMapping::new(&[0, 0, 0, 0, 0, 0, 9], Device::Cpu);
        assert!(matches!(
            GatherBackend.add_lora(&mut y, &x, &lora.a, &lora.b, &out_of_range),
            Err(LoraError::AdapterIndex { index: 9, count: 5 })
        ));
        assert!(lora.set_lora(0, &randn(&[r + 1, d_in]), &randn(&[d_out, r + 1])).is_err());
        assert!(lora.set_lora(slots, &randn(&[1, d_in]), &randn(&[d_out, 1])).is_err());
    }
}
