//! PEFT LoRA adapters: parsing and validating `adapter_config.json` + `adapter_model.safetensors`,
//! naming them by the keccak-256 of the safetensors bytes (the hash the on-chain model registry
//! holds), and creating random ones for tests and benchmarks.
//!
//! Tensor names follow PEFT: `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`
//! (`[r, in]`) and `...lora_B.weight` (`[out, r]`). Any rank up to the server's maximum, any
//! subset of the seven linear modules, and any subset of layers are accepted; the scale
//! `lora_alpha / r` (or `/ √r` with `use_rslora`) is folded into `B` at load time.

use crate::{
    config::LlamaConfig,
    lora::ModuleKind,
    weights::{WeightError, to_safetensors_bytes},
};
use alloy_primitives::{B256, keccak256};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};
use tch::{Device, Kind, Tensor};

/// The PEFT config file name.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The PEFT weights file name.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// An adapter's name: keccak-256 of its `adapter_model.safetensors` bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AdapterId(pub B256);

impl AdapterId {
    /// The id of these safetensors bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(keccak256(bytes))
    }
}

impl fmt::Display for AdapterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for AdapterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdapterId({self})")
    }
}

impl FromStr for AdapterId {
    type Err = AdapterError;

    /// Parses `0x` + 64 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("0x").ok_or_else(|| AdapterError::BadId(s.into()))?;
        if hex.len() != 64 {
            return Err(AdapterError::BadId(s.into()));
        }
        B256::from_str(hex).map(Self).map_err(|_| AdapterError::BadId(s.into()))
    }
}

/// Errors loading or validating an adapter.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `adapter_config.json` is not valid.
    #[error("invalid adapter_config.json: {0}")]
    Config(String),
    /// The safetensors bytes are corrupt or truncated.
    #[error("invalid adapter weights: {0}")]
    Weights(#[from] WeightError),
    /// The adapter was trained for another base model (by name).
    #[error("adapter is for base model `{adapter}`, but this server runs `{model}`")]
    BaseModelMismatch {
        /// `base_model_name_or_path` of the adapter.
        adapter: String,
        /// The served model's name.
        model: String,
    },
    /// The rank exceeds what the device slots hold.
    #[error("adapter rank {rank} exceeds the server's maximum LoRA rank {max}")]
    RankTooLarge {
        /// The adapter's rank.
        rank: usize,
        /// `max_lora_rank`.
        max: usize,
    },
    /// A tensor does not fit the base model (another model's adapter, or a broken file).
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?} for this base model")]
    Shape {
        /// The tensor.
        name: String,
        /// Its shape.
        got: Vec<i64>,
        /// What the base model implies.
        expected: Vec<i64>,
    },
    /// A tensor that is not a LoRA A/B of a known module, or a layer past the model's.
    #[error("unexpected tensor `{0}` in adapter (not a LoRA A/B weight of this base model)")]
    UnexpectedTensor(String),
    /// An `A` without its `B` or the other way round.
    #[error("tensor `{0}` has no partner (every lora_A needs its lora_B)")]
    Unpaired(String),
    /// No LoRA tensors at all.
    #[error("adapter holds no LoRA weights")]
    Empty,
    /// A PEFT feature this server does not run.
    #[error("unsupported adapter feature: {0}")]
    Unsupported(String),
    /// The adapter targets a module the server has no slots for.
    #[error("adapter targets {0}, which this server does not serve adapters on")]
    ModuleNotServed(&'static str),
    /// The weights file no longer hashes to the id it was registered under.
    #[error("adapter_model.safetensors changed: its keccak is now {found}, not {expected}")]
    Changed {
        /// The registered id.
        expected: AdapterId,
        /// The keccak of the bytes read now.
        found: AdapterId,
    },
    /// Not `0x` + 64 hex digits.
    #[error("`{0}` is not an adapter id (0x followed by 64 hex digits)")]
    BadId(String),
}

