//! The transaction pool (mempool): transactions waiting for a block.
//!
//! The pool is generic over the transaction type through [`PoolTransaction`], which the node
//! implements for its recovered, signed transaction.
//!
//! ## Where transactions come from and go
//!
//! ```text
//!  eth_sendRawTransaction
//!        │ decode, recover sender, stateless checks (node's validator)
//!        ▼
//!  Pool::add(tx, sender's on-chain state, base fee) ──► Err(PoolError): geth message, -32000
//!        │
//!        ▼
//!  ┌────────────── per sender, by nonce ──────────────┐
//!  │ pending: nonces contiguous from the on-chain      │  promotion: a gap filled, a balance
//!  │          nonce, cumulative cost ≤ balance         │  raised ──────────────► pending
//!  │ queued:  the rest (nonce gap, not affordable yet) │  demotion: a removed tx, a balance
//!  └───────────────────────────────────────────────────┘  dropped ─────────────► queued
//!        │ Pool::best_transactions(base_fee): snapshot, heap of per-sender heads
//!        ▼
//!  block builder ── mark_invalid(tx): skip the sender's rest in this block
//!        │
//!        ▼
//!  Pool::on_block_committed(changed accounts, mined hashes, next base fee)
//!        removes mined and stale txs, re-checks balances, promotes, evicts if over limits
//! ```
//!
//! ## Stateless vs stateful checks
//!
//! The node's validator checks what depends on the transaction alone (signature, chain id,
//! intrinsic gas, size, `tip <= fee cap`) before calling [`Pool::add`]. The pool checks what
//! depends on the chain and on the pool: nonce, balance, base fee, replacement price bump,
//! per-sender and pool-wide limits. Every refusal is a [`PoolError`] whose message is geth's
//! (`nonce too low: next nonce 5, tx nonce 3`, `replacement transaction underpriced`, ...);
//! answer it with JSON-RPC code [`PoolError::rpc_code`] (`-32000`).
//!
//! ## Limits and eviction
//!
//! [`PoolConfig`] bounds the pending and queued sub-pools (count and bytes), the transactions
//! per sender, and one transaction's size and gas. When a sub-pool overflows, the pool evicts
//! the cheapest candidate by effective tip at the current base fee, taking candidates only at
//! the end of a sender's list (its highest nonce of that sub-pool) so no pending transaction is
//! left behind a gap; a newcomer that pays no more than the cheapest candidate is refused with
//! `txpool is full`.
//!
//! ## Layout
//!
//! - [`transaction`]: [`PoolTransaction`], [`SenderInfo`];
//! - [`config`]: [`PoolConfig`] and its default constants;
//! - [`error`]: [`PoolError`], [`PoolErrorKind`];
//! - [`ordering`]: effective tip, price bump;
//! - `sender`: one sender's nonce-ordered list, the pending/queued split;
//! - `txpool`: the single-threaded pool, indexes and eviction;
//! - [`best`]: [`BestTransactions`], the block builder's iterator;
//! - `handle`: [`Pool`], the thread-safe handle.
//!
//! ## Example
//!
//! ```ignore
//! let pool: Pool<MyTx> = Pool::new(PoolConfig::default());
//! let added = pool.add(tx, SenderInfo::new(state_nonce, state_balance), next_base_fee)?;
//! let mut best = pool.best_transactions(next_base_fee);
//! while let Some(tx) = best.next() {
//!     if execute(&tx).is_err() {
//!         best.mark_invalid(&tx);
//!     }
//! }
//! pool.on_block_committed(changed_accounts, mined_hashes, next_next_base_fee);
//! ```

pub mod best;
pub mod config;
pub mod error;
mod handle;
pub mod ordering;
mod sender;
pub mod transaction;
mod txpool;

#[cfg(test)]
mod test_utils;
#[cfg(test)]
mod tests;

pub use best::BestTransactions;
pub use config::{
    DEFAULT_MAX_ACCOUNT_SLOTS, DEFAULT_MAX_TX_GAS_LIMIT, DEFAULT_MAX_TX_SIZE,
    DEFAULT_PENDING_MAX_BYTES, DEFAULT_PENDING_MAX_TXS, DEFAULT_PRICE_BUMP_PERCENT,
    DEFAULT_QUEUED_MAX_BYTES, DEFAULT_QUEUED_MAX_TXS, PoolConfig, SubPoolLimit,
};
pub use error::{PoolError, PoolErrorKind, PoolResult, TX_REJECTED_RPC_CODE};
pub use handle::Pool;
pub use transaction::{PoolTransaction, SenderInfo};
pub use txpool::{AddedTransaction, CommitOutcome, PoolContent, PoolStatus, SubPool};
