//! Starting a whole sequencer in-process: node, block producer and JSON-RPC server, from a
//! [`SequencerConfig`]. The binary is a thin wrapper around [`spawn`]; tests call it directly
//! (with port 0) to run real nodes without subprocesses.

use crate::{
    chainspec::ChainSpec,
    config::SequencerConfig,
    genesis::{GenesisError, dev_genesis, load_genesis, with_predeploys},
    node::{BlockProductionConfig, MinerHandle, Node, NodeConfig, NodeError},
    rpc::{RpcError, RpcServerHandle, start_rpc_server},
};
use std::{sync::Arc, time::Duration};

/// Errors starting a sequencer.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The genesis could not be read or is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The node could not open its database or state.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The JSON-RPC server could not start.
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// A running sequencer.
#[derive(Debug)]
pub struct SequencerHandle {
    node: Arc<Node>,
    miner: MinerHandle,
    rpc: RpcServerHandle,
}

impl SequencerHandle {
    /// The node (store, pool, head).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The JSON-RPC server.
    pub fn rpc(&self) -> &RpcServerHandle {
        &self.rpc
    }

    /// The HTTP JSON-RPC URL.
    pub fn http_url(&self) -> String {
        self.rpc.http_url()
    }

    /// The WebSocket JSON-RPC URL.
    pub fn ws_url(&self) -> String {
        self.rpc.ws_url()
    }

    /// Graceful shutdown: stops accepting calls and waits for open ones, then finishes the
    /// block in progress and stops production. Everything committed is on disk already.
    pub async fn stop(self) {
        self.rpc.stop().await;
        let miner = self.miner;
        // Joining the miner thread blocks: keep it off the async executor.
        let _ = tokio::task::spawn_blocking(move || miner.stop()).await;
    }
}

/// The chain spec a configuration describes: its genesis file, or the dev genesis.
pub fn chain_spec(config: &SequencerConfig) -> Result<ChainSpec, GenesisError> {
    let genesis = match &config.genesis {
        Some(path) => load_genesis(path)?,
        None => dev_genesis(config.chain_id),
    };
    ChainSpec::new(with_predeploys(genesis))
}

/// Opens the node, starts block production and the JSON-RPC server.
pub async fn spawn(config: SequencerConfig) -> Result<SequencerHandle, LaunchError> {
    let spec = Arc::new(chain_spec(&config)?);
    let gas_limit = config.block.gas_limit.unwrap_or(spec.genesis.gas_limit);
    let node_config = NodeConfig {
        datadir: config.datadir.clone(),
        block: BlockProductionConfig {
            block_time: Duration::from_millis(config.block.time_ms),
            gas_limit,
            empty_blocks: config.block.empty_blocks,
            fee_recipient: config.block.fee_recipient,
            l1_fees: config.block.l1_fees,
        },
        pool: config.pool.pool_config(gas_limit),
        spec,
    };
    // Opening rebuilds the state trie: CPU work, off the async executor.
    let node =
        tokio::task::spawn_blocking(move || Node::open(node_config)).await.map_err(|e| {
            NodeError::Io { context: "opening the node".into(), source: std::io::Error::other(e) }
        })??;
    let rpc = start_rpc_server(&config.rpc, Arc::clone(&node)).await?;
    let miner = node.spawn_miner();
    tracing::info!(
        chain_id = node.spec().chain_id,
        head = node.head().number,
        gas_limit,
        block_time_ms = config.block.time_ms,
        http = %rpc.http_url(),
        "sequencer running"
    );
    Ok(SequencerHandle { node, miner, rpc })
}
