//! # The redeemer
//!
//! A background task that turns accepted vouchers into OPEN: for each channel of this server it
//! calls `InferenceEscrow.redeem(latestVoucher, signature)` with the server's key. The escrow
//! has no batch entry point, so a round sends one transaction per channel that is due, back to
//! back with consecutive nonces, and the next round collects their receipts.
//!
//! ```text
//! round:
//!   1. reconcile every redemption recorded as `sent`:
//!        receipt ok ──▶ confirmed (amount from VoucherRedeemed)     receipt failed ──▶ reverted
//!        no receipt, node has it ──▶ still pending (the channel waits)
//!        no receipt, node lost it ──▶ nonce since used? dropped : rebroadcast the same raw tx
//!   2. for each channel without a pending redemption:
//!        redeemed on chain (eth_call) ≥ latest accepted voucher? ──▶ nothing to do
//!        unredeemed < min_amount and no withdrawal pending for the payer? ──▶ wait
//!        simulate redeem (eth_call from the server) ── reverts? ──▶ log why, skip
//!        sign → record {tx hash, nonce, raw tx} as `sent` (committed) → broadcast
//! ```
//!
//! Idempotent across restarts: a transaction is in the ledger before it can reach the chain,
//! so after `kill -9` the next round finds it and either confirms it or rebroadcasts the very
//! same bytes (same hash, same nonce). A channel with a transaction in flight is never
//! redeemed again until that one is settled, and the on-chain `redeemed` amount is read before
//! every new transaction, so the same cumulative amount is never sent twice while it can still
//! land (and the escrow itself refuses to pay a voucher twice).

use crate::{
    ledger::{ChannelKey, Ledger, LedgerError, RedemptionRecord, RedemptionStatus, now_ms},
    payment::{ChainConfig, chain::ChainReader, voucher::voucher},
};
use alloy::{
    eips::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
    transports::{RpcError, TransportErrorKind},
};
use ol_primitives::contracts::inference_escrow::IInferenceEscrow;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tokio::{sync::Notify, task::JoinHandle};
use tracing::{debug, info, warn};

/// How often the redeemer runs by default.
pub const DEFAULT_REDEEM_INTERVAL: Duration = Duration::from_secs(60);

/// Redeemer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedeemerConfig {
    /// Time between rounds ([`DEFAULT_REDEEM_INTERVAL`]).
    pub interval: Duration,
    /// Channels owing less than this (wei) wait, unless the payer's withdrawal is pending.
    pub min_amount: U256,
    /// Gas limit = estimate × (100 + this) / 100.
    pub gas_margin_percent: u64,
}

impl Default for RedeemerConfig {
    fn default() -> Self {
        Self { interval: DEFAULT_REDEEM_INTERVAL, min_amount: U256::ZERO, gas_margin_percent: 20 }
    }
}

/// What a redemption round failed on.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The chain could not be read or written.
    #[error("chain RPC failed: {0}")]
    Rpc(String),
    /// A channel has an accepted amount but no voucher row for it.
    #[error("no stored voucher for {cumulative} on channel {key}")]
    MissingVoucher {
        /// The channel.
        key: ChannelKey,
        /// The accepted amount.
        cumulative: U256,
    },
    /// Signing the transaction failed.
    #[error("cannot sign the redemption: {0}")]
    Signing(String),
}

