//! Curvature factors per LoRA block, fitted on the training set, and the preconditioning they
//! define: the `H⁻¹` of the influence `g_qᵀ·H⁻¹·g_i`.
//!
//! - [`Strategy::Identity`]: no curvature (gradient dot product, TracIn at one checkpoint).
//! - [`Strategy::Kfac`]: `H ≈ A ⊗ G` per block, `A = E[a·aᵀ]` over tokens, `G = Σ_t g·gᵀ / n`
//!   over examples; inverted through the two eigendecompositions with damping.
//! - [`Strategy::Ekfac`]: K-FAC's eigenbases, with the eigenvalues replaced by the per-example
//!   gradients' second moments in that basis (George et al. 2018; Grosse et al. 2023), as
//!   kronfluence does.
//! - [`Strategy::DataInf`]: per block, `(λ·I + (1/n)·Σ g_i·g_iᵀ)⁻¹` by DataInf's closed form
//!   (Kwon et al. 2024); it needs every training gradient at query time, so it is applied to
//!   the query against the index rather than stored.
//!
//! The damping of each block is `damping_factor × mean eigenvalue` (kronfluence's heuristic:
//! 0.1), or DataInf's `0.1 × mean ‖g_i‖² / d`.

use crate::{
    data::Sequence,
    grads::batch_grads,
    lora::{Block, TrainableLora},
};
use openlora_server::model::{Llama, ModelError};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// How influence is preconditioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Plain gradient dot product.
    Identity,
    /// Kronecker-factored curvature.
    Kfac,
    /// Eigenvalue-corrected K-FAC.
    Ekfac,
    /// DataInf's closed-form inverse per block.
    Datainf,
}

impl Strategy {
    /// The short name used in artifacts and results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Kfac => "kfac",
            Self::Ekfac => "ekfac",
            Self::Datainf => "datainf",
        }
    }

    /// The method version that receipts carry (`methodVersion`).
    pub fn method_version(self) -> u32 {
        match self {
            Self::Identity => 1,
            Self::Kfac => 2,
            Self::Ekfac => 3,
            Self::Datainf => 4,
        }
    }

    /// Whether index rows are stored preconditioned (else the query is).
    pub fn preconditions_rows(self) -> bool {
        matches!(self, Self::Kfac | Self::Ekfac)
    }
}

/// Options of [`Factors::fit`] (kronfluence's `FactorArguments`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorArgs {
    /// The strategy.
    pub strategy: Strategy,
    /// Damping as a fraction of each block's mean eigenvalue (DataInf: of `mean ‖g‖²/d`).
    pub damping_factor: f64,
    /// Examples per forward/backward pass.
    pub batch_size: usize,
}

impl Default for FactorArgs {
    fn default() -> Self {
        Self { strategy: Strategy::Ekfac, damping_factor: 0.1, batch_size: 16 }
    }
}

/// One block's factors.
#[derive(Debug)]
pub struct BlockFactors {
    /// Eigenvectors of the input covariance, `[d_in, d_in]` (K-FAC/EK-FAC).
    pub a_vecs: Option<Tensor>,
    /// Eigenvectors of the output-gradient covariance, `[d_out, d_out]` (K-FAC/EK-FAC).
    pub g_vecs: Option<Tensor>,
    /// Eigenvalues in the product basis, `[d_out, d_in]` (K-FAC: `λ_g·λ_aᵀ`; EK-FAC: the
    /// corrected ones).
    pub lambda: Option<Tensor>,
    /// The damping added to `lambda` (DataInf: its `λ`).
    pub damping: f64,
}

/// Fitted factors for every block of an adapter.
#[derive(Debug)]
pub struct Factors {
    /// The strategy they serve.
    pub strategy: Strategy,
    /// The blocks, in adapter order.
    pub blocks: Vec<Block>,
    /// One per block.
    pub factors: Vec<BlockFactors>,
    /// Training examples they were fitted on.
    pub examples: usize,
}

/// Symmetric eigendecomposition in f64 (eigenvalues clamped at zero).
fn eigh(m: &Tensor) -> (Tensor, Tensor) {
    let sym = (m + m.tr()) * 0.5;
    let (vals, vecs) = sym.to_kind(Kind::Double).linalg_eigh("L");
    (vals.clamp_min(0.0).to_kind(Kind::Float), vecs.to_kind(Kind::Float))
}

impl Factors {
    /// No curvature: every block is the identity.
    pub fn identity(lora: &TrainableLora, examples: usize) -> Self {
        Self {
            strategy: Strategy::Identity,
            blocks: lora.blocks().to_vec(),
            factors: lora
                .blocks()
                .iter()
                .map(|_| BlockFactors { a_vecs: None, g_vecs: None, lambda: None, damping: 0.0 })
                .collect(),
            examples,
        }
    }

