//! `ol-bridge`: the OpenLedger L1 link.

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::B256;
use clap::{Args, Parser, Subcommand};
use ol_bridge::{
    OutputRoot,
    deployments::L1Deployment,
    replay::{ReplayConfig, ReplayError, replay},
    rpc::{connect, connect_with_signer},
    services::run::{BridgeConfig, Services},
    withdraw::{StepOutcome, finalize, find_withdrawals, prove},
};
use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};
use tracing_subscriber::EnvFilter;

/// The OpenLedger L1 link: deposits in, batches and output roots out, withdrawals proven, and
/// replay.
///
/// Examples:
///   ol-bridge run --l1-rpc http://127.0.0.1:8545 --l2-rpc http://127.0.0.1:9545 \
///       --deployment deployments/devnet/l1.json --batcher-key $KEY1 --proposer-key $KEY2
///   ol-bridge withdraw prove --l2-tx 0x… --key $KEY …
///   ol-bridge replay --l1-rpc http://127.0.0.1:8545 --deployment deployments/devnet/l1.json --dev
#[derive(Debug, Parser)]
#[command(name = "ol-bridge", version, about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the deposit watcher, batcher, proposer and (with --relayer-key) the relayer.
    Run(Box<RunArgs>),
    /// Proves or finalizes a withdrawal by hand.
    Withdraw {
        #[command(subcommand)]
        step: WithdrawStep,
    },
    /// Rebuilds every L2 block from L1 data alone and checks every root; exit 1 on a mismatch.
    Replay(ReplayArgs),
    /// Computes a v0 output root from its parts (what the proposer posts to L1).
    OutputRoot {
        /// State root of the L2 block (0x-prefixed, 32 bytes).
        #[arg(long)]
        state_root: B256,
        /// Storage root of the L2 message passer.
        #[arg(long)]
        message_passer_storage_root: B256,
        /// Hash of the L2 block.
        #[arg(long)]
        block_hash: B256,
    },
}

#[derive(Debug, Args)]
struct Chains {
    /// L1 JSON-RPC.
    #[arg(long = "l1-rpc", env = "OL_L1_RPC", default_value = "http://127.0.0.1:8545")]
    l1_rpc: String,
    /// The L1 deployment (deployments/<network>/l1.json).
    #[arg(long, env = "OL_L1_DEPLOYMENT", default_value = "deployments/devnet/l1.json")]
    deployment: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    chains: Chains,
    /// The sequencer's JSON-RPC (started with --rpc.admin).
    #[arg(long = "l2-rpc", env = "OL_L2_RPC", default_value = "http://127.0.0.1:9545")]
    l2_rpc: String,
    /// Where the progress store lives.
    #[arg(long, default_value = "ol-bridge-data")]
    datadir: PathBuf,
    /// The batcher's private key (hex).
    #[arg(long, env = "OL_BATCHER_KEY")]
    batcher_key: PrivateKeySigner,
    /// The proposer's private key (hex).
    #[arg(long, env = "OL_PROPOSER_KEY")]
    proposer_key: PrivateKeySigner,
    /// A key that pays for proving and finalizing every withdrawal automatically.
    #[arg(long, env = "OL_RELAYER_KEY")]
    relayer_key: Option<PrivateKeySigner>,
    /// L1 blocks a deposit or a batch must be deep to count.
    #[arg(long, default_value_t = 2)]
    confirmations: u64,
    /// Milliseconds between rounds.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Post an output root every this many L2 blocks.
    #[arg(long, default_value_t = 10)]
    output_interval: u64,
    /// Post the safe head when no output was posted for this many seconds.
    #[arg(long, default_value_t = 10)]
    output_max_age_s: u64,
    /// Most L2 blocks per channel.
    #[arg(long, default_value_t = 100)]
    max_channel_blocks: u64,
    /// Resend a batch transaction unmined for this many seconds.
    #[arg(long, default_value_t = 30)]
    resubmit_after_s: u64,
}

#[derive(Debug, Subcommand)]
enum WithdrawStep {
    /// Proves the withdrawals of an L2 transaction against a posted output root.
    Prove(WithdrawArgs),
    /// Finalizes them once the finalization period has passed.
    Finalize(WithdrawArgs),
}

#[derive(Debug, Args)]
struct WithdrawArgs {
    #[command(flatten)]
    chains: Chains,
    /// L2 JSON-RPC.
    #[arg(long = "l2-rpc", env = "OL_L2_RPC", default_value = "http://127.0.0.1:9545")]
    l2_rpc: String,
    /// The L2 transaction that called initiateWithdrawal.
    #[arg(long = "l2-tx")]
    l2_tx: B256,
    /// The key that pays for the L1 transaction.
    #[arg(long, env = "OL_WITHDRAW_KEY")]
    key: PrivateKeySigner,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    chains: Chains,
    /// The L2 genesis file (geth-style JSON); or --dev for the dev genesis.
    #[arg(long, conflicts_with = "dev")]
    genesis: Option<PathBuf>,
    /// The sequencer's dev genesis.
    #[arg(long)]
    dev: bool,
    /// Chain id of the dev genesis.
    #[arg(long, default_value_t = ol_sequencer::config::DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// Also compare every block with a live sequencer.
    #[arg(long)]
    compare_rpc: Option<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Run(args) => report(run(*args).await),
        Command::Withdraw { step } => report(withdraw(step).await),
        Command::Replay(args) => match run_replay(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("ol-bridge replay: {err}");
                ExitCode::FAILURE
            }
        },
        Command::OutputRoot { state_root, message_passer_storage_root, block_hash } => {
            println!(
                "{}",
                OutputRoot::v0(state_root, message_passer_storage_root, block_hash).hash()
            );
            ExitCode::SUCCESS
        }
    }
}

