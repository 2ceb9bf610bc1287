//! The JSON-RPC server: HTTP and WebSocket on one port (optionally a second WebSocket port),
//! batch requests, and the limits a public endpoint needs (body size, batch length,
//! connections). Each namespace is a jsonrpsee trait, so its methods, names and parameters are
//! declared in one place; every `eth_` error reaches the wire through [`error::EthRpcError`].
//!
//! - [`eth`]: the `eth_` state, block, transaction, log and fee methods, and `txpool_status`;
//! - [`call`]: `eth_call` and `eth_estimateGas`;
//! - [`pubsub`]: `eth_subscribe` (`newHeads`, `logs`);
//! - [`convert`]: stored types to alloy's RPC types;
//! - `net_`, `web3_`, `debug_getRawBlock` and the operator's `ol_` methods are here.

pub mod call;
pub mod convert;
pub mod error;
pub mod eth;
pub mod pubsub;

use crate::{
    CLIENT_VERSION,
    config::RpcConfig,
    l1::{Epoch, L1Origin},
    node::{AdvanceOutcome, Node},
};
use alloy_primitives::{B256, Bytes, keccak256};
use eth::{EthApiImpl, EthApiServer, TxpoolApiServer};
use jsonrpsee::{
    RpcModule,
    core::RpcResult,
    proc_macros::rpc,
    server::{BatchRequestConfig, Server, ServerConfig, ServerHandle},
};
use pubsub::{EthPubSub, EthPubSubApiServer};
use serde::Serialize;
use std::{net::SocketAddr, sync::Arc};

/// Errors starting the JSON-RPC server.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The listen address could not be bound (in use, or not a local address).
    #[error("cannot listen for JSON-RPC on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two modules registered the same method name (a programming error).
    #[error("JSON-RPC method registered twice: {0}")]
    DuplicateMethod(#[from] jsonrpsee::core::RegisterMethodError),
}

/// `net_` methods.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// The network id as a decimal string (the chain id, as in geth and reth).
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;

    /// Whether the node accepts connections: always `true`.
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;

    /// Connected peers: none, the sequencer has no peer-to-peer network.
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<alloy_primitives::U64>;
}

/// `web3_` methods.
#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// The client's name and version.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;

    /// keccak-256 of the given bytes.
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

/// `ol_l1Origin`'s answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1OriginStatus {
    /// The L1 origin of the head block (none before the first epoch).
    pub head: Option<L1Origin>,
    /// The newest L1 block handed over, adopted or still queued.
    pub latest: Option<L1Origin>,
}

/// Operator methods, served only with `rpc.admin = true`: what the prover-bridge drives the
/// sequencer with.
#[rpc(server, namespace = "ol")]
pub trait OlAdminApi {
    /// Hands over a confirmed L1 block and its deposits (see [`Node::advance_l1_origin`]).
    #[method(name = "advanceL1Origin")]
    fn advance_l1_origin(&self, epoch: Epoch) -> RpcResult<AdvanceOutcome>;

    /// The L1 origins the sequencer knows.
    #[method(name = "l1Origin")]
    fn l1_origin(&self) -> RpcResult<L1OriginStatus>;
}

/// `debug_` methods.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// The RLP encoding of a block (header, transactions, no ommers, no withdrawals), as geth
    /// and reth answer it: what the batcher encodes into L1 batches.
    #[method(name = "getRawBlock")]
    fn raw_block(&self, block: alloy_eips::BlockId) -> RpcResult<Bytes>;
}

/// What the identity and operator methods answer from.
#[derive(Debug, Clone)]
struct NodeMethods {
    node: Arc<Node>,
}

impl NetApiServer for NodeMethods {
    fn version(&self) -> RpcResult<String> {
        Ok(self.node.spec().chain_id.to_string())
    }
    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }
    fn peer_count(&self) -> RpcResult<alloy_primitives::U64> {
        Ok(alloy_primitives::U64::ZERO)
    }
}

impl Web3ApiServer for NodeMethods {
    fn client_version(&self) -> RpcResult<String> {
        Ok(CLIENT_VERSION.to_owned())
    }
    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(data))
    }
}