/// The fields of PEFT's `adapter_config.json` that matter here (others are ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeftConfig {
    /// Must be `LORA` when present.
    #[serde(default)]
    pub peft_type: Option<String>,
    /// The base model the adapter was trained on.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Rank.
    pub r: usize,
    /// Scale numerator.
    pub lora_alpha: f64,
    /// Target modules: a list of names or a regex string (informative; tensors decide).
    #[serde(default)]
    pub target_modules: Option<serde_json::Value>,
    /// Scale by `alpha / √r` instead of `alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Must be false (Conv1D-style weights are not used by Llama).
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Must be `none`.
    #[serde(default)]
    pub bias: Option<String>,
    /// Must be false.
    #[serde(default)]
    pub use_dora: bool,
    /// Per-module ranks: not supported (must be empty).
    #[serde(default)]
    pub rank_pattern: BTreeMap<String, serde_json::Value>,
    /// Per-module alphas: not supported (must be empty).
    #[serde(default)]
    pub alpha_pattern: BTreeMap<String, serde_json::Value>,
    /// PEFT writes `CAUSAL_LM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// Ignored at inference.
    #[serde(default)]
    pub lora_dropout: f64,
}

impl PeftConfig {
    /// The scale folded into `B`.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    fn check(&self) -> Result<(), AdapterError> {
        if let Some(t) = &self.peft_type
            && t != "LORA"
        {
            return Err(AdapterError::Unsupported(format!("peft_type {t} (only LORA)")));
        }
        if self.r == 0 {
            return Err(AdapterError::Config("r must be positive".into()));
        }
        if !self.lora_alpha.is_finite() {
            return Err(AdapterError::Config("lora_alpha must be a finite number".into()));
        }
        if self.fan_in_fan_out {
            return Err(AdapterError::Unsupported("fan_in_fan_out".into()));
        }
        if self.use_dora {
            return Err(AdapterError::Unsupported("DoRA (use_dora)".into()));
        }
        if let Some(b) = &self.bias
            && b != "none"
        {
            return Err(AdapterError::Unsupported(format!("bias = {b}")));
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return Err(AdapterError::Unsupported("rank_pattern / alpha_pattern".into()));
        }
        Ok(())
    }
}

/// What an adapter must match to be served: the base model and the device slots.
#[derive(Debug, Clone)]
pub struct AdapterSpec {
    /// The base model's config.
    pub model: LlamaConfig,
    /// Names the base model answers to (`_name_or_path`, folder name, ...); an adapter whose
    /// `base_model_name_or_path` is set must name one of them. Empty: no name check.
    pub model_names: Vec<String>,
    /// Highest rank the device slots hold.
    pub max_rank: usize,
    /// Modules the server has slots for.
    pub modules: Vec<ModuleKind>,
}

/// One module's low-rank pair, ready for a slot: `a` `[r, in]`, `b` `[out, r]` with the scale
/// folded in.
#[derive(Debug)]
pub struct LoraPair {
    /// Down projection.
    pub a: Tensor,
    /// Up projection times the scale.
    pub b: Tensor,
}

/// An adapter's tensors in host (or device) memory, by layer and module.
#[derive(Debug)]
pub struct AdapterWeights {
    layers: Vec<[Option<LoraPair>; 7]>,
    bytes: usize,
}

impl AdapterWeights {
    /// The pair of `module` in `layer`, if the adapter has one.
    pub fn pair(&self, layer: usize, module: ModuleKind) -> Option<&LoraPair> {
        self.layers.get(layer)?[module.index()].as_ref()
    }

    /// Modules targeted in at least one layer.
    pub fn targets(&self) -> Vec<ModuleKind> {
        ModuleKind::ALL
            .into_iter()
            .filter(|m| self.layers.iter().any(|l| l[m.index()].is_some()))
            .collect()
    }

    /// Per module, whether any layer has it (indexed by [`ModuleKind::index`]).
    pub fn target_mask(&self) -> [bool; 7] {
        let mut mask = [false; 7];
        for m in self.targets() {
            mask[m.index()] = true;
        }
        mask
    }