fn report(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("ol-bridge: error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let deployment = L1Deployment::load(&args.chains.deployment)?;
    let config = BridgeConfig {
        l1_rpc: args.chains.l1_rpc,
        l2_rpc: args.l2_rpc,
        deployment,
        datadir: args.datadir,
        batcher_key: args.batcher_key,
        proposer_key: args.proposer_key,
        relayer_key: args.relayer_key,
        confirmations: args.confirmations,
        poll_interval: Duration::from_millis(args.poll_ms),
        output_interval: args.output_interval,
        output_max_age: Duration::from_secs(args.output_max_age_s),
        max_channel_blocks: args.max_channel_blocks,
        resubmit_after: Duration::from_secs(args.resubmit_after_s),
    };
    let services = Services::new(&config)?;
    tracing::info!(
        l1 = %config.l1_rpc,
        l2 = %config.l2_rpc,
        relayer = config.relayer_key.is_some(),
        "bridge running"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(services.run(config.poll_interval, stop_rx));
    shutdown_signal().await?;
    tracing::info!("shutting down after the round in progress");
    let _ = stop_tx.send(true);
    task.await?;
    tracing::info!("stopped");
    Ok(())
}

async fn withdraw(step: WithdrawStep) -> Result<(), Box<dyn std::error::Error>> {
    let (prove_step, args) = match step {
        WithdrawStep::Prove(args) => (true, args),
        WithdrawStep::Finalize(args) => (false, args),
    };
    let deployment = L1Deployment::load(&args.chains.deployment)?;
    let l1 = connect_with_signer(&args.chains.l1_rpc, args.key)?;
    let l2 = connect(&args.l2_rpc)?;
    let withdrawals = find_withdrawals(&l2, args.l2_tx).await?;
    if withdrawals.is_empty() {
        return Err(format!("L2 transaction {} initiated no withdrawal", args.l2_tx).into());
    }
    for w in withdrawals {
        let outcome = if prove_step {
            prove(
                &l1,
                &l2,
                deployment.contracts.open_portal,
                deployment.contracts.output_oracle,
                &w,
            )
            .await?
        } else {
            finalize(&l1, deployment.contracts.open_portal, &w).await?
        };
        let what = if prove_step { "proven" } else { "finalized" };
        match outcome {
            StepOutcome::Done(tx) => {
                println!("withdrawal {} {what} in L1 transaction {tx}", w.hash)
            }
            StepOutcome::AlreadyDone => println!("withdrawal {} was already {what}", w.hash),
            StepOutcome::NotYet if prove_step => {
                return Err(format!("withdrawal {}: no output root covers L2 block {} yet; try again after the proposer's next output", w.hash, w.l2_block).into());
            }
            StepOutcome::NotYet => {
                return Err(format!(
                    "withdrawal {}: the finalization period has not passed yet",
                    w.hash
                )
                .into());
            }
        }
    }
    Ok(())
}

async fn run_replay(args: ReplayArgs) -> Result<(), ReplayError> {
    let deployment = L1Deployment::load(&args.chains.deployment)?;
    let sequencer_config = ol_sequencer::SequencerConfig {
        dev: args.dev,
        genesis: args.genesis,
        chain_id: args.chain_id,
        ..Default::default()
    };
    let spec = ol_sequencer::launch::chain_spec(&sequencer_config)
        .map_err(|e| ol_bridge::BridgeError::Config(format!("genesis: {e}")))?;
    let config = ReplayConfig {
        l1_rpc: args.chains.l1_rpc,
        deployment,
        spec: Arc::new(spec),
        compare_rpc: args.compare_rpc,
        progress: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let report = replay(&config).await?;
    for skipped in &report.skipped {
        println!("skipped: {skipped}");
    }
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "replay OK: {} L2 blocks ({} transactions, {:.1} Mgas) rebuilt from {} L1 batch payloads; every state root and block hash matched, {} output roots matched ({} deleted by the guardian); head {} {}; {:.0} blocks/s, {:.1} Mgas/s",
        report.blocks,
        report.transactions,
        report.gas as f64 / 1e6,
        report.payloads,
        report.outputs_checked,
        report.outputs_deleted,
        report.head.0,
        report.head.1,
        report.blocks as f64 / secs,
        report.gas as f64 / secs / 1e6,
    );
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        res = tokio::signal::ctrl_c() => res,
        _ = term.recv() => Ok(()),
    }
}
