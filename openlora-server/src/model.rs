//! The Llama-family decoder on tch: RMSNorm, RoPE, grouped-query attention, SwiGLU.
//!
//! Built the way candle builds its models: a serde [`LlamaConfig`], then `new(cfg, weights,
//! prefix)` per block, where the prefix equals the checkpoint key (`model.layers.3.self_attn`),
//! so a missing weight error names the exact key.
//!
//! One forward call runs one engine step over a flattened batch of tokens from many
//! sequences: first one token for each decoding sequence, then the whole prompt of each newly
//! admitted sequence. Every linear layer does one base matmul for all tokens, plus the LoRA
//! delta of each token's adapter slot through a [`LoraBackend`]. Attention is the only part
//! that looks at sequence boundaries: decoding sequences attend, in one batched call, to their
//! keys and values gathered from the paged [`KvCache`]; prompts attend causally to themselves.

use crate::{
    adapter::AdapterWeights,
    config::LlamaConfig,
    kv::KvCache,
    lora::{LoraBackend, LoraError, LoraMapping, LoraSlots, ModuleKind},
    weights::{WeightError, WeightMap},
};
use tch::{Device, Kind, Tensor};

pub mod train;

pub use train::{LinearHook, NoHook};

/// Errors building or running the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A weight is missing or misshapen.
    #[error(transparent)]
    Weights(#[from] WeightError),
    /// LoRA slots or kernels rejected their input.
    #[error(transparent)]
    Lora(#[from] LoraError),
    /// The step's batch description is inconsistent.
    #[error("bad batch: {0}")]
    Batch(String),
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// How many adapters the model can hold at once on its device, and for which modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoraLayout {
    /// Device slots (vLLM's `max_loras`).
    pub max_loras: usize,
    /// Highest rank a slot holds.
    pub max_rank: usize,
    /// The modules that get slots (others stay plain linear layers).
    pub modules: Vec<ModuleKind>,
    /// How slots store adapters (`None`: the model's dtype; `Some(Kind::BFloat16)` halves the
    /// memory each row's LoRA reads, rounding the adapter to bf16).
    pub slot_dtype: Option<Kind>,
}

/// A linear layer (`y = x·Wᵀ`, no bias, as in Llama) with optional adapter slots.
#[derive(Debug)]
pub struct Linear {
    /// The base weight, `[out, in]`.
    pub weight: Tensor,
    kind: ModuleKind,
    slots: Option<LoraSlots>,
}

impl Linear {
    fn new(
        cfg: &LlamaConfig,
        weights: &mut WeightMap,
        prefix: &str,
        kind: ModuleKind,
        lora: Option<&LoraLayout>,
        dtype: Kind,
        device: Device,
    ) -> Result<Self, ModelError> {
        let (d_in, d_out) = cfg.module_dims(kind);
        let weight = weights
            .take(&format!("{prefix}.{}.weight", kind.name()), &[d_out as i64, d_in as i64])?;
        let slots = lora.filter(|l| l.modules.contains(&kind) && l.max_loras > 0).map(|l| {
            LoraSlots::new(
                l.max_loras as i64,
                l.max_rank as i64,
                d_in as i64,
                d_out as i64,
                l.slot_dtype.unwrap_or(dtype),
                device,
            )
        });
        Ok(Self { weight, kind, slots })
    }

    fn forward(&self, x: &Tensor, step: &LoraStep<'_>) -> Result<Tensor, ModelError> {
        let mut y = x.matmul(&self.weight.tr());
        if let (Some(slots), Some(mapping)) = (&self.slots, step.mapping(self.kind)) {
            step.backend.add_lora(&mut y, x, &slots.a, &slots.b, mapping)?;
        }
        Ok(y)
    }
}

/// Per step: which adapter slot each token uses, for each module kind, and the kernel.
#[derive(Debug)]
pub struct LoraStep<'a> {
    mappings: [Option<LoraMapping>; 7],
    backend: &'a dyn LoraBackend,
}

