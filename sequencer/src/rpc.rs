//! The JSON-RPC server: HTTP and WebSocket on one port, batch requests, and the limits a public
//! endpoint needs (body size, batch length, connections). Each namespace is a jsonrpsee trait, so
//! its methods, names and parameters are declared in one place.

use crate::{CLIENT_VERSION, config::RpcConfig};
use alloy_primitives::U64;
use jsonrpsee::{
    RpcModule,
    core::RpcResult,
    proc_macros::rpc,
    server::{BatchRequestConfig, Server, ServerConfig, ServerHandle},
};
use std::net::SocketAddr;

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

/// `eth_` methods that identify the chain.
#[rpc(server, namespace = "eth")]
pub trait EthChainApi {
    /// Returns the chain id used for signing replay-protected transactions (EIP-695).
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
}

/// `net_` methods.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// Returns the network id as a decimal string (the chain id, as in geth and reth).
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;
}

/// `web3_` methods.
#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// Returns the client's name and version.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
}

/// What the identity methods answer from.
#[derive(Debug, Clone, Copy)]
struct ChainIdentity {
    chain_id: u64,
}

impl EthChainApiServer for ChainIdentity {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain_id))
    }
}

impl NetApiServer for ChainIdentity {
    fn version(&self) -> RpcResult<String> {
        Ok(self.chain_id.to_string())
    }
}

impl Web3ApiServer for ChainIdentity {
    fn client_version(&self) -> RpcResult<String> {
        Ok(CLIENT_VERSION.to_owned())
    }
}

/// Builds the module holding every enabled method.
fn build_module(chain_id: u64) -> Result<RpcModule<()>, RpcError> {
    let identity = ChainIdentity { chain_id };
    let mut module = RpcModule::new(());
    module.merge(EthChainApiServer::into_rpc(identity))?;
    module.merge(NetApiServer::into_rpc(identity))?;
    module.merge(Web3ApiServer::into_rpc(identity))?;
    Ok(module)
}

/// A running JSON-RPC server.
#[derive(Debug)]
pub struct RpcServerHandle {
    local_addr: SocketAddr,
    handle: ServerHandle,
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

    /// Stops accepting connections and waits until open calls have finished.
    pub async fn stop(self) {
        // Err only means it was already stopping, which is what we want.
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

/// Starts the JSON-RPC server for `chain_id` with the limits of `config`.
pub async fn start_rpc_server(
    config: &RpcConfig,
    chain_id: u64,
) -> Result<RpcServerHandle, RpcError> {
    let module = build_module(chain_id)?;
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_body_bytes)
        .max_response_body_size(u32::MAX)
        .max_connections(config.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch_len))
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .build(config.addr)
        .await
        .map_err(|source| RpcError::Bind { addr: config.addr, source })?;
    let local_addr =
        server.local_addr().map_err(|source| RpcError::Bind { addr: config.addr, source })?;
    let handle = server.start(module);
    tracing::info!(target: "rpc", %local_addr, "JSON-RPC server listening (HTTP and WebSocket)");
    Ok(RpcServerHandle { local_addr, handle })
}
