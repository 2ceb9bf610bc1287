//! LoRA fine-tuning of the shared base model on a snapshot, and the run folder it leaves.
//!
//! ```text
//! snapshot (examples) ──► tokenize ──► Adam on A, B (base frozen) ──► run/
//!                                                                     ├─ adapter/          PEFT, served as is
//!                                                                     ├─ checkpoints/epoch-N/ PEFT
//!                                                                     ├─ examples.jsonl   hash, contributor, datanet, text
//!                                                                     ├─ manifest.csv     example hash, contributor
//!                                                                     └─ run.json         ids, roots, config, losses
//! ```
//!
//! Training is deterministic for a given seed on one machine: the adapter's initial `A`, the
//! order of examples in each epoch and the batches all come from seeded ChaCha streams.

use crate::{
    data::{Batch, DataError, Example, Sequence, training_sequence},
    lora::{LoraConfig, TrainableLora},
    manifest::{Manifest, ManifestError},
};
use alloy_primitives::B256;
use openlora_server::{
    AdapterId, LlamaConfig,
    adapter::AdapterError,
    model::{Llama, ModelError},
};
use rand::{SeedableRng, seq::SliceRandom};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Errors training or writing a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Examples could not be tokenized.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The manifest could not be built (no examples, duplicates).
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// The adapter could not be written.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// A file could not be written or read.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A run file is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Bad options.
    #[error("{0}")]
    Invalid(String),
}

/// How to fine-tune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The adapter's shape.
    pub lora: LoraConfig,
    /// Adam's learning rate.
    pub lr: f64,
    /// Passes over the data.
    pub epochs: usize,
    /// Examples per optimiser step.
    pub batch_size: usize,
    /// Tokens per example (longer texts are cut).
    pub max_len: usize,
    /// Seed of the initial adapter and of the example order.
    pub seed: u64,
    /// Decoupled weight decay (AdamW).
    pub weight_decay: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lora: LoraConfig::default(),
            lr: 3e-3,
            epochs: 3,
            batch_size: 16,
            max_len: 128,
            seed: 0,
            weight_decay: 0.0,
        }
    }
}

/// Adam with decoupled weight decay on plain tensors.
#[derive(Debug)]
struct Adam {
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: i32,
    lr: f64,
    weight_decay: f64,
}

impl Adam {
    fn new(params: Vec<Tensor>, lr: f64, weight_decay: f64) -> Self {
        let m = params.iter().map(Tensor::zeros_like).collect();
        let v = params.iter().map(Tensor::zeros_like).collect();
        Self { params, m, v, step: 0, lr, weight_decay }
    }

    fn step(&mut self) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        const EPS: f64 = 1e-8;
        self.step += 1;
        let (c1, c2) = (1.0 - B1.powi(self.step), 1.0 - B2.powi(self.step));
        let _guard = tch::no_grad_guard();
        for ((p, m), v) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let _ = m.g_mul_scalar_(B1).g_add_(&(&g * (1.0 - B1)));
            let _ = v.g_mul_scalar_(B2).g_add_(&(&g * &g * (1.0 - B2)));
            let update = (&*m / c1) / ((&*v / c2).sqrt() + EPS);
            if self.weight_decay > 0.0 {
                let _ = p.g_mul_scalar_(1.0 - self.lr * self.weight_decay);
            }
            let _ = p.g_sub_(&(update * self.lr));
            let _ = p.grad().zero_();
        }
    }
}

/// What one training run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Mean NLL per scored token, per epoch.
    pub epoch_losses: Vec<f64>,
    /// Optimiser steps.
    pub steps: usize,
    /// Scored tokens seen.
    pub tokens: usize,
    /// Wall time.
    pub seconds: f64,
}

