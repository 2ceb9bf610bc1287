//! [`TxPool`]: the pool's data structure and rules, single-threaded. [`Pool`](super::Pool)
//! wraps it in a lock.
//!
//! Indexes:
//!
//! - `by_hash`: every pooled transaction (lookups, "already known");
//! - `senders`: per sender, its transactions by nonce split into pending and queued
//!   ([`SenderTxs`]);
//! - `evict_pending` / `evict_queued`: per sender, its eviction candidate in each sub-pool (its
//!   last pending transaction; its last transaction if queued), ordered cheapest first. Taking
//!   candidates only from the end of a sender's list means eviction never leaves a gap below a
//!   pending transaction.
//!
//! The eviction keys hold the effective tip at the pool's base fee. A base fee change marks
//! them stale and they are recomputed the next time an eviction needs them, so a new block
//! costs nothing here unless the pool is full.

use super::{
    best::BestTransactions,
    config::PoolConfig,
    error::PoolErrorKind,
    ordering::{EvictionKey, is_replacement_priced},
    sender::{SenderStats, SenderTxs},
    transaction::{PoolTransaction, PooledTransaction, PooledTx, SenderInfo},
};
use alloy_primitives::{
    Address, B256,
    map::{AddressMap, B256Map},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};
use tracing::{debug, trace};

/// Where an added transaction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubPool {
    /// Executable now: nonce contiguous from the on-chain nonce and affordable together with
    /// the sender's earlier pending transactions.
    Pending,
    /// Waiting: a nonce gap before it, or the balance does not cover it yet.
    Queued,
}

impl SubPool {
    /// Whether this is [`SubPool::Pending`].
    pub const fn is_pending(&self) -> bool {
        matches!(self, Self::Pending)
    }
}

/// The result of a successful [`Pool::add`](super::Pool::add).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedTransaction {
    /// Hash of the added transaction.
    pub hash: B256,
    /// Where it went.
    pub sub_pool: SubPool,
    /// The transaction with the same sender and nonce that it replaced.
    pub replaced: Option<B256>,
    /// Transactions evicted to make room for it (usually none).
    pub evicted: Vec<B256>,
}

/// Summary of a [`Pool::on_block_committed`](super::Pool::on_block_committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitOutcome {
    /// Transactions removed: mined, nonce now too low, or costing more than the new balance.
    pub removed: usize,
    /// Transactions evicted because demotions overflowed the queued sub-pool (or promotions
    /// the pending one).
    pub evicted: usize,
    /// Pending transactions after the update.
    pub pending: usize,
    /// Queued transactions after the update.
    pub queued: usize,
}

/// Numbers of transactions in the pool (`txpool_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Executable transactions.
    pub pending: usize,
    /// Non-executable transactions (nonce gap, not yet affordable).
    pub queued: usize,
    /// Encoded bytes of the pending transactions.
    pub pending_bytes: usize,
    /// Encoded bytes of the queued transactions.
    pub queued_bytes: usize,
    /// Number of senders with transactions in the pool.
    pub senders: usize,
}

/// A copy of the pool's transactions per sender and nonce (`txpool_content`).
#[derive(Debug, Clone)]
pub struct PoolContent<T> {
    /// Pending transactions by sender, then nonce.
    pub pending: BTreeMap<Address, BTreeMap<u64, T>>,
    /// Queued transactions by sender, then nonce.
    pub queued: BTreeMap<Address, BTreeMap<u64, T>>,
}

/// A sender's transactions plus its entries in the eviction indexes.
#[derive(Debug)]
struct SenderEntry<T> {
    txs: SenderTxs<T>,
    /// Its key in `evict_pending` (its last pending transaction).
    pending_key: Option<EvictionKey>,
    /// Its key in `evict_queued` (its last transaction, when queued).
    queued_key: Option<EvictionKey>,
}

/// A transaction taken out by eviction, with what is needed to put it back.
type Evicted<T> = (PooledTx<T>, SenderInfo);

/// The transaction pool proper (not thread-safe; see [`Pool`](super::Pool)).
#[derive(Debug)]
pub(crate) struct TxPool<T> {
    config: PoolConfig,
    /// The base fee eviction keys are computed at (last block committed).
    base_fee: u64,
    /// Whether eviction keys were computed at another base fee.
    keys_stale: bool,
    by_hash: B256Map<PooledTx<T>>,
    senders: AddressMap<SenderEntry<T>>,
    evict_pending: BTreeSet<EvictionKey>,
    evict_queued: BTreeSet<EvictionKey>,
    /// Sum of the senders' stats.
    totals: SenderStats,
    next_submission_id: u64,
}

