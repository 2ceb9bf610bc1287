//! # ol-bridge
//!
//! The rollup's link to L1: an L1 watcher that turns portal deposits into `0x7E` deposit
//! transactions, a batcher that posts L2 blocks to the batch inbox, a proposer that posts output
//! roots, withdrawal proofs, and `replay`, with which an auditor rebuilds every L2 block from L1
//! data alone. This crate is grown issue by issue; today it holds [`output_root`], the
//! commitment that L1 holds for each proposed L2 block and that withdrawals are proven against.

pub mod output_root;

pub use output_root::{OUTPUT_VERSION_V0, OutputRoot};