    /// Fits the factors of `args.strategy` on the training sequences, calling `progress` with
    /// the number of examples done (each pass counts once per example).
    pub fn fit(
        model: &Llama,
        lora: &TrainableLora,
        train: &[Sequence],
        args: &FactorArgs,
        mut progress: impl FnMut(usize),
    ) -> Result<Self, ModelError> {
        let blocks = lora.blocks().to_vec();
        let n = train.len();
        let bs = args.batch_size.max(1);
        match args.strategy {
            Strategy::Identity => Ok(Self::identity(lora, n)),
            Strategy::Datainf => {
                let mut sq = vec![0f64; blocks.len()];
                for chunk in train.chunks(bs) {
                    let g = batch_grads(model, lora, &chunk.iter().collect::<Vec<_>>())?;
                    for (s, b) in sq.iter_mut().zip(&g.blocks) {
                        *s += b.per_example().square().sum(Kind::Double).double_value(&[]);
                    }
                    progress(chunk.len());
                }
                let factors = blocks
                    .iter()
                    .zip(sq)
                    .map(|(b, s)| BlockFactors {
                        a_vecs: None,
                        g_vecs: None,
                        lambda: None,
                        damping: (args.damping_factor * s / (n.max(1) * b.numel()) as f64)
                            .max(1e-12),
                    })
                    .collect();
                Ok(Self { strategy: Strategy::Datainf, blocks, factors, examples: n })
            }
            Strategy::Kfac | Strategy::Ekfac => {
                let opts = (Kind::Double, Device::Cpu);
                let mut a_cov: Vec<Tensor> =
                    blocks.iter().map(|b| Tensor::zeros([b.d_in as i64; 2], opts)).collect();
                let mut g_cov: Vec<Tensor> =
                    blocks.iter().map(|b| Tensor::zeros([b.d_out as i64; 2], opts)).collect();
                let mut tokens = 0.0;
                for chunk in train.chunks(bs) {
                    let g = batch_grads(model, lora, &chunk.iter().collect::<Vec<_>>())?;
                    tokens += g.positions.sum(Kind::Double).double_value(&[]);
                    for ((ac, gc), b) in a_cov.iter_mut().zip(&mut g_cov).zip(&g.blocks) {
                        let a = b.inputs.reshape([-1, b.inputs.size()[2]]).to_kind(Kind::Double);
                        let o = b
                            .output_grads
                            .reshape([-1, b.output_grads.size()[2]])
                            .to_kind(Kind::Double);
                        *ac += a.tr().matmul(&a);
                        *gc += o.tr().matmul(&o);
                    }
                    progress(chunk.len());
                }
                let mut eig: Vec<(Tensor, Tensor, Tensor, Tensor)> = Vec::new();
                for (ac, gc) in a_cov.iter().zip(&g_cov) {
                    let (av, avec) = eigh(&(ac / tokens.max(1.0)));
                    let (gv, gvec) = eigh(&(gc / n.max(1) as f64));
                    eig.push((av, avec, gv, gvec));
                }
                let lambdas: Vec<Tensor> = if args.strategy == Strategy::Kfac {
                    eig.iter().map(|(av, _, gv, _)| gv.unsqueeze(1) * av.unsqueeze(0)).collect()
                } else {
                    let mut acc: Vec<Tensor> = blocks
                        .iter()
                        .map(|b| Tensor::zeros([b.d_out as i64, b.d_in as i64], opts))
                        .collect();
                    for chunk in train.chunks(bs) {
                        let g = batch_grads(model, lora, &chunk.iter().collect::<Vec<_>>())?;
                        for ((l, b), (_, avec, _, gvec)) in acc.iter_mut().zip(&g.blocks).zip(&eig)
                        {
                            let rot = gvec.tr().matmul(&b.per_example()).matmul(avec);
                            *l += rot.square().sum_dim_intlist(
                                [0i64].as_slice(),
                                false,
                                Kind::Double,
                            );
                        }
                        progress(chunk.len());
                    }
                    acc.into_iter().map(|l| (l / n.max(1) as f64).to_kind(Kind::Float)).collect()
                };
                let factors = eig
                    .into_iter()
                    .zip(lambdas)
                    .map(|((_, avec, _, gvec), lambda)| {
                        let mean = lambda.mean(Kind::Double).double_value(&[]);
                        BlockFactors {
                            a_vecs: Some(avec),
                            g_vecs: Some(gvec),
                            lambda: Some(lambda),
                            damping: (args.damping_factor * mean).max(1e-12),
                        }
                    })
                    .collect();
                Ok(Self { strategy: args.strategy, blocks, factors, examples: n })
            }
        }
    }