impl<T: PoolTransaction> TxPool<T> {
    pub(crate) fn new(config: PoolConfig) -> Self {
        Self {
            config,
            base_fee: 0,
            keys_stale: false,
            by_hash: B256Map::default(),
            senders: AddressMap::default(),
            evict_pending: BTreeSet::new(),
            evict_queued: BTreeSet::new(),
            totals: SenderStats::default(),
            next_submission_id: 0,
        }
    }

    pub(crate) const fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub(crate) const fn base_fee(&self) -> u64 {
        self.base_fee
    }

    /// Sets the base fee used to rank transactions for eviction.
    pub(crate) fn set_base_fee(&mut self, base_fee: u64) {
        if base_fee != self.base_fee {
            self.base_fee = base_fee;
            self.keys_stale = true;
        }
    }

    // --- queries ---

    pub(crate) fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub(crate) fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub(crate) fn get(&self, hash: &B256) -> Option<&PooledTx<T>> {
        self.by_hash.get(hash)
    }

    pub(crate) fn status(&self) -> PoolStatus {
        PoolStatus {
            pending: self.totals.pending,
            queued: self.totals.queued,
            pending_bytes: self.totals.pending_bytes,
            queued_bytes: self.totals.queued_bytes,
            senders: self.senders.len(),
        }
    }

