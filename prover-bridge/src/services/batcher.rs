//! The batcher: posts every L2 block to the L1 batch inbox.
//!
//! Blocks `next_block..` go into a channel (up to `max_channel_blocks`), which is compressed,
//! framed and packed into payloads, each sent as `BatchInbox.submitBatch(payload)` from the
//! batcher key. The channel in flight is stored before anything is sent, and each payload's
//! transaction is signed and stored (hash and raw bytes) *before* it is broadcast, so a restart
//! at any moment rebroadcasts the very same transaction instead of posting the payload twice.
//! A payload counts as landed once its transaction is `confirmations` deep; one whose receipt
//! disappears (an L1 reorg) is broadcast again, and one unmined for `resubmit_after` is
//! replaced (same nonce, fees raised by a quarter). Once every payload landed, `next_block`
//! moves past the channel: that is the "safe" L2 head the proposer posts outputs for.

use crate::{
    blocks::fetch_entry,
    codec::{ChannelOut, DEFAULT_MAX_FRAME_DATA, MAX_BATCH_PAYLOAD, pack_payloads},
    error::{BridgeError, BridgeResult},
    store::Store,
};
use alloy::{
    consensus::{SignableTransaction, Transaction as _, TxEip1559, TxEnvelope},
    eips::{Decodable2718, Encodable2718},
    network::{TransactionBuilder, TxSignerSync},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use ol_primitives::contracts::batch_inbox::IBatchInbox;
use serde::{Deserialize, Serialize};
use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

const STATE_KEY: &str = "batcher";

/// One payload of the channel in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayloadTx {
    /// The calldata argument.
    pub data: Bytes,
    /// The L1 transaction carrying it, once signed.
    pub tx: Option<B256>,
    /// That transaction, signed (EIP-2718), so a restart rebroadcasts it unchanged.
    pub raw: Option<Bytes>,
    /// When it was (last) signed, unix seconds.
    pub sent_at: u64,
}

/// The channel in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inflight {
    /// First L2 block in it.
    pub first: u64,
    /// Last L2 block in it.
    pub last: u64,
    /// Its payloads.
    pub payloads: Vec<PayloadTx>,
}

/// What the batcher stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatcherState {
    /// The first L2 block not yet landed on L1.
    pub next_block: u64,
    /// The channel being sent.
    pub inflight: Option<Inflight>,
}

