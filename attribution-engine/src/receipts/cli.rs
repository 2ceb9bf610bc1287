//! `attribution-engine receipts …`: the worker, the API and one-off attribution of a ledger
//! inference, from the command line.

use super::{
    ReceiptStore, Retry, RunSpec, Worker, WorkerConfig,
    http::{ApiState, router},
};
use crate::chain::{Chain, Deployment};
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256};
use clap::{Args, Subcommand};
use openlora_server::ledger::Ledger;
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tracing::info;

/// Receipts subcommands.
#[derive(Debug, Subcommand)]
pub enum ReceiptsCommand {
    /// Reads the usage ledger, signs a receipt per paid inference and posts batches, until
    /// SIGINT (Ctrl-C) or SIGTERM; with --listen it also serves the API.
    Run {
        /// Worker settings.
        #[command(flatten)]
        args: WorkerArgs,
        /// Serve the receipts API here too.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// One step, then exit (non-zero if it failed).
        #[arg(long)]
        once: bool,
    },
    /// Serves the receipts API over a store, until SIGINT or SIGTERM.
    Serve {
        /// The receipt store (file path, sqlite: or postgres:// URL).
        #[arg(long, env = "OL_RECEIPTS_STORE", default_value = "receipts.db")]
        store: String,
        /// deployments/<network>/l2.json.
        #[arg(long, default_value = "deployments/devnet/l2.json")]
        deployment: PathBuf,
        /// The attestor whose receipts these are.
        #[arg(long)]
        attestor: Address,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8100")]
        listen: SocketAddr,
    },
    /// Attributes one ledger inference and prints its would-be receipt (nothing stored or
    /// posted).
    Attribute {
        /// Worker settings.
        #[command(flatten)]
        args: WorkerArgs,
        /// The inference id.
        #[arg(long)]
        inference: B256,
    },
    /// Attributes rejected inferences again once their cause is mended (a model registered
    /// late, say): each one's receipt replaces its rejection and goes into its model's next
    /// batch (posted by `receipts run`); one still unattributable keeps its rejection with the
    /// new reason. Prints one line of JSON per inference; fails if any could not be tried.
    Retry {
        /// Worker settings.
        #[command(flatten)]
        args: WorkerArgs,
        /// The rejected inferences' ids.
        #[arg(long = "inference", required = true)]
        inferences: Vec<B256>,
    },
}

/// What the worker needs.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The OpenLoRA usage ledger (file path, sqlite: or postgres:// URL).
    #[arg(long, env = "OL_LEDGER")]
    ledger: String,
    /// The receipt store (file path, sqlite: or postgres:// URL).
    #[arg(long, env = "OL_RECEIPTS_STORE", default_value = "receipts.db")]
    store: String,
    /// The L2 JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:9545")]
    l2_rpc: String,
    /// deployments/<network>/l2.json.
    #[arg(long, default_value = "deployments/devnet/l2.json")]
    deployment: PathBuf,
    /// The attestor's private key (hex); it must hold the attestor stake.
    #[arg(long, env = "OL_ATTESTOR_KEY", hide_env_values = true)]
    attestor_key: String,
    /// A run folder whose adapter is attributed, `PATH` or `PATH#INDEX` (repeatable).
    #[arg(long = "run", required = true)]
    runs: Vec<RunSpec>,
    /// The base model folder (default: the one each run recorded).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Contributors listed per receipt.
    #[arg(long, default_value_t = 16)]
    top_k: usize,
    /// Receipts per batch at most.
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// Seconds between steps.
    #[arg(long, default_value_t = 5)]
    interval_secs: u64,
    /// Seconds a step waits for a batch transaction's receipt.
    #[arg(long, default_value_t = 60)]
    confirm_timeout_secs: u64,
    /// Base URL batches are published under (their dataURI).
    #[arg(long, default_value = "http://127.0.0.1:8100")]
    public_url: String,
    /// Pass over paid inferences of adapters no --run trained (the server sells others too)
    /// instead of stopping at the first one.
    #[arg(long)]
    skip_unknown_adapters: bool,
}

type BoxError = Box<dyn std::error::Error>;

impl WorkerArgs {
    async fn worker(self) -> Result<Worker, BoxError> {
        let signer: PrivateKeySigner =
            self.attestor_key.trim().parse().map_err(|e| format!("--attestor-key: {e}"))?;
        let deployment = Deployment::load(&self.deployment)?;
        let chain = Chain::connect(&self.l2_rpc, deployment, signer)?;
        let ledger = Ledger::open(&self.ledger).await?;
        let store = ReceiptStore::open(&self.store).await?;
        let config = WorkerConfig {
            runs: self.runs,
            model_dir: self.model_dir,
            top_k: self.top_k,
            max_batch: self.max_batch,
            interval: Duration::from_secs(self.interval_secs),
            confirm_timeout: Duration::from_secs(self.confirm_timeout_secs),
            public_url: self.public_url,
            skip_unknown_adapters: self.skip_unknown_adapters,
            ..WorkerConfig::default()
        };
        Ok(Worker::new(ledger, store, chain, config)?)
    }
}