impl<'a> LoraStep<'a> {
    /// No adapters in this step.
    pub fn none(backend: &'a dyn LoraBackend) -> Self {
        Self { mappings: Default::default(), backend }
    }

    /// Builds the per-module mappings from each token's slot (`-1` = none) and the modules
    /// that the adapter in each slot targets (`targets[slot][module.index()]`).
    pub fn new(
        token_slots: &[i64],
        targets: &[[bool; 7]],
        backend: &'a dyn LoraBackend,
        device: Device,
    ) -> Self {
        let mut mappings: [Option<LoraMapping>; 7] = Default::default();
        if token_slots.iter().any(|&s| s >= 0) {
            for module in ModuleKind::ALL {
                let idx: Vec<i64> = token_slots
                    .iter()
                    .map(|&s| {
                        let targeted =
                            s >= 0 && targets.get(s as usize).is_some_and(|t| t[module.index()]);
                        if targeted { s } else { -1 }
                    })
                    .collect();
                let mapping = LoraMapping::new(&idx, device);
                if !mapping.is_empty() {
                    mappings[module.index()] = Some(mapping);
                }
            }
        }
        Self { mappings, backend }
    }

    fn mapping(&self, kind: ModuleKind) -> Option<&LoraMapping> {
        self.mappings[kind.index()].as_ref()
    }
}

/// RMSNorm with a learned scale.
#[derive(Debug)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(cfg: &LlamaConfig, weights: &mut WeightMap, name: &str) -> Result<Self, ModelError> {
        Ok(Self { weight: weights.take(name, &[cfg.hidden_size as i64])?, eps: cfg.rms_norm_eps })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let dim = self.weight.size()[0];
        x.rms_norm([dim], Some(&self.weight), self.eps)
    }
}

/// Rotary position embedding tables (HF's rotate-half convention).
#[derive(Debug)]
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(cfg: &LlamaConfig, dtype: Kind, device: Device) -> Self {
        let hd = cfg.head_dim() as i64;
        let inv_freq: Vec<f64> =
            (0..hd / 2).map(|i| 1.0 / cfg.rope_theta.powf(2.0 * i as f64 / hd as f64)).collect();
        let inv = Tensor::from_slice(&inv_freq);
        let pos = Tensor::arange(cfg.max_position_embeddings as i64, (Kind::Double, Device::Cpu));
        let freqs = pos.unsqueeze(1) * inv.unsqueeze(0); // [P, hd/2]
        let emb = Tensor::cat(&[&freqs, &freqs], 1); // [P, hd]
        Self {
            cos: emb.cos().to_kind(dtype).to_device(device),
            sin: emb.sin().to_kind(dtype).to_device(device),
        }
    }

    /// cos/sin rows for `positions`, shaped `[t, 1, hd]` to broadcast over heads.
    fn tables(&self, positions: &Tensor) -> (Tensor, Tensor) {
        (
            self.cos.index_select(0, positions).unsqueeze(1),
            self.sin.index_select(0, positions).unsqueeze(1),
        )
    }

    fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
        let half = x.size()[2] / 2;
        let (x1, x2) = (x.narrow(2, 0, half), x.narrow(2, half, half));
        let rotated = Tensor::cat(&[&x2.neg(), &x1], 2);
        x * cos + rotated * sin
    }
}

/// Everything attention needs to know about a step's sequences, built once per step.
#[derive(Debug)]
pub struct AttnMeta {
    /// Decoding sequences (first in the token order, one token each).
    decode: usize,
    /// Cache slots of all decoding sequences' contexts, `[decode * max_ctx]`, padded with 0.
    decode_gather: Tensor,
    /// Which gathered slots are real, `[decode, 1, 1, max_ctx]`.
    decode_mask: Tensor,
    max_ctx: i64,
    /// Host copies for the CPU paged-attention kernel: sequence `s`'s context rows are
    /// `decode_slots[decode_offsets[s]..decode_offsets[s + 1]]`.
    decode_offsets: Vec<usize>,
    decode_slots: Vec<i64>,
    /// `(start, len)` of each prompt in the token order, after the decoding tokens.
    prefill: Vec<(i64, i64)>,
    /// Where each new token's key and value go, `[t]`.
    slot_mapping: Tensor,
    positions: Tensor,
    /// The last token of each sequence, `[decode + prefill]`.
    last_tokens: Tensor,
}