impl OlAdminApiServer for NodeMethods {
    fn advance_l1_origin(&self, epoch: Epoch) -> RpcResult<AdvanceOutcome> {
        self.node.advance_l1_origin(epoch).map_err(|e| {
            jsonrpsee::types::ErrorObject::owned(
                error::SERVER_ERROR_CODE,
                e.to_string(),
                None::<()>,
            )
        })
    }

    fn l1_origin(&self) -> RpcResult<L1OriginStatus> {
        let (head, latest) = self.node.l1_origin();
        Ok(L1OriginStatus { head, latest })
    }
}

impl DebugApiServer for NodeMethods {
    fn raw_block(&self, block: alloy_eips::BlockId) -> RpcResult<Bytes> {
        let reader = self.node.reader().map_err(error::EthRpcError::from)?;
        let number = eth::EthApiImpl::resolve_block(&reader, Some(block))?;
        let header = reader
            .header(number)
            .map_err(error::EthRpcError::from)?
            .ok_or(error::EthRpcError::HeaderNotFound)?;
        let transactions: Vec<_> = reader
            .block_transactions(number)
            .map_err(error::EthRpcError::from)?
            .into_iter()
            .map(|(tx, _)| tx)
            .collect();
        let block = alloy_consensus::Block {
            header: header.into_inner(),
            body: alloy_consensus::BlockBody { transactions, ommers: vec![], withdrawals: None },
        };
        Ok(alloy_rlp::encode(block).into())
    }
}

/// Builds the module holding every enabled method.
pub fn build_module(node: Arc<Node>, config: &RpcConfig) -> Result<RpcModule<()>, RpcError> {
    let methods = NodeMethods { node: Arc::clone(&node) };
    let eth = EthApiImpl::new(Arc::clone(&node), config.clone());
    let mut module = RpcModule::new(());
    module.merge(EthApiServer::into_rpc(eth.clone()))?;
    module.merge(TxpoolApiServer::into_rpc(eth))?;
    module.merge(EthPubSubApiServer::into_rpc(EthPubSub::new(node)))?;
    module.merge(NetApiServer::into_rpc(methods.clone()))?;
    module.merge(Web3ApiServer::into_rpc(methods.clone()))?;
    module.merge(DebugApiServer::into_rpc(methods.clone()))?;
    if config.admin {
        module.merge(OlAdminApiServer::into_rpc(methods))?;
    }
    Ok(module)
}

/// A running JSON-RPC server (one or two listeners).
#[derive(Debug)]
pub struct RpcServerHandle {
    local_addr: SocketAddr,
    ws_addr: Option<SocketAddr>,
    handles: Vec<ServerHandle>,
}

impl RpcServerHandle {
    /// The address the server listens on (useful when the configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The HTTP URL of the server.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The WebSocket URL (the separate WebSocket port if configured, else the HTTP port).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr.unwrap_or(self.local_addr))
    }

    /// Stops accepting connections and waits until open calls have finished.
    pub async fn stop(self) {
        for handle in &self.handles {
            // Err only means it was already stopping, which is what we want.
            let _ = handle.stop();
        }
        for handle in self.handles {
            handle.stopped().await;
        }
    }
}

async fn listen(
    addr: SocketAddr,
    config: &RpcConfig,
    module: RpcModule<()>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_body_bytes)
        .max_response_body_size(u32::MAX)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch_len))
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .build(addr)
        .await
        .map_err(|source| RpcError::Bind { addr, source })?;
    let local_addr = server.local_addr().map_err(|source| RpcError::Bind { addr, source })?;
    Ok((local_addr, server.start(module)))
}

/// Starts the JSON-RPC server for `node` with the limits of `config`.
pub async fn start_rpc_server(
    config: &RpcConfig,
    node: Arc<Node>,
) -> Result<RpcServerHandle, RpcError> {
    let module = build_module(node, config)?;
    let (local_addr, handle) = listen(config.http_socket(), config, module.clone()).await?;
    let mut handles = vec![handle];
    let mut ws_addr = None;
    if let Some(ws) = config.ws_socket() {
        let (addr, handle) = listen(ws, config, module).await?;
        ws_addr = Some(addr);
        handles.push(handle);
    }
    tracing::info!(target: "rpc", %local_addr, ?ws_addr, admin = config.admin, "JSON-RPC server listening (HTTP and WebSocket)");
    Ok(RpcServerHandle { local_addr, ws_addr, handles })
}