    /// Memory the tensors take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A copy with every value rounded through `kind` (and back): the adapter as slots of
    /// that dtype hold it, for reference computations.
    pub fn rounded_through(&self, kind: Kind) -> AdapterWeights {
        let round = |t: &Tensor| t.to_kind(kind).to_kind(t.kind());
        AdapterWeights {
            layers: self
                .layers
                .iter()
                .map(|row| {
                    let mut out: [Option<LoraPair>; 7] = Default::default();
                    for (o, p) in out.iter_mut().zip(row) {
                        *o = p.as_ref().map(|p| LoraPair { a: round(&p.a), b: round(&p.b) });
                    }
                    out
                })
                .collect(),
            bytes: self.bytes,
        }
    }
}

/// What the server knows about an adapter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdapterInfo {
    /// keccak-256 of `adapter_model.safetensors`.
    pub id: AdapterId,
    /// Rank.
    pub rank: usize,
    /// `lora_alpha`.
    pub alpha: f64,
    /// Targeted modules, PEFT names.
    pub target_modules: Vec<String>,
    /// `base_model_name_or_path`.
    pub base_model: Option<String>,
    /// Size of the safetensors file.
    pub file_bytes: usize,
}

fn parse_key(key: &str) -> Option<(usize, ModuleKind, bool)> {
    let rest = key.strip_prefix("base_model.model.").unwrap_or(key);
    let rest = rest.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (parent, rest) = rest.split_once('.')?;
    let (module, rest) = rest.split_once('.')?;
    let module = ModuleKind::from_name(module).filter(|m| m.parent() == parent)?;
    let is_a = match rest {
        "lora_A.weight" | "lora_A.default.weight" => true,
        "lora_B.weight" | "lora_B.default.weight" => false,
        _ => return None,
    };
    Some((layer, module, is_a))
}

/// One safetensors tensor times `scale`, as `kind` on `device`, refusing NaN and infinities.
/// f32 (what PEFT saves by default) is decoded, checked and scaled in one pass over the bytes;
/// other dtypes go through libtorch.
fn view_tensor(
    name: &str,
    view: &safetensors::tensor::TensorView<'_>,
    scale: f64,
    kind: Kind,
    device: Device,
) -> Result<Tensor, AdapterError> {
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    let non_finite =
        || AdapterError::Config(format!("tensor `{name}` holds NaN or infinite values"));
    let t = if view.dtype() == safetensors::Dtype::F32 {
        let s = scale as f32;
        let mut values = Vec::with_capacity(view.data().len() / 4);
        let mut finite = true;
        for b in view.data().chunks_exact(4) {
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            finite &= v.is_finite();
            values.push(v * s);
        }
        if !finite {
            return Err(non_finite());
        }
        Tensor::from_slice(&values).view(shape.as_slice())
    } else {
        let file_kind = crate::weights::kind_of(view.dtype()).ok_or_else(|| {
            AdapterError::Weights(WeightError::Dtype {
                path: ADAPTER_WEIGHTS.into(),
                name: name.to_owned(),
                dtype: format!("{:?}", view.dtype()),
            })
        })?;
        let t = Tensor::f_from_data_size(view.data(), &shape, file_kind).map_err(|e| {
            AdapterError::Weights(WeightError::Corrupt {
                path: ADAPTER_WEIGHTS.into(),
                reason: e.to_string(),
            })
        })?;
        if t.isfinite().all().int64_value(&[]) == 0 {
            return Err(non_finite());
        }
        t.to_kind(Kind::Float) * scale
    };
    Ok(t.to_kind(kind).to_device(device))
}

