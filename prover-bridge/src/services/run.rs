//! Running the bridge: the deposit watcher, the batcher, the proposer and (optionally) the
//! relayer, one round each per tick, on one task. A failed round is logged and retried on the
//! next tick (L1 or L2 may be briefly unreachable); progress lives in the store and on chain, so
//! stopping at any moment (even `kill -9`) and starting again resumes where it was.

use super::{batcher::Batcher, deposits::DepositWatcher, proposer::Proposer, relayer::Relayer};
use crate::{
    deployments::L1Deployment,
    error::{BridgeError, BridgeResult},
    rpc::{SequencerAdmin, connect, connect_with_signer},
    store::Store,
};
use alloy::signers::local::PrivateKeySigner;
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::watch;

/// Everything the bridge runs with.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// L1 JSON-RPC.
    pub l1_rpc: String,
    /// The sequencer's JSON-RPC (with `--rpc.admin`).
    pub l2_rpc: String,
    /// The L1 contracts.
    pub deployment: L1Deployment,
    /// The progress store's folder.
    pub datadir: PathBuf,
    /// Signs batches.
    pub batcher_key: PrivateKeySigner,
    /// Signs output proposals.
    pub proposer_key: PrivateKeySigner,
    /// Signs withdrawal proofs and finalizations; the relayer runs only if set.
    pub relayer_key: Option<PrivateKeySigner>,
    /// L1 blocks a deposit or batch must be deep to count.
    pub confirmations: u64,
    /// Time between rounds.
    pub poll_interval: Duration,
    /// Post an output every this many L2 blocks.
    pub output_interval: u64,
    /// Post the safe head when no output was posted for this long.
    pub output_max_age: Duration,
    /// Most L2 blocks per channel.
    pub max_channel_blocks: u64,
    /// Resend a batch transaction unmined for this long.
    pub resubmit_after: Duration,
}

/// The running services.
#[derive(Debug)]
pub struct Services {
    /// Deposits in.
    pub deposits: DepositWatcher,
    /// Batches out.
    pub batcher: Batcher,
    /// Outputs out.
    pub proposer: Proposer,
    /// Withdrawals, automatically.
    pub relayer: Option<Relayer>,
}

impl Services {
    /// Connects everything `config` names and opens the store.
    pub fn new(config: &BridgeConfig) -> BridgeResult<Self> {
        let store = Arc::new(Store::open(&config.datadir.join("bridge.redb"))?);
        let l1 = connect(&config.l1_rpc)?;
        let l2 = connect(&config.l2_rpc)?;
        let contracts = config.deployment.contracts;
        if config.batcher_key.address() != config.deployment.roles.batcher {
            tracing::warn!(
                key = %config.batcher_key.address(),
                batcher = %config.deployment.roles.batcher,
                "the batcher key is not the deployment's batcher: the inbox will refuse its batches"
            );
        }
        Ok(Self {
            deposits: DepositWatcher {
                l1: l1.clone(),
                sequencer: SequencerAdmin::new(l2.clone()),
                portal: contracts.open_portal,
                start_block: config.deployment.start_block,
                confirmations: config.confirmations,
            },
            batcher: Batcher {
                l1: l1.clone(),
                signer: config.batcher_key.clone(),
                l2: l2.clone(),
                inbox: contracts.batch_inbox,
                store: Arc::clone(&store),
                confirmations: config.confirmations,
                max_channel_blocks: config.max_channel_blocks.max(1),
                resubmit_after: config.resubmit_after,
                tamper: None,
            },
            proposer: Proposer {
                l1: connect_with_signer(&config.l1_rpc, config.proposer_key.clone())?,
                l2: l2.clone(),
                oracle: contracts.output_oracle,
                interval: config.output_interval.max(1),
                max_age: config.output_max_age,
                last_post: None,
            },
            relayer: match &config.relayer_key {
                Some(key) => Some(Relayer {
                    l1: connect_with_signer(&config.l1_rpc, key.clone())?,
                    l2,
                    portal: contracts.open_portal,
                    oracle: contracts.output_oracle,
                    store,
                }),
                None => None,
            },
        })
    }

    /// One round of every service; errors are logged, not returned.
    pub async fn round(&mut self) {
        if let Err(err) = self.deposits.poll().await {
            report("deposits", &err);
        }
        let safe = match self.batcher.poll().await {
            Ok(safe) => Some(safe),
            Err(err) => {
                report("batcher", &err);
                self.batcher.safe_head().ok()
            }
        };
        if let Some(safe) = safe
            && let Err(err) = self.proposer.poll(safe).await
        {
            report("proposer", &err);
        }
        if let Some(relayer) = &self.relayer
            && let Err(err) = relayer.poll().await
        {
            report("relayer", &err);
        }
    }

    /// Runs rounds every `interval` until `stop` turns true.
    pub async fn run(mut self, interval: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            self.round().await;
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

fn report(service: &str, err: &BridgeError) {
    tracing::warn!(service, %err, "round failed; retrying next round");
}
