//! # `openlora-server serve`: the engine, the payment gate, the redeemer and the HTTP API in one
//! process
//!
//! ```text
//!  ServerConfig (TOML file + flags, args::ServeArgs)
//!     │
//!     ├─ Engine::start(model folder; watched adapter folder)      (threads of its own)
//!     ├─ Ledger::open(SQLite path | postgres:// URL)               (migrations run)
//!     ├─ payments on:  deployment l2.json + L2 RPC + server key
//!     │     PaymentGate::new (checks chain id, escrow typehash and domain)
//!     │     Redeemer::spawn (redeems accepted vouchers every interval)
//!     │  --no-payment: PaymentGate::disabled (free inferences, still in the ledger)
//!     └─ axum on --addr ── api::router
//!  shutdown (SIGINT/SIGTERM, or RunningServer::shutdown): stop accepting, finish the requests
//!  in flight (streams included), stop the redeemer after its round, stop the engine, close the
//!  ledger.
//! ```
//!
//! Tests start the same thing in-process with [`Server::start`] on `127.0.0.1:0`.

pub mod args;

use crate::{
    BackendKind, Engine, EngineConfig, EngineError, EngineHandle,
    api::{self, ApiConfig, ApiState},
    device::parse_device,
    ledger::{Ledger, LedgerError},
    payment::{
        ChainConfig, PaymentConfig, PaymentGate, Redeemer, RedeemerConfig, RedeemerHandle,
        SetupError,
    },
};
use alloy::{
    primitives::U256,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};

/// The default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";
/// The default ledger: a SQLite file in the working directory.
pub const DEFAULT_LEDGER: &str = "openlora-ledger.db";

/// Everything `serve` needs. Field names are the TOML keys (kebab-case) and the flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerConfig {
    /// The Hugging Face model folder (required).
    pub model: Option<PathBuf>,
    /// A folder watched for adapter subfolders (added and removed as they appear and vanish).
    pub adapters: Option<PathBuf>,
    /// Where uploaded adapters are written (`<dir>/<id>/`); without it they are kept in memory
    /// and lost on restart.
    pub adapter_store: Option<PathBuf>,
    /// Listen address.
    pub addr: SocketAddr,
    /// The usage ledger: a SQLite file path, a `sqlite:` URL or a `postgres://` URL.
    pub ledger: String,
    /// Serve without payment (free inferences, still recorded in the ledger).
    pub no_payment: bool,
    /// The L2 JSON-RPC URL (payments).
    pub l2_rpc: Option<String>,
    /// `deployments/<network>/l2.json` (payments).
    pub deployment: Option<PathBuf>,
    /// The server's private key, hex (payments: vouchers name its address; it redeems them).
    pub server_key: Option<String>,
    /// When set, adapter uploads and deletions need `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Largest request body of the inference routes, bytes.
    pub max_body_bytes: usize,
    /// Largest adapter upload, bytes.
    pub max_adapter_bytes: usize,
    /// Seconds between redemption rounds.
    pub redeem_interval_secs: u64,
    /// Channels owing less than this many wei wait for a later round (unless the payer is
    /// withdrawing).
    pub redeem_min_wei: String,
    /// Seconds that escrow balances and model registrations read from the chain are reused.
    pub chain_cache_secs: u64,
    /// Compute device: cpu, cuda or cuda:N.
    pub device: String,
    /// LoRA kernel: auto, bgmv, gather, grouped (cuda with the feature).
    pub backend: String,
    /// Device adapter slots.
    pub max_loras: usize,
    /// Highest adapter rank accepted.
    pub max_lora_rank: usize,
    /// Weight and activation dtype: `f32` or `bf16`.
    pub dtype: String,
    /// How device slots store adapters: `model`, `bf16` or `f32`.
    pub lora_dtype: String,
    /// Most sequences in the running batch.
    pub max_batch: usize,
    /// Most tokens in one step.
    pub max_batched_tokens: usize,
    /// Host-memory adapter cache, MiB.
    pub host_cache_mib: usize,
    /// KV-cache size in tokens (default: max-batch full contexts).
    pub kv_cache_tokens: Option<usize>,
    /// libtorch intra-op threads.
    pub threads: Option<i32>,
    /// How often the adapter folder is scanned, ms.
    pub watch_interval_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let engine = EngineConfig::new("");
        Self {
            model: None,
            adapters: None,
            adapter_store: None,
            addr: DEFAULT_ADDR.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8000))),
            ledger: DEFAULT_LEDGER.into(),
            no_payment: false,
            l2_rpc: None,
            deployment: None,
            server_key: None,
            admin_token: None,
            max_body_bytes: api::DEFAULT_MAX_BODY_BYTES,
            max_adapter_bytes: api::DEFAULT_MAX_ADAPTER_BYTES,
            redeem_interval_secs: crate::payment::redeemer::DEFAULT_REDEEM_INTERVAL.as_secs(),
            redeem_min_wei: "0".into(),
            chain_cache_secs: crate::payment::DEFAULT_CACHE_TTL.as_secs(),
            device: "cpu".into(),
            backend: "auto".into(),
            max_loras: engine.max_loras,
            max_lora_rank: engine.max_lora_rank,
            dtype: "f32".into(),
            lora_dtype: "model".into(),
            max_batch: engine.max_batch,
            max_batched_tokens: engine.max_batched_tokens,
            host_cache_mib: engine.host_cache_bytes >> 20,
            kv_cache_tokens: None,
            threads: None,
            watch_interval_ms: engine.watch_interval.as_millis() as u64,
        }
    }
}

