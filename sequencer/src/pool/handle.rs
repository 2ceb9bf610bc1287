//! [`Pool`]: the thread-safe, cloneable handle the node passes around.

use super::{
    best::BestTransactions,
    config::PoolConfig,
    error::{PoolError, PoolResult},
    transaction::{PoolTransaction, PooledTransaction, SenderInfo},
    txpool::{AddedTransaction, CommitOutcome, PoolContent, PoolStatus, TxPool},
};
use alloy_primitives::{Address, B256};
use std::{
    fmt,
    sync::{
        Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU64, Ordering},
    },
};

/// Called after transactions became pending; see [`Pool::set_pending_listener`].
type Listener = Arc<dyn Fn() + Send + Sync>;

/// The transaction pool: a cheap-to-clone handle (`Arc` inside) usable from any thread.
///
/// One `RwLock` guards the pool. Writers (`add`, `on_block_committed`, `remove_transactions`)
/// hold it for `O(log n)` work in the common case; the per-transaction values (hash, cost,
/// sizes) are computed before the lock is taken. [`best_transactions`](Self::best_transactions)
/// takes a read lock only to copy the pending set's pointers, and the block builder then
/// iterates without any lock.
pub struct Pool<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    pool: RwLock<TxPool<T>>,
    /// Bumped whenever transactions may have become pending.
    pending_generation: AtomicU64,
    listener: RwLock<Option<Listener>>,
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T: PoolTransaction> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("status", &self.status()).finish_non_exhaustive()
    }
}

