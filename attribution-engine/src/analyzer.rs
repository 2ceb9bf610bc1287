//! kronfluence's shape in Rust: a [`Task`] says what to measure, an [`Analyzer`] prepares the
//! model and produces named, persisted artifacts in stages.
//!
//! ```text
//! <output_dir>/factors_<name>/factors.safetensors   curvature per block (+ metadata)
//! <output_dir>/index_<name>/                        the gradient index (crate::index)
//! <output_dir>/scores_<name>/pairwise_scores.safetensors   [queries, train] scores
//! ```
//!
//! Every artifact records the model fingerprint (keccak of the base model's files and the
//! adapter's id); loading one made for another model is an error, and writing over an
//! existing one needs `overwrite`.

use crate::{
    data::Sequence,
    factors::{FactorArgs, Factors, Strategy},
    grads::per_example_grads,
    index::{GradientIndex, GroupKey, GroupSums, IndexError, IndexParams, IndexWriter},
    lora::{Block, TrainableLora},
    projection::{ProjectionSpec, Projector, flatten_rows},
};
use alloy_primitives::{B256, Keccak256, keccak256};
use openlora_server::{
    AdapterId,
    model::{Llama, ModelError},
    weights::{WeightError, parse_safetensors, to_safetensors_bytes, weight_files},
};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};
use tch::{Device, Kind, Tensor};

/// Errors of the analyzer's stages.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Safetensors could not be written or read.
    #[error(transparent)]
    Weights(#[from] WeightError),
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The artifact exists and `overwrite` is off.
    #[error("{0} already exists (pass overwrite to replace it)")]
    Exists(PathBuf),
    /// The artifact was made for another model or adapter.
    #[error("{path} was computed for model fingerprint {found}, not this model's {expected}")]
    Fingerprint {
        /// The artifact.
        path: PathBuf,
        /// This analyzer's fingerprint.
        expected: B256,
        /// The artifact's.
        found: B256,
    },
    /// The artifact is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// The artifact.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AnalyzerError + '_ {
    move |source| AnalyzerError::Io { path: path.to_owned(), source }
}

/// What influence is measured (kronfluence's `Task`): the training loss of an example and the
/// measurement of a query, here both a summed NLL over the sequence's scored tokens, and the
/// modules whose adapter blocks are tracked.
pub trait Task: std::fmt::Debug {
    /// Tokens of a training example, scored from `score_from`.
    fn train_sequence(&self, seq: &Sequence) -> Sequence {
        seq.clone()
    }

    /// Tokens of a query; only the completion is scored.
    fn measurement_sequence(&self, seq: &Sequence) -> Sequence {
        seq.clone()
    }

    /// Adapter blocks to track (`None`: all).
    fn tracked_blocks(&self, _blocks: &[Block]) -> Option<Vec<usize>> {
        None
    }
}

/// Causal language modelling: every token of a training text, the completion of a query.
#[derive(Debug, Clone, Copy, Default)]
pub struct LanguageModeling;

impl Task for LanguageModeling {}

/// keccak256 over the base model's `config.json`, `tokenizer.json` and weight files (in
/// order), and the adapter id: what every artifact is tied to.
pub fn model_fingerprint(model_dir: &Path, adapter: AdapterId) -> Result<B256, AnalyzerError> {
    let mut h = Keccak256::new();
    h.update(b"OL-attribution-fingerprint-v1");
    let mut files = vec![model_dir.join("config.json"), model_dir.join("tokenizer.json")];
    files.extend(weight_files(model_dir)?);
    for path in files {
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        // SAFETY: read-only map, hashed and dropped here.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(&path))?;
        h.update(keccak256(&map[..]));
    }
    h.update(adapter.0);
    Ok(h.finalize())
}

/// Options of [`Analyzer::build_index`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexArgs {
    /// Coordinates per row in all (0: no projection).
    pub projection_dim: usize,
    /// Seed of the projection.
    pub projection_seed: u64,
    /// Rows per shard.
    pub shard_rows: usize,
    /// Examples per forward/backward pass.
    pub batch_size: usize,
}

impl Default for IndexArgs {
    fn default() -> Self {
        Self { projection_dim: 1024, projection_seed: 0, shard_rows: 65_536, batch_size: 16 }
    }
}

