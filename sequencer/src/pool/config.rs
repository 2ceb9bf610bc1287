//! Pool limits and policy, with the defaults as exported constants (one source for the library
//! and for the node's CLI/config).
//!
//! The defaults are sized for this L2: 1-second blocks with a 1 Ggas limit. A block of plain
//! transfers (21,000 gas) holds up to ~47,600 transactions, a block of typical contract calls
//! (50k–150k gas) 7,000–20,000. The pending limit keeps about three full transfer blocks
//! ready, so the builder never starves between RPC bursts, while the whole pool stays in the
//! low hundreds of MiB even when every transaction is large (see the byte limits).

/// Default maximum number of pending (executable) transactions: ~3 full 1-Ggas blocks of
/// transfers.
pub const DEFAULT_PENDING_MAX_TXS: usize = 150_000;
/// Default maximum total encoded size of pending transactions: 256 MiB.
pub const DEFAULT_PENDING_MAX_BYTES: usize = 256 * 1024 * 1024;
/// Default maximum number of queued (nonce-gapped or not yet affordable) transactions. Together
/// with [`DEFAULT_PENDING_MAX_TXS`] the pool holds at most 200,000 transactions.
pub const DEFAULT_QUEUED_MAX_TXS: usize = 50_000;
/// Default maximum total encoded size of queued transactions: 64 MiB.
pub const DEFAULT_QUEUED_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default maximum number of transactions (pending + queued) one sender may have in the pool.
///
/// Far above geth's 16 + 64: on an L2 a single account (a bridge relayer, a market maker, a
/// load generator) legitimately keeps thousands of transactions in flight, and at 1-second
/// blocks 16,384 transfers are a third of one block. The pool-wide limits still bound memory.
pub const DEFAULT_MAX_ACCOUNT_SLOTS: usize = 16_384;
/// Default minimum fee increase, in percent, for a transaction to replace another with the
/// same sender and nonce (geth's and reth's 10%).
pub const DEFAULT_PRICE_BUMP_PERCENT: u128 = 10;
/// Default maximum encoded size of one transaction: 128 KiB, geth's `txMaxSize` (4 × 32 KiB
/// slots). The node's validator checks it first; the pool checks again.
pub const DEFAULT_MAX_TX_SIZE: usize = 128 * 1024;
/// Default maximum gas limit of one transaction: the L2's 1 Ggas block gas limit. A
/// transaction above it can never be included and would block its sender's later nonces.
pub const DEFAULT_MAX_TX_GAS_LIMIT: u64 = 1_000_000_000;

/// The size bounds of one sub-pool (pending or queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubPoolLimit {
    /// Maximum number of transactions.
    pub max_txs: usize,
    /// Maximum sum of the transactions' encoded sizes, in bytes.
    pub max_bytes: usize,
}

impl SubPoolLimit {
    /// Creates a limit.
    pub const fn new(max_txs: usize, max_bytes: usize) -> Self {
        Self { max_txs, max_bytes }
    }

    /// Whether `txs` transactions of `bytes` total size exceed this limit.
    #[inline]
    pub const fn is_exceeded(&self, txs: usize, bytes: usize) -> bool {
        txs > self.max_txs || bytes > self.max_bytes
    }
}

/// Configuration of the transaction [`Pool`](super::Pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Bounds of the pending sub-pool: transactions whose nonces run contiguously from the
    /// sender's on-chain nonce and whose cumulative cost the sender's balance covers.
    pub pending_limit: SubPoolLimit,
    /// Bounds of the queued sub-pool: everything else (nonce gaps, unaffordable for now).
    pub queued_limit: SubPoolLimit,
    /// Maximum number of transactions (pending + queued) per sender.
    pub max_account_slots: usize,
    /// Minimum fee increase, in percent, for a same-nonce replacement; it applies to both the
    /// fee cap and the tip cap.
    pub price_bump_percent: u128,
    /// Maximum encoded size of one transaction, in bytes.
    pub max_tx_size: usize,
    /// Maximum gas limit of one transaction (the block gas limit).
    pub max_tx_gas_limit: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            pending_limit: SubPoolLimit::new(DEFAULT_PENDING_MAX_TXS, DEFAULT_PENDING_MAX_BYTES),
            queued_limit: SubPoolLimit::new(DEFAULT_QUEUED_MAX_TXS, DEFAULT_QUEUED_MAX_BYTES),
            max_account_slots: DEFAULT_MAX_ACCOUNT_SLOTS,
            price_bump_percent: DEFAULT_PRICE_BUMP_PERCENT,
            max_tx_size: DEFAULT_MAX_TX_SIZE,
            max_tx_gas_limit: DEFAULT_MAX_TX_GAS_LIMIT,
        }
    }
}

impl PoolConfig {
    /// Sets the pending sub-pool limit.
    pub const fn with_pending_limit(mut self, limit: SubPoolLimit) -> Self {
        self.pending_limit = limit;
        self
    }

    /// Sets the queued sub-pool limit.
    pub const fn with_queued_limit(mut self, limit: SubPoolLimit) -> Self {
        self.queued_limit = limit;
        self
    }

    /// Sets the per-sender transaction limit.
    pub const fn with_max_account_slots(mut self, slots: usize) -> Self {
        self.max_account_slots = slots;
        self
    }

    /// Sets the replacement price bump, in percent.
    pub const fn with_price_bump_percent(mut self, percent: u128) -> Self {
        self.price_bump_percent = percent;
        self
    }

    /// Sets the maximum encoded transaction size.
    pub const fn with_max_tx_size(mut self, bytes: usize) -> Self {
        self.max_tx_size = bytes;
        self
    }

    /// Sets the maximum transaction gas limit.
    pub const fn with_max_tx_gas_limit(mut self, gas: u64) -> Self {
        self.max_tx_gas_limit = gas;
        self
    }

    /// The most transactions the pool holds: pending plus queued limits.
    pub const fn max_total_txs(&self) -> usize {
        self.pending_limit.max_txs.saturating_add(self.queued_limit.max_txs)
    }
}