/// One step's sequences, described on the host by the scheduler.
#[derive(Debug, Default, Clone)]
pub struct StepBatch {
    /// All new tokens: one per decoding sequence, then each prompt in full.
    pub tokens: Vec<i64>,
    /// Position of each token in its sequence.
    pub positions: Vec<i64>,
    /// KV-cache slot of each token.
    pub slot_mapping: Vec<i64>,
    /// Adapter slot of each token (`-1` = base model).
    pub lora_slots: Vec<i64>,
    /// For each decoding sequence, the cache slots of its whole context (the new token last).
    pub decode_contexts: Vec<Vec<i64>>,
    /// Length of each prompt, in order, after the decoding tokens.
    pub prefill_lens: Vec<usize>,
}

impl StepBatch {
    /// Sequences in the step.
    pub fn sequences(&self) -> usize {
        self.decode_contexts.len() + self.prefill_lens.len()
    }

    fn meta(&self, device: Device) -> Result<AttnMeta, ModelError> {
        let t = self.tokens.len();
        let decode = self.decode_contexts.len();
        let prefill_total: usize = self.prefill_lens.iter().sum();
        if decode + prefill_total != t
            || self.positions.len() != t
            || self.slot_mapping.len() != t
            || self.lora_slots.len() != t
            || self.prefill_lens.contains(&0)
            || self.decode_contexts.iter().any(|c| c.is_empty())
        {
            return Err(ModelError::Batch(format!(
                "{t} tokens, {} positions, {} slots, {} adapter slots for {decode} decoding \
                 sequences and prompts of {:?}",
                self.positions.len(),
                self.slot_mapping.len(),
                self.lora_slots.len(),
                self.prefill_lens
            )));
        }
        let max_ctx = self.decode_contexts.iter().map(Vec::len).max().unwrap_or(0);
        let mut gather = Vec::with_capacity(decode * max_ctx);
        let mut mask = Vec::with_capacity(decode * max_ctx);
        for ctx in &self.decode_contexts {
            gather.extend_from_slice(ctx);
            gather.extend(std::iter::repeat_n(0, max_ctx - ctx.len()));
            mask.extend(std::iter::repeat_n(true, ctx.len()));
            mask.extend(std::iter::repeat_n(false, max_ctx - ctx.len()));
        }
        let mut offsets = Vec::with_capacity(decode + 1);
        offsets.push(0);
        for ctx in &self.decode_contexts {
            offsets.push(offsets[offsets.len() - 1] + ctx.len());
        }
        let mut last = (0..decode as i64).collect::<Vec<_>>();
        let mut prefill = Vec::with_capacity(self.prefill_lens.len());
        let mut start = decode as i64;
        for &len in &self.prefill_lens {
            prefill.push((start, len as i64));
            start += len as i64;
            last.push(start - 1);
        }
        Ok(AttnMeta {
            decode,
            decode_gather: Tensor::from_slice(&gather).to_device(device),
            decode_mask: Tensor::from_slice(&mask)
                .view([decode as i64, 1, 1, max_ctx as i64])
                .to_device(device),
            max_ctx: max_ctx as i64,
            decode_offsets: offsets,
            decode_slots: self.decode_contexts.iter().flatten().copied().collect(),
            prefill,
            slot_mapping: Tensor::from_slice(&self.slot_mapping).to_device(device),
            positions: Tensor::from_slice(&self.positions).to_device(device),
            last_tokens: Tensor::from_slice(&last).to_device(device),
        })
    }
}

