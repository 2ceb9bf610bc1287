//! # openlora-server
//!
//! Serves many LoRA adapters over one base model: one base matmul per layer for the whole
//! batch, plus each row's own low-rank delta gathered by adapter index (the BGMV idea of Punica
//! and S-LoRA), so a batch whose rows all use different adapters costs close to one base batch.
//!
//! This crate is grown issue by issue. Today it holds:
//!
//! - [`lora`]: a LoRA adapter's weights and the two forward paths every later layer builds on,
//!   the single-adapter `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` and the batched multi-adapter gather;
//! - [`device`]: which compute device to run on, and what libtorch was built with;
//! - `cuda` (feature `cuda`): the CUDA path through cudarc, which reports a clean error on a
//!   machine without a GPU.

pub mod device;
pub mod lora;

#[cfg(feature = "cuda")]
pub mod cuda;

pub use device::{DeviceError, DeviceInfo};
pub use lora::{LoraError, LoraWeights, batched_lora_forward};
