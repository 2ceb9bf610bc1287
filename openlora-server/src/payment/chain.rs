//! Reads of the InferenceEscrow and the ModelRegistry (plain `eth_call`s through the bindings
//! of `ol-primitives`), and the small time-bounded caches the gate keeps of them.

use crate::ledger::ChannelKey;
use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    network::TransactionBuilder,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use ol_primitives::contracts::{
    inference_escrow::IInferenceEscrow, model_registry::IModelRegistry,
};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    hash::Hash,
    time::{Duration, Instant},
};

/// What the gate needs of a registered model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// The model's owner.
    pub owner: Address,
    /// Whether the owner offers it.
    pub active: bool,
    /// Price in wei per 1,000 tokens.
    pub price_per_1k: U256,
    /// keccak256 of the adapter file.
    pub adapter_hash: B256,
}

/// A payer's withdrawal request in the escrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// The amount asked for.
    pub amount: U256,
    /// When it may be withdrawn (Unix seconds, chain time).
    pub unlock_at: u64,
}

/// A payer's escrow state as read at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PayerState {
    /// `balanceOf(payer)`.
    pub balance: U256,
    /// `withdrawalRequest(payer)`, if one is pending.
    pub withdrawal: Option<Withdrawal>,
    /// The latest block's timestamp when read (only read with a withdrawal pending).
    pub chain_time: u64,
    /// When it was read.
    pub fetched: Instant,
}

impl PayerState {
    /// Whether the pending withdrawal unlocks within `margin` from now (chain time estimated
    /// from the block timestamp read plus the local time since).
    pub fn withdrawal_due(&self, margin: Duration) -> Option<Withdrawal> {
        let w = self.withdrawal?;
        let now = self.chain_time.saturating_add(self.fetched.elapsed().as_secs());
        (w.unlock_at <= now.saturating_add(margin.as_secs())).then_some(w)
    }
}

/// `eth_call`s to the two contracts.
#[derive(Debug, Clone)]
pub(crate) struct ChainReader {
    pub provider: DynProvider,
    pub escrow: Address,
    pub registry: Address,
}

impl ChainReader {
    /// Calls `to` and decodes the return.
    pub async fn call<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, String> {
        let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        // Mined state, explicitly: nodes differ on what a call without a block tag reads
        // (anvil reads its pending block), and transactions in flight are the redeemer's to
        // track, not something to count as done.
        let out = self
            .provider
            .call(tx)
            .block(BlockId::latest())
            .await
            .map_err(|e| format!("{} on {to}: {e}", C::SIGNATURE))?;
        C::abi_decode_returns(&out)
            .map_err(|e| format!("{} on {to}: bad return data: {e}", C::SIGNATURE))
    }

    /// The payer's balance, withdrawal request and (if one is pending) the chain time.
    pub async fn payer(&self, payer: Address) -> Result<PayerState, String> {
        let balance =
            self.call(self.escrow, IInferenceEscrow::balanceOfCall { _payer: payer }).await?;
        let request = self
            .call(self.escrow, IInferenceEscrow::withdrawalRequestCall { _payer: payer })
            .await?;
        let withdrawal = (request.unlockAt != 0).then(|| Withdrawal {
            amount: U256::from(request.amount),
            unlock_at: request.unlockAt,
        });
        let chain_time = if withdrawal.is_some() { self.latest_timestamp().await? } else { 0 };
        Ok(PayerState { balance, withdrawal, chain_time, fetched: Instant::now() })
    }

    /// The amount redeemed on a channel.
    pub async fn redeemed(&self, key: &ChannelKey) -> Result<U256, String> {
        self.call(
            self.escrow,
            IInferenceEscrow::redeemedCall {
                _payer: key.payer,
                _server: key.server,
                _modelId: key.model_id,
            },
        )
        .await
    }

    /// A registered model, or `None` if the id is unknown.
    pub async fn model(&self, model_id: B256) -> Result<Option<ModelInfo>, String> {
        if !self.call(self.registry, IModelRegistry::existsCall { _modelId: model_id }).await? {
            return Ok(None);
        }
        let m =
            self.call(self.registry, IModelRegistry::getModelCall { _modelId: model_id }).await?;
        Ok(Some(ModelInfo {
            owner: m.owner,
            active: m.active,
            price_per_1k: U256::from(m.pricePer1kTokens),
            adapter_hash: m.adapterHash,
        }))
    }

    /// The latest block's timestamp.
    pub async fn latest_timestamp(&self) -> Result<u64, String> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| format!("eth_getBlockByNumber: {e}"))?
            .ok_or("eth_getBlockByNumber: no latest block")?;
        Ok(block.header.timestamp)
    }
}

/// A map whose entries expire `ttl` after they were stored.
#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The value, if stored less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock();
        let (v, at) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    /// Stores a value read now.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock();
        // Keep the map from growing without bound: drop what expired when it gets large.
        if entries.len() >= 65_536 {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        entries.insert(key, (value, Instant::now()));
    }
}