impl From<RpcError<TransportErrorKind>> for RedeemError {
    fn from(e: RpcError<TransportErrorKind>) -> Self {
        Self::Rpc(e.to_string())
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Redemptions confirmed this round: (channel, cumulative, amount paid).
    pub confirmed: Vec<(ChannelKey, U256, U256)>,
    /// Redemptions found reverted.
    pub reverted: Vec<(ChannelKey, B256)>,
    /// Redemptions found dropped.
    pub dropped: Vec<(ChannelKey, B256)>,
    /// Recorded redemptions rebroadcast unchanged.
    pub rebroadcast: Vec<B256>,
    /// New transactions sent: (channel, cumulative, tx hash).
    pub sent: Vec<(ChannelKey, U256, B256)>,
    /// Redemptions still waiting for a receipt.
    pub pending: usize,
    /// Channels whose redemption would revert, and why.
    pub failed: Vec<(ChannelKey, String)>,
    /// Channels below `min_amount`, waiting.
    pub waiting: usize,
}

/// Wakes a running redeemer before its next interval.
#[derive(Debug, Clone, Default)]
pub struct RedeemTrigger(Arc<Notify>);

impl RedeemTrigger {
    /// Asks for a round now.
    pub fn nudge(&self) {
        self.0.notify_one();
    }
}

/// A spawned redeemer.
#[derive(Debug)]
pub struct RedeemerHandle {
    trigger: RedeemTrigger,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl RedeemerHandle {
    /// A trigger for [`PaymentGate::attach_redeemer`](super::PaymentGate::attach_redeemer).
    pub fn trigger(&self) -> RedeemTrigger {
        self.trigger.clone()
    }

    /// Stops after the round in progress (if any) and waits for the task.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        if let Err(e) = self.task.await {
            warn!(error = %e, "redeemer task ended abnormally");
        }
    }
}

/// Redeems this server's vouchers on chain.
#[derive(Debug, Clone)]
pub struct Redeemer {
    config: RedeemerConfig,
    chain_id: u64,
    chain: ChainReader,
    wallet: EthereumWallet,
    server: Address,
    ledger: Ledger,
}

impl Redeemer {
    /// A redeemer signing with `signer` (the server's key: vouchers name its address).
    pub fn new(
        config: RedeemerConfig,
        chain: ChainConfig,
        provider: DynProvider,
        signer: PrivateKeySigner,
        ledger: Ledger,
    ) -> Self {
        let server = signer.address();
        Self {
            config,
            chain_id: chain.chain_id,
            chain: ChainReader { provider, escrow: chain.escrow, registry: chain.registry },
            wallet: EthereumWallet::from(signer),
            server,
            ledger,
        }
    }

    /// The server address it redeems for.
    pub const fn server(&self) -> Address {
        self.server
    }

    /// Runs rounds every `interval` (or when nudged) until shut down. Round errors are logged
    /// and the next round retries.
    pub fn spawn(self) -> RedeemerHandle {
        let trigger = RedeemTrigger::default();
        let stop = Arc::new(Notify::new());
        let (wake, halt) = (trigger.0.clone(), stop.clone());
        let task = tokio::spawn(async move {
            info!(server = %self.server, interval = ?self.config.interval, "redeemer started");
            loop {
                match self.run_round().await {
                    Ok(r) if r != RoundReport::default() => info!(
                        sent = r.sent.len(),
                        confirmed = r.confirmed.len(),
                        pending = r.pending,
                        rebroadcast = r.rebroadcast.len(),
                        reverted = r.reverted.len(),
                        dropped = r.dropped.len(),
                        failed = r.failed.len(),
                        "redemption round"
                    ),
                    Ok(_) => debug!("redemption round: nothing to do"),
                    Err(e) => warn!(error = %e, "redemption round failed"),
                }
                tokio::select! {
                    () = halt.notified() => break,
                    () = wake.notified() => {}
                    () = tokio::time::sleep(self.config.interval) => {}
                }
            }
            info!("redeemer stopped");
        });
        RedeemerHandle { trigger, stop, task }
    }

    /// One round: reconcile what was sent, then redeem what is due.
    pub async fn run_round(&self) -> Result<RoundReport, RedeemError> {
        let mut report = RoundReport::default();
        let in_flight = self.reconcile(&mut report).await?;
        self.redeem_due(&in_flight, &mut report).await?;
        Ok(report)
    }

