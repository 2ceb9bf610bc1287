//! A LoRA adapter as trainable tensors over the shared base model, and the
//! [`LinearHook`] that runs it inside [`Llama::forward_sequences`].
//!
//! The adapter is the one the OpenLoRA server serves: `W' = W + s·B·A` per targeted module,
//! `A` `[r, in]`, `B` `[out, r]`, saved in PEFT's layout ([`TrainableLora::to_peft_bytes`]) and
//! loaded back through the server's own loader ([`TrainableLora::load_peft_dir`]).
//!
//! For attribution every targeted module is seen as two linear *blocks* (kronfluence's tracked
//! modules): `A` maps the layer input `x` to `u = x·Aᵀ` (`[r]`), and `B` maps `s·u` to the
//! delta (`[out]`). With [`Capture`] on, the hook adds a zero probe after each block whose
//! gradient is the block's output gradient, and keeps each block's input: enough for K-FAC
//! covariances and for every example's gradient `Σ_t g_t·a_tᵀ` out of one backward pass.

use openlora_server::{
    LlamaConfig, ModuleKind,
    adapter::{
        self, ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterError, AdapterId, AdapterSpec, PeftConfig,
    },
    model::{LinearHook, Llama, ModelError},
    weights::{WeightError, to_safetensors_bytes},
};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};
use tch::{Device, Kind, Tensor};

/// [`ModuleKind`] as its PEFT name in JSON.
mod module_name {
    use openlora_server::ModuleKind;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(m: &ModuleKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ModuleKind, D::Error> {
        let name = String::deserialize(d)?;
        ModuleKind::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown module {name}")))
    }
}

/// A list of [`ModuleKind`]s as PEFT names in JSON.
mod module_names {
    use openlora_server::ModuleKind;
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub(super) fn serialize<S: Serializer>(ms: &[ModuleKind], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ms.len()))?;
        for m in ms {
            seq.serialize_element(m.name())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<ModuleKind>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|n| {
                ModuleKind::from_name(&n)
                    .ok_or_else(|| D::Error::custom(format!("unknown module {n}")))
            })
            .collect()
    }
}

/// Rank, scale and target modules of an adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// PEFT's `lora_alpha` (scale `alpha / r`).
    pub alpha: f64,
    /// Modules adapted in every layer (PEFT names in JSON).
    #[serde(with = "module_names")]
    pub targets: Vec<ModuleKind>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { rank: 8, alpha: 16.0, targets: ModuleKind::ALL.to_vec() }
    }
}

/// One tracked linear block of the adapter: which layer and module, which half of the pair,
/// and its shape as a linear map (`d_out × d_in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Decoder layer.
    pub layer: usize,
    /// The adapted module (its PEFT name in JSON).
    #[serde(with = "module_name")]
    pub module: ModuleKind,
    /// `true` for `lora_A` (`x → u`), `false` for `lora_B` (`s·u → delta`).
    pub is_a: bool,
    /// Output width.
    pub d_out: usize,
    /// Input width.
    pub d_in: usize,
}

impl Block {
    /// Parameters in the block (`d_out · d_in`).
    pub fn numel(&self) -> usize {
        self.d_out * self.d_in
    }

    /// PEFT's tensor name of the block.
    pub fn peft_name(&self) -> String {
        format!(
            "base_model.model.model.layers.{}.{}.{}.lora_{}.weight",
            self.layer,
            self.module.parent(),
            self.module.name(),
            if self.is_a { "A" } else { "B" }
        )
    }
}

/// What the hook keeps for one block during a captured forward pass.
#[derive(Debug)]
pub struct BlockCapture {
    /// The block's input, `[batch, len, d_in]` (detached).
    pub input: Tensor,
    /// A zero tensor added to the block's output; its gradient is the output gradient,
    /// `[batch, len, d_out]`.
    pub probe: Tensor,
}

impl BlockCapture {
    /// The output gradient after `backward` (zeros if nothing reached the block).
    pub fn output_grad(&self) -> Tensor {
        let g = self.probe.grad();
        if g.defined() { g } else { self.probe.zeros_like() }
    }
}

/// Probes and inputs of every block for one forward pass, in [`TrainableLora::blocks`] order.
#[derive(Debug, Default)]
pub struct Capture {
    /// One entry per block once the forward pass has run.
    pub blocks: Vec<BlockCapture>,
}