/// Reads an adapter folder and parses it, with the weights file memory-mapped rather than
/// copied (the loader's cold path: read, keccak, parse, validate). With `expected`, bytes that
/// no longer hash to that id are refused before parsing ([`AdapterError::Changed`]).
pub fn load_adapter_dir(
    dir: &Path,
    expected: Option<AdapterId>,
    spec: &AdapterSpec,
    kind: Kind,
    device: Device,
) -> Result<(AdapterInfo, AdapterWeights), AdapterError> {
    let config_path = dir.join(ADAPTER_CONFIG);
    let config = std::fs::read(&config_path)
        .map_err(|source| AdapterError::Io { path: config_path, source })?;
    let weights_path = dir.join(ADAPTER_WEIGHTS);
    let file = std::fs::File::open(&weights_path)
        .map_err(|source| AdapterError::Io { path: weights_path.clone(), source })?;
    // SAFETY: a read-only map, dropped before returning; every byte is copied into tensors (and
    // hashed) inside `parse_adapter`. A file rewritten meanwhile gives torn bytes, which the id
    // (keccak of the bytes read) and the safetensors parser's checks then reveal; it cannot give
    // out-of-bounds reads, since the parser checks every offset against the map's length.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|source| AdapterError::Io { path: weights_path, source })?;
    let id = AdapterId::of_bytes(&map);
    if let Some(expected) = expected
        && expected != id
    {
        return Err(AdapterError::Changed { expected, found: id });
    }
    parse_with_id(&config, &map, id, spec, kind, device)
}

/// Parses and validates an adapter from its two files' bytes, producing tensors of `kind` on
/// `device`.
pub fn parse_adapter(
    config_json: &[u8],
    safetensors: &[u8],
    spec: &AdapterSpec,
    kind: Kind,
    device: Device,
) -> Result<(AdapterInfo, AdapterWeights), AdapterError> {
    parse_with_id(config_json, safetensors, AdapterId::of_bytes(safetensors), spec, kind, device)
}

fn parse_with_id(
    config_json: &[u8],
    safetensors: &[u8],
    id: AdapterId,
    spec: &AdapterSpec,
    kind: Kind,
    device: Device,
) -> Result<(AdapterInfo, AdapterWeights), AdapterError> {
    let cfg: PeftConfig =
        serde_json::from_slice(config_json).map_err(|e| AdapterError::Config(e.to_string()))?;
    cfg.check()?;
    if let Some(base) = &cfg.base_model_name_or_path
        && !spec.model_names.is_empty()
        && !spec.model_names.iter().any(|n| n == base)
    {
        return Err(AdapterError::BaseModelMismatch {
            adapter: base.clone(),
            model: spec.model_names.first().cloned().unwrap_or_default(),
        });
    }
    if cfg.r > spec.max_rank {
        return Err(AdapterError::RankTooLarge { rank: cfg.r, max: spec.max_rank });
    }
    let st = safetensors::SafeTensors::deserialize(safetensors).map_err(|e| {
        AdapterError::Weights(WeightError::Corrupt {
            path: ADAPTER_WEIGHTS.into(),
            reason: e.to_string(),
        })
    })?;
    // In name order, so that the first error reported for a file is always the same.
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let layers_n = spec.model.num_hidden_layers;
    let mut halves: Vec<[(Option<Tensor>, Option<Tensor>); 7]> =
        (0..layers_n).map(|_| Default::default()).collect();
    let scale = cfg.scale();
    let mut bytes = 0usize;
    for (name, view) in views {
        let (layer, module, is_a) = parse_key(&name)
            .filter(|(l, ..)| *l < layers_n)
            .ok_or_else(|| AdapterError::UnexpectedTensor(name.clone()))?;
        if !spec.modules.contains(&module) {
            return Err(AdapterError::ModuleNotServed(module.name()));
        }
        let (d_in, d_out) = spec.model.module_dims(module);
        let r = cfg.r as i64;
        let expected = if is_a { vec![r, d_in as i64] } else { vec![d_out as i64, r] };
        let got: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        if got != expected {
            return Err(AdapterError::Shape { name, got, expected });
        }
        let t = view_tensor(&name, &view, if is_a { 1.0 } else { scale }, kind, device)?;
        bytes += t.numel() * kind.elt_size_in_bytes();
        let slot = &mut halves[layer][module.index()];
        if is_a { slot.0 = Some(t) } else { slot.1 = Some(t) }
    }
    let mut layers = Vec::with_capacity(layers_n);
    let mut targets = std::collections::BTreeSet::new();
    for (l, row) in halves.into_iter().enumerate() {
        let mut out: [Option<LoraPair>; 7] = Default::default();
        for (i, (a, b)) in row.into_iter().enumerate() {
            let module = ModuleKind::ALL[i];
            match (a, b) {
                (Some(a), Some(b)) => {
                    targets.insert(module);
                    out[i] = Some(LoraPair { a, b });
                }
                (None, None) => {}
                (Some(_), None) | (None, Some(_)) => {
                    return Err(AdapterError::Unpaired(format!(
                        "model.layers.{l}.{}.{}",
                        module.parent(),
                        module.name()
                    )));
                }
            }
        }
        layers.push(out);
    }
    if targets.is_empty() {
        return Err(AdapterError::Empty);
    }
    let info = AdapterInfo {
        id,
        rank: cfg.r,
        alpha: cfg.lora_alpha,
        target_modules: targets.iter().map(|m| m.name().to_owned()).collect(),
        base_model: cfg.base_model_name_or_path,
        file_bytes: safetensors.len(),
    };
    Ok((info, AdapterWeights { layers, bytes }))
}