    /// Settles every redemption recorded as sent; answers the channels still in flight.
    async fn reconcile(
        &self,
        report: &mut RoundReport,
    ) -> Result<HashSet<ChannelKey>, RedeemError> {
        let mut in_flight = HashSet::new();
        let provider = &self.chain.provider;
        for r in self.ledger.redemptions_with_status(self.server, RedemptionStatus::Sent).await? {
            if let Some(receipt) = provider.get_transaction_receipt(r.tx_hash).await? {
                if receipt.status() {
                    let amount = receipt
                        .inner
                        .logs()
                        .iter()
                        .filter(|l| l.address() == self.chain.escrow)
                        .find_map(|l| IInferenceEscrow::VoucherRedeemed::decode_log(&l.inner).ok())
                        .map_or(U256::ZERO, |e| e.data.amount);
                    self.ledger
                        .set_redemption_status(
                            r.tx_hash,
                            RedemptionStatus::Confirmed,
                            Some(amount),
                            None,
                        )
                        .await?;
                    info!(channel = %r.key, cumulative = %r.cumulative, %amount, tx = %r.tx_hash, "voucher redeemed");
                    report.confirmed.push((r.key, r.cumulative, amount));
                } else {
                    let detail =
                        format!("reverted in block {}", receipt.block_number.unwrap_or_default());
                    warn!(channel = %r.key, tx = %r.tx_hash, %detail, "redemption reverted");
                    self.ledger
                        .set_redemption_status(
                            r.tx_hash,
                            RedemptionStatus::Reverted,
                            None,
                            Some(&detail),
                        )
                        .await?;
                    report.reverted.push((r.key, r.tx_hash));
                }
                continue;
            }
            if provider.get_transaction_by_hash(r.tx_hash).await?.is_some() {
                report.pending += 1;
                in_flight.insert(r.key);
                continue;
            }
            // The node does not know it (dropped from its pool, node restarted, or never sent
            // because we died between recording and broadcasting).
            let mined_nonce = provider.get_transaction_count(self.server).latest().await?;
            if mined_nonce > r.nonce {
                self.mark_dropped(&r, "its nonce was used by another transaction", report).await?;
                continue;
            }
            match provider.send_raw_transaction(&r.raw_tx).await {
                Ok(_) => {
                    info!(channel = %r.key, tx = %r.tx_hash, "redemption rebroadcast");
                    report.rebroadcast.push(r.tx_hash);
                    report.pending += 1;
                    in_flight.insert(r.key);
                }
                Err(e) if is_already_known(&e) => {
                    report.pending += 1;
                    in_flight.insert(r.key);
                }
                Err(e) => {
                    self.mark_dropped(&r, &format!("rebroadcast refused: {e}"), report).await?
                }
            }
        }
        Ok(in_flight)
    }

    async fn mark_dropped(
        &self,
        r: &RedemptionRecord,
        why: &str,
        report: &mut RoundReport,
    ) -> Result<(), RedeemError> {
        warn!(channel = %r.key, tx = %r.tx_hash, why, "redemption dropped");
        self.ledger
            .set_redemption_status(r.tx_hash, RedemptionStatus::Dropped, None, Some(why))
            .await?;
        report.dropped.push((r.key, r.tx_hash));
        Ok(())
    }