    /// The nonce after the sender's run of pooled transactions contiguous from its on-chain
    /// nonce; `None` if the pool has no transaction from it.
    pub(crate) fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        self.senders.get(sender).map(|entry| entry.txs.next_nonce())
    }

    /// The sender's pending and queued transactions, each in nonce order.
    pub(crate) fn sender_transactions(&self, sender: &Address) -> (Vec<T>, Vec<T>) {
        self.senders.get(sender).map_or_else(Default::default, |entry| {
            (
                entry.txs.pending().map(|tx| tx.transaction.clone()).collect(),
                entry.txs.queued().map(|tx| tx.transaction.clone()).collect(),
            )
        })
    }

    pub(crate) fn content(&self) -> PoolContent<T> {
        let mut content = PoolContent { pending: Default::default(), queued: Default::default() };
        for (sender, entry) in &self.senders {
            let pending: BTreeMap<_, _> =
                entry.txs.pending().map(|tx| (tx.nonce, tx.transaction.clone())).collect();
            let queued: BTreeMap<_, _> =
                entry.txs.queued().map(|tx| (tx.nonce, tx.transaction.clone())).collect();
            if !pending.is_empty() {
                content.pending.insert(*sender, pending);
            }
            if !queued.is_empty() {
                content.queued.insert(*sender, queued);
            }
        }
        content
    }

    /// A snapshot of the pending transactions for block building.
    pub(crate) fn best_transactions(&self, base_fee: u64) -> BestTransactions<T> {
        let mut txs = Vec::with_capacity(self.totals.pending);
        let mut ends = Vec::with_capacity(self.senders.len());
        for entry in self.senders.values() {
            let before = txs.len();
            txs.extend(entry.txs.pending().cloned());
            if txs.len() > before {
                ends.push(txs.len());
            }
        }
        BestTransactions::new(base_fee, txs, &ends)
    }

    // --- insertion ---

    /// Adds a transaction; see [`Pool::add`](super::Pool::add) for the rules.
    pub(crate) fn add(
        &mut self,
        tx: PooledTransaction<T>,
        on_chain: SenderInfo,
        base_fee: u64,
    ) -> Result<AddedTransaction, PoolErrorKind> {
        let config = &self.config;
        if self.by_hash.contains_key(&tx.hash) {
            return Err(PoolErrorKind::AlreadyKnown);
        }
        if tx.size > config.max_tx_size {
            return Err(PoolErrorKind::OversizedData { size: tx.size, limit: config.max_tx_size });
        }
        if tx.gas_limit > config.max_tx_gas_limit {
            return Err(PoolErrorKind::ExceedsGasLimit {
                gas_limit: tx.gas_limit,
                block_gas_limit: config.max_tx_gas_limit,
            });
        }
        if tx.max_fee_per_gas < u128::from(base_fee) {
            return Err(PoolErrorKind::FeeCapBelowBaseFee {
                sender: tx.sender,
                max_fee_per_gas: tx.max_fee_per_gas,
                base_fee,
            });
        }

        // The caller read `on_chain` at some point; the pool may know a newer state from a
        // committed block. The higher nonce wins; at the same nonce, the caller's balance.
        let sender = tx.sender;
        let info = match self.sender_info(&sender) {
            None => on_chain,
            // The caller's read predates a block the pool has seen.
            Some(known) if on_chain.nonce < known.nonce => known,
            Some(known) => {
                if on_chain != known {
                    self.update_sender_info(&sender, on_chain);
                }
                on_chain
            }
        };

        if tx.nonce < info.nonce {
            return Err(PoolErrorKind::NonceTooLow { next_nonce: info.nonce, tx_nonce: tx.nonce });
        }
        if tx.cost > info.balance {
            return Err(PoolErrorKind::InsufficientFunds { balance: info.balance, cost: tx.cost });
        }
        if let Some(entry) = self.senders.get(&sender) {
            match entry.txs.get(tx.nonce) {
                Some(existing) => {
                    if !is_replacement_priced(existing, &tx, self.config.price_bump_percent) {
                        return Err(PoolErrorKind::ReplacementUnderpriced {
                            existing: existing.hash,
                        });
                    }
                    if entry.txs.is_pending_nonce(tx.nonce) {
                        let queued_cost = entry.txs.pending_cost() - existing.cost;
                        if queued_cost.checked_add(tx.cost).is_none_or(|c| c > info.balance) {
                            return Err(PoolErrorKind::InsufficientFundsForPending {
                                balance: info.balance,
                                queued_cost,
                                cost: tx.cost,
                            });
                        }
                    }
                }
                None if entry.txs.len() >= self.config.max_account_slots => {
                    return Err(PoolErrorKind::AccountLimitExceeded {
                        sender,
                        limit: self.config.max_account_slots,
                    });
                }
                None => {}
            }
        } else if self.config.max_account_slots == 0 {
            return Err(PoolErrorKind::AccountLimitExceeded { sender, limit: 0 });
        }

        // Accepted on its own merits; insert, then make room.
        let mut tx = tx;
        tx.submission_id = self.next_submission_id;
        self.next_submission_id += 1;
        let tx = Arc::new(tx);
        let hash = tx.hash;
        let replaced = self.put(tx.clone(), info);

        let evicted = match self.enforce_limits(Some(&tx)) {
            Ok(evicted) => evicted,
            Err(evicted) => {
                self.undo_add(&tx, info, replaced, evicted);
                return Err(PoolErrorKind::PoolFull);
            }
        };

        let pending = self.senders.get(&sender).is_some_and(|e| e.txs.is_pending_nonce(tx.nonce));
        Ok(AddedTransaction {
            hash,
            sub_pool: if pending { SubPool::Pending } else { SubPool::Queued },
            replaced: replaced.map(|old| old.hash),
            evicted: evicted.into_iter().map(|(tx, _)| tx.hash).collect(),
        })
    }

    /// Puts `tx` into its sender's list (replacing the same nonce) and the hash index.
    fn put(&mut self, tx: PooledTx<T>, info: SenderInfo) -> Option<PooledTx<T>> {
        let sender = tx.sender;
        self.by_hash.insert(tx.hash, tx.clone());
        self.senders.entry(sender).or_insert_with(|| SenderEntry {
            txs: SenderTxs::new(info),
            pending_key: None,
            queued_key: None,
        });
        let replaced = self.modify_sender(&sender, |txs| txs.put(tx));
        if let Some(old) = &replaced {
            self.by_hash.remove(&old.hash);
        }
        replaced
    }

    /// Reverts an insertion the limits could not make room for: puts back what was evicted
    /// and what was replaced. Since pending/queued is a function of the set of transactions,
    /// the pool ends up as it was.
    fn undo_add(
        &mut self,
        tx: &PooledTx<T>,
        info: SenderInfo,
        replaced: Option<PooledTx<T>>,
        evicted: Vec<Evicted<T>>,
    ) {
        self.by_hash.remove(&tx.hash);
        self.modify_sender(&tx.sender, |txs| txs.remove(tx.nonce));
        if let Some(old) = replaced {
            self.put(old, info);
        }
        for (old, info) in evicted.into_iter().rev() {
            self.put(old, info);
        }
    }

    /// The pool's view of a tracked sender's on-chain state.
    pub(crate) fn sender_info(&self, sender: &Address) -> Option<SenderInfo> {
        self.senders.get(sender).map(|entry| entry.txs.info())
    }

    // --- removal and state updates ---

    /// Removes transactions by hash; returns the removed ones. The removal of a pending
    /// transaction moves the sender's later transactions to queued (nonce gap).
    pub(crate) fn remove_transactions(
        &mut self,
        hashes: impl IntoIterator<Item = B256>,
    ) -> Vec<PooledTx<T>> {
        let mut removed = Vec::new();
        for hash in hashes {
            if let Some(tx) = self.by_hash.remove(&hash) {
                self.modify_sender(&tx.sender, |txs| txs.remove(tx.nonce));
                removed.push(tx);
            }
        }
        if !removed.is_empty() {
            // Demotions may have overflowed the queued sub-pool.
            let _ = self.enforce_limits(None);
        }
        removed
    }

    /// Applies a committed block: new base fee, new sender states, mined transactions.
    pub(crate) fn on_block_committed(
        &mut self,
        changed: impl IntoIterator<Item = (Address, SenderInfo)>,
        mined: impl IntoIterator<Item = B256>,
        new_base_fee: u64,
    ) -> CommitOutcome {
        self.set_base_fee(new_base_fee);
        let mut removed = 0;
        for (sender, info) in changed {
            removed += self.update_sender_info(&sender, info);
        }
        removed += self.remove_transactions(mined).len();
        let evicted = match self.enforce_limits(None) {
            Ok(evicted) | Err(evicted) => evicted.len(),
        };
        let outcome = CommitOutcome {
            removed,
            evicted,
            pending: self.totals.pending,
            queued: self.totals.queued,
        };
        debug!(target: "txpool", base_fee = new_base_fee, ?outcome, "block committed");
        outcome
    }

    /// Sets a tracked sender's on-chain state, dropping what it invalidates; returns how many
    /// transactions were dropped. Unknown senders are ignored (nothing to update).
    fn update_sender_info(&mut self, sender: &Address, info: SenderInfo) -> usize {
        match self.senders.get(sender) {
            Some(entry) if entry.txs.info() != info => {}
            _ => return 0,
        }
        let dropped = self.modify_sender(sender, |txs| txs.set_info(info));
        for tx in &dropped {
            self.by_hash.remove(&tx.hash);
        }
        dropped.len()
    }

    // --- limits ---

    /// Evicts the cheapest candidates until both sub-pools are within their limits.
    ///
    /// With a `newcomer`, only candidates strictly cheaper than it (effective tip at the pool's
    /// base fee) are evicted, and never the newcomer itself; if room cannot be made that way,
    /// returns `Err` with what was evicted so far so the caller can undo.
    fn enforce_limits(
        &mut self,
        newcomer: Option<&PooledTx<T>>,
    ) -> Result<Vec<Evicted<T>>, Vec<Evicted<T>>> {
        let mut evicted = Vec::new();
        loop {
            let queued_over =
                self.config.queued_limit.is_exceeded(self.totals.queued, self.totals.queued_bytes);
            let pending_over = self
                .config
                .pending_limit
                .is_exceeded(self.totals.pending, self.totals.pending_bytes);
            if !queued_over && !pending_over {
                return Ok(evicted);
            }
            if self.keys_stale {
                self.rebuild_eviction_keys();
            }
            let candidates = if queued_over { &self.evict_queued } else { &self.evict_pending };
            let newcomer_id = newcomer.map(|tx| tx.submission_id);
            let candidate =
                candidates.iter().find(|key| Some(key.submission_id()) != newcomer_id).copied();
            let Some(candidate) = candidate else {
                debug!(target: "txpool", queued_over, pending_over, "no eviction candidate");
                return Err(evicted);
            };
            if let Some(newcomer) = newcomer
                && candidate.tip >= newcomer.effective_tip(self.base_fee)
            {
                return Err(evicted);
            }
            let info = self.sender_info(&candidate.sender).unwrap_or_default();
            let tx = self.modify_sender(&candidate.sender, |txs| {
                if queued_over { txs.pop_last() } else { txs.pop_last_pending() }
            });
            let Some(tx) = tx else {
                debug_assert!(false, "eviction key without a transaction");
                return Err(evicted);
            };
            trace!(target: "txpool", hash = %tx.hash, sender = %tx.sender, nonce = tx.nonce, queued = queued_over, "evicted");
            self.by_hash.remove(&tx.hash);
            evicted.push((tx, info));
        }
    }

    fn rebuild_eviction_keys(&mut self) {
        self.evict_pending.clear();
        self.evict_queued.clear();
        for entry in self.senders.values_mut() {
            entry.pending_key = None;
            entry.queued_key = None;
            reindex(entry, self.base_fee, &mut self.evict_pending, &mut self.evict_queued);
        }
        self.keys_stale = false;
    }

    /// Runs `f` on a sender's list, then brings the totals and the eviction indexes up to
    /// date and forgets the sender if it has no transaction left. The sender must exist.
    fn modify_sender<R>(&mut self, sender: &Address, f: impl FnOnce(&mut SenderTxs<T>) -> R) -> R {
        let Some(entry) = self.senders.get_mut(sender) else {
            unreachable!("modify_sender on an unknown sender");
        };
        let before = entry.txs.stats();
        let result = f(&mut entry.txs);
        let after = entry.txs.stats();
        let totals = &mut self.totals;
        totals.pending = totals.pending + after.pending - before.pending;
        totals.pending_bytes = totals.pending_bytes + after.pending_bytes - before.pending_bytes;
        totals.queued = totals.queued + after.queued - before.queued;
        totals.queued_bytes = totals.queued_bytes + after.queued_bytes - before.queued_bytes;
        reindex(entry, self.base_fee, &mut self.evict_pending, &mut self.evict_queued);
        if entry.txs.is_empty() {
            self.senders.remove(sender);
        }
        result
    }

    /// Checks every invariant from scratch (tests).
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        let mut totals = SenderStats::default();
        let mut count = 0;
        for (sender, entry) in &self.senders {
            assert!(!entry.txs.is_empty(), "empty sender kept");
            entry.txs.assert_invariants();
            let stats = entry.txs.stats();
            assert!(entry.txs.len() <= self.config.max_account_slots, "account slots exceeded");
            totals.pending += stats.pending;
            totals.pending_bytes += stats.pending_bytes;
            totals.queued += stats.queued;
            totals.queued_bytes += stats.queued_bytes;
            for tx in entry.txs.iter() {
                count += 1;
                assert_eq!(tx.sender, *sender, "tx under the wrong sender");
                let indexed = self.by_hash.get(&tx.hash).expect("pooled tx not in hash index");
                assert!(Arc::ptr_eq(indexed, tx), "hash index points elsewhere");
            }
            let expect_pending = entry.txs.last_pending().map(|tx| EvictionKey::new(tx, 0));
            let expect_queued = entry.txs.last_queued().map(|tx| EvictionKey::new(tx, 0));
            let strip = |key: Option<EvictionKey>| key.map(|k| (k.sender, k.submission_id()));
            assert_eq!(strip(entry.pending_key), strip(expect_pending), "pending key");
            assert_eq!(strip(entry.queued_key), strip(expect_queued), "queued key");
            if let Some(key) = entry.pending_key {
                assert!(self.evict_pending.contains(&key));
            }
            if let Some(key) = entry.queued_key {
                assert!(self.evict_queued.contains(&key));
            }
        }
        assert_eq!(count, self.by_hash.len(), "hash index has extra entries");
        assert_eq!(totals, self.totals, "totals");
        let pending_keys = self.senders.values().filter(|e| e.pending_key.is_some()).count();
        let queued_keys = self.senders.values().filter(|e| e.queued_key.is_some()).count();
        assert_eq!(self.evict_pending.len(), pending_keys, "stray pending keys");
        assert_eq!(self.evict_queued.len(), queued_keys, "stray queued keys");
        assert!(
            !self.config.pending_limit.is_exceeded(totals.pending, totals.pending_bytes),
            "pending limit exceeded"
        );
        assert!(
            !self.config.queued_limit.is_exceeded(totals.queued, totals.queued_bytes),
            "queued limit exceeded"
        );
    }
}

/// Brings a sender's eviction keys up to date with its current last transactions.
fn reindex<T>(
    entry: &mut SenderEntry<T>,
    base_fee: u64,
    evict_pending: &mut BTreeSet<EvictionKey>,
    evict_queued: &mut BTreeSet<EvictionKey>,
) {
    let pending_key = entry.txs.last_pending().map(|tx| EvictionKey::new(tx, base_fee));
    if pending_key != entry.pending_key {
        if let Some(old) = entry.pending_key.take() {
            evict_pending.remove(&old);
        }
        if let Some(new) = pending_key {
            evict_pending.insert(new);
        }
        entry.pending_key = pending_key;
    }
    let queued_key = entry.txs.last_queued().map(|tx| EvictionKey::new(tx, base_fee));
    if queued_key != entry.queued_key {
        if let Some(old) = entry.queued_key.take() {
            evict_queued.remove(&old);
        }
        if let Some(new) = queued_key {
            evict_queued.insert(new);
        }
        entry.queued_key = queued_key;
    }
}
