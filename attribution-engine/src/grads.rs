//! Per-example gradients with respect to the LoRA parameters only, from one forward and one
//! backward pass per batch.
//!
//! Each row's loss is its summed NLL over its scored tokens (a training text's every token, a
//! query's completion). Rows are independent in the forward pass, so the gradient of the batch
//! sum at row `n`'s probes is row `n`'s own gradient; for a block with input `a_t` and output
//! gradient `g_t` at position `t`, row `n`'s gradient is `G_n = Σ_t g_t·a_tᵀ` (`[d_out, d_in]`).

use crate::{
    data::{Batch, Sequence},
    lora::{Capture, TrainableLora},
};
use openlora_server::model::{Llama, ModelError};
use tch::{Kind, Tensor};

/// One block's captured activations for a batch.
#[derive(Debug)]
pub struct BlockActivations {
    /// Inputs at real (non-padding) positions, padding zeroed: `[b, len, d_in]`.
    pub inputs: Tensor,
    /// Output gradients, `[b, len, d_out]` (zero at padding, which no scored token sees).
    pub output_grads: Tensor,
}

impl BlockActivations {
    /// Each row's gradient `Σ_t g_t·a_tᵀ`, `[b, d_out, d_in]`.
    pub fn per_example(&self) -> Tensor {
        Tensor::einsum("btd,bte->bde", &[&self.output_grads, &self.inputs], None::<i64>)
    }
}

/// Every block's activations for one batch, plus each row's loss.
#[derive(Debug)]
pub struct BatchGrads {
    /// In [`TrainableLora::blocks`] order.
    pub blocks: Vec<BlockActivations>,
    /// Each row's summed NLL, `[b]`.
    pub losses: Tensor,
    /// Real positions, `[b, len]`.
    pub positions: Tensor,
}

/// Runs `seqs` as one batch with probes and backpropagates the sum of the rows' losses.
pub fn batch_grads(
    model: &Llama,
    lora: &TrainableLora,
    seqs: &[&Sequence],
) -> Result<BatchGrads, ModelError> {
    let batch = Batch::new(seqs);
    let mut capture = Capture::default();
    let logits = lora.forward(model, &batch.tokens, Some(&mut capture))?;
    let losses = batch.nll_per_row(&logits);
    losses.sum(Kind::Float).backward();
    let len = batch.tokens.size()[1];
    let real: Vec<f32> = seqs
        .iter()
        .flat_map(|s| (0..len).map(move |t| f32::from(u8::from((t as usize) < s.ids.len()))))
        .collect();
    let positions = Tensor::from_slice(&real).view([seqs.len() as i64, len]);
    let pos3 = positions.unsqueeze(-1);
    let blocks = capture
        .blocks
        .iter()
        .map(|c| BlockActivations { inputs: &c.input * &pos3, output_grads: c.output_grad() })
        .collect();
    // The adapter's own parameters received gradients too; they are not used here.
    for p in lora.parameters() {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    Ok(BatchGrads { blocks, losses: losses.detach(), positions })
}

/// Per-example gradients of `seqs`, one `[n, d_out, d_in]` tensor per block, computed in
/// batches of `batch_size`.
pub fn per_example_grads(
    model: &Llama,
    lora: &TrainableLora,
    seqs: &[Sequence],
    batch_size: usize,
) -> Result<Vec<Tensor>, ModelError> {
    let mut parts: Vec<Vec<Tensor>> = (0..lora.blocks().len()).map(|_| Vec::new()).collect();
    for chunk in seqs.chunks(batch_size.max(1)) {
        let refs: Vec<&Sequence> = chunk.iter().collect();
        let g = batch_grads(model, lora, &refs)?;
        for (part, block) in parts.iter_mut().zip(&g.blocks) {
            part.push(block.per_example());
        }
    }
    Ok(parts.into_iter().map(|p| Tensor::cat(&p, 0)).collect())
}

/// Flattens per-block gradients (`[n, d_out, d_in]` each) into rows `[n, Σ d_out·d_in]`.
pub fn flatten(blocks: &[Tensor]) -> Tensor {
    let n = blocks.first().map_or(0, |b| b.size()[0]);
    Tensor::cat(&blocks.iter().map(|b| b.reshape([n, -1])).collect::<Vec<_>>(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lora::LoraConfig, test_utils::tiny_model};
    use openlora_server::ModuleKind;

    /// The probe-based per-example gradients equal autograd's gradient of each example alone.
    #[test]
    fn per_example_grads_match_autograd_one_by_one() {
        let (model, _dir) = tiny_model();
        let cfg =
            LoraConfig { rank: 4, alpha: 8.0, targets: vec![ModuleKind::Q, ModuleKind::Down] };
        let lora = TrainableLora::init(model.config(), cfg, 1);
        // Give B nonzero values so that A's gradient is nonzero too.
        tch::no_grad(|| {
            for (i, p) in lora.parameters().iter().enumerate() {
                if i % 2 == 1 {
                    p.shallow_clone().copy_(&(Tensor::randn_like(p) * 0.1));
                }
            }
        });
        let seqs = vec![
            Sequence { ids: vec![1, 5, 9, 33, 7], score_from: 1 },
            Sequence { ids: vec![4, 2, 8], score_from: 2 },
            Sequence { ids: vec![11, 12, 13, 14, 15, 16, 17], score_from: 3 },
        ];
        let grads = per_example_grads(&model, &lora, &seqs, 2).unwrap();
        assert_eq!(grads.len(), lora.blocks().len());
        for (n, seq) in seqs.iter().enumerate() {
            let batch = Batch::new(&[seq]);
            let logits = lora.forward(&model, &batch.tokens, None).unwrap();
            batch.nll_per_row(&logits).sum(Kind::Float).backward();
            for (b, p) in lora.parameters().iter().enumerate() {
                let want = p.grad();
                let got = grads[b].get(n as i64);
                let scale = want.abs().max().double_value(&[]).max(1e-6);
                let diff = (&got - &want).abs().max().double_value(&[]) / scale;
                assert!(diff < 1e-3, "example {n} block {b}: {diff}");
                let _ = p.grad().zero_();
            }
        }
    }
}