    /// Sends a redemption for every channel that is due.
    async fn redeem_due(
        &self,
        in_flight: &HashSet<ChannelKey>,
        report: &mut RoundReport,
    ) -> Result<(), RedeemError> {
        let provider = &self.chain.provider;
        let mut nonce: Option<u64> = None;
        let mut fees = None;
        let mut withdrawing: HashMap<Address, bool> = HashMap::new();
        for ch in self.ledger.channels(self.server).await? {
            if in_flight.contains(&ch.key) || ch.accepted.is_zero() {
                continue;
            }
            let redeemed = self.chain.redeemed(&ch.key).await.map_err(RedeemError::Rpc)?;
            if redeemed >= ch.accepted {
                continue;
            }
            let amount = ch.accepted - redeemed;
            if amount < self.config.min_amount {
                let urgent = match withdrawing.get(&ch.key.payer) {
                    Some(w) => *w,
                    None => {
                        let state =
                            self.chain.payer(ch.key.payer).await.map_err(RedeemError::Rpc)?;
                        withdrawing.insert(ch.key.payer, state.withdrawal.is_some());
                        state.withdrawal.is_some()
                    }
                };
                if !urgent {
                    report.waiting += 1;
                    continue;
                }
            }
            let stored = self
                .ledger
                .voucher(&ch.key, ch.accepted)
                .await?
                .ok_or(RedeemError::MissingVoucher { key: ch.key, cumulative: ch.accepted })?;
            let call = IInferenceEscrow::redeemCall {
                _voucher: voucher(ch.key.payer, ch.key.server, ch.key.model_id, ch.accepted),
                _signature: stored.signature.clone(),
            };
            let base = TransactionRequest::default()
                .with_from(self.server)
                .with_to(self.chain.escrow)
                .with_input(call.abi_encode());
            // Simulate first: a redemption that would revert costs gas and teaches nothing.
            if let Err(e) = provider.call(base.clone()).await {
                let why = describe_revert(&e);
                warn!(channel = %ch.key, cumulative = %ch.accepted, %why, "redemption would revert; skipped");
                report.failed.push((ch.key, why));
                continue;
            }
            let gas = provider.estimate_gas(base.clone()).await?;
            let gas = gas.saturating_mul(100 + self.config.gas_margin_percent) / 100;
            let fee = match fees {
                Some(f) => f,
                None => *fees.insert(provider.estimate_eip1559_fees().await?),
            };
            let n = match nonce {
                Some(n) => n,
                None => *nonce.insert(provider.get_transaction_count(self.server).pending().await?),
            };
            let tx = base
                .with_chain_id(self.chain_id)
                .with_nonce(n)
                .with_gas_limit(gas)
                .with_max_fee_per_gas(fee.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fee.max_priority_fee_per_gas);
            let envelope = NetworkTransactionBuilder::build(tx, &self.wallet)
                .await
                .map_err(|e| RedeemError::Signing(e.to_string()))?;
            let tx_hash = *envelope.tx_hash();
            let raw = envelope.encoded_2718();
            let now = now_ms();
            // Recorded before it can reach the chain: a crash after this line is reconciled.
            self.ledger
                .insert_redemption(&RedemptionRecord {
                    seq: 0,
                    key: ch.key,
                    cumulative: ch.accepted,
                    tx_hash,
                    nonce: n,
                    raw_tx: raw.clone().into(),
                    status: RedemptionStatus::Sent,
                    amount: None,
                    detail: None,
                    created_at: now,
                    updated_at: now,
                })
                .await?;
            match provider.send_raw_transaction(&raw).await {
                Ok(_) => {}
                Err(e) if is_already_known(&e) => {}
                Err(e) => {
                    // Leave it `sent`: the next round rebroadcasts it or marks it dropped. Later
                    // nonces would wait behind it, so stop this round here.
                    warn!(channel = %ch.key, tx = %tx_hash, error = %e, "broadcast failed; retried next round");
                    report.sent.push((ch.key, ch.accepted, tx_hash));
                    return Ok(());
                }
            }
            info!(channel = %ch.key, cumulative = %ch.accepted, %amount, tx = %tx_hash, nonce = n, "redemption sent");
            report.sent.push((ch.key, ch.accepted, tx_hash));
            nonce = Some(n + 1);
        }
        Ok(())
    }
}

/// Whether a broadcast error says the node already has the transaction.
fn is_already_known(e: &RpcError<TransportErrorKind>) -> bool {
    let s = e.to_string().to_lowercase();
    s.contains("already known") || s.contains("already imported") || s.contains("known transaction")
}

/// The escrow's revert reason, decoded when it is one of its errors.
fn describe_revert(e: &RpcError<TransportErrorKind>) -> String {
    use IInferenceEscrow::IInferenceEscrowErrors as E;
    let Some(decoded) = e.as_error_resp().and_then(|p| p.as_decoded_interface_error::<E>()) else {
        return e.to_string();
    };
    match decoded {
        E::InferenceEscrowNothingToRedeem(x) => {
            format!("nothing to redeem: voucher {} ≤ redeemed {}", x.cumulativeAmount, x.redeemed)
        }
        E::InferenceEscrowInsufficientBalance(x) => {
            format!("payer {} holds {} in the escrow, {} due", x.payer, x.balance, x.needed)
        }
        E::InferenceEscrowInvalidSignature(x) => format!("signature is not payer {}'s", x.payer),
        E::InferenceEscrowNotServer(x) => {
            format!("caller {} is not the voucher's server {}", x.caller, x.server)
        }
        _ => e.to_string(),
    }
}