/// A LoRA adapter as tensors: `A` `[r, in]` and `B` `[out, r]` per targeted module and layer.
#[derive(Debug)]
pub struct TrainableLora {
    cfg: LoraConfig,
    /// Multiplies `B·A`: `alpha / r` for adapters trained here, 1 for loaded adapters (the
    /// server's loader folds the scale into `B`).
    scale: f64,
    pairs: Vec<[Option<(Tensor, Tensor)>; 7]>,
    blocks: Vec<Block>,
}

impl TrainableLora {
    /// PEFT's initialisation: `A` uniform in `±1/√in` (Kaiming-uniform with `a = √5`), `B`
    /// zero, so training starts from the base model. Seeded: the same seed gives the same
    /// adapter on every machine.
    pub fn init(model: &LlamaConfig, cfg: LoraConfig, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let r = cfg.rank as i64;
        let mut pairs: Vec<[Option<(Tensor, Tensor)>; 7]> =
            (0..model.num_hidden_layers).map(|_| Default::default()).collect();
        for row in pairs.iter_mut() {
            for &m in &cfg.targets {
                let (d_in, d_out) = model.module_dims(m);
                let bound = 1.0 / (d_in as f64).sqrt();
                let values: Vec<f32> = (0..cfg.rank * d_in)
                    .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                    .collect();
                let a = Tensor::from_slice(&values).view([r, d_in as i64]);
                let b = Tensor::zeros([d_out as i64, r], (Kind::Float, Device::Cpu));
                row[m.index()] = Some((a, b));
            }
        }
        let scale = cfg.alpha / cfg.rank as f64;
        Self::from_pairs(cfg, scale, pairs)
    }

    fn from_pairs(cfg: LoraConfig, scale: f64, pairs: Vec<[Option<(Tensor, Tensor)>; 7]>) -> Self {
        let mut blocks = Vec::new();
        for (layer, row) in pairs.iter().enumerate() {
            for m in ModuleKind::ALL {
                if let Some((a, b)) = &row[m.index()] {
                    let (r, d_in, d_out) = (a.size()[0], a.size()[1], b.size()[0]);
                    blocks.push(Block {
                        layer,
                        module: m,
                        is_a: true,
                        d_out: r as usize,
                        d_in: d_in as usize,
                    });
                    blocks.push(Block {
                        layer,
                        module: m,
                        is_a: false,
                        d_out: d_out as usize,
                        d_in: r as usize,
                    });
                }
            }
        }
        let pairs = pairs
            .into_iter()
            .map(|row| {
                row.map(|p| p.map(|(a, b)| (a.set_requires_grad(true), b.set_requires_grad(true))))
            })
            .collect();
        Self { cfg, scale, pairs, blocks }
    }

    /// Loads a PEFT adapter folder through the OpenLoRA server's loader (the same validation
    /// the server applies), with the scale folded into `B`.
    pub fn load_peft_dir(
        dir: &Path,
        model: &LlamaConfig,
    ) -> Result<(AdapterId, Self), AdapterError> {
        let spec = AdapterSpec {
            model: model.clone(),
            model_names: vec![],
            max_rank: usize::MAX,
            modules: ModuleKind::ALL.to_vec(),
        };
        let (info, weights) =
            adapter::load_adapter_dir(dir, None, &spec, Kind::Float, Device::Cpu)?;
        let targets: Vec<ModuleKind> =
            info.target_modules.iter().filter_map(|n| ModuleKind::from_name(n)).collect();
        let pairs = (0..model.num_hidden_layers)
            .map(|l| {
                let mut row: [Option<(Tensor, Tensor)>; 7] = Default::default();
                for m in ModuleKind::ALL {
                    if let Some(p) = weights.pair(l, m) {
                        row[m.index()] = Some((p.a.copy(), p.b.copy()));
                    }
                }
                row
            })
            .collect();
        let cfg = LoraConfig { rank: info.rank, alpha: info.alpha, targets };
        Ok((info.id, Self::from_pairs(cfg, 1.0, pairs)))
    }

    /// The config (rank, alpha, targets).
    pub fn config(&self) -> &LoraConfig {
        &self.cfg
    }

    /// The tracked blocks, in a fixed order: layers ascending, modules in
    /// [`ModuleKind::ALL`] order, `A` before `B`.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Total parameters.
    pub fn numel(&self) -> usize {
        self.blocks.iter().map(Block::numel).sum()
    }

    /// The tensors to optimise (`A` and `B` of every pair, in block order).
    pub fn parameters(&self) -> Vec<Tensor> {
        self.pairs
            .iter()
            .flat_map(|row| row.iter().flatten())
            .flat_map(|(a, b)| [a.shallow_clone(), b.shallow_clone()])
            .collect()
    }