/// Reads an adapter folder's two files.
pub fn read_adapter_dir(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), AdapterError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| AdapterError::Io { path, source })
    };
    Ok((read(ADAPTER_CONFIG)?, read(ADAPTER_WEIGHTS)?))
}

/// How to make a random adapter.
#[derive(Debug, Clone)]
pub struct RandomAdapter {
    /// Rank.
    pub rank: usize,
    /// `lora_alpha` (scale = alpha / rank).
    pub alpha: f64,
    /// Modules to target in every layer.
    pub modules: Vec<ModuleKind>,
    /// `base_model_name_or_path`.
    pub base_model: Option<String>,
    /// RNG seed: the same seed gives the same bytes, so the same id.
    pub seed: u64,
    /// Standard deviation of `B` (PEFT starts it at zero; nonzero makes the adapter matter).
    pub b_std: f64,
}

/// Uniform values with the given standard deviation, from a seeded ChaCha stream.
pub(crate) fn seeded_values(rng: &mut rand_chacha::ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    let half_width = std * 3f64.sqrt();
    (0..n).map(|_| (rng.random::<f64>() * 2.0 - 1.0) as f32 * half_width as f32).collect()
}

impl RandomAdapter {
    /// The two files' bytes (`adapter_config.json`, `adapter_model.safetensors`).
    pub fn to_bytes(&self, model: &LlamaConfig) -> Result<(Vec<u8>, Vec<u8>), AdapterError> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let r = self.rank;
        let mut tensors = Vec::new();
        for layer in 0..model.num_hidden_layers {
            for &m in &self.modules {
                let (d_in, d_out) = model.module_dims(m);
                let prefix =
                    format!("base_model.model.model.layers.{layer}.{}.{}", m.parent(), m.name());
                let a = seeded_values(&mut rng, r * d_in, 1.0 / (d_in as f64).sqrt());
                let b = seeded_values(&mut rng, d_out * r, self.b_std);
                tensors.push((
                    format!("{prefix}.lora_A.weight"),
                    Tensor::from_slice(&a).view([r as i64, d_in as i64]),
                ));
                tensors.push((
                    format!("{prefix}.lora_B.weight"),
                    Tensor::from_slice(&b).view([d_out as i64, r as i64]),
                ));
            }
        }
        let weights = to_safetensors_bytes(&tensors, None)?;
        let cfg = PeftConfig {
            peft_type: Some("LORA".into()),
            base_model_name_or_path: self.base_model.clone(),
            r,
            lora_alpha: self.alpha,
            target_modules: Some(serde_json::Value::from(
                self.modules.iter().map(|m| m.name()).collect::<Vec<_>>(),
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
        let config =
            serde_json::to_vec_pretty(&cfg).map_err(|e| AdapterError::Config(e.to_string()))?;
        Ok((config, weights))
    }

    /// Writes the adapter into `dir` (created); returns its id.
    pub fn write(&self, model: &LlamaConfig, dir: &Path) -> Result<AdapterId, AdapterError> {
        let (config, weights) = self.to_bytes(model)?;
        write_adapter_files(dir, &config, &weights)?;
        Ok(AdapterId::of_bytes(&weights))
    }
}

/// Writes an adapter's two files into `dir` (created), each through a temporary file and a
/// rename so that a folder watcher never sees half a file.
pub fn write_adapter_files(dir: &Path, config: &[u8], weights: &[u8]) -> Result<(), AdapterError> {
    std::fs::create_dir_all(dir).map_err(|source| AdapterError::Io { path: dir.into(), source })?;
    for (name, bytes) in [(ADAPTER_WEIGHTS, weights), (ADAPTER_CONFIG, config)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)
            .map_err(|source| AdapterError::Io { path: tmp.clone(), source })?;
        let path = dir.join(name);
        std::fs::rename(&tmp, &path).map_err(|source| AdapterError::Io { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelSize;

    fn spec() -> AdapterSpec {
        AdapterSpec {
            model: ModelSize::Tiny.config(),
            model_names: vec!["tiny".into()],
            max_rank: 8,
            modules: ModuleKind::ALL.to_vec(),
        }
    }

    fn random(rank: usize, modules: &[ModuleKind], seed: u64) -> RandomAdapter {
        RandomAdapter {
            rank,
            alpha: 2.0 * rank as f64,
            modules: modules.to_vec(),
            base_model: Some("tiny".into()),
            seed,
            b_std: 0.05,
        }
    }

    #[test]
    fn id_is_keccak_of_the_weights_and_round_trips() {
        let (cfg, w) =
            random(4, &[ModuleKind::Q, ModuleKind::Down], 1).to_bytes(&spec().model).unwrap();
        let (info, weights) = parse_adapter(&cfg, &w, &spec(), Kind::Float, Device::Cpu).unwrap();
        assert_eq!(info.id.0, keccak256(&w));
        assert_eq!(info.id.to_string().parse::<AdapterId>().unwrap(), info.id);
        assert_eq!(info.target_modules, ["q_proj", "down_proj"]);
        assert_eq!(weights.targets(), [ModuleKind::Q, ModuleKind::Down]);
        let pair = weights.pair(1, ModuleKind::Down).unwrap();
        assert_eq!((pair.a.size(), pair.b.size()), (vec![4, 128], vec![64, 4]));
        // Same seed, same bytes; another seed, another id.
        let (_, w2) =
            random(4, &[ModuleKind::Q, ModuleKind::Down], 1).to_bytes(&spec().model).unwrap();
        let (_, w3) =
            random(4, &[ModuleKind::Q, ModuleKind::Down], 2).to_bytes(&spec().model).unwrap();
        assert_eq!(w, w2);
        assert_ne!(AdapterId::of_bytes(&w), AdapterId::of_bytes(&w3));
        for bad in ["", "0x12", "1234", &format!("0x{}", "g".repeat(64))] {
            assert!(bad.parse::<AdapterId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_adapters_are_clear_errors() {
        let spec = spec();
        let (cfg, w) = random(4, &[ModuleKind::V], 3).to_bytes(&spec.model).unwrap();
        let parse =
            |c: &[u8], w: &[u8]| parse_adapter(c, w, &spec, Kind::Float, Device::Cpu).map(|_| ());
        // Truncated and corrupt safetensors.
        assert!(matches!(parse(&cfg, &w[..w.len() - 10]), Err(AdapterError::Weights(_))));
        let mut corrupt = w.clone();
        corrupt[8..16].copy_from_slice(b"garbage!");
        assert!(matches!(parse(&cfg, &corrupt), Err(AdapterError::Weights(_))));
        // Rank over the maximum.
        let (cfg16, w16) = random(16, &[ModuleKind::V], 3).to_bytes(&spec.model).unwrap();
        let err = parse(&cfg16, &w16).unwrap_err();
        assert_eq!(err.to_string(), "adapter rank 16 exceeds the server's maximum LoRA rank 8");
        // Another base model by name, and by dimensions.
        let mut other = random(4, &[ModuleKind::V], 3);
        other.base_model = Some("meta-llama/Llama-2-7b-hf".into());
        let (c, w_other) = other.to_bytes(&spec.model).unwrap();
        assert!(matches!(parse(&c, &w_other), Err(AdapterError::BaseModelMismatch { .. })));
        let mut wide = spec.model.clone();
        wide.hidden_size = 128;
        let (c, w_wide) = random(4, &[ModuleKind::V], 3).to_bytes(&wide).unwrap();
        let err = parse(&c, &w_wide).unwrap_err();
        assert!(matches!(err, AdapterError::Shape { .. }), "{err}");
        // Config problems.
        assert!(matches!(parse(b"{not json", &w), Err(AdapterError::Config(_))));
        let dora = String::from_utf8(cfg.clone())
            .unwrap()
            .replace("\"use_dora\": false", "\"use_dora\": true");
        assert!(matches!(parse(dora.as_bytes(), &w), Err(AdapterError::Unsupported(_))));
        // A tensor that is not LoRA.
        let junk = to_safetensors_bytes(
            &[("lm_head.weight".into(), Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)))],
            None,
        )
        .unwrap();
        assert!(matches!(parse(&cfg, &junk), Err(AdapterError::UnexpectedTensor(_))));
        // Served modules.
        let attn_only = AdapterSpec { modules: vec![ModuleKind::Q], ..spec.clone() };
        assert!(matches!(
            parse_adapter(&cfg, &w, &attn_only, Kind::Float, Device::Cpu),
            Err(AdapterError::ModuleNotServed("v_proj"))
        ));
    }

    /// bf16 files (PEFT saves in the model's dtype) load like their f32 values; NaN is refused.
    #[test]
    fn bf16_files_load_and_nan_is_refused() {
        let spec = spec();
        let (cfg, w) = random(4, &[ModuleKind::Q], 8).to_bytes(&spec.model).unwrap();
        let st = safetensors::SafeTensors::deserialize(&w).unwrap();
        let reencode = |poison: bool| {
            let mut owned = Vec::new();
            for (name, view) in st.tensors() {
                let mut bytes: Vec<u8> = view
                    .data()
                    .chunks_exact(4)
                    .flat_map(|b| {
                        let hi = (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> 16) as u16;
                        hi.to_le_bytes()
                    })
                    .collect();
                if poison {
                    bytes[0..2].copy_from_slice(&0x7fc0u16.to_le_bytes()); // bf16 NaN
                }
                owned.push((name, view.shape().to_vec(), bytes));
            }
            let views: Vec<_> = owned
                .iter()
                .map(|(n, sh, b)| {
                    (
                        n.clone(),
                        safetensors::tensor::TensorView::new(
                            safetensors::Dtype::BF16,
                            sh.clone(),
                            b,
                        )
                        .unwrap(),
                    )
                })
                .collect();
            safetensors::serialize(views, None).unwrap()
        };
        let (_, from_bf16) =
            parse_adapter(&cfg, &reencode(false), &spec, Kind::Float, Device::Cpu).unwrap();
        let (_, from_f32) = parse_adapter(&cfg, &w, &spec, Kind::Float, Device::Cpu).unwrap();
        let rounded = from_f32.rounded_through(Kind::BFloat16);
        let (a, b) =
            (from_bf16.pair(0, ModuleKind::Q).unwrap(), rounded.pair(0, ModuleKind::Q).unwrap());
        // A is exactly the truncated value; B differs by the scale applied after rounding.
        assert!((&a.a - &b.a).abs().max().double_value(&[]) < 1e-2);
        assert!((&a.b - &b.b).abs().max().double_value(&[]) < 1e-2);
        let err =
            parse_adapter(&cfg, &reencode(true), &spec, Kind::Float, Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("NaN or infinite"), "{err}");
    }
}