impl ServerConfig {
    /// A config serving `model` with defaults for the rest (payments on: set the chain fields,
    /// or `no_payment`).
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self { model: Some(model.into()), ..Self::default() }
    }

    /// Reads a TOML file (keys as the fields, kebab-case).
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, ServeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))
    }

    /// The engine's settings.
    pub fn engine_config(&self) -> Result<EngineConfig, ServeError> {
        let model = self
            .model
            .clone()
            .ok_or_else(|| ServeError::Config("no model folder: give --model DIR".into()))?;
        let mut cfg = EngineConfig::new(model);
        cfg.device = parse_device(&self.device).map_err(|e| ServeError::Config(e.to_string()))?;
        cfg.backend = <BackendKind as clap::ValueEnum>::from_str(&self.backend, true)
            .map_err(|e| ServeError::Config(format!("backend `{}`: {e}", self.backend)))?;
        cfg.max_loras = self.max_loras;
        cfg.max_lora_rank = self.max_lora_rank;
        cfg.dtype = match self.dtype.to_ascii_lowercase().as_str() {
            "f32" | "float32" => tch::Kind::Float,
            "bf16" | "bfloat16" => tch::Kind::BFloat16,
            other => return Err(ServeError::Config(format!("dtype `{other}`: f32 or bf16"))),
        };
        cfg.lora_dtype = match self.lora_dtype.to_ascii_lowercase().as_str() {
            "model" => None,
            "bf16" | "bfloat16" => Some(tch::Kind::BFloat16),
            "f32" | "float32" => Some(tch::Kind::Float),
            other => {
                return Err(ServeError::Config(format!(
                    "lora-dtype `{other}`: model, bf16 or f32"
                )));
            }
        };
        cfg.max_batch = self.max_batch;
        cfg.max_batched_tokens = self.max_batched_tokens;
        cfg.host_cache_bytes = self.host_cache_mib << 20;
        cfg.kv_cache_tokens = self.kv_cache_tokens;
        cfg.threads = self.threads;
        cfg.adapter_store = self.adapter_store.clone();
        cfg.watch_dir = self.adapters.clone();
        cfg.watch_interval = Duration::from_millis(self.watch_interval_ms.max(10));
        Ok(cfg)
    }

    /// The HTTP layer's settings.
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            max_body_bytes: self.max_body_bytes,
            max_adapter_bytes: self.max_adapter_bytes,
            admin_token: self.admin_token.clone().filter(|t| !t.is_empty()),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The engine did not start (model folder, tokenizer, device).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The payment layer could not start (RPC, chain id, escrow, deployment).
    #[error("payments: {0}")]
    Payment(#[from] SetupError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Starts servers.
#[derive(Debug)]
pub struct Server;

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on (the port chosen when the config said 0).
    pub addr: SocketAddr,
    /// The engine (for tests and tools in the same process).
    pub engine: EngineHandle,
    /// The payment gate.
    pub gate: PaymentGate,
    stop: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    redeemer: Option<RedeemerHandle>,
}

