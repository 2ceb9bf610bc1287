//! Creating small model folders from scratch, in exactly the layout of a Hugging Face Llama
//! checkpoint: `config.json`, `model.safetensors` (or shards `model-0000i-of-0000n.safetensors`
//! with `model.safetensors.index.json`), `tokenizer.json` (a byte-level BPE trained with the
//! `tokenizers` crate) and `tokenizer_config.json` (special tokens and a ChatML template).
//!
//! Weights are random from a seeded ChaCha stream, so the same seed gives the same bytes on
//! every machine. Nothing is downloaded: the default corpus is this repository's own prose.

use crate::{
    adapter::{AdapterWeights, seeded_values},
    config::{LlamaConfig, ModelSize},
    lora::ModuleKind,
    weights::{WeightError, WeightMap, to_safetensors_bytes},
};
use rand::SeedableRng;
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};
use tch::{Device, Kind, Tensor};
use tokenizers::{
    AddedToken, Tokenizer,
    models::{TrainerWrapper, bpe::BpeTrainerBuilder},
    pre_tokenizers::byte_level::ByteLevel,
};

/// The end-of-text token: EOS of the models made here.
pub const EOS_TOKEN: &str = "<|endoftext|>";
/// ChatML's turn markers, reserved as special tokens.
pub const CHAT_TOKENS: [&str; 2] = ["<|im_start|>", "<|im_end|>"];

/// The built-in training corpus: the project's own documentation (real English prose about
/// this system), embedded at compile time.
pub const DEFAULT_CORPUS: &[&str] = &[
    include_str!("../../README.md"),
    include_str!("../../contracts/README.md"),
    include_str!("lib.rs"),
];

/// Errors making a model.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// A file could not be written or read.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Tokenizer training failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Weights could not be serialised.
    #[error(transparent)]
    Weights(#[from] WeightError),
    /// Bad options.
    #[error("{0}")]
    Invalid(String),
}

/// Writes `out`, a copy of the model folder `base` whose linear weights have `adapter` merged in
/// (`W + s·B·A`, what PEFT's `merge_and_unload` does) and whose `_name_or_path` is `name`: a new
/// base model. The attribution benchmark uses it to give a random base model some language
/// before fine-tuning on top (pre-training as a full-rank adapter, merged). The tokenizer files
/// are copied as they are; the weights go into one `model.safetensors`.
pub fn merge_adapter_into_folder(
    base: &Path,
    adapter: &AdapterWeights,
    name: &str,
    out: &Path,
) -> Result<LlamaConfig, MakeError> {
    let mut cfg = LlamaConfig::from_file(&base.join("config.json"))
        .map_err(|e| MakeError::Invalid(format!("{}: {e}", base.display())))?;
    let mut tensors = WeightMap::load(base, Kind::Float, Device::Cpu)?.into_named();
    for (tensor_name, weight) in &mut tensors {
        // `model.layers.{l}.{self_attn|mlp}.{module}.weight`
        let Some(rest) = tensor_name.strip_prefix("model.layers.") else { continue };
        let mut parts = rest.split('.');
        let (Some(layer), Some(parent), Some(module), Some("weight"), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(layer), Some(kind)) = (layer.parse::<usize>(), ModuleKind::from_name(module))
        else {
            continue;
        };
        if kind.parent() != parent {
            continue;
        }
        if let Some(pair) = adapter.pair(layer, kind) {
            let delta = pair.b.to_kind(Kind::Float).matmul(&pair.a.to_kind(Kind::Float));
            if delta.size() != weight.size() {
                return Err(MakeError::Invalid(format!(
                    "the adapter's {tensor_name} delta is {:?}, the weight {:?}",
                    delta.size(),
                    weight.size()
                )));
            }
            *weight = &*weight + delta;
        }
    }
    std::fs::create_dir_all(out).map_err(|source| MakeError::Io { path: out.into(), source })?;
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        let (from, to) = (base.join(file), out.join(file));
        if from.exists() {
            std::fs::copy(&from, &to).map_err(|source| MakeError::Io { path: to, source })?;
        }
    }
    cfg.name_or_path = Some(name.to_owned());
    let cfg_json =
        serde_json::to_string_pretty(&cfg).map_err(|e| MakeError::Invalid(e.to_string()))?;
    let path = out.join("config.json");
    std::fs::write(&path, cfg_json).map_err(|source| MakeError::Io { path, source })?;
    let meta = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let path = out.join("model.safetensors");
    std::fs::write(&path, to_safetensors_bytes(&tensors, Some(meta))?)
        .map_err(|source| MakeError::Io { path, source })?;
    Ok(cfg)
}

