//! Whole-sequence forward passes through the same [`Llama`] the server runs, for training and
//! for gradients (the attribution engine fine-tunes adapters and takes per-example gradients
//! through this, never through a second copy of the model).
//!
//! The serving path ([`Llama::forward`]) runs one engine step over a flattened batch and writes
//! keys and values into the paged cache; that suits decoding, not autograd. This path runs
//! `[batch, len]` token sequences from position 0 with causal attention and no cache, and lets
//! the caller add a delta to every linear layer's output through a [`LinearHook`]: a LoRA
//! adapter whose `A` and `B` require gradients, with probes that capture activations and output
//! gradients for K-FAC. The base weights never require gradients, so backward only reaches the
//! tensors the hook creates.
//!
//! Sequences are right-padded: with causal attention a padding token never changes the
//! positions before it, so the logits of the real tokens are those of the unpadded sequence
//! (the caller masks the loss at the padding).

use super::{Attention, DecoderLayer, Linear, Llama, Mlp, ModelError};
use crate::lora::ModuleKind;
use tch::{Kind, Tensor};

/// Adds a delta to linear layers' outputs during [`Llama::forward_sequences`].
pub trait LinearHook {
    /// Called for every linear layer (`layer`, `module`) with its input `x`
    /// (`[batch, len, in_features]`); the returned tensor (`[batch, len, out_features]`) is
    /// added to the base output `x·Wᵀ`. `None` leaves the layer plain.
    fn delta(
        &mut self,
        layer: usize,
        module: ModuleKind,
        x: &Tensor,
    ) -> Result<Option<Tensor>, ModelError>;
}

/// The base model alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl LinearHook for NoHook {
    fn delta(&mut self, _: usize, _: ModuleKind, _: &Tensor) -> Result<Option<Tensor>, ModelError> {
        Ok(None)
    }
}

/// Rotates `x` (`[batch, len, heads, head_dim]`) by the RoPE tables `cos`/`sin` (`[len, 1,
/// head_dim]`), HF's rotate-half convention as in the serving path.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let (x1, x2) = (x.narrow(3, 0, half), x.narrow(3, half, half));
    let rotated = Tensor::cat(&[&x2.neg(), &x1], 3);
    x * cos + rotated * sin
}

impl Linear {
    fn forward_hooked(
        &self,
        x: &Tensor,
        layer: usize,
        hook: &mut dyn LinearHook,
    ) -> Result<Tensor, ModelError> {
        let y = x.matmul(&self.weight.tr());
        Ok(match hook.delta(layer, self.kind, x)? {
            Some(delta) => y + delta,
            None => y,
        })
    }
}