/// Fine-tunes a fresh adapter on `seqs`; calls `on_epoch(epoch, adapter)` after every epoch
/// (for checkpoints).
pub fn train_lora(
    model: &Llama,
    seqs: &[Sequence],
    cfg: &TrainConfig,
    mut on_epoch: impl FnMut(usize, &TrainableLora) -> Result<(), TrainError>,
) -> Result<(TrainableLora, TrainReport), TrainError> {
    if seqs.is_empty() {
        return Err(TrainError::Invalid("no training examples".into()));
    }
    if cfg.batch_size == 0 || cfg.lora.rank == 0 || cfg.lora.targets.is_empty() {
        return Err(TrainError::Invalid("batch size, rank and targets must be non-empty".into()));
    }
    let start = std::time::Instant::now();
    let lora = TrainableLora::init(model.config(), cfg.lora.clone(), cfg.seed);
    let mut adam = Adam::new(lora.parameters(), cfg.lr, cfg.weight_decay);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    let mut report = TrainReport { epoch_losses: vec![], steps: 0, tokens: 0, seconds: 0.0 };
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let (mut total, mut count) = (0.0, 0.0);
        for chunk in order.chunks(cfg.batch_size) {
            let batch = Batch::new(&chunk.iter().map(|&i| &seqs[i]).collect::<Vec<_>>());
            let logits = lora.forward(model, &batch.tokens, None)?;
            let nll = batch.nll_per_row(&logits).sum(Kind::Float);
            let tokens = batch.scored_tokens().max(1.0);
            total += nll.double_value(&[]);
            (nll / tokens).backward();
            adam.step();
            count += tokens;
            report.steps += 1;
            report.tokens += tokens as usize;
        }
        let mean = total / count.max(1.0);
        tracing::debug!(epoch, loss = mean, "epoch done");
        report.epoch_losses.push(mean);
        on_epoch(epoch, &lora)?;
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok((lora, report))
}

/// Mean NLL per scored token of `seqs` under `lora` (no gradients), and each sequence's
/// summed NLL.
pub fn evaluate(
    model: &Llama,
    lora: &TrainableLora,
    seqs: &[Sequence],
    batch_size: usize,
) -> Result<Vec<f64>, TrainError> {
    let _guard = tch::no_grad_guard();
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(batch_size.max(1)) {
        let batch = Batch::new(&chunk.iter().collect::<Vec<_>>());
        let logits = lora.forward(model, &batch.tokens, None)?;
        let nll: Vec<f32> = Vec::<f32>::try_from(batch.nll_per_row(&logits))
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        out.extend(nll.into_iter().map(f64::from));
    }
    Ok(out)
}

/// `run.json`: what a training run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The base model folder.
    pub base_model_dir: PathBuf,
    /// The base model's `_name_or_path` (the adapter names it).
    pub base_model: Option<String>,
    /// keccak of `adapter/adapter_model.safetensors`: the adapter's id.
    pub adapter_id: AdapterId,
    /// The manifest's Merkle root (goes into the model registry).
    pub manifest_root: B256,
    /// Examples trained on.
    pub examples: usize,
    /// The config used.
    pub config: TrainConfig,
    /// What training reported.
    pub report: TrainReport,
    /// Checkpoint folders, relative to the run folder (the last is the adapter itself).
    pub checkpoints: Vec<String>,
}

/// A training run on disk.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// `run.json`.
    pub info: RunInfo,
    /// The examples in manifest order.
    pub examples: Vec<Example>,
    /// The manifest.
    pub manifest: Manifest,
}