    /// A detached copy (for checkpoints).
    pub fn snapshot(&self) -> Self {
        let pairs = self
            .pairs
            .iter()
            .map(|row| {
                let mut out: [Option<(Tensor, Tensor)>; 7] = Default::default();
                for (o, p) in out.iter_mut().zip(row) {
                    *o = p.as_ref().map(|(a, b)| (a.detach().copy(), b.detach().copy()));
                }
                out
            })
            .collect();
        Self::from_pairs(self.cfg.clone(), self.scale, pairs)
    }

    /// The adapter's two PEFT files: `adapter_config.json` and `adapter_model.safetensors`
    /// (f32, the scale left in `lora_alpha` as PEFT does).
    pub fn to_peft_bytes(
        &self,
        base_model: Option<String>,
    ) -> Result<(Vec<u8>, Vec<u8>), WeightError> {
        let mut tensors = Vec::new();
        // Loaded adapters carry the scale inside B: write alpha = r so the scale is one.
        let (alpha, b_factor) =
            if (self.scale - self.cfg.alpha / self.cfg.rank as f64).abs() < 1e-12 {
                (self.cfg.alpha, 1.0)
            } else {
                (self.cfg.rank as f64, self.scale)
            };
        let params = self.parameters();
        for (block, t) in self.blocks.iter().zip(params) {
            let t = t.detach();
            let t = if block.is_a { t } else { t * b_factor };
            tensors.push((block.peft_name(), t));
        }
        let weights = to_safetensors_bytes(&tensors, None)?;
        let cfg = PeftConfig {
            peft_type: Some("LORA".into()),
            base_model_name_or_path: base_model,
            r: self.cfg.rank,
            lora_alpha: alpha,
            target_modules: Some(serde_json::Value::from(
                self.cfg.targets.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )),
            use_rslora: false,
            fan_in_fan_out: false,
            bias: Some("none".into()),
            use_dora: false,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            task_type: Some("CAUSAL_LM".into()),
            lora_dropout: 0.0,
        };
        let config = serde_json::to_vec_pretty(&cfg).map_err(|e| WeightError::Corrupt {
            path: ADAPTER_CONFIG.into(),
            reason: e.to_string(),
        })?;
        Ok((config, weights))
    }

    /// Writes the PEFT folder (both files through a temporary file and a rename); returns the
    /// adapter id (keccak of the weights file).
    pub fn write_peft_dir(
        &self,
        dir: &Path,
        base_model: Option<String>,
    ) -> Result<AdapterId, AdapterError> {
        let (config, weights) = self.to_peft_bytes(base_model)?;
        adapter::write_adapter_files(dir, &config, &weights)?;
        debug_assert!(dir.join(ADAPTER_WEIGHTS).exists());
        Ok(AdapterId::of_bytes(&weights))
    }

    /// The hook that runs this adapter in [`Llama::forward_sequences`], capturing blocks into
    /// `capture` when given.
    pub fn hook<'a>(&'a self, capture: Option<&'a mut Capture>) -> LoraHook<'a> {
        LoraHook { lora: self, capture }
    }

    /// Runs `tokens` (`[batch, len]`) through `model` with this adapter; logits
    /// `[batch, len, vocab]`.
    pub fn forward(
        &self,
        model: &Llama,
        tokens: &Tensor,
        capture: Option<&mut Capture>,
    ) -> Result<Tensor, ModelError> {
        model.forward_sequences(tokens, &mut self.hook(capture))
    }
}

/// Runs a [`TrainableLora`] inside the base model's linear layers.
#[derive(Debug)]
pub struct LoraHook<'a> {
    lora: &'a TrainableLora,
    capture: Option<&'a mut Capture>,
}

impl LinearHook for LoraHook<'_> {
    fn delta(
        &mut self,
        layer: usize,
        module: ModuleKind,
        x: &Tensor,
    ) -> Result<Option<Tensor>, ModelError> {
        let Some((a, b)) = self.lora.pairs.get(layer).and_then(|row| row[module.index()].as_ref())
        else {
            return Ok(None);
        };
        let mut u = x.matmul(&a.tr());
        if let Some(capture) = self.capture.as_deref_mut() {
            let probe = u.zeros_like().detach().set_requires_grad(true);
            u = &u + &probe;
            capture.blocks.push(BlockCapture { input: x.detach(), probe });
        }
        let su = u * self.lora.scale;
        let mut y = su.matmul(&b.tr());
        if let Some(capture) = self.capture.as_deref_mut() {
            let probe = y.zeros_like().detach().set_requires_grad(true);
            y = &y + &probe;
            capture.blocks.push(BlockCapture { input: su.detach(), probe });
        }
        Ok(Some(y))
    }
}
