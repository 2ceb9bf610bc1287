//! # openlora-server
//!
//! Serves many LoRA adapters over one base model: one base matmul per layer for the whole
//! batch, plus each row's own low-rank delta gathered by adapter slot (the BGMV idea of Punica
//! and S-LoRA), so a batch whose rows all use different adapters costs close to one base batch.
//!
//! ```text
//!  HF model folder ──► config::LlamaConfig, weights::WeightMap ──► model::Llama (tch)
//!  PEFT adapter folder/bytes ──► adapter::parse_adapter (validate, keccak id)
//!                                        │
//!         engine::EngineHandle ──────────┴──► engine thread: tiered cache (disk → host LRU →
//!           submit / add / remove / list          device slots), continuous batching, paged
//!                                                 KV cache (kv), sampling, token events
//! ```
//!
//! Modules:
//!
//! - [`config`]: the model's `config.json` and the size presets of `make-model`;
//! - [`weights`]: safetensors (single or sharded) to tch tensors, with clear errors;
//! - [`model`]: the Llama decoder (RMSNorm, RoPE, GQA, SwiGLU) with adapter slots per linear;
//! - [`cpu`]: CPU kernels over tensor memory: BGMV and paged decode attention;
//! - [`lora`]: LoRA math, the [`lora::LoraBackend`] trait (BGMV semantics) and its tch backends;
//! - [`adapter`]: PEFT adapters: parsing, validation, ids, random adapters;
//! - [`kv`]: the paged KV cache;
//! - [`sampling`]: greedy / temperature / top-p sampling and stop-sequence detokenization;
//! - [`engine`]: the engine API the HTTP layer calls ([`Engine::start`] → [`EngineHandle`]);
//! - [`metrics`]: counters (also published through the `metrics` crate);
//! - [`make`]: creating small model folders (weights + trained BPE tokenizer) from scratch;
//! - [`device`]: which compute device to run on;
//! - `cuda` (feature `cuda`): BGMV kernels compiled with NVRTC through cudarc (f32 and bf16,
//!   checked against the CPU kernels on an H200 by `benches/cuda_bgmv.rs`), a device-buffer API
//!   and a [`lora::LoraBackend`] over host tensors; a clean error on a machine without a GPU.
//!
//! Feature flags: `cuda` (off by default).
//!
//! ## Using the engine
//!
//! ```no_run
//! use openlora_server::{Engine, EngineConfig, Event, GenerateRequest, Prompt, SamplingParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A model folder in Hugging Face's layout; `MakeModel` (or `openlora-server make-model`)
//! // writes a small one.
//! let engine = Engine::start(EngineConfig::new("models/small"))?;
//! // Adapters: a PEFT folder, or the two files' bytes (as an upload handler would pass them).
//! let adapter = engine.add_adapter_dir("adapters/0001".as_ref())?.id;
//! let mut stream = engine.submit(GenerateRequest {
//!     adapter: Some(adapter),
//!     prompt: Prompt::Text("The sequencer".into()),
//!     params: SamplingParams { max_tokens: 32, temperature: 0.7, top_p: 0.9, ..Default::default() },
//! })?;
//! while let Some(event) = stream.blocking_next() {
//!     match event {
//!         Event::Token { text, .. } => print!("{text}"),
//!         Event::Done { finish_reason, usage, .. } => println!("\n{finish_reason:?} {usage:?}"),
//!         Event::Error(e) => return Err(e.into()),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! In async code use `stream.next().await` (the stream is a tokio channel); submitting and the
//! adapter calls are synchronous and quick, except `add_adapter_*`, which parse and validate the
//! adapter (a few ms: call them from `spawn_blocking`).

pub mod adapter;
pub mod api;
pub mod config;
pub mod cpu;
pub mod device;
pub mod engine;
pub mod kv;
pub mod ledger;
pub mod lora;
pub mod make;
pub mod metrics;
pub mod model;
pub mod payment;
pub mod sampling;
pub mod server;
pub mod weights;

#[cfg(feature = "cuda")]
pub mod cuda;

pub use adapter::{AdapterError, AdapterId, AdapterInfo, RandomAdapter};
pub use config::{LlamaConfig, ModelSize};
pub use device::{DeviceError, DeviceInfo};
pub use engine::{
    AdapterStatus, BackendKind, Completion, Engine, EngineConfig, EngineError, EngineHandle, Event,
    FinishReason, GenerateRequest, PreparedRequest, Prompt, RequestStream, Tier, Usage,
};
pub use lora::{LoraError, LoraWeights, ModuleKind, batched_lora_forward};
pub use make::MakeModel;
pub use metrics::MetricsSnapshot;
pub use sampling::SamplingParams;