/// File names inside a run folder.
pub mod layout {
    /// The adapter (PEFT).
    pub const ADAPTER: &str = "adapter";
    /// Per-epoch adapters.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// `example_hash,contributor` lines.
    pub const MANIFEST: &str = "manifest.csv";
    /// One JSON example per line.
    pub const EXAMPLES: &str = "examples.jsonl";
    /// [`super::RunInfo`].
    pub const RUN: &str = "run.json";
    /// Where the analyzer keeps factors, indexes and scores.
    pub const ANALYSIS: &str = "analysis";
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_owned(), source }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl Run {
    /// Fine-tunes on `examples` and writes the run folder `dir` (refused if it holds a run,
    /// unless `overwrite`).
    pub fn train(
        model: &Llama,
        model_dir: &Path,
        tokenizer: &tokenizers::Tokenizer,
        examples: Vec<Example>,
        cfg: &TrainConfig,
        dir: &Path,
        overwrite: bool,
    ) -> Result<Self, TrainError> {
        if dir.join(layout::RUN).exists() && !overwrite {
            return Err(TrainError::Invalid(format!(
                "{} already holds a training run (pass overwrite to replace it)",
                dir.display()
            )));
        }
        let manifest = Manifest::new(examples.iter().map(Example::entry).collect())?;
        let seqs = examples
            .iter()
            .map(|e| training_sequence(tokenizer, &e.text, cfg.max_len))
            .collect::<Result<Vec<_>, _>>()?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let base_model = model.config().name_or_path.clone();
        let mut checkpoints = Vec::new();
        let (lora, report) = train_lora(model, &seqs, cfg, |epoch, lora| {
            if epoch + 1 < cfg.epochs {
                let rel = format!("{}/epoch-{}", layout::CHECKPOINTS, epoch + 1);
                lora.write_peft_dir(&dir.join(&rel), base_model.clone())?;
                checkpoints.push(rel);
            }
            Ok(())
        })?;
        let adapter_id = lora.write_peft_dir(&dir.join(layout::ADAPTER), base_model.clone())?;
        checkpoints.push(layout::ADAPTER.to_owned());
        let mut csv = String::from("# example_hash,contributor\n");
        let mut jsonl = String::new();
        for e in &examples {
            csv.push_str(&format!("{},{}\n", e.hash, e.contributor));
            jsonl.push_str(
                &serde_json::to_string(e).map_err(|e| TrainError::Invalid(e.to_string()))?,
            );
            jsonl.push('\n');
        }
        write_atomic(&dir.join(layout::MANIFEST), csv.as_bytes())?;
        write_atomic(&dir.join(layout::EXAMPLES), jsonl.as_bytes())?;
        let info = RunInfo {
            base_model_dir: model_dir.to_owned(),
            base_model,
            adapter_id,
            manifest_root: manifest.root(),
            examples: examples.len(),
            config: cfg.clone(),
            report,
            checkpoints,
        };
        let json =
            serde_json::to_vec_pretty(&info).map_err(|e| TrainError::Invalid(e.to_string()))?;
        write_atomic(&dir.join(layout::RUN), &json)?;
        Ok(Self { dir: dir.to_owned(), info, examples, manifest })
    }

    /// Opens a run folder, checking that the manifest, the examples and `run.json` agree.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| TrainError::Io { path, source })
        };
        let info: RunInfo = serde_json::from_str(&read(layout::RUN)?).map_err(|e| {
            TrainError::Format { path: dir.join(layout::RUN), reason: e.to_string() }
        })?;
        let manifest = Manifest::parse_csv(&read(layout::MANIFEST)?)?;
        let mut examples = Vec::new();
        for (i, line) in read(layout::EXAMPLES)?.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: Example = serde_json::from_str(line).map_err(|e| TrainError::Format {
                path: dir.join(layout::EXAMPLES),
                reason: format!("line {}: {e}", i + 1),
            })?;
            examples.push(e);
        }
        let bad = |reason: String| TrainError::Format { path: dir.to_owned(), reason };
        if manifest.root() != info.manifest_root {
            return Err(bad(format!(
                "manifest.csv has root {}, but run.json records {}",
                manifest.root(),
                info.manifest_root
            )));
        }
        if examples.len() != manifest.entries().len()
            || examples.iter().zip(manifest.entries()).any(|(e, m)| e.entry() != *m)
        {
            return Err(bad("examples.jsonl does not match manifest.csv".into()));
        }
        if let Some(e) =
            examples.iter().find(|e| alloy_primitives::keccak256(e.text.as_bytes()) != e.hash)
        {
            return Err(bad(format!("example {} does not hash to its text", e.hash)));
        }
        Ok(Self { dir: dir.to_owned(), info, examples, manifest })
    }

    /// The adapter folder.
    pub fn adapter_dir(&self) -> PathBuf {
        self.dir.join(layout::ADAPTER)
    }

    /// The run's checkpoints before the final adapter (each epoch's but the last), oldest
    /// first, as folders relative to the run.
    pub fn earlier_checkpoints(&self) -> &[String] {
        let all = &self.info.checkpoints;
        match all.last() {
            Some(last) if last == layout::ADAPTER => &all[..all.len() - 1],
            _ => all,
        }
    }

    /// `n` of [`Run::earlier_checkpoints`], evenly spaced and ending with the latest (all of
    /// them when there are no more than `n`), oldest first.
    pub fn spaced_checkpoints(&self, n: usize) -> Vec<String> {
        spaced(self.earlier_checkpoints(), n)
    }

    /// Loads checkpoint `rel` (one of [`Run::earlier_checkpoints`]) through the server's
    /// loader; answers its id too.
    pub fn load_checkpoint(
        &self,
        rel: &str,
        model: &LlamaConfig,
    ) -> Result<(AdapterId, TrainableLora), TrainError> {
        if !self.earlier_checkpoints().iter().any(|c| c == rel) {
            return Err(TrainError::Format {
                path: self.dir.join(layout::RUN),
                reason: format!("{rel:?} is not one of the run's checkpoints"),
            });
        }
        Ok(TrainableLora::load_peft_dir(&self.dir.join(rel), model)?)
    }

    /// Loads the trained adapter through the server's loader, checking its id.
    pub fn load_adapter(&self, model: &LlamaConfig) -> Result<TrainableLora, TrainError> {
        let (id, lora) = TrainableLora::load_peft_dir(&self.adapter_dir(), model)?;
        if id != self.info.adapter_id {
            return Err(TrainError::Format {
                path: self.adapter_dir(),
                reason: format!(
                    "the adapter's id is {id}, but run.json records {}",
                    self.info.adapter_id
                ),
            });
        }
        Ok(lora)
    }
}