/// The batcher's settings.
#[derive(Debug)]
pub struct Batcher {
    /// L1.
    pub l1: DynProvider,
    /// The batcher's key.
    pub signer: PrivateKeySigner,
    /// L2 (the sequencer).
    pub l2: DynProvider,
    /// The batch inbox.
    pub inbox: Address,
    /// Progress.
    pub store: Arc<Store>,
    /// Depth at which a batch counts as landed.
    pub confirmations: u64,
    /// Most L2 blocks per channel.
    pub max_channel_blocks: u64,
    /// Resend a payload unmined for this long.
    pub resubmit_after: Duration,
    /// Test hook: alter each block before it goes into a channel (a batch altered on its way
    /// to L1); replay must catch it.
    pub tamper: Option<fn(&mut crate::codec::BlockEntry)>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Batcher {
    /// The stored state (a fresh start begins after genesis).
    pub fn state(&self) -> BridgeResult<BatcherState> {
        Ok(self.store.get(STATE_KEY)?.unwrap_or(BatcherState { next_block: 1, inflight: None }))
    }

    /// The newest L2 block whose batch has landed on L1.
    pub fn safe_head(&self) -> BridgeResult<u64> {
        Ok(self.state()?.next_block.saturating_sub(1))
    }

    /// One round: open a channel if none is in flight, send what is unsent, check what was
    /// sent. Returns the safe head.
    pub async fn poll(&self) -> BridgeResult<u64> {
        let mut state = self.state()?;
        if state.inflight.is_none() {
            match self.open_channel(state.next_block).await? {
                Some(inflight) => {
                    state.inflight = Some(inflight);
                    self.store.put(STATE_KEY, &state)?;
                }
                None => return Ok(state.next_block - 1),
            }
        }
        let Some(mut inflight) = state.inflight.clone() else { return Ok(state.next_block - 1) };
        let l1_head =
            self.l1.get_block_number().await.map_err(BridgeError::rpc("reading the L1 head"))?;
        let mut landed = 0;
        for i in 0..inflight.payloads.len() {
            let payload = inflight.payloads[i].clone();
            let receipt = match payload.tx {
                Some(tx) => self
                    .l1
                    .get_transaction_receipt(tx)
                    .await
                    .map_err(BridgeError::rpc("reading a batch receipt"))?,
                None => None,
            };
            let replacement = match (&receipt, &payload.raw) {
                (Some(r), _) if r.status() => {
                    if l1_head.saturating_sub(r.block_number.unwrap_or(l1_head))
                        >= self.confirmations
                    {
                        landed += 1;
                    }
                    continue;
                }
                // Reverted: sign it again with a fresh nonce.
                (Some(_), _) | (None, None) => Some(self.sign_payload(&payload.data, None).await?),
                (None, Some(raw)) => {
                    if now().saturating_sub(payload.sent_at) >= self.resubmit_after.as_secs() {
                        Some(self.sign_payload(&payload.data, Some(raw)).await?)
                    } else {
                        // Signed before (maybe before a restart, or L1 reorganised it out):
                        // make sure L1 has it; a node that knows it says so, harmlessly.
                        self.broadcast(raw).await;
                        None
                    }
                }
            };
            if let Some((hash, raw)) = replacement {
                inflight.payloads[i] = PayloadTx {
                    data: payload.data,
                    tx: Some(hash),
                    raw: Some(raw.clone()),
                    sent_at: now(),
                };
                state.inflight = Some(inflight.clone());
                // Stored before it leaves: a restart rebroadcasts this very transaction.
                self.store.put(STATE_KEY, &state)?;
                self.broadcast(&raw).await;
            }
        }
        if landed == inflight.payloads.len() {
            tracing::info!(
                first = inflight.first,
                last = inflight.last,
                payloads = landed,
                "batch landed on L1"
            );
            state = BatcherState { next_block: inflight.last + 1, inflight: None };
            self.store.put(STATE_KEY, &state)?;
        }
        Ok(state.next_block - 1)
    }

    async fn open_channel(&self, first: u64) -> BridgeResult<Option<Inflight>> {
        let head =
            self.l2.get_block_number().await.map_err(BridgeError::rpc("reading the L2 head"))?;
        if head < first {
            return Ok(None);
        }
        let last = head.min(first + self.max_channel_blocks - 1);
        let mut channel = ChannelOut::random();
        for number in first..=last {
            let mut entry = fetch_entry(&self.l2, number).await?;
            if let Some(tamper) = self.tamper {
                tamper(&mut entry);
            }
            channel.add_block(&entry).map_err(|e| BridgeError::Decode(format!("channel: {e}")))?;
        }
        channel.close().map_err(|e| BridgeError::Decode(format!("channel: {e}")))?;
        let frames = channel
            .frames(DEFAULT_MAX_FRAME_DATA)
            .map_err(|e| BridgeError::Decode(e.to_string()))?;
        let payloads = pack_payloads(&frames, MAX_BATCH_PAYLOAD)
            .map_err(|e| BridgeError::Decode(e.to_string()))?;
        tracing::info!(
            first,
            last,
            rlp_bytes = channel.rlp_len(),
            compressed_bytes = channel.compressed_len().unwrap_or_default(),
            ratio = channel.ratio().unwrap_or_default(),
            payloads = payloads.len(),
            "channel opened"
        );
        let payloads = payloads
            .into_iter()
            .map(|data| PayloadTx { data, tx: None, raw: None, sent_at: 0 })
            .collect();
        Ok(Some(Inflight { first, last, payloads }))
    }

    /// Signs `submitBatch(data)`: with the next nonce, or replacing `stuck` (same nonce,
    /// fees up a quarter). Returns the hash and the raw transaction.
    async fn sign_payload(
        &self,
        data: &Bytes,
        stuck: Option<&Bytes>,
    ) -> BridgeResult<(B256, Bytes)> {
        let input: Bytes = IBatchInbox::submitBatchCall { _data: data.clone() }.abi_encode().into();
        let from = self.signer.address();
        let request = TransactionRequest::default()
            .with_from(from)
            .with_to(self.inbox)
            .with_input(input.clone());
        let gas = self
            .l1
            .estimate_gas(request)
            .await
            .map_err(BridgeError::rpc("estimating a batch's gas"))?;
        let chain_id =
            self.l1.get_chain_id().await.map_err(BridgeError::rpc("reading the L1 chain id"))?;
        let fees = self
            .l1
            .estimate_eip1559_fees()
            .await
            .map_err(BridgeError::rpc("estimating L1 fees"))?;
        let (nonce, max_fee, tip) = match stuck
            .map(|raw| TxEnvelope::decode_2718_exact(raw.as_ref()))
        {
            Some(Ok(old)) => {
                let bump = |fee: u128| fee + fee / 4 + 1;
                tracing::warn!(old = %old.tx_hash(), "batch transaction unmined: replacing it with higher fees");
                (
                    old.nonce(),
                    bump(old.max_fee_per_gas()).max(fees.max_fee_per_gas),
                    bump(old.max_priority_fee_per_gas().unwrap_or_default())
                        .max(fees.max_priority_fee_per_gas),
                )
            }
            _ => {
                let nonce = self
                    .l1
                    .get_transaction_count(from)
                    .pending()
                    .await
                    .map_err(BridgeError::rpc("reading the batcher's nonce"))?;
                (nonce, fees.max_fee_per_gas, fees.max_priority_fee_per_gas)
            }
        };
        let mut tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas + gas / 5,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(self.inbox),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let signature = self
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| BridgeError::Config(format!("signing a batch: {e}")))?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok((*envelope.tx_hash(), envelope.encoded_2718().into()))
    }

    /// Broadcasts a signed transaction; "already known" and the like are fine (it is there).
    async fn broadcast(&self, raw: &Bytes) {
        if let Err(err) = self.l1.send_raw_transaction(raw).await {
            tracing::debug!(%err, "broadcasting a batch transaction (it may be known already)");
        }
    }
}