impl Server {
    /// Starts the engine, the ledger, the payment gate and redeemer (unless `no_payment`) and
    /// the HTTP server. Must be called inside a tokio runtime.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, ServeError> {
        let engine_cfg = config.engine_config()?;
        let api_cfg = config.api_config();
        // Check the payment settings before the (slower) model load.
        let payment = if config.no_payment { None } else { Some(payment_settings(&config)?) };
        let engine = tokio::task::spawn_blocking(move || Engine::start(engine_cfg))
            .await
            .map_err(|e| ServeError::Config(format!("engine start task failed: {e}")))??;
        let ledger = Ledger::open(&config.ledger).await?;
        let (gate, redeemer) = match payment {
            None => {
                warn!("payments are off (--no-payment): every request is served free");
                (PaymentGate::disabled(ledger), None)
            }
            Some(p) => {
                let url = p.rpc.parse().map_err(|e| {
                    ServeError::Config(format!("--l2-rpc `{}` is not a URL: {e}", p.rpc))
                })?;
                let provider = ProviderBuilder::new().connect_http(url).erased();
                let payment_cfg = PaymentConfig::new(p.chain, p.signer.address())
                    .with_cache_ttl(Duration::from_secs(config.chain_cache_secs));
                let gate = PaymentGate::new(payment_cfg, provider.clone(), ledger.clone()).await?;
                let redeemer_cfg = RedeemerConfig {
                    interval: Duration::from_secs(config.redeem_interval_secs.max(1)),
                    min_amount: p.min_amount,
                    ..RedeemerConfig::default()
                };
                let redeemer =
                    Redeemer::new(redeemer_cfg, p.chain, provider, p.signer, ledger).spawn();
                gate.attach_redeemer(redeemer.trigger());
                (gate, Some(redeemer))
            }
        };
        let state = std::sync::Arc::new(ApiState::new(engine.clone(), gate.clone(), &api_cfg));
        let app = api::router(state, &api_cfg);
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let (stop, mut stopped) = watch::channel(false);
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        info!(%addr, model = engine.model_name(), payments = gate.is_enabled(), "openlora-server listening");
        Ok(RunningServer { addr, engine, gate, stop, http, redeemer })
    }
}

impl RunningServer {
    /// The base URL (`http://addr`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets the requests in flight finish, then stops the redeemer, the engine
    /// and the ledger.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match self.http.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("HTTP server ended with an error: {e}"),
            Err(e) => warn!("HTTP server task failed: {e}"),
        }
        if let Some(redeemer) = self.redeemer {
            redeemer.shutdown().await;
        }
        let engine = self.engine.clone();
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
        self.gate.ledger().close().await;
        info!("openlora-server stopped");
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        info!("signal received: finishing the requests in flight");
        self.shutdown().await;
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                warn!("cannot listen for SIGTERM: {e}");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The payment settings, checked.
struct PaymentSettings {
    rpc: String,
    chain: ChainConfig,
    signer: PrivateKeySigner,
    min_amount: U256,
}

fn payment_settings(config: &ServerConfig) -> Result<PaymentSettings, ServeError> {
    let missing = |what: &str| {
        ServeError::Config(format!(
            "payments are on but {what} is not set (give --l2-rpc, --deployment and \
             --server-key, or --no-payment to serve free)"
        ))
    };
    let rpc = config.l2_rpc.clone().ok_or_else(|| missing("--l2-rpc"))?;
    let deployment = config.deployment.clone().ok_or_else(|| missing("--deployment"))?;
    let key = config.server_key.clone().ok_or_else(|| missing("--server-key"))?;
    let json = std::fs::read_to_string(&deployment)
        .map_err(|e| ServeError::Config(format!("{}: {e}", deployment.display())))?;
    let chain = ChainConfig::from_deployment_json(&json)?;
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .map_err(|e| ServeError::Config(format!("--server-key is not a private key: {e}")))?;
    let min_amount = U256::from_str_radix(config.redeem_min_wei.trim(), 10).map_err(|e| {
        ServeError::Config(format!("redeem-min-wei `{}`: {e}", config.redeem_min_wei))
    })?;
    Ok(PaymentSettings { rpc, chain, signer, min_amount })
}