/// The group sums at one of the run's earlier checkpoints, for [`Analyzer::build_index`]:
/// computed by [`Analyzer::checkpoint_sums`].
#[derive(Debug, Clone)]
pub struct CheckpointSums {
    /// The checkpoint's adapter folder, relative to the run folder.
    pub adapter: String,
    /// Its adapter id.
    pub adapter_id: B256,
    /// The sums.
    pub sums: GroupSums,
}

/// Metadata stored with factors.
#[derive(Debug, Serialize, Deserialize)]
struct FactorsMeta {
    fingerprint: B256,
    strategy: Strategy,
    args: FactorArgs,
    blocks: Vec<Block>,
    examples: usize,
}

/// The staged computation of influence for one model and adapter.
#[derive(Debug)]
pub struct Analyzer<'a> {
    output_dir: PathBuf,
    model: &'a Llama,
    lora: &'a TrainableLora,
    fingerprint: B256,
    overwrite: bool,
    task: Box<dyn Task + 'a>,
}

impl<'a> Analyzer<'a> {
    /// An analyzer writing under `output_dir`; `fingerprint` from [`model_fingerprint`].
    /// Preparing the model is explicit: the adapter's tensors are the only tracked parameters
    /// (the base weights never require gradients).
    pub fn new(
        output_dir: impl Into<PathBuf>,
        model: &'a Llama,
        lora: &'a TrainableLora,
        fingerprint: B256,
    ) -> Self {
        Self {
            output_dir: output_dir.into(),
            model,
            lora,
            fingerprint,
            overwrite: false,
            task: Box::new(LanguageModeling),
        }
    }

