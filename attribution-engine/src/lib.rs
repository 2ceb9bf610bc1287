//! # attribution-engine
//!
//! Who deserves to be paid for an inference: the gradient influence of an adapter's training
//! examples on the answer, aggregated per contributor and per Datanet, committed on chain.
//!
//! ```text
//!  Datanet store ──► snapshot (examples: hash, contributor, datanet) ──► manifest root
//!        │                                                                  (model registry)
//!        ▼
//!  train::Run::train ── LoRA on the shared base model (openlora_server::model, tch autograd)
//!        │                 └─► adapter/ (PEFT; the OpenLoRA server serves it as is)
//!        ▼
//!  analyzer::Analyzer ── fit_factors (K-FAC / EK-FAC / DataInf / identity per LoRA block)
//!        │            └─ build_index: per-example gradients → H⁻¹ → random projection → f16
//!        ▼                 shards + exact per-(contributor, Datanet) sums (optionally also at
//!        │                 earlier checkpoints), memory-mapped, with a root (index::GradientIndex)
//!        ▼
//!  attribution::attribute(prompt, completion) ── completion-NLL gradient · rows, · group sums
//!        │                 (+ its gradient at each kept checkpoint · that checkpoint's sums)
//!        └─► top examples; per contributor / per Datanet basis points (top-k + rest)
//! ```
//!
//! Modules:
//!
//! - [`manifest`]: the Merkle commitment of (example hash, contributor), OZ-compatible;
//! - [`datanet`]: the content store: contributions by keccak, approvals, snapshots;
//! - [`datanet_api`]: the content store over HTTP (upload, read, curate, snapshot);
//! - [`registration`]: contributions and their curation in `Datanets`, runs in `ModelRegistry`;
//! - [`data`]: examples, token sequences (training texts, prompt + completion queries), batches;
//! - [`lora`]: a trainable LoRA adapter over the base model, PEFT in and out, and the hook that
//!   runs it in the server's model code with probes for per-example gradients;
//! - [`train`]: fine-tuning on a snapshot and the run folder (adapter, checkpoints, manifest);
//! - [`grads`]: per-example gradients with respect to the LoRA parameters only;
//! - [`factors`]: curvature per LoRA block and preconditioning;
//! - [`projection`]: seeded random projections;
//! - [`index`]: the sharded, memory-mapped f16 gradient index and its scans;
//! - [`analyzer`]: kronfluence-style staged, named, fingerprinted artifacts;
//! - [`attribution`]: scores to basis points per contributor and Datanet;
//! - [`audit`]: data cleaning: the examples and contributors that hurt a validation set;
//! - [`context`]: a run opened for attribution (model, tokenizer, adapter, fingerprint);
//! - [`receipts`]: the usage ledger to signed receipts, Merkle batches posted to
//!   `AttributionReceipts`, their store (SQLite or PostgreSQL) and HTTP API;
//! - [`chain`]: the L2 contracts and the attestor's wallet;
//! - [`eval`]: Spearman, the linear datamodeling score, BM25 (the benchmark's baseline).
//!
//! No feature flags.

pub mod analyzer;
pub mod attribution;
pub mod audit;
pub mod chain;
pub mod context;
pub mod data;
pub mod datanet;
pub mod datanet_api;
pub mod eval;
pub mod factors;
pub mod grads;
pub mod index;
pub mod lora;
pub mod manifest;
pub mod projection;
pub mod receipts;
pub mod registration;
pub mod train;

#[cfg(test)]
pub(crate) mod test_utils;

pub use analyzer::{Analyzer, AnalyzerError, CheckpointSums, IndexArgs, Task, model_fingerprint};
pub use attribution::{Attribution, Share, Weights};
pub use factors::{FactorArgs, Factors, Strategy};
pub use index::{GradientIndex, IndexError};
pub use lora::{LoraConfig, TrainableLora};
pub use manifest::{Manifest, ManifestEntry, ManifestError};
pub use train::{Run, TrainConfig, TrainError};