/// What `make-model` makes.
#[derive(Debug, Clone)]
pub struct MakeModel {
    /// The size preset.
    pub size: ModelSize,
    /// Seed of the weights.
    pub seed: u64,
    /// Number of safetensors shards (1: a single `model.safetensors`).
    pub shards: usize,
    /// Training texts for the tokenizer (default: [`DEFAULT_CORPUS`]).
    pub corpus: Vec<String>,
}

impl MakeModel {
    /// The preset with the default corpus, seed 0 and one shard for tiny, two for small.
    pub fn new(size: ModelSize) -> Self {
        Self {
            size,
            seed: 0,
            shards: if size == ModelSize::Tiny { 1 } else { 2 },
            corpus: DEFAULT_CORPUS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The model's `_name_or_path`, which its adapters name as their base model.
    pub fn name(&self) -> String {
        format!("openlora/{}-seed{}", self.size.name(), self.seed)
    }

    /// Writes the folder; returns the config written.
    pub fn write(&self, out: &Path) -> Result<LlamaConfig, MakeError> {
        if self.shards == 0 {
            return Err(MakeError::Invalid("shards must be at least 1".into()));
        }
        std::fs::create_dir_all(out)
            .map_err(|source| MakeError::Io { path: out.into(), source })?;
        let mut cfg = self.size.config();
        let tokenizer = train_tokenizer(&self.corpus, cfg.vocab_size)?;
        cfg.vocab_size = tokenizer.get_vocab_size(true);
        let eos = tokenizer
            .token_to_id(EOS_TOKEN)
            .ok_or_else(|| MakeError::Tokenizer("EOS token missing after training".into()))?;
        cfg.eos_token_id = Some(eos);
        cfg.bos_token_id = Some(eos);
        cfg.name_or_path = Some(self.name());
        let write = |name: &str, bytes: &[u8]| {
            let path = out.join(name);
            std::fs::write(&path, bytes).map_err(|source| MakeError::Io { path, source })
        };
        let tok_json =
            tokenizer.to_string(true).map_err(|e| MakeError::Tokenizer(e.to_string()))?;
        write("tokenizer.json", tok_json.as_bytes())?;
        let tok_cfg = serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": EOS_TOKEN,
            "eos_token": EOS_TOKEN,
            "model_max_length": cfg.max_position_embeddings,
            "chat_template": "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        });
        write("tokenizer_config.json", tok_cfg.to_string().as_bytes())?;
        let cfg_json =
            serde_json::to_string_pretty(&cfg).map_err(|e| MakeError::Invalid(e.to_string()))?;
        write("config.json", cfg_json.as_bytes())?;

        let tensors = random_weights(&cfg, self.seed);
        let meta = HashMap::from([("format".to_owned(), "pt".to_owned())]);
        if self.shards == 1 {
            write("model.safetensors", &to_safetensors_bytes(&tensors, Some(meta))?)?;
        } else {
            let per = tensors.len().div_ceil(self.shards);
            let mut weight_map = BTreeMap::new();
            let mut total = 0usize;
            let chunks: Vec<_> = tensors.chunks(per).collect();
            let n = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                let file = format!("model-{:05}-of-{:05}.safetensors", i + 1, n);
                for (name, t) in chunk {
                    weight_map.insert(name.clone(), file.clone());
                    total += t.numel() * 4;
                }
                write(&file, &to_safetensors_bytes(chunk, Some(meta.clone()))?)?;
            }
            let index =
                serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
            write("model.safetensors.index.json", index.to_string().as_bytes())?;
        }
        Ok(cfg)
    }
}

/// Trains a byte-level BPE tokenizer of at most `vocab_size` tokens on `corpus`.
pub fn train_tokenizer(corpus: &[String], vocab_size: usize) -> Result<Tokenizer, MakeError> {
    let specials: Vec<AddedToken> = std::iter::once(EOS_TOKEN)
        .chain(CHAT_TOKENS)
        .map(|t| AddedToken::from(t.to_owned(), true))
        .collect();
    let mut trainer = TrainerWrapper::BpeTrainer(
        BpeTrainerBuilder::new()
            .show_progress(false)
            .vocab_size(vocab_size)
            .min_frequency(2)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build(),
    );
    let mut tokenizer = Tokenizer::new(tokenizers::models::bpe::BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    tokenizer.with_post_processor(Some(ByteLevel::default().trim_offsets(false)));
    tokenizer
        .train(&mut trainer, corpus.iter())
        .map_err(|e| MakeError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}

/// Random weights with HF's names: embeddings and LM head scaled so logits are peaked enough to
/// make generations differ between adapters, linear layers at `1/√in`, norms at one.
pub fn random_weights(cfg: &LlamaConfig, seed: u64) -> Vec<(String, Tensor)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut push =
        |name: String, shape: [usize; 2], std: f64, rng: &mut rand_chacha::ChaCha8Rng| {
            let v = seeded_values(rng, shape[0] * shape[1], std);
            out.push((name, Tensor::from_slice(&v).view([shape[0] as i64, shape[1] as i64])));
        };
    let (v, h) = (cfg.vocab_size, cfg.hidden_size);
    push("model.embed_tokens.weight".into(), [v, h], 1.0, &mut rng);
    for l in 0..cfg.num_hidden_layers {
        for m in ModuleKind::ALL {
            let (d_in, d_out) = cfg.module_dims(m);
            let name = format!("model.layers.{l}.{}.{}.weight", m.parent(), m.name());
            push(name, [d_out, d_in], 1.0 / (d_in as f64).sqrt(), &mut rng);
        }
    }
    push("lm_head.weight".into(), [v, h], 2.0 / (h as f64).sqrt(), &mut rng);
    let ones = || Tensor::ones([h as i64], (tch::Kind::Float, tch::Device::Cpu));
    for l in 0..cfg.num_hidden_layers {
        out.push((format!("model.layers.{l}.input_layernorm.weight"), ones()));
        out.push((format!("model.layers.{l}.post_attention_layernorm.weight"), ones()));
    }
    out.push(("model.norm.weight".into(), ones()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The merged folder holds `W + s·B·A` for every targeted module and the base weights
    /// elsewhere, under the new name, and loads as a model.
    #[test]
    fn merged_folder_holds_base_plus_delta() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let mut make = MakeModel::new(ModelSize::Tiny);
        make.corpus = vec!["a small corpus for a small tokenizer, a small model".repeat(40)];
        let cfg = make.write(&base).unwrap();
        let adapter = crate::RandomAdapter {
            rank: 4,
            alpha: 8.0,
            modules: vec![ModuleKind::Q, ModuleKind::Down],
            base_model: None,
            seed: 3,
            b_std: 0.1,
        };
        let (config_json, weights) = adapter.to_bytes(&cfg).unwrap();
        let spec = crate::adapter::AdapterSpec {
            model: cfg.clone(),
            model_names: vec![],
            max_rank: 4,
            modules: ModuleKind::ALL.to_vec(),
        };
        let (_, parsed) =
            crate::adapter::parse_adapter(&config_json, &weights, &spec, Kind::Float, Device::Cpu)
                .unwrap();
        let out = dir.path().join("merged");
        let merged_cfg = merge_adapter_into_folder(&base, &parsed, "tiny-merged", &out).unwrap();
        assert_eq!(merged_cfg.name_or_path.as_deref(), Some("tiny-merged"));
        let before: HashMap<_, _> = WeightMap::load(&base, Kind::Float, Device::Cpu)
            .unwrap()
            .into_named()
            .into_iter()
            .collect();
        let after = WeightMap::load(&out, Kind::Float, Device::Cpu).unwrap().into_named();
        assert_eq!(after.len(), before.len());
        for (name, w) in &after {
            let diff = (w - &before[name]).abs().max().double_value(&[]);
            let targeted = name.contains("q_proj") || name.contains("down_proj");
            assert_eq!(diff > 0.0, targeted, "{name}: max change {diff}");
        }
        let pair = parsed.pair(1, ModuleKind::Q).unwrap();
        let name = "model.layers.1.self_attn.q_proj.weight";
        let w = &after.iter().find(|(n, _)| n == name).unwrap().1;
        let expected = &before[name] + pair.b.matmul(&pair.a);
        assert!(w.allclose(&expected, 1e-6, 1e-6, false));
        crate::model::Llama::load(&out, &merged_cfg, None, Kind::Float, Device::Cpu).unwrap();
    }

    #[test]
    fn tokenizer_is_deterministic_and_round_trips() {
        let corpus: Vec<String> = DEFAULT_CORPUS.iter().map(|s| (*s).to_owned()).collect();
        let a = train_tokenizer(&corpus, 400).unwrap();
        let b = train_tokenizer(&corpus, 400).unwrap();
        assert_eq!(a.to_string(false).unwrap(), b.to_string(false).unwrap());
        assert_eq!(a.get_vocab_size(true), 400);
        let text = "The sequencer orders transactions; adapters are paid per inference. ünïcødé ✓";
        let enc = a.encode(text, false).unwrap();
        assert!(enc.get_ids().len() < text.len(), "merges shorten the text");
        assert_eq!(a.decode(enc.get_ids(), false).unwrap(), text);
        assert_eq!(a.token_to_id(EOS_TOKEN), Some(0));
    }
}