impl Attention {
    fn forward_sequences(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        layer: usize,
        hook: &mut dyn LinearHook,
    ) -> Result<Tensor, ModelError> {
        let (b, t) = (x.size()[0], x.size()[1]);
        let (h, kvh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let q = rope(&self.q_proj.forward_hooked(x, layer, hook)?.view([b, t, h, hd]), cos, sin);
        let k = rope(&self.k_proj.forward_hooked(x, layer, hook)?.view([b, t, kvh, hd]), cos, sin);
        let v = self.v_proj.forward_hooked(x, layer, hook)?.view([b, t, kvh, hd]);
        let o = Tensor::f_scaled_dot_product_attention::<Tensor>(
            &q.transpose(1, 2),
            &k.transpose(1, 2),
            &v.transpose(1, 2),
            None,
            0.0,
            true,
            None,
            h != kvh,
        )?; // [b, h, t, hd]
        let o = o.transpose(1, 2).reshape([b, t, h * hd]);
        self.o_proj.forward_hooked(&o, layer, hook)
    }
}

impl Mlp {
    fn forward_sequences(
        &self,
        x: &Tensor,
        layer: usize,
        hook: &mut dyn LinearHook,
    ) -> Result<Tensor, ModelError> {
        let gate = self.gate_proj.forward_hooked(x, layer, hook)?.silu();
        let gated = gate * self.up_proj.forward_hooked(x, layer, hook)?;
        self.down_proj.forward_hooked(&gated, layer, hook)
    }
}

impl DecoderLayer {
    fn forward_sequences(
        &self,
        h: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        layer: usize,
        hook: &mut dyn LinearHook,
    ) -> Result<Tensor, ModelError> {
        let normed = self.input_layernorm.forward(h);
        let h = h + self.self_attn.forward_sequences(&normed, cos, sin, layer, hook)?;
        let normed = self.post_attention_layernorm.forward(&h);
        Ok(&h + self.mlp.forward_sequences(&normed, layer, hook)?)
    }
}

impl Llama {
    /// Runs right-padded sequences `tokens` (`[batch, len]`, int64) from position 0 with causal
    /// attention and no KV cache, adding `hook`'s delta to every linear layer; returns the
    /// logits of every position, `[batch, len, vocab]`, in the model's dtype. Autograd flows
    /// through it to whatever tensors the hook uses.
    pub fn forward_sequences(
        &self,
        tokens: &Tensor,
        hook: &mut dyn LinearHook,
    ) -> Result<Tensor, ModelError> {
        let size = tokens.size();
        let [b, t] = size[..] else {
            return Err(ModelError::Batch(format!("tokens must be [batch, len], got {size:?}")));
        };
        if t as usize > self.cfg.max_position_embeddings {
            return Err(ModelError::Batch(format!(
                "sequence length {t} exceeds the context length {}",
                self.cfg.max_position_embeddings
            )));
        }
        if b == 0 || t == 0 {
            return Ok(Tensor::zeros(
                [b, t, self.cfg.vocab_size as i64],
                (self.dtype, self.device),
            ));
        }
        let tokens = tokens.to_kind(Kind::Int64).to_device(self.device);
        let (lo, hi) = (tokens.min().int64_value(&[]), tokens.max().int64_value(&[]));
        if lo < 0 || hi as usize >= self.cfg.vocab_size {
            let bad = if lo < 0 { lo } else { hi };
            return Err(ModelError::Batch(format!(
                "token {bad} outside the vocabulary {}",
                self.cfg.vocab_size
            )));
        }
        let hidden = self.cfg.hidden_size as i64;
        let mut h = self.embed_tokens.index_select(0, &tokens.reshape([-1])).view([b, t, hidden]);
        let positions = Tensor::arange(t, (Kind::Int64, self.device));
        let (cos, sin) = self.rope.tables(&positions);
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward_sequences(&h, &cos, &sin, i, hook)?;
        }
        Ok(self.norm.forward(&h).matmul(&self.lm_head.tr()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::ModelSize,
        lora::{LoraBackend, ModuleKind},
        make::random_weights,
        model::{LoraStep, StepBatch},
        weights::WeightMap,
    };
    use tch::Device;

    fn tiny() -> Llama {
        let cfg = ModelSize::Tiny.config();
        let dir = tempfile::tempdir().unwrap();
        let bytes = crate::weights::to_safetensors_bytes(&random_weights(&cfg, 3), None).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
        let mut w = WeightMap::load(dir.path(), Kind::Double, Device::Cpu).unwrap();
        Llama::new(&cfg, &mut w, None, Kind::Double, Device::Cpu).unwrap()
    }

    /// Records which linear layers it was called for.
    struct Record(Vec<(usize, ModuleKind)>);

    impl LinearHook for Record {
        fn delta(
            &mut self,
            layer: usize,
            module: ModuleKind,
            _: &Tensor,
        ) -> Result<Option<Tensor>, ModelError> {
            self.0.push((layer, module));
            Ok(None)
        }
    }

    /// Every position's logits equal the serving path's last-token logits of that prefix, and
    /// right padding leaves the real positions unchanged.
    #[test]
    fn matches_the_serving_forward_and_ignores_right_padding() {
        let model = tiny();
        let backend = crate::engine::BackendKind::Gather.build().unwrap();
        let seq: Vec<i64> = vec![5, 17, 300, 2, 44, 9, 120];
        let tokens = Tensor::from_slice(&seq).view([1, -1]);
        let all = model.forward_sequences(&tokens, &mut NoHook).unwrap();
        for len in 1..=seq.len() {
            let mut kv = model.new_kv_cache(4, 16);
            let batch = StepBatch {
                tokens: seq[..len].to_vec(),
                positions: (0..len as i64).collect(),
                slot_mapping: (0..len as i64).collect(),
                lora_slots: vec![-1; len],
                decode_contexts: vec![],
                prefill_lens: vec![len],
            };
            let backend: &dyn LoraBackend = backend.as_ref();
            let want = model.forward(&batch, &mut kv, &LoraStep::none(backend)).unwrap();
            let got = all.get(0).get(len as i64 - 1);
            let diff = (got - want.get(0)).abs().max().double_value(&[]);
            assert!(diff < 1e-9, "prefix {len}: {diff}");
        }
        let padded = Tensor::from_slice(&[5i64, 17, 300, 2, 44, 9, 120, 0, 0, 0]).view([1, -1]);
        let pad_logits = model.forward_sequences(&padded, &mut NoHook).unwrap();
        let diff = (pad_logits.narrow(1, 0, 7) - &all).abs().max().double_value(&[]);
        assert!(diff < 1e-9, "{diff}");
        // A batch of two gives each row its own result.
        let two = Tensor::cat(&[&padded, &Tensor::from_slice(&[1i64; 10]).view([1, -1])], 0);
        let both = model.forward_sequences(&two, &mut NoHook).unwrap();
        let diff = (both.get(0) - pad_logits.get(0)).abs().max().double_value(&[]);
        assert!(diff < 1e-9, "{diff}");
    }

    /// The hook sees every linear of every layer once, autograd reaches a tensor it uses, and
    /// tokens outside the vocabulary are refused.
    #[test]
    fn hook_is_called_everywhere_and_gradients_flow() {
        let model = tiny();
        let tokens = Tensor::from_slice(&[3i64, 4, 5, 6]).view([1, -1]);
        let mut record = Record(vec![]);
        let _ = model.forward_sequences(&tokens, &mut record).unwrap();
        let mut seen = record.0.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), record.0.len());
        assert_eq!(seen.len(), model.config().num_hidden_layers * ModuleKind::ALL.len());

        /// Adds `s·x` to the first 64 outputs of `down_proj` (its input is wider).
        struct Scaled(Tensor);
        impl LinearHook for Scaled {
            fn delta(
                &mut self,
                _: usize,
                module: ModuleKind,
                x: &Tensor,
            ) -> Result<Option<Tensor>, ModelError> {
                Ok((module == ModuleKind::Down).then(|| x.narrow(2, 0, 64) * &self.0))
            }
        }
        let s = Tensor::from_slice(&[0.1f64]).set_requires_grad(true);
        let logits = model.forward_sequences(&tokens, &mut Scaled(s.shallow_clone())).unwrap();
        logits.sum(Kind::Double).backward();
        let g = s.grad().double_value(&[0]);
        assert!(g.is_finite() && g != 0.0, "{g}");

        let err = model
            .forward_sequences(&Tensor::from_slice(&[0i64, 9999]).view([1, -1]), &mut NoHook)
            .unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    }
}
