//! `ol-sequencer`: runs the OpenLedger L2 node.

use clap::Parser;
use ol_sequencer::{SequencerConfig, start_rpc_server};
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};
use tracing_subscriber::EnvFilter;

/// The OpenLedger L2 sequencer: an Ethereum-compatible node whose gas token is OPEN.
#[derive(Debug, Parser)]
#[command(name = "ol-sequencer", version, about)]
struct Cli {
    /// TOML configuration file; every key is optional (see sequencer/sequencer.example.toml).
    #[arg(long, short, env = "OL_SEQUENCER_CONFIG")]
    config: Option<PathBuf>,
    /// L2 chain id; overrides `chain_id` in the file.
    #[arg(long)]
    chain_id: Option<u64>,
    /// JSON-RPC listen address (HTTP and WebSocket); overrides `rpc.addr` in the file.
    #[arg(long = "rpc.addr", value_name = "ADDR")]
    rpc_addr: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
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
    let mut config = match &cli.config {
        Some(path) => SequencerConfig::load(path)?,
        None => SequencerConfig::default(),
    };
    if let Some(chain_id) = cli.chain_id {
        config.chain_id = chain_id;
    }
    if let Some(addr) = cli.rpc_addr {
        config.rpc.addr = addr;
    }
    config.validate()?;

    tracing::info!(chain_id = config.chain_id, version = ol_sequencer::CLIENT_VERSION, "starting");
    let rpc = start_rpc_server(&config.rpc, config.chain_id).await?;

    shutdown_signal().await?;
    tracing::info!("shutting down: draining JSON-RPC calls");
    rpc.stop().await;
    tracing::info!("stopped");
    Ok(())
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