    /// Allows replacing existing artifacts.
    pub fn with_overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Uses another task.
    pub fn with_task(mut self, task: impl Task + 'a) -> Self {
        self.task = Box::new(task);
        self
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> B256 {
        self.fingerprint
    }

    /// The adapter.
    pub fn lora(&self) -> &TrainableLora {
        self.lora
    }

    /// The base model.
    pub fn model(&self) -> &Llama {
        self.model
    }

    fn artifact_dir(&self, kind: &str, name: &str) -> Result<PathBuf, AnalyzerError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(AnalyzerError::Format {
                path: self.output_dir.clone(),
                reason: format!("artifact name {name:?}: use letters, digits, '-', '_', '.'"),
            });
        }
        Ok(self.output_dir.join(format!("{kind}_{name}")))
    }

    fn prepare_dir(&self, dir: &Path) -> Result<(), AnalyzerError> {
        if dir.exists() {
            if !self.overwrite {
                return Err(AnalyzerError::Exists(dir.to_owned()));
            }
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::create_dir_all(dir).map_err(io(dir))
    }

    fn train_seqs(&self, train: &[Sequence]) -> Vec<Sequence> {
        train.iter().map(|s| self.task.train_sequence(s)).collect()
    }

    /// Fits factors of `args.strategy` on the training set and saves them as
    /// `factors_<name>`.
    pub fn fit_factors(
        &self,
        name: &str,
        train: &[Sequence],
        args: &FactorArgs,
    ) -> Result<Factors, AnalyzerError> {
        let dir = self.artifact_dir("factors", name)?;
        self.prepare_dir(&dir)?;
        let passes = match args.strategy {
            Strategy::Identity => 0,
            Strategy::Kfac | Strategy::Datainf => 1,
            Strategy::Ekfac => 2,
        };
        let bar = progress_bar((train.len() * passes) as u64, &format!("factors {name}"));
        let factors = Factors::fit(self.model, self.lora, &self.train_seqs(train), args, |n| {
            bar.inc(n as u64)
        })?;
        bar.finish_and_clear();
        let meta = FactorsMeta {
            fingerprint: self.fingerprint,
            strategy: factors.strategy,
            args: args.clone(),
            blocks: factors.blocks.clone(),
            examples: factors.examples,
        };
        let meta_json = serde_json::to_string(&meta)
            .map_err(|e| AnalyzerError::Format { path: dir.clone(), reason: e.to_string() })?;
        let bytes = to_safetensors_bytes(
            &factors.to_tensors(),
            Some(HashMap::from([("attribution".to_owned(), meta_json)])),
        )?;
        let path = dir.join("factors.safetensors");
        std::fs::write(&path, bytes).map_err(io(&path))?;
        Ok(factors)
    }

    /// Loads `factors_<name>`, checking the fingerprint.
    pub fn load_factors(&self, name: &str) -> Result<Factors, AnalyzerError> {
        let path = self.artifact_dir("factors", name)?.join("factors.safetensors");
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let bad = |reason: String| AnalyzerError::Format { path: path.clone(), reason };
        let (_, st_meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not safetensors: {e}")))?;
        let meta: FactorsMeta = st_meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("attribution"))
            .ok_or_else(|| bad("no attribution metadata".into()))
            .and_then(|j| serde_json::from_str(j).map_err(|e| bad(e.to_string())))?;
        if meta.fingerprint != self.fingerprint {
            return Err(AnalyzerError::Fingerprint {
                path,
                expected: self.fingerprint,
                found: meta.fingerprint,
            });
        }
        if meta.blocks != self.lora.blocks() {
            return Err(bad("the factors' blocks differ from the adapter's".into()));
        }
        let tensors: HashMap<String, Tensor> =
            parse_safetensors(&bytes, &path, Kind::Float, Device::Cpu)?.into_iter().collect();
        Factors::from_tensors(meta.strategy, meta.blocks, meta.examples, tensors)
            .ok_or_else(|| bad("missing or misshapen factor tensors".into()))
    }

    /// The projection an index with `args` uses for this adapter.
    pub fn projection(&self, args: &IndexArgs) -> ProjectionSpec {
        ProjectionSpec::new(
            args.projection_seed,
            self.lora.blocks().iter().map(Block::numel).collect(),
            args.projection_dim,
        )
    }

    /// Per-example gradients of `seqs` per block, preconditioned as `factors` store rows.
    fn block_rows(
        &self,
        seqs: &[Sequence],
        factors: &Factors,
        precondition: bool,
        batch_size: usize,
    ) -> Result<Vec<Tensor>, AnalyzerError> {
        self.block_rows_at(self.lora, seqs, factors, precondition, batch_size)
    }

    /// [`Self::block_rows`] under another adapter of the same blocks (an earlier checkpoint's).
    fn block_rows_at(
        &self,
        lora: &TrainableLora,
        seqs: &[Sequence],
        factors: &Factors,
        precondition: bool,
        batch_size: usize,
    ) -> Result<Vec<Tensor>, AnalyzerError> {
        let grads = per_example_grads(self.model, lora, seqs, batch_size)?;
        Ok(if precondition { factors.precondition(&grads) } else { grads })
    }

    /// A tensor's values, flattened (row-major).
    fn flat_values(&self, t: &Tensor) -> Result<Vec<f32>, AnalyzerError> {
        Vec::<f32>::try_from(t.contiguous().view([-1])).map_err(|e| AnalyzerError::Format {
            path: self.output_dir.clone(),
            reason: e.to_string(),
        })
    }

    /// Refuses an adapter whose blocks are not this analyzer's.
    fn check_blocks(&self, lora: &TrainableLora) -> Result<(), AnalyzerError> {
        if lora.blocks() != self.lora.blocks() {
            return Err(AnalyzerError::Index(IndexError::Input(
                "the checkpoint's adapter has other blocks than the run's".into(),
            )));
        }
        Ok(())
    }

    /// Per-example gradients of `seqs`, preconditioned as `factors` store rows, projected:
    /// `[n, dim]`.
    pub fn rows(
        &self,
        seqs: &[Sequence],
        factors: &Factors,
        projector: &Projector,
        precondition: bool,
        batch_size: usize,
    ) -> Result<Tensor, AnalyzerError> {
        Ok(projector.project(&self.block_rows(seqs, factors, precondition, batch_size)?))
    }

    /// Factors of `args.strategy` fitted in memory under another adapter of the same blocks
    /// (an earlier checkpoint's), for [`Self::checkpoint_sums`].
    pub fn factors_at(
        &self,
        lora: &TrainableLora,
        train: &[Sequence],
        args: &FactorArgs,
    ) -> Result<Factors, AnalyzerError> {
        self.check_blocks(lora)?;
        Ok(Factors::fit(self.model, lora, &self.train_seqs(train), args, |_| {})?)
    }

    /// The group sums an index keeps, under an earlier checkpoint's adapter `lora` (folder
    /// `adapter` of the run, id `adapter_id`): each group's exact sum of its examples'
    /// full-width gradients under `lora`, preconditioned with `factors` fitted under it
    /// ([`Self::factors_at`]), with a progress bar. For [`Self::build_index`].
    #[allow(clippy::too_many_arguments)]
    pub fn checkpoint_sums(
        &self,
        lora: &TrainableLora,
        factors: &Factors,
        adapter: String,
        adapter_id: B256,
        train: &[Sequence],
        keys: &[GroupKey],
        batch_size: usize,
    ) -> Result<CheckpointSums, AnalyzerError> {
        self.check_blocks(lora)?;
        if keys.len() != train.len() {
            return Err(AnalyzerError::Index(IndexError::Input(format!(
                "{} group keys for {} examples",
                keys.len(),
                train.len()
            ))));
        }
        let full_dim: usize = lora.blocks().iter().map(Block::numel).sum();
        let mut sums = GroupSums::new(full_dim);
        let bar = progress_bar(train.len() as u64, &format!("group sums at {adapter}"));
        let train = self.train_seqs(train);
        let step = batch_size.max(1) * 8;
        for (chunk, keys) in train.chunks(step).zip(keys.chunks(step)) {
            let precondition = factors.strategy.preconditions_rows();
            let blocks = self.block_rows_at(lora, chunk, factors, precondition, batch_size)?;
            sums.add(keys, &self.flat_values(&flatten_rows(&blocks))?)?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(CheckpointSums { adapter, adapter_id, sums })
    }

    /// Every training example's exact score against one full-width query gradient `q` taken
    /// under `lora` (the run's adapter or an earlier checkpoint's): its gradient under `lora`,
    /// preconditioned with `factors` fitted under it (for K-FAC and EK-FAC), dotted with `q`;
    /// streamed in chunks, with a progress bar. DataInf is not a preconditioning of the rows and
    /// is refused.
    pub fn example_scores_at(
        &self,
        lora: &TrainableLora,
        factors: &Factors,
        train: &[Sequence],
        q: &[f32],
        batch_size: usize,
    ) -> Result<Vec<f32>, AnalyzerError> {
        self.check_blocks(lora)?;
        if factors.strategy == Strategy::Datainf {
            return Err(AnalyzerError::Index(IndexError::Input(
                "per-example scores at a checkpoint need K-FAC, EK-FAC or identity factors".into(),
            )));
        }
        let q = Tensor::from_slice(q);
        let mut out = Vec::with_capacity(train.len());
        let bar = progress_bar(train.len() as u64, "example scores");
        let train = self.train_seqs(train);
        for chunk in train.chunks(batch_size.max(1) * 8) {
            let precondition = factors.strategy.preconditions_rows();
            let blocks = self.block_rows_at(lora, chunk, factors, precondition, batch_size)?;
            let rows = flatten_rows(&blocks);
            if rows.size()[1] != q.size()[0] {
                return Err(AnalyzerError::Index(IndexError::Input(format!(
                    "a query gradient of {} values for rows of {}",
                    q.size()[0],
                    rows.size()[1]
                ))));
            }
            out.extend(self.flat_values(&rows.matmul(&q))?);
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// Builds `index_<name>`: every training example's gradient (preconditioned for K-FAC and
    /// EK-FAC), projected, in manifest order, with a progress bar. With `groups` (one key per
    /// example) a projected index also keeps each group's exact sum (see [`crate::index`]),
    /// and the sums at any earlier `checkpoints` given (each from [`Analyzer::checkpoint_sums`] of
    /// that checkpoint); DataInf, not linear in the rows, keeps none.
    #[allow(clippy::too_many_arguments)]
    pub fn build_index(
        &self,
        name: &str,
        factors_name: &str,
        factors: &Factors,
        train: &[Sequence],
        groups: Option<&[GroupKey]>,
        checkpoints: Vec<CheckpointSums>,
        manifest_root: B256,
        args: &IndexArgs,
    ) -> Result<GradientIndex, AnalyzerError> {
        let dir = self.artifact_dir("index", name)?;
        if dir.exists() && !self.overwrite {
            return Err(AnalyzerError::Exists(dir));
        }
        if groups.is_some_and(|g| g.len() != train.len()) {
            return Err(AnalyzerError::Index(IndexError::Input(format!(
                "{} group keys for {} examples",
                groups.map_or(0, <[GroupKey]>::len),
                train.len()
            ))));
        }
        let projector = Projector::new(self.projection(args));
        let params = IndexParams {
            strategy: factors.strategy,
            factors: factors_name.to_owned(),
            projection: projector.spec().clone(),
            blocks: self.lora.blocks().to_vec(),
            datainf_damping: if factors.strategy == Strategy::Datainf {
                factors.factors.iter().map(|f| f.damping).collect()
            } else {
                vec![]
            },
            fingerprint: self.fingerprint,
            manifest_root,
            shard_rows: args.shard_rows,
        };
        let full_dim: usize = projector.spec().block_dims.iter().sum();
        let groups = groups
            .filter(|_| factors.strategy != Strategy::Datainf && projector.spec().dim() < full_dim);
        if groups.is_none() && !checkpoints.is_empty() {
            return Err(AnalyzerError::Index(IndexError::Input(
                "checkpoint sums need group sums: a projected K-FAC, EK-FAC or identity index with group keys".into(),
            )));
        }
        let mut writer = IndexWriter::create(&dir, params, self.overwrite)?;
        if groups.is_some() {
            writer = writer.with_groups(full_dim);
        }
        for c in checkpoints {
            writer.add_checkpoint(c.adapter, c.adapter_id, c.sums)?;
        }
        let bar = progress_bar(train.len() as u64, &format!("index {name}"));
        let train = self.train_seqs(train);
        let step = args.batch_size.max(1) * 8;
        for (c, chunk) in train.chunks(step).enumerate() {
            let blocks = self.block_rows(
                chunk,
                factors,
                factors.strategy.preconditions_rows(),
                args.batch_size,
            )?;
            writer.push(&self.flat_values(&projector.project(&blocks))?)?;
            if let Some(keys) = groups {
                let keys = &keys[c * step..c * step + chunk.len()];
                writer.add_to_groups(keys, &self.flat_values(&flatten_rows(&blocks))?)?;
            }
            bar.inc(chunk.len() as u64);
        }
        writer.finish()?;
        bar.finish_and_clear();
        Ok(GradientIndex::open(&dir, true)?)
    }

    /// Opens `index_<name>`, checking the fingerprint (and with `verify` every shard's hash).
    pub fn open_index(&self, name: &str, verify: bool) -> Result<GradientIndex, AnalyzerError> {
        let dir = self.artifact_dir("index", name)?;
        let index = GradientIndex::open(&dir, verify)?;
        let found = index.header().params.fingerprint;
        if found != self.fingerprint {
            return Err(AnalyzerError::Fingerprint {
                path: dir,
                expected: self.fingerprint,
                found,
            });
        }
        Ok(index)
    }

    /// A query's measurement gradient (not preconditioned): whole (every LoRA parameter, for
    /// an index's group sums) and projected (for its rows, built with the same projection).
    pub fn query_rows(
        &self,
        query: &Sequence,
        projector: &Projector,
    ) -> Result<QueryRows, AnalyzerError> {
        self.summed_query_rows(self.lora, std::slice::from_ref(query), projector, 1)
    }

    /// A query's full measurement gradient under another adapter of the same shape (an earlier
    /// checkpoint's), for the group sums an index keeps at that checkpoint.
    pub fn query_gradient_at(
        &self,
        lora: &TrainableLora,
        query: &Sequence,
    ) -> Result<Vec<f32>, AnalyzerError> {
        self.check_blocks(lora)?;
        let seq = self.task.measurement_sequence(query);
        let id = Factors::identity(lora, 0);
        let blocks = self.block_rows_at(lora, std::slice::from_ref(&seq), &id, false, 1)?;
        self.flat_values(&flatten_rows(&blocks))
    }

    /// The measurement gradient of a whole set of queries, summed, under `lora` (the run's
    /// adapter or an earlier checkpoint's): whole and projected as [`Self::query_rows`]. Influence
    /// is linear in the query, so this scores the set at once; computed in batches of
    /// `batch_size`, a few hundred queries in memory at a time.
    pub fn summed_query_rows(
        &self,
        lora: &TrainableLora,
        queries: &[Sequence],
        projector: &Projector,
        batch_size: usize,
    ) -> Result<QueryRows, AnalyzerError> {
        self.check_blocks(lora)?;
        let id = Factors::identity(lora, 0);
        let seqs: Vec<Sequence> =
            queries.iter().map(|q| self.task.measurement_sequence(q)).collect();
        let mut summed: Option<Vec<Tensor>> = None;
        for chunk in seqs.chunks(batch_size.max(1) * 8) {
            let blocks = self.block_rows_at(lora, chunk, &id, false, batch_size)?;
            let sums = blocks.iter().map(|b| b.sum_dim_intlist(0, true, Kind::Float));
            summed = Some(match summed {
                None => sums.collect(),
                Some(acc) => acc.iter().zip(sums).map(|(a, s)| a + s).collect(),
            });
        }
        let blocks = summed
            .ok_or_else(|| AnalyzerError::Index(IndexError::Input("no queries to sum".into())))?;
        Ok(QueryRows {
            projected: self.flat_values(&projector.project(&blocks))?,
            full: self.flat_values(&flatten_rows(&blocks))?,
        })
    }

    /// Influence scores `[queries, train]` in memory (kronfluence's pairwise scores), saved as
    /// `scores_<name>` when a name is given. Positive: the training example lowers the query's
    /// loss. DataInf is evaluated in closed form per block.
    pub fn compute_pairwise_scores(
        &self,
        name: Option<&str>,
        factors: &Factors,
        queries: &[Sequence],
        train: &[Sequence],
        projection: Option<&Projector>,
        batch_size: usize,
    ) -> Result<Tensor, AnalyzerError> {
        let dir = name.map(|n| self.artifact_dir("scores", n)).transpose()?;
        if let Some(dir) = &dir {
            self.prepare_dir(dir)?;
        }
        let q_seqs: Vec<Sequence> =
            queries.iter().map(|s| self.task.measurement_sequence(s)).collect();
        let t_seqs = self.train_seqs(train);
        let q_grads = per_example_grads(self.model, self.lora, &q_seqs, batch_size)?;
        let t_grads = per_example_grads(self.model, self.lora, &t_seqs, batch_size)?;
        let project = |g: Vec<Tensor>| match projection {
            Some(p) => vec![p.project(&g)],
            None => g.iter().map(|b| b.reshape([b.size()[0], -1])).collect(),
        };
        let scores = match factors.strategy {
            Strategy::Datainf => {
                // Per block: (1/λ)(Q·Tᵀ − (1/n)·(Q·Tᵀ ⊙ c-weights)·(T·Tᵀ)).
                let n = t_seqs.len().max(1) as f64;
                let mut total = Tensor::zeros(
                    [q_seqs.len() as i64, t_seqs.len() as i64],
                    (Kind::Float, Device::Cpu),
                );
                for ((qb, tb), f) in q_grads.iter().zip(&t_grads).zip(&factors.factors) {
                    let q = qb.reshape([qb.size()[0], -1]).to_kind(Kind::Double);
                    let t = tb.reshape([tb.size()[0], -1]).to_kind(Kind::Double);
                    let qt = q.matmul(&t.tr()); // [Q, T]
                    let norms = t.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
                    let c = &qt / (norms + f.damping).unsqueeze(0); // [Q, T]
                    let tt = t.matmul(&t.tr()); // [T, T]
                    let s = (&qt - c.matmul(&tt) / n) / f.damping;
                    total += s.to_kind(Kind::Float);
                }
                total
            }
            _ => {
                let t = if factors.strategy.preconditions_rows() {
                    factors.precondition(&t_grads)
                } else {
                    t_grads
                };
                let q = project(q_grads);
                let t = project(t);
                let mut total = Tensor::zeros(
                    [q_seqs.len() as i64, t_seqs.len() as i64],
                    (Kind::Float, Device::Cpu),
                );
                for (qb, tb) in q.iter().zip(&t) {
                    total += qb.matmul(&tb.tr());
                }
                total
            }
        };
        if let Some(dir) = dir {
            let meta = serde_json::json!({
                "fingerprint": self.fingerprint,
                "strategy": factors.strategy,
                "queries": q_seqs.len(),
                "train": t_seqs.len(),
            });
            let bytes = to_safetensors_bytes(
                &[("all_modules".to_owned(), scores.shallow_clone())],
                Some(HashMap::from([("attribution".to_owned(), meta.to_string())])),
            )?;
            let path = dir.join("pairwise_scores.safetensors");
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        Ok(scores)
    }
}

/// A query's gradient, see [`Analyzer::query_rows`].
#[derive(Debug, Clone)]
pub struct QueryRows {
    /// Every LoRA parameter, blocks in order.
    pub full: Vec<f32>,
    /// Projected as the index's rows.
    pub projected: Vec<f32>,
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} examples, {per_sec}, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
