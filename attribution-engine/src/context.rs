//! A training run opened for attribution: the run folder, the base model (the server's model
//! code), its tokenizer, the trained adapter and the fingerprint that ties artifacts to them.

use crate::{
    analyzer::{Analyzer, AnalyzerError, model_fingerprint},
    data::{DataError, Sequence, training_sequence},
    index::GradientIndex,
    lora::TrainableLora,
    train::{Run, TrainError, layout},
};
use alloy_primitives::B256;
use openlora_server::{
    LlamaConfig,
    config::ConfigError,
    model::{Llama, ModelError},
};
use std::path::{Path, PathBuf};
use tch::{Device, Kind};

/// Errors opening a run for attribution.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The run folder is missing or inconsistent.
    #[error(transparent)]
    Run(#[from] TrainError),
    /// The base model's config is unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The base model's weights could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The tokenizer could not be read.
    #[error("tokenizer {path}: {reason}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A checkpoint is not the adapter an index's sums were computed under.
    #[error(
        "checkpoint {checkpoint}: the index was built under adapter {expected}, the run holds {found}"
    )]
    CheckpointMismatch {
        /// The checkpoint folder, relative to the run.
        checkpoint: String,
        /// The id the index recorded.
        expected: B256,
        /// The id of the checkpoint in the run folder.
        found: B256,
    },
    /// Fingerprinting failed.
    #[error(transparent)]
    Analyzer(#[from] AnalyzerError),
    /// Training examples could not be tokenized.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// A run with everything attribution needs loaded.
#[derive(Debug)]
pub struct Context {
    /// The run.
    pub run: Run,
    /// The base model folder.
    pub model_dir: PathBuf,
    /// Its config.
    pub cfg: LlamaConfig,
    /// The base model.
    pub model: Llama,
    /// Its tokenizer.
    pub tokenizer: tokenizers::Tokenizer,
    /// The trained adapter, loaded through the server's loader.
    pub lora: TrainableLora,
    /// Base model files + adapter id.
    pub fingerprint: B256,
}

impl Context {
    /// Opens `run_dir`, with the base model from `model_dir` or the one the run recorded.
    pub fn open(run_dir: &Path, model_dir: Option<&Path>) -> Result<Self, ContextError> {
        let run = Run::open(run_dir)?;
        let model_dir =
            model_dir.map(Path::to_path_buf).unwrap_or_else(|| run.info.base_model_dir.clone());
        let cfg = LlamaConfig::from_file(&model_dir.join("config.json"))?;
        let model = Llama::load(&model_dir, &cfg, None, Kind::Float, Device::Cpu)?;
        let tok_path = model_dir.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
            .map_err(|e| ContextError::Tokenizer { path: tok_path, reason: e.to_string() })?;
        let lora = run.load_adapter(&cfg)?;
        let fingerprint = model_fingerprint(&model_dir, run.info.adapter_id)?;
        Ok(Self { run, model_dir, cfg, model, tokenizer, lora, fingerprint })
    }

    /// The analyzer writing under `<run>/analysis`.
    pub fn analyzer(&self, overwrite: bool) -> Analyzer<'_> {
        Analyzer::new(
            self.run.dir.join(layout::ANALYSIS),
            &self.model,
            &self.lora,
            self.fingerprint,
        )
        .with_overwrite(overwrite)
    }

    /// `n` of the run's checkpoints before the final adapter (evenly spaced, the latest
    /// included: [`Run::spaced_checkpoints`]), loaded, oldest first: (folder relative to the
    /// run, adapter id, adapter).
    pub fn earlier_checkpoints(
        &self,
        n: usize,
    ) -> Result<Vec<(String, B256, TrainableLora)>, ContextError> {
        let mut out = Vec::new();
        for rel in &self.run.spaced_checkpoints(n) {
            let (id, lora) = self.run.load_checkpoint(rel, &self.cfg)?;
            out.push((rel.clone(), id.0, lora));
        }
        Ok(out)
    }

    /// The adapters of the checkpoints whose group sums `index` keeps, in its order, each
    /// checked against the id the index recorded.
    pub fn index_checkpoints(
        &self,
        index: &GradientIndex,
    ) -> Result<Vec<TrainableLora>, ContextError> {
        let mut out = Vec::new();
        for c in index.checkpoints() {
            let (id, lora) = self.run.load_checkpoint(&c.adapter, &self.cfg)?;
            if id.0 != c.adapter_id {
                return Err(ContextError::CheckpointMismatch {
                    checkpoint: c.adapter.clone(),
                    expected: c.adapter_id,
                    found: id.0,
                });
            }
            out.push(lora);
        }
        Ok(out)
    }

    /// The training examples as token sequences, in manifest order.
    pub fn train_sequences(&self) -> Result<Vec<Sequence>, ContextError> {
        let max_len = self.run.info.config.max_len;
        Ok(self
            .run
            .examples
            .iter()
            .map(|e| training_sequence(&self.tokenizer, &e.text, max_len))
            .collect::<Result<_, _>>()?)
    }
}