/// Runs a receipts subcommand (on a runtime of its own).
pub fn run(cmd: ReceiptsCommand) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cmd {
            ReceiptsCommand::Run { args, listen, once } => {
                // Listening before anything slow happens: a signal during start-up is a clean
                // stop, not the default action's abrupt exit.
                let stop = Stop::on_signals()?;
                let mut worker = args.worker().await?;
                if once {
                    let report = tokio::select! {
                        r = worker.step() => r?,
                        () = stop.wait() => return Err("interrupted: the step stops where it was \
                            (the next run resumes it)".into()),
                    };
                    println!("{report:?}");
                    return Ok(());
                }
                let api = match listen {
                    Some(addr) => {
                        let state = ApiState {
                            store: worker.store().clone(),
                            attestor: worker.chain().attestor(),
                            deployment: worker.chain().deployment,
                        };
                        Some(serve_in_background(state, addr, stop.clone()).await?)
                    }
                    None => None,
                };
                info!(attestor = %worker.chain().attestor(), "receipts worker running");
                worker.run(stop.wait()).await;
                if let Some(api) = api
                    && let Err(e) = api.await
                {
                    tracing::error!(error = %e, "receipts API task failed");
                }
                worker.store().close().await;
                info!("receipts worker stopped");
                Ok(())
            }
            ReceiptsCommand::Serve { store, deployment, attestor, listen } => {
                let state = ApiState {
                    store: ReceiptStore::open(&store).await?,
                    attestor,
                    deployment: Deployment::load(&deployment)?,
                };
                let stop = Stop::on_signals()?;
                let listener = tokio::net::TcpListener::bind(listen).await?;
                info!(%listen, "receipts API listening");
                axum::serve(listener, router(state)).with_graceful_shutdown(stop.wait()).await?;
                info!("receipts API stopped");
                Ok(())
            }
            ReceiptsCommand::Retry { args, inferences } => {
                let mut worker = args.worker().await?;
                let mut failed = 0;
                for id in inferences {
                    let line = match worker.retry_rejection(id).await {
                        Ok(Retry::Receipt(r)) => serde_json::json!({
                            "inference": id, "outcome": "receipt",
                            "contributors": r.contributors.len(), "fee": r.receipt.fee,
                        }),
                        Ok(Retry::StillRejected(reason)) => serde_json::json!({
                            "inference": id, "outcome": "rejected", "reason": reason,
                        }),
                        Err(e) => {
                            failed += 1;
                            serde_json::json!({ "inference": id, "outcome": "error", "error": e.to_string() })
                        }
                    };
                    println!("{line}");
                }
                if failed > 0 {
                    return Err(format!("{failed} inference(s) could not be retried").into());
                }
                Ok(())
            }
            ReceiptsCommand::Attribute { args, inference } => {
                let mut worker = args.worker().await?;
                let r = worker.attribute_inference(inference).await?;
                let body = serde_json::json!({
                    "receipt": {
                        "inferenceId": r.receipt.inferenceId,
                        "modelId": r.receipt.modelId,
                        "adapterHash": r.receipt.adapterHash,
                        "outputHash": r.receipt.outputHash,
                        "indexRoot": r.receipt.indexRoot,
                        "methodVersion": r.receipt.methodVersion,
                        "fee": r.receipt.fee,
                        "attributionHash": r.receipt.attributionHash,
                    },
                    "contributors": r.contributors,
                    "attribution": r.attribution,
                    "leaf": r.leaf,
                    "signature": r.signature,
                });
                println!("{}", serde_json::to_string_pretty(&body)?);
                Ok(())
            }
        }
    })
}

/// Serves the API until `stop`, then finishes the requests in flight.
async fn serve_in_background(
    state: ApiState,
    addr: SocketAddr,
    stop: Stop,
) -> Result<tokio::task::JoinHandle<()>, BoxError> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr()?, "receipts API listening");
    Ok(tokio::spawn(async move {
        match axum::serve(listener, router(state)).with_graceful_shutdown(stop.wait()).await {
            Ok(()) => info!("receipts API stopped"),
            Err(e) => tracing::error!(error = %e, "receipts API failed"),
        }
    }))
}

/// SIGINT or SIGTERM, seen by every clone.
#[derive(Debug, Clone)]
struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// Starts listening for SIGINT and SIGTERM now (not at the first poll).
    fn on_signals() -> Result<Self, BoxError> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => info!("SIGINT: shutting down"),
                _ = term.recv() => info!("SIGTERM: shutting down"),
            }
            let _ = tx.send(true);
        });
        Ok(Self(rx))
    }

    /// Resolves once a signal came.
    async fn wait(self) {
        let mut rx = self.0;
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}
