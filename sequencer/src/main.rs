//! `ol-sequencer`: runs the OpenLedger L2 node.

use clap::Parser;
use ol_sequencer::{SequencerConfig, launch};
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
};
use tracing_subscriber::EnvFilter;

/// The OpenLedger L2 sequencer: an Ethereum-compatible node whose gas token is OPEN.
///
/// Examples:
///   ol-sequencer --dev --datadir ./ol-data
///   ol-sequencer --genesis genesis.json --http.port 9545 --block-time 200 --gas-limit 1000000000
#[derive(Debug, Parser)]
#[command(name = "ol-sequencer", version, about, verbatim_doc_comment)]
struct Cli {
    /// TOML configuration file; every key is optional (see sequencer/sequencer.example.toml).
    /// Flags override it.
    #[arg(long, short, env = "OL_SEQUENCER_CONFIG")]
    config: Option<PathBuf>,

    /// Where the database lives.
    #[arg(long, value_name = "DIR", help_heading = "Chain")]
    datadir: Option<PathBuf>,
    /// Use the dev genesis: the first ten accounts of "test test ... junk" hold 10,000 OPEN.
    #[arg(long, help_heading = "Chain")]
    dev: bool,
    /// A geth-style genesis JSON file (its config.chainId is the chain id).
    #[arg(long, value_name = "FILE", help_heading = "Chain", conflicts_with = "dev")]
    genesis: Option<PathBuf>,
    /// Chain id of the dev genesis.
    #[arg(long, help_heading = "Chain")]
    chain_id: Option<u64>,

    /// Milliseconds between blocks (at least 100).
    #[arg(long = "block-time", value_name = "MS", help_heading = "Block production")]
    block_time: Option<u64>,
    /// Block gas limit (default: the genesis gasLimit).
    #[arg(long = "gas-limit", help_heading = "Block production")]
    gas_limit: Option<u64>,
    /// Produce blocks even without transactions.
    #[arg(long = "empty-blocks", help_heading = "Block production")]
    empty_blocks: bool,

    /// JSON-RPC listen address (HTTP and WebSocket).
    #[arg(long = "http.addr", value_name = "IP", help_heading = "RPC")]
    http_addr: Option<IpAddr>,
    /// JSON-RPC port (HTTP, with WebSocket upgrades).
    #[arg(long = "http.port", value_name = "PORT", help_heading = "RPC")]
    http_port: Option<u16>,
    /// A separate WebSocket port (default: the HTTP port serves WebSocket too).
    #[arg(long = "ws.port", value_name = "PORT", help_heading = "RPC")]
    ws_port: Option<u16>,
    /// Serve the operator methods (ol_queueDeposit). Never expose them publicly.
    #[arg(long = "rpc.admin", help_heading = "RPC")]
    rpc_admin: bool,

    /// Serve Prometheus metrics on this address (http://ADDR/metrics).
    #[arg(long, value_name = "ADDR", help_heading = "Metrics")]
    metrics: Option<SocketAddr>,
}

impl Cli {
    /// The file's configuration with the flags applied on top.
    fn into_config(self) -> Result<SequencerConfig, ol_sequencer::ConfigError> {
        let mut config = match &self.config {
            Some(path) => SequencerConfig::load(path)?,
            None => SequencerConfig::default(),
        };
        if let Some(v) = self.datadir {
            config.datadir = v;
        }
        if self.dev {
            config.dev = true;
        }
        if let Some(v) = self.genesis {
            config.genesis = Some(v);
            config.dev = false;
        }
        if let Some(v) = self.chain_id {
            config.chain_id = v;
        }
        if let Some(v) = self.block_time {
            config.block.time_ms = v;
        }
        if let Some(v) = self.gas_limit {
            config.block.gas_limit = Some(v);
        }
        if self.empty_blocks {
            config.block.empty_blocks = true;
        }
        if let Some(v) = self.http_addr {
            config.rpc.http_addr = v;
        }
        if let Some(v) = self.http_port {
            config.rpc.http_port = v;
        }
        if let Some(v) = self.ws_port {
            config.rpc.ws_port = Some(v);
        }
        if self.rpc_admin {
            config.rpc.admin = true;
        }
        if let Some(v) = self.metrics {
            config.metrics.addr = Some(v);
        }
        config.validate()?;
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("ol-sequencer: error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let config = cli.into_config()?;
    if let Some(addr) = config.metrics.addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        ol_sequencer::node::describe_metrics();
        tracing::info!(%addr, "Prometheus metrics at /metrics");
    }
    let sequencer = launch::spawn(config).await?;

    let failed = tokio::select! {
        res = shutdown_signal() => { res?; None }
        reason = watch_failure(sequencer.node().clone()) => Some(reason),
    };
    tracing::info!("shutting down: draining JSON-RPC calls, finishing the block in progress");
    sequencer.stop().await;
    match failed {
        Some(reason) => Err(format!("block production stopped: {reason}").into()),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Resolves when block production fails, with the reason.
async fn watch_failure(node: std::sync::Arc<ol_sequencer::node::Node>) -> String {
    loop {
        if let Some(reason) = node.failure() {
            return reason;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        res = tokio::signal::ctrl_c() => res,
        _ = term.recv() => Ok(()),
    }
}
