//! Seeded random projections of per-block gradients (Johnson–Lindenstrauss): block `i` of
//! `d_i` parameters maps to `k_i` coordinates through a Gaussian matrix with entries
//! `N(0, 1/k_i)`, so inner products are kept in expectation (`E[PᵀP] = I`).
//!
//! The matrices are never stored: they are regenerated from `(seed, block)` by a ChaCha
//! stream, so an index header that names the seed and the dimensions is enough to project a
//! query the same way on any machine. A block no larger than its share is kept as it is.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// How gradients are projected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectionSpec {
    /// Seed of the matrices.
    pub seed: u64,
    /// Parameters per block.
    pub block_dims: Vec<usize>,
    /// Coordinates kept per block (equal to the block's parameters where not projected).
    pub out_dims: Vec<usize>,
}

impl ProjectionSpec {
    /// Splits `total` coordinates over the blocks: each gets an equal share (rounded up),
    /// capped at its own size; `total = 0` keeps every block whole.
    pub fn new(seed: u64, block_dims: Vec<usize>, total: usize) -> Self {
        let share = if total == 0 { usize::MAX } else { total.div_ceil(block_dims.len().max(1)) };
        let out_dims = block_dims.iter().map(|&d| d.min(share)).collect();
        Self { seed, block_dims, out_dims }
    }

    /// Total output width.
    pub fn dim(&self) -> usize {
        self.out_dims.iter().sum()
    }

    /// Where each block's coordinates start in a row.
    pub fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.out_dims
            .iter()
            .map(|d| {
                let o = at;
                at += d;
                o
            })
            .collect()
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The projection matrices of a [`ProjectionSpec`].
#[derive(Debug)]
pub struct Projector {
    spec: ProjectionSpec,
    /// `None` for a block kept whole.
    matrices: Vec<Option<Tensor>>,
}

impl Projector {
    /// Generates the matrices.
    pub fn new(spec: ProjectionSpec) -> Self {
        let matrices = spec
            .block_dims
            .iter()
            .zip(&spec.out_dims)
            .enumerate()
            .map(|(i, (&d, &k))| {
                (k < d).then(|| {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                        spec.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    let std = 1.0 / (k as f64).sqrt();
                    let values: Vec<f32> =
                        (0..d * k).map(|_| (normal(&mut rng) * std) as f32).collect();
                    Tensor::from_slice(&values).view([d as i64, k as i64])
                })
            })
            .collect();
        Self { spec, matrices }
    }

    /// The spec.
    pub fn spec(&self) -> &ProjectionSpec {
        &self.spec
    }

    /// Projects per-block gradients (`[n, d_out, d_in]` each) into rows `[n, dim]`.
    pub fn project(&self, blocks: &[Tensor]) -> Tensor {
        let parts: Vec<Tensor> = blocks
            .iter()
            .zip(&self.matrices)
            .map(|(g, m)| match m {
                Some(m) => flat_rows(g).matmul(m),
                None => flat_rows(g),
            })
            .collect();
        Tensor::cat(&parts, 1)
    }
}

/// A block `[n, …]` as f32 rows `[n, numel / n]`.
fn flat_rows(block: &Tensor) -> Tensor {
    block.reshape([block.size()[0], -1]).to_kind(tch::Kind::Float)
}

/// Per-block rows `[n, …]` side by side, unprojected: `[n, Σ block sizes]`.
pub fn flatten_rows(blocks: &[Tensor]) -> Tensor {
    Tensor::cat(&blocks.iter().map(flat_rows).collect::<Vec<_>>(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn projection_keeps_inner_products_and_is_reproducible() {
        let spec = ProjectionSpec::new(7, vec![4000, 6], 1024);
        assert_eq!(spec.out_dims, [512, 6]);
        let p = Projector::new(spec.clone());
        tch::manual_seed(1);
        let x = Tensor::randn([2, 40, 100], (Kind::Float, Device::Cpu));
        let small = Tensor::randn([2, 2, 3], (Kind::Float, Device::Cpu));
        let rows = p.project(&[x.shallow_clone(), small.shallow_clone()]);
        assert_eq!(rows.size(), [2, 518]);
        // The small block is copied unchanged.
        let tail = rows.narrow(1, 512, 6);
        assert!((tail - small.reshape([2, 6])).abs().max().double_value(&[]) < 1e-6);
        // Norms survive within JL's tolerance.
        let want = x.get(0).square().sum(Kind::Float).double_value(&[]);
        let got = rows.get(0).narrow(0, 0, 512).square().sum(Kind::Float).double_value(&[]);
        assert!((got / want - 1.0).abs() < 0.2, "{got} vs {want}");
        let again = Projector::new(spec).project(&[x, small]);
        assert!((again - rows).abs().max().double_value(&[]) == 0.0);
    }
}