/// Grouped-query self-attention.
#[derive(Debug)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: i64,
    kv_heads: i64,
    head_dim: i64,
}

impl Attention {
    fn new(
        cfg: &LlamaConfig,
        w: &mut WeightMap,
        prefix: &str,
        lora: Option<&LoraLayout>,
        dtype: Kind,
        device: Device,
    ) -> Result<Self, ModelError> {
        let lin = |w: &mut WeightMap, kind| Linear::new(cfg, w, prefix, kind, lora, dtype, device);
        Ok(Self {
            q_proj: lin(w, ModuleKind::Q)?,
            k_proj: lin(w, ModuleKind::K)?,
            v_proj: lin(w, ModuleKind::V)?,
            o_proj: lin(w, ModuleKind::O)?,
            heads: cfg.num_attention_heads as i64,
            kv_heads: cfg.kv_heads() as i64,
            head_dim: cfg.head_dim() as i64,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        meta: &AttnMeta,
        k_cache: &mut Tensor,
        v_cache: &mut Tensor,
        lora: &LoraStep<'_>,
    ) -> Result<Tensor, ModelError> {
        let t = x.size()[0];
        let (h, kvh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let q = Rope::apply(&self.q_proj.forward(x, lora)?.view([t, h, hd]), cos, sin);
        let k = Rope::apply(&self.k_proj.forward(x, lora)?.view([t, kvh, hd]), cos, sin);
        let v = self.v_proj.forward(x, lora)?.view([t, kvh, hd]);
        let _ = k_cache.index_copy_(0, &meta.slot_mapping, &k);
        let _ = v_cache.index_copy_(0, &meta.slot_mapping, &v);
        let gqa = h != kvh;
        let mut outs = Vec::with_capacity(1 + meta.prefill.len());
        if meta.decode > 0 {
            let n = meta.decode as i64;
            let qd = q.narrow(0, 0, n);
            let o = match self.paged_decode(&qd, k_cache, v_cache, meta) {
                Some(o) => o,
                None => self.gathered_decode(&qd, k_cache, v_cache, meta)?,
            };
            outs.push(o); // [n, h, hd]
        }
        for &(start, len) in &meta.prefill {
            let seq = |x: &Tensor| x.narrow(0, start, len).transpose(0, 1).unsqueeze(0);
            let o = Tensor::f_scaled_dot_product_attention::<Tensor>(
                &seq(&q),
                &seq(&k),
                &seq(&v),
                None,
                0.0,
                true,
                None,
                gqa,
            )?;
            outs.push(o.squeeze_dim(0).transpose(0, 1)); // [len, h, hd]
        }
        let out = if outs.len() == 1 { outs.remove(0) } else { Tensor::cat(&outs, 0) };
        self.o_proj.forward(&out.reshape([t, h * hd]), lora)
    }
}

impl Attention {
    /// Decode attention for any dtype or device: gather each context from the cache and run
    /// SDPA with a padding mask. `q`: `[n, heads, hd]`.
    fn gathered_decode(
        &self,
        q: &Tensor,
        k_cache: &Tensor,
        v_cache: &Tensor,
        meta: &AttnMeta,
    ) -> Result<Tensor, ModelError> {
        let n = q.size()[0];
        let gather = |cache: &Tensor| {
            cache
                .index_select(0, &meta.decode_gather)
                .view([n, meta.max_ctx, self.kv_heads, self.head_dim])
                .transpose(1, 2)
        };
        Ok(Tensor::f_scaled_dot_product_attention(
            &q.unsqueeze(2),
            &gather(k_cache),
            &gather(v_cache),
            Some(&meta.decode_mask),
            0.0,
            false,
            None,
            self.heads != self.kv_heads,
        )?
        .squeeze_dim(2))
    }

    /// Decode attention with the CPU kernel reading the paged cache in place (f32, f64 or bf16
    /// on CPU), or `None` where it does not apply.
    fn paged_decode(
        &self,
        q: &Tensor,
        k_cache: &Tensor,
        v_cache: &Tensor,
        meta: &AttnMeta,
    ) -> Option<Tensor> {
        if !crate::cpu::supported(q.kind(), q.device()) {
            return None;
        }
        fn run<T: crate::cpu::Scalar, X: crate::cpu::Store<T>>(
            att: &Attention,
            q: &Tensor,
            k: &Tensor,
            v: &Tensor,
            meta: &AttnMeta,
        ) -> Option<Tensor> {
            use crate::cpu::{stored, stored_mut};
            let q = q.contiguous();
            let mut out = q.zeros_like();
            let (qs, ks, vs) = (stored::<T, X>(&q)?, stored::<T, X>(k)?, stored::<T, X>(v)?);
            let os = stored_mut::<T, X>(&mut out)?;
            crate::cpu::paged_decode_attention::<T, X>(
                os,
                qs,
                ks,
                vs,
                &meta.decode_offsets,
                &meta.decode_slots,
                crate::cpu::AttentionShape {
                    heads: att.heads as usize,
                    kv_heads: att.kv_heads as usize,
                    head_dim: att.head_dim as usize,
                    scale: 1.0 / (att.head_dim as f64).sqrt(),
                },
            );
            Some(out)
        }
        match q.kind() {
            Kind::Float => run::<f32, f32>(self, q, k_cache, v_cache, meta),
            Kind::Double => run::<f64, f64>(self, q, k_cache, v_cache, meta),
            Kind::BFloat16 => run::<f32, crate::cpu::Bf16>(self, q, k_cache, v_cache, meta),
            _ => None,
        }
    }
}

/// The SwiGLU MLP: `down(silu(gate(x)) * up(x))`.
#[derive(Debug)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(
        cfg: &LlamaConfig,
        w: &mut WeightMap,
        prefix: &str,
        lora: Option<&LoraLayout>,
        dtype: Kind,
        device: Device,
    ) -> Result<Self, ModelError> {
        let lin = |w: &mut WeightMap, kind| Linear::new(cfg, w, prefix, kind, lora, dtype, device);
        Ok(Self {
            gate_proj: lin(w, ModuleKind::Gate)?,
            up_proj: lin(w, ModuleKind::Up)?,
            down_proj: lin(w, ModuleKind::Down)?,
        })
    }

    fn forward(&self, x: &Tensor, lora: &LoraStep<'_>) -> Result<Tensor, ModelError> {
        let gated = self.gate_proj.forward(x, lora)?.silu() * self.up_proj.forward(x, lora)?;
        self.down_proj.forward(&gated, lora)
    }
}

/// One decoder block.
#[derive(Debug)]
struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    fn new(
        cfg: &LlamaConfig,
        w: &mut WeightMap,
        prefix: &str,
        lora: Option<&LoraLayout>,
        dtype: Kind,
        device: Device,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            input_layernorm: RmsNorm::new(cfg, w, &format!("{prefix}.input_layernorm.weight"))?,
            self_attn: Attention::new(cfg, w, &format!("{prefix}.self_attn"), lora, dtype, device)?,
            post_attention_layernorm: RmsNorm::new(
                cfg,
                w,
                &format!("{prefix}.post_attention_layernorm.weight"),
            )?,
            mlp: Mlp::new(cfg, w, &format!("{prefix}.mlp"), lora, dtype, device)?,
        })
    }

    fn linear_mut(&mut self, kind: ModuleKind) -> &mut Linear {
        match kind {
            ModuleKind::Q => &mut self.self_attn.q_proj,
            ModuleKind::K => &mut self.self_attn.k_proj,
            ModuleKind::V => &mut self.self_attn.v_proj,
            ModuleKind::O => &mut self.self_attn.o_proj,
            ModuleKind::Gate => &mut self.mlp.gate_proj,
            ModuleKind::Up => &mut self.mlp.up_proj,
            ModuleKind::Down => &mut self.mlp.down_proj,
        }
    }
}