impl<T: PoolTransaction> Default for Pool<T> {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl<T: PoolTransaction> Pool<T> {
    /// Creates an empty pool.
    pub fn new(config: PoolConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                pool: RwLock::new(TxPool::new(config)),
                pending_generation: AtomicU64::new(0),
                listener: RwLock::new(None),
            }),
        }
    }

    // A panic while the lock is held is a bug in the pool; the lock is not left poisoned for
    // the other threads (the node keeps serving), and the panic itself is reported where it
    // happened.
    fn read(&self) -> RwLockReadGuard<'_, TxPool<T>> {
        self.shared.pool.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, TxPool<T>> {
        self.shared.pool.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pool's configuration.
    pub fn config(&self) -> PoolConfig {
        self.read().config().clone()
    }

    /// Adds a transaction whose stateless validity the caller has checked.
    ///
    /// `on_chain` is the sender's state at the chain head and `base_fee` the next block's base
    /// fee. If the pool already tracks the sender at a higher nonce (it has seen a newer block
    /// than the caller read), the pool's state is used instead.
    ///
    /// Checks, in order (each failure's `Display` is geth's message; see
    /// [`PoolErrorKind`](super::PoolErrorKind)): same hash pooled (`already known`), encoded
    /// size (`oversized data`), gas limit (`exceeds block gas limit`), fee cap below
    /// `base_fee`, nonce below the on-chain nonce (`nonce too low`), own cost above the balance
    /// (`insufficient funds ...`), then for a same-nonce replacement the price bump on both fee
    /// caps (`replacement transaction underpriced`) and, if the replaced one is pending, that
    /// the sender's pending costs stay within its balance; for a new nonce the per-sender limit
    /// (`account limit exceeded`). Last, if a sub-pool overflows, the cheapest eviction
    /// candidates (by effective tip at the pool's base fee, always a sender's highest nonce)
    /// are evicted if strictly cheaper than the newcomer; otherwise nothing changes and the
    /// result is `txpool is full`.
    ///
    /// The transaction goes to pending if its nonce continues the sender's run of pooled
    /// nonces from the on-chain nonce and the balance covers the run's cumulative cost up to
    /// and including it; to queued otherwise. Queued transactions that then continue the run
    /// are promoted with it.
    pub fn add(
        &self,
        transaction: T,
        on_chain: SenderInfo,
        base_fee: u64,
    ) -> PoolResult<AddedTransaction> {
        let tx = PooledTransaction::new(transaction, 0);
        let hash = tx.hash;
        let result = self.write().add(tx, on_chain, base_fee);
        match result {
            Ok(added) => {
                if added.sub_pool.is_pending() {
                    self.notify_pending();
                }
                Ok(added)
            }
            Err(kind) => Err(PoolError::new(hash, kind)),
        }
    }

    /// Adds several transactions under one lock acquisition; see [`add`](Self::add). The
    /// iterator yields each transaction with its sender's on-chain state.
    pub fn add_all(
        &self,
        transactions: impl IntoIterator<Item = (T, SenderInfo)>,
        base_fee: u64,
    ) -> Vec<PoolResult<AddedTransaction>> {
        let txs: Vec<_> = transactions
            .into_iter()
            .map(|(tx, info)| (PooledTransaction::new(tx, 0), info))
            .collect();
        let results: Vec<_> = {
            let mut pool = self.write();
            txs.into_iter()
                .map(|(tx, info)| {
                    let hash = tx.hash;
                    pool.add(tx, info, base_fee).map_err(|kind| PoolError::new(hash, kind))
                })
                .collect()
        };
        if results.iter().any(|r| r.as_ref().is_ok_and(|added| added.sub_pool.is_pending())) {
            self.notify_pending();
        }
        results
    }

    /// The executable transactions for a block at `base_fee`, best first; see
    /// [`BestTransactions`].
    pub fn best_transactions(&self, base_fee: u64) -> BestTransactions<T> {
        self.read().best_transactions(base_fee)
    }

    /// Updates the pool after a block: `changed` are the new on-chain states of accounts the
    /// block touched (senders of its transactions at least; accounts the pool does not track
    /// are ignored), `mined` the hashes of its transactions, `new_base_fee` the next block's
    /// base fee.
    ///
    /// Removes mined transactions and those with a nonce below the new on-chain nonce; if a
    /// sender's balance dropped, removes its transactions that cost more than the balance and
    /// moves to queued those the balance no longer covers cumulatively; promotes queued
    /// transactions that now continue a sender's run; then evicts if a sub-pool overflows.
    pub fn on_block_committed(
        &self,
        changed: impl IntoIterator<Item = (Address, SenderInfo)>,
        mined: impl IntoIterator<Item = B256>,
        new_base_fee: u64,
    ) -> CommitOutcome {
        let changed: Vec<_> = changed.into_iter().collect();
        let mined: Vec<_> = mined.into_iter().collect();
        let outcome = self.write().on_block_committed(changed, mined, new_base_fee);
        if outcome.pending > 0 {
            self.notify_pending();
        }
        outcome
    }

    /// Sets the base fee the pool ranks transactions by for eviction (also set by
    /// [`on_block_committed`](Self::on_block_committed)); call it once at startup.
    pub fn set_base_fee(&self, base_fee: u64) {
        self.write().set_base_fee(base_fee);
    }

    /// Removes transactions, e.g. ones the block builder found invalid; returns those that were
    /// pooled. A removed pending transaction leaves a nonce gap: the sender's later
    /// transactions move to queued until the gap is filled.
    pub fn remove_transactions(&self, hashes: impl IntoIterator<Item = B256>) -> Vec<T> {
        let hashes: Vec<_> = hashes.into_iter().collect();
        let removed = self.write().remove_transactions(hashes);
        removed.into_iter().map(|tx| tx.transaction.clone()).collect()
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &B256) -> Option<T> {
        self.read().get(hash).map(|tx| tx.transaction.clone())
    }

    /// Whether a transaction with this hash is pooled.
    pub fn contains(&self, hash: &B256) -> bool {
        self.read().contains(hash)
    }

    /// The sender's next free nonce as far as the pool knows: the nonce after its run of pooled
    /// transactions contiguous from its on-chain nonce. `None` if the pool holds nothing from
    /// it. For `eth_getTransactionCount(addr, "pending")` answer
    /// `max(state nonce, pending_nonce)`.
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        self.read().pending_nonce(sender)
    }

    /// The sender's pending and queued transactions, each in nonce order
    /// (`txpool_contentFrom`).
    pub fn sender_transactions(&self, sender: &Address) -> (Vec<T>, Vec<T>) {
        self.read().sender_transactions(sender)
    }

    /// Counts of pending and queued transactions (`txpool_status`).
    pub fn status(&self) -> PoolStatus {
        self.read().status()
    }

    /// A copy of every pooled transaction by sender and nonce (`txpool_content`). It clones the
    /// whole pool: for debugging RPCs, not hot paths.
    pub fn content(&self) -> PoolContent<T> {
        self.read().content()
    }

    /// The number of pooled transactions, pending and queued.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The base fee eviction ranks by (from the last block or [`set_base_fee`](Self::set_base_fee)).
    pub fn base_fee(&self) -> u64 {
        self.read().base_fee()
    }

    /// A counter that grows whenever transactions may have become pending (an add to pending,
    /// a block update). A builder can poll it to know whether a new snapshot is worth taking.
    pub fn pending_generation(&self) -> u64 {
        self.shared.pending_generation.load(Ordering::Acquire)
    }

    /// Registers a callback run (outside the pool's lock, on the thread that made the change)
    /// whenever transactions may have become pending; e.g. `move || notify.notify_one()` with
    /// a `tokio::sync::Notify`. It must be cheap and must not block. Replaces any previous one.
    pub fn set_pending_listener(&self, listener: impl Fn() + Send + Sync + 'static) {
        *self.shared.listener.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(listener));
    }

    fn notify_pending(&self) {
        self.shared.pending_generation.fetch_add(1, Ordering::AcqRel);
        let listener = self.shared.listener.read().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(listener) = listener {
            listener();
        }
    }
}