/// `n` of `items` evenly spaced, ending with the last: items `⌈(k+1)·m/n⌉ − 1` for `k < n`.
fn spaced<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    let m = items.len();
    if n >= m {
        return items.to_vec();
    }
    (0..n).map(|k| items[((k + 1) * m).div_ceil(n) - 1].clone()).collect()
}

/// How [`pretrain_base`] trains.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    /// Passes over the texts.
    pub epochs: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Tokens per sequence.
    pub max_len: usize,
    /// Seed of the initialisation and the order.
    pub seed: u64,
}

/// Gives a base model some language before anything is fine-tuned on it: trains a full-rank
/// adapter (rank = hidden size, on every linear module, so it can move each weight matrix
/// anywhere) on `texts` and writes `out`, the base folder with that adapter merged into its
/// weights and `name` as its `_name_or_path`. Embeddings and norms stay as they were.
///
/// Attribution on a random base model is attribution on a unigram model (a fine-tune can learn
/// little more than word frequencies), where word order, and so a corruption that shuffles
/// words, does not matter; a base model that has seen some of the language first is what a
/// fine-tune is normally made on.
pub fn pretrain_base(
    model: &Llama,
    model_dir: &Path,
    seqs: &[Sequence],
    cfg: &PretrainConfig,
    name: &str,
    out: &Path,
) -> Result<TrainReport, TrainError> {
    let hidden = model.config().hidden_size;
    let train_cfg = TrainConfig {
        lora: LoraConfig {
            rank: hidden,
            alpha: hidden as f64,
            targets: openlora_server::ModuleKind::ALL.to_vec(),
        },
        lr: cfg.lr,
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        max_len: cfg.max_len,
        seed: cfg.seed,
        weight_decay: 0.0,
    };
    let (lora, report) = train_lora(model, seqs, &train_cfg, |_, _| Ok(()))?;
    let (config_json, weights) =
        lora.to_peft_bytes(None).map_err(|e| TrainError::Invalid(e.to_string()))?;
    let spec = openlora_server::adapter::AdapterSpec {
        model: model.config().clone(),
        model_names: vec![],
        max_rank: hidden,
        modules: openlora_server::ModuleKind::ALL.to_vec(),
    };
    let (_, adapter) = openlora_server::adapter::parse_adapter(
        &config_json,
        &weights,
        &spec,
        Kind::Float,
        tch::Device::Cpu,
    )?;
    openlora_server::make::merge_adapter_into_folder(model_dir, &adapter, name, out)
        .map_err(|e| TrainError::Invalid(format!("writing the pre-trained model: {e}")))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_checkpoints_end_with_the_latest() {
        let all: Vec<usize> = (1..=39).collect();
        assert_eq!(spaced(&all, 0), Vec::<usize>::new());
        assert_eq!(spaced(&all, 1), [39]);
        assert_eq!(spaced(&all, 2), [20, 39]);
        assert_eq!(spaced(&all, 3), [13, 26, 39]);
        assert_eq!(spaced(&all, 39), all);
        assert_eq!(spaced(&all, 100), all);
        assert_eq!(spaced(&[1, 2], 1), [2]);
    }
}