/// The Llama decoder with its LM head.
#[derive(Debug)]
pub struct Llama {
    cfg: LlamaConfig,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Tensor,
    rope: Rope,
    lora: Option<LoraLayout>,
    dtype: Kind,
    device: Device,
}

impl Llama {
    /// Builds the model from a loaded weight map; `lora` preallocates adapter slots.
    pub fn new(
        cfg: &LlamaConfig,
        weights: &mut WeightMap,
        lora: Option<LoraLayout>,
        dtype: Kind,
        device: Device,
    ) -> Result<Self, ModelError> {
        let (vocab, hidden) = (cfg.vocab_size as i64, cfg.hidden_size as i64);
        let embed_tokens = weights.take("model.embed_tokens.weight", &[vocab, hidden])?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                DecoderLayer::new(
                    cfg,
                    weights,
                    &format!("model.layers.{i}"),
                    lora.as_ref(),
                    dtype,
                    device,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let norm = RmsNorm::new(cfg, weights, "model.norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings && !weights.contains("lm_head.weight") {
            embed_tokens.shallow_clone()
        } else {
            weights.take("lm_head.weight", &[vocab, hidden])?
        };
        Ok(Self {
            cfg: cfg.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            rope: Rope::new(cfg, dtype, device),
            lora,
            dtype,
            device,
        })
    }

    /// Loads `config.json`'s model from a folder's safetensors (sharded or not).
    pub fn load(
        dir: &std::path::Path,
        cfg: &LlamaConfig,
        lora: Option<LoraLayout>,
        dtype: Kind,
        device: Device,
    ) -> Result<Self, ModelError> {
        let mut weights = WeightMap::load(dir, dtype, device)?;
        Self::new(cfg, &mut weights, lora, dtype, device)
    }

    /// The config.
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// The adapter slot layout, if any.
    pub fn lora_layout(&self) -> Option<&LoraLayout> {
        self.lora.as_ref()
    }

    /// Weights' dtype.
    pub fn dtype(&self) -> Kind {
        self.dtype
    }

    /// Weights' device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// A KV cache sized for this model.
    pub fn new_kv_cache(&self, num_blocks: usize, block_size: usize) -> KvCache {
        KvCache::new(
            self.layers.len(),
            num_blocks,
            block_size,
            self.cfg.kv_heads(),
            self.cfg.head_dim(),
            self.dtype,
            self.device,
        )
    }

    /// Runs one step; returns the logits of each sequence's last token, `[sequences, vocab]`
    /// (decoding sequences first, then prompts, as in `batch`), in the model's dtype on its
    /// device.
    pub fn forward(
        &self,
        batch: &StepBatch,
        kv: &mut KvCache,
        lora: &LoraStep<'_>,
    ) -> Result<Tensor, ModelError> {
        let meta = batch.meta(self.device)?;
        if batch.tokens.is_empty() {
            return Ok(Tensor::zeros([0, self.cfg.vocab_size as i64], (self.dtype, self.device)));
        }
        if let Some(&bad) =
            batch.tokens.iter().find(|&&t| t < 0 || t as usize >= self.cfg.vocab_size)
        {
            return Err(ModelError::Batch(format!(
                "token {bad} outside the vocabulary {}",
                self.cfg.vocab_size
            )));
        }
        if let Some(&bad) = batch
            .positions
            .iter()
            .find(|&&p| p < 0 || p as usize >= self.cfg.max_position_embeddings)
        {
            return Err(ModelError::Batch(format!(
                "position {bad} outside the context length {}",
                self.cfg.max_position_embeddings
            )));
        }
        let cache_slots = kv.k.first().map_or(0, |k| k.size()[0]);
        if let Some(&bad) = batch
            .slot_mapping
            .iter()
            .chain(batch.decode_contexts.iter().flatten())
            .find(|&&s| s < 0 || s >= cache_slots)
        {
            return Err(ModelError::Batch(format!(
                "KV slot {bad} outside the cache of {cache_slots}"
            )));
        }
        let tokens = Tensor::from_slice(&batch.tokens).to_device(self.device);
        let mut h = self.embed_tokens.index_select(0, &tokens);
        let (cos, sin) = self.rope.tables(&meta.positions);
        for (i, layer) in self.layers.iter().enumerate() {
            let normed = layer.input_layernorm.forward(&h);
            let attn = layer.self_attn.forward(
                &normed,
                &cos,
                &sin,
                &meta,
                &mut kv.k[i],
                &mut kv.v[i],
                lora,
            )?;
            h += attn;
            let normed = layer.post_attention_layernorm.forward(&h);
            h += layer.mlp.forward(&normed, lora)?;
        }
        let last = self.norm.forward(&h.index_select(0, &meta.last_tokens));
        Ok(last.matmul(&self.lm_head.tr()))
    }

    /// Copies an adapter into device slot `slot` (modules it does not target are zeroed there).
    pub fn set_lora(&mut self, slot: usize, adapter: &AdapterWeights) -> Result<(), ModelError> {
        let layout = self
            .lora
            .clone()
            .ok_or_else(|| ModelError::Batch("the model has no adapter slots".into()))?;
        if let Some(m) = adapter.targets().into_iter().find(|m| !layout.modules.contains(m)) {
            return Err(ModelError::Batch(format!(
                "the model has no adapter slots for {}",
                m.name()
            )));
        }
        for (l, layer) in self.layers.iter_mut().enumerate() {
            for &kind in &layout.modules {
                let linear = layer.linear_mut(kind);
                let Some(slots) = linear.slots.as_mut() else { continue };
                match adapter.pair(l, kind) {
                    Some(pair) => slots.set_lora(slot as i64, &pair.a, &pair.b)?,
                    None => slots.reset_lora(slot as i64)?,
                }
            }
        }
        Ok(())
    }

    /// Zeroes device slot `slot`.
    pub fn reset_lora(&mut self, slot: usize) -> Result<(), ModelError> {
        for layer in &mut self.layers {
            for kind in ModuleKind::ALL {
                if let Some(slots) = layer.linear_mut(kind).slots.as_mut() {
                    slots.reset_lora(slot as i64)?;
                }
            }
        }
        Ok(())
    }

    /// Adds (`sign = 1`) or subtracts (`sign = -1`) an adapter's `s·B·A` into the base weights:
    /// merging for the reference path and the naive baseline.
    pub fn merge_adapter(&mut self, adapter: &AdapterWeights, sign: f64) -> Result<(), ModelError> {
        for (l, layer) in self.layers.iter_mut().enumerate() {
            for kind in ModuleKind::ALL {
                if let Some(pair) = adapter.pair(l, kind) {
                    let linear = layer.linear_mut(kind);
                    let delta = pair.b.matmul(&pair.a).to_kind(self.dtype).to_device(self.device);
                    let _ = linear.weight.g_add_(&(delta * sign));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU paged-attention kernel equals gather + SDPA (the fallback) on ragged contexts
    /// scattered over the cache.
    #[test]
    fn paged_kernel_matches_gather_and_sdpa() {
        tch::manual_seed(8);
        let opts = (Kind::Double, Device::Cpu);
        let (h, kvh, hd, rows) = (4i64, 2i64, 8i64, 40i64);
        let k_cache = Tensor::randn([rows, kvh, hd], opts);
        let v_cache = Tensor::randn([rows, kvh, hd], opts);
        let contexts: Vec<Vec<i64>> = vec![vec![3, 17, 5, 9, 30], vec![0], vec![39, 1, 2]];
        let batch = StepBatch {
            tokens: vec![0; 3],
            positions: vec![0; 3],
            slot_mapping: vec![0; 3],
            lora_slots: vec![-1; 3],
            decode_contexts: contexts,
            prefill_lens: vec![],
        };
        let meta = batch.meta(Device::Cpu).unwrap();
        let q = Tensor::randn([3, h, hd], opts);
        let mut cfg = crate::config::ModelSize::Tiny.config();
        cfg.hidden_size = (h * hd) as usize;
        cfg.num_attention_heads = h as usize;
        cfg.num_key_value_heads = Some(kvh as usize);
        let zeros = |o: i64, i: i64| Tensor::zeros([o, i], opts);
        let lin = |kind| Linear { weight: zeros(1, 1), kind, slots: None };
        let att = Attention {
            q_proj: lin(ModuleKind::Q),
            k_proj: lin(ModuleKind::K),
            v_proj: lin(ModuleKind::V),
            o_proj: lin(ModuleKind::O),
            heads: h,
            kv_heads: kvh,
            head_dim: hd,
        };
        let fast = att.paged_decode(&q, &k_cache, &v_cache, &meta).unwrap();
        let slow = att.gathered_decode(&q, &k_cache, &v_cache, &meta).unwrap();
        let diff = (&fast - &slow).abs().max().double_value(&[]);
        assert!(diff < 1e-12, "{diff}");
        assert!(att.paged_decode(&q.to_kind(Kind::Half), &k_cache, &v_cache, &meta).is_none());
        // bf16 in and out, computed in f32: within the output's rounding (2⁻⁸ relative; the
        // outputs are of order 1) of the f64 result on the same bf16 inputs.
        let bf = |t: &Tensor| t.to_kind(Kind::BFloat16);
        let (qb, kb, vb) = (bf(&q), bf(&k_cache), bf(&v_cache));
        let fast = att.paged_decode(&qb, &kb, &vb, &meta).unwrap();
        assert_eq!(fast.kind(), Kind::BFloat16);
        let f64_of = |t: &Tensor| t.to_kind(Kind::Double);
        let want = att.gathered_decode(&f64_of(&qb), &f64_of(&kb), &f64_of(&vb), &meta).unwrap();
        let diff = (f64_of(&fast) - &want).abs().max().double_value(&[]);
        let scale = want.abs().max().double_value(&[]);
        assert!(diff <= scale / 256.0, "bf16 kernel off by {diff} (outputs up to {scale})");
    }

    /// SDPA with `enable_gqa` and a padding mask equals attention written out by hand.
    #[test]
    fn batched_masked_gqa_attention_matches_manual() {
        tch::manual_seed(5);
        let opts = (Kind::Double, Device::Cpu);
        let (n, h, kvh, l, hd) = (3i64, 4i64, 2i64, 6i64, 8i64);
        let q = Tensor::randn([n, h, 1, hd], opts);
        let k = Tensor::randn([n, kvh, l, hd], opts);
        let v = Tensor::randn([n, kvh, l, hd], opts);
        let lens = [6i64, 2, 4];
        let mask: Vec<bool> = lens.iter().flat_map(|&c| (0..l).map(move |j| j < c)).collect();
        let mask = Tensor::from_slice(&mask).view([n, 1, 1, l]);
        let got =
            Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&mask), 0.0, false, None, true);
        for (i, &c) in lens.iter().enumerate() {
            for head in 0..h {
                let qi = q.get(i as i64).get(head); // [1, hd]
                let ki = k.get(i as i64).get(head / (h / kvh)).narrow(0, 0, c);
                let vi = v.get(i as i64).get(head / (h / kvh)).narrow(0, 0, c);
                let att = (qi.matmul(&ki.tr()) / (hd as f64).sqrt()).softmax(-1, Kind::Double);
                let want = att.matmul(&vi);
                let diff = (got.get(i as i64).get(head) - want).abs().max().double_value(&[]);
                assert!(diff < 1e-10, "seq {i} head {head}: {diff}");
            }
        }
    }
}
