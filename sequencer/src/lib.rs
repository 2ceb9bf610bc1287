//! # ol-sequencer
//!
//! The OpenLedger L2 node: it orders transactions, executes them with revm through alloy-evm
//! (reth's published execution stack), keeps state and history in an embedded store, and
//! answers the Ethereum JSON-RPC API that wallets, forge, cast, viem and alloy use unchanged.
//!
//! This crate is grown issue by issue. Today it holds:
//!
//! - [`config`]: the node's configuration, read from a TOML file with CLI overrides;
//! - [`rpc`]: the JSON-RPC server (HTTP and WebSocket on one port, batch requests, body and
//!   batch limits) with the chain-identity methods (`eth_chainId`, `net_version`,
//!   `web3_clientVersion`).
//!
//! ```text
//!   wallet / forge / cast ──HTTP/WS──▶ rpc::RpcServer ──▶ chain (mempool, executor, store)
//! ```

pub mod config;
pub mod rpc;

pub use config::{ConfigError, RpcConfig, SequencerConfig};
pub use rpc::{RpcError, RpcServerHandle, start_rpc_server};

/// The client version reported by `web3_clientVersion`: `ol-sequencer/v<version>`.
pub const CLIENT_VERSION: &str = concat!("ol-sequencer/v", env!("CARGO_PKG_VERSION"));
