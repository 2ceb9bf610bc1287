//! # ol-sequencer
//!
//! The OpenLedger L2 node: it orders transactions, executes them with revm through alloy-evm
//! (reth's published execution stack), keeps state and history in an embedded store, and
//! answers the Ethereum JSON-RPC API that wallets, forge, cast, viem and alloy use unchanged.
//!
//! ```text
//!   wallet / forge / cast ──HTTP/WS──▶ rpc ──▶ pool ──▶ miner ──▶ execution ──▶ storage
//!                                       ▲                          (op-revm)     (redb)
//!                                       └──────── reads: storage snapshots, state trie
//! ```
//!
//! - [`chainspec`]: chain id, the pinned fork (Isthmus = Prague), EIP-1559 rules;
//! - [`genesis`]: geth-style genesis files and the `--dev` genesis, with the predeploys;
//! - [`execution`]: the state-transition function shared with the prover-bridge's replay;
//! - [`l1`]: each block's L1 origin and the L1 info deposit that records it;
//! - [`memory`]: an in-memory chain on the same execution (replay, benchmarks);
//! - [`trie`]: the world-state Merkle-Patricia trie, updated incrementally each block;
//! - [`storage`]: the redb database: blocks, receipts, state, history, log index;
//! - [`validate`]: stateless checks of incoming transactions, parallel sender recovery;
//! - [`pool`]: the mempool: pending and queued transactions per sender, replacement, eviction;
//! - [`node`]: the node's state and its block producer;
//! - [`config`]: the node's configuration, read from a TOML file with CLI overrides;
//! - [`rpc`]: the JSON-RPC server (HTTP and WebSocket on one port, batch requests, limits);
//! - [`launch`]: [`spawn`] a whole sequencer in-process (what the binary and the tests run).

pub mod chainspec;
pub mod config;
pub mod execution;
pub mod genesis;
pub mod l1;
pub mod launch;
pub mod memory;
pub mod node;
pub mod pool;
pub mod primitives;
pub mod rpc;
pub mod storage;
pub mod trie;
pub mod validate;

pub use config::{ConfigError, RpcConfig, SequencerConfig};
pub use launch::{SequencerHandle, spawn};
pub use rpc::{RpcError, RpcServerHandle, start_rpc_server};

/// The client version reported by `web3_clientVersion`: `ol-sequencer/v<version>`.
pub const CLIENT_VERSION: &str = concat!("ol-sequencer/v", env!("CARGO_PKG_VERSION"));