    /// Applies `H⁻¹` to per-example gradients of block `i` (`[n, d_out, d_in]`). Identity and
    /// DataInf return them unchanged (DataInf is applied against the index; see
    /// [`crate::index::GradientIndex::scores_datainf`]).
    pub fn precondition_block(&self, i: usize, grads: &Tensor) -> Tensor {
        let f = &self.factors[i];
        match (&f.a_vecs, &f.g_vecs, &f.lambda) {
            (Some(avec), Some(gvec), Some(lambda)) => {
                let rot = gvec.tr().matmul(grads).matmul(avec);
                let scaled = rot / (lambda + f.damping);
                gvec.matmul(&scaled).matmul(&avec.tr())
            }
            _ => grads.shallow_clone(),
        }
    }

    /// Applies `H⁻¹` to every block.
    pub fn precondition(&self, grads: &[Tensor]) -> Vec<Tensor> {
        grads.iter().enumerate().map(|(i, g)| self.precondition_block(i, g)).collect()
    }

    /// The tensors and metadata to persist (see [`crate::analyzer`]).
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, f) in self.factors.iter().enumerate() {
            for (name, t) in [("a_vecs", &f.a_vecs), ("g_vecs", &f.g_vecs), ("lambda", &f.lambda)] {
                if let Some(t) = t {
                    out.push((format!("block{i}.{name}"), t.shallow_clone()));
                }
            }
            out.push((format!("block{i}.damping"), Tensor::from_slice(&[f.damping as f32])));
        }
        out
    }

    /// Rebuilds factors from persisted tensors; `None` if a tensor is missing or misshapen.
    pub fn from_tensors(
        strategy: Strategy,
        blocks: Vec<Block>,
        examples: usize,
        mut tensors: std::collections::HashMap<String, Tensor>,
    ) -> Option<Self> {
        let mut factors = Vec::with_capacity(blocks.len());
        for (i, b) in blocks.iter().enumerate() {
            let mut take = |name: &str, shape: [i64; 2]| {
                tensors.remove(&format!("block{i}.{name}")).filter(|t| t.size() == shape)
            };
            let (o, n) = (b.d_out as i64, b.d_in as i64);
            let (a_vecs, g_vecs, lambda) =
                (take("a_vecs", [n, n]), take("g_vecs", [o, o]), take("lambda", [o, n]));
            let damping = tensors.remove(&format!("block{i}.damping"))?.double_value(&[0]);
            let full = a_vecs.is_some() && g_vecs.is_some() && lambda.is_some();
            if full != strategy.preconditions_rows() {
                return None;
            }
            factors.push(BlockFactors { a_vecs, g_vecs, lambda, damping });
        }
        Some(Self { strategy, blocks, factors, examples })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With exact Kronecker structure the EK-FAC preconditioner inverts `A ⊗ G + λ`.
    #[test]
    fn kfac_preconditioning_inverts_the_kronecker_product() {
        tch::manual_seed(3);
        let opts = (Kind::Double, Device::Cpu);
        let (d_out, d_in) = (3i64, 4i64);
        let ma = Tensor::randn([d_in, d_in], opts);
        let a = ma.matmul(&ma.tr()) + Tensor::eye(d_in, opts);
        let mg = Tensor::randn([d_out, d_out], opts);
        let g = mg.matmul(&mg.tr()) + Tensor::eye(d_out, opts);
        let (av, avec) = eigh(&a.to_kind(Kind::Float));
        let (gv, gvec) = eigh(&g.to_kind(Kind::Float));
        let factors = Factors {
            strategy: Strategy::Kfac,
            blocks: vec![Block {
                layer: 0,
                module: openlora_server::ModuleKind::Q,
                is_a: true,
                d_out: d_out as usize,
                d_in: d_in as usize,
            }],
            factors: vec![BlockFactors {
                a_vecs: Some(avec),
                g_vecs: Some(gvec),
                lambda: Some(gv.unsqueeze(1) * av.unsqueeze(0)),
                damping: 0.5,
            }],
            examples: 1,
        };
        let x = Tensor::randn([1, d_out, d_in], opts).to_kind(Kind::Float);
        let y = factors.precondition_block(0, &x).to_kind(Kind::Double).squeeze_dim(0);
        // (G ⊗ A + λI) vec(Y) = vec(G·Y·A + λY) must give back X.
        let back = g.matmul(&y).matmul(&a) + &y * 0.5;
        let diff = (back - x.to_kind(Kind::Double).squeeze_dim(0)).abs().max().double_value(&[]);
        assert!(diff < 1e-3, "{diff}");
    }
}
