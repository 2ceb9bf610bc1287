//! One sender's transactions, ordered by nonce, split into the pending prefix and the queued
//! rest.
//!
//! ```text
//!   on-chain nonce n                 pending_end
//!        │                                │
//!        ▼                                ▼
//!      [ n ][n+1][n+2][n+3][n+4]        [n+5]       [n+7][n+8]
//!      └──────── pending ───────┘        └───────── queued ─────┘
//!      contiguous, Σ cost ≤ balance      n+5 is there but the balance does not cover it too;
//!                                        n+6 is missing (a gap)
//! ```
//!
//! The invariant: the pending transactions are exactly the longest run of nonces starting at
//! the on-chain nonce whose cumulative cost the balance covers. So whether a transaction is
//! pending is a function of the set of transactions and the on-chain state, and every
//! operation here restores that function, mostly in `O(log n)` (adding at the end of the run,
//! removing from the end) and at worst in the number of transactions moved between the two
//! parts.

use super::transaction::{PooledTx, SenderInfo};
use alloy_primitives::U256;
use std::collections::BTreeMap;

/// Counts of one sender's transactions, used to keep the pool-wide totals by difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SenderStats {
    pub(crate) pending: usize,
    pub(crate) pending_bytes: usize,
    pub(crate) queued: usize,
    pub(crate) queued_bytes: usize,
}

/// One sender's pooled transactions and last known on-chain state.
#[derive(Debug)]
pub(crate) struct SenderTxs<T> {
    /// The sender's on-chain state as last reported to the pool.
    info: SenderInfo,
    /// All the sender's transactions by nonce; every key is `>= info.nonce`.
    txs: BTreeMap<u64, PooledTx<T>>,
    /// Nonces `info.nonce..pending_end` are the pending transactions.
    pending_end: u64,
    /// Sum of the pending transactions' costs (`<= info.balance`).
    pending_cost: U256,
    /// Sum of the pending transactions' sizes.
    pending_bytes: usize,
    /// Sum of all transactions' sizes.
    bytes: usize,
}

impl<T> SenderTxs<T> {
    pub(crate) const fn new(info: SenderInfo) -> Self {
        Self {
            info,
            txs: BTreeMap::new(),
            pending_end: info.nonce,
            pending_cost: U256::ZERO,
            pending_bytes: 0,
            bytes: 0,
        }
    }

    pub(crate) const fn info(&self) -> SenderInfo {
        self.info
    }

    pub(crate) fn len(&self) -> usize {
        self.txs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Number of pending transactions.
    pub(crate) const fn pending_len(&self) -> usize {
        // Bounded by the number of transactions, so it fits in usize.
        (self.pending_end - self.info.nonce) as usize
    }

    pub(crate) fn stats(&self) -> SenderStats {
        let pending = self.pending_len();
        SenderStats {
            pending,
            pending_bytes: self.pending_bytes,
            queued: self.txs.len() - pending,
            queued_bytes: self.bytes - self.pending_bytes,
        }
    }

    pub(crate) const fn pending_cost(&self) -> U256 {
        self.pending_cost
    }

    pub(crate) fn get(&self, nonce: u64) -> Option<&PooledTx<T>> {
        self.txs.get(&nonce)
    }

    pub(crate) const fn is_pending_nonce(&self, nonce: u64) -> bool {
        nonce >= self.info.nonce && nonce < self.pending_end
    }

    /// The nonce after the run of transactions contiguous from the on-chain nonce, pending or
    /// not yet affordable: the nonce a wallet should use next.
    pub(crate) fn next_nonce(&self) -> u64 {
        let mut next = self.pending_end;
        for &nonce in self.txs.range(self.pending_end..).map(|(n, _)| n) {
            if nonce != next {
                break;
            }
            next += 1;
        }
        next
    }

    /// Pending transactions in nonce order.
    pub(crate) fn pending(&self) -> impl Iterator<Item = &PooledTx<T>> + '_ {
        self.txs.range(self.info.nonce..self.pending_end).map(|(_, tx)| tx)
    }

    /// Queued transactions in nonce order.
    pub(crate) fn queued(&self) -> impl Iterator<Item = &PooledTx<T>> + '_ {
        self.txs.range(self.pending_end..).map(|(_, tx)| tx)
    }

    /// The last pending transaction (the pending eviction candidate).
    pub(crate) fn last_pending(&self) -> Option<&PooledTx<T>> {
        if self.pending_end > self.info.nonce {
            self.txs.get(&(self.pending_end - 1))
        } else {
            None
        }
    }

    /// The highest-nonce transaction if it is queued (the queued eviction candidate).
    pub(crate) fn last_queued(&self) -> Option<&PooledTx<T>> {
        self.txs.last_key_value().filter(|(nonce, _)| **nonce >= self.pending_end).map(|(_, tx)| tx)
    }

    /// Moves queued transactions into pending while they continue the run and stay affordable.
    fn extend_pending(&mut self) {
        while let Some(tx) = self.txs.get(&self.pending_end) {
            let Some(cost) = self.pending_cost.checked_add(tx.cost) else { break };
            if cost > self.info.balance {
                break;
            }
            self.pending_cost = cost;
            self.pending_bytes += tx.size;
            self.pending_end += 1;
        }
    }

    /// Moves the pending transactions from `nonce` on to queued (`nonce` in the pending run).
    fn truncate_pending(&mut self, nonce: u64) {
        for (_, tx) in self.txs.range(nonce..self.pending_end) {
            self.pending_cost -= tx.cost;
            self.pending_bytes -= tx.size;
        }
        self.pending_end = nonce;
    }

    /// Puts a transaction at its nonce, replacing the transaction there if any, and extends the
    /// pending run if it now can grow. A replacement of a pending transaction must keep the
    /// pending cost within the balance (the caller checks); otherwise the run is cut before it.
    /// Returns the replaced transaction.
    pub(crate) fn put(&mut self, tx: PooledTx<T>) -> Option<PooledTx<T>> {
        let nonce = tx.nonce;
        debug_assert!(nonce >= self.info.nonce, "nonce below the on-chain nonce");
        let (size, cost) = (tx.size, tx.cost);
        self.bytes += size;
        let old = self.txs.insert(nonce, tx);
        if let Some(old) = &old {
            self.bytes -= old.size;
            if self.is_pending_nonce(nonce) {
                self.pending_cost -= old.cost;
                self.pending_bytes -= old.size;
                match self.pending_cost.checked_add(cost) {
                    Some(total) if total <= self.info.balance => {
                        self.pending_cost = total;
                        self.pending_bytes += size;
                    }
                    // Defensive: the new one is unaffordable, so the run ends before it.
                    _ => {
                        for (_, tx) in self.txs.range(nonce + 1..self.pending_end) {
                            self.pending_cost -= tx.cost;
                            self.pending_bytes -= tx.size;
                        }
                        self.pending_end = nonce;
                    }
                }
            }
        }
        self.extend_pending();
        old
    }

    /// Removes the transaction at `nonce`. Pending transactions after it become queued (the
    /// gap stops the run). Returns the removed transaction.
    pub(crate) fn remove(&mut self, nonce: u64) -> Option<PooledTx<T>> {
        if self.is_pending_nonce(nonce) {
            self.truncate_pending(nonce);
        }
        let tx = self.txs.remove(&nonce)?;
        self.bytes -= tx.size;
        Some(tx)
    }

    /// Applies a new on-chain state: drops transactions below the new nonce (mined or
    /// replaced on chain) and, if the balance dropped, those whose own cost exceeds it, then
    /// recomputes the pending run. Returns the dropped transactions.
    pub(crate) fn set_info(&mut self, info: SenderInfo) -> Vec<PooledTx<T>> {
        let balance_dropped = info.balance < self.info.balance;
        let mut dropped = Vec::new();
        if info.nonce > self.info.nonce {
            let kept = self.txs.split_off(&info.nonce);
            dropped.extend(std::mem::replace(&mut self.txs, kept).into_values());
        }
        if balance_dropped {
            let too_costly: Vec<u64> = self
                .txs
                .iter()
                .filter(|(_, tx)| tx.cost > info.balance)
                .map(|(nonce, _)| *nonce)
                .collect();
            dropped.extend(too_costly.into_iter().filter_map(|nonce| self.txs.remove(&nonce)));
        }
        self.info = info;
        self.bytes -= dropped.iter().map(|tx| tx.size).sum::<usize>();
        self.pending_end = info.nonce;
        self.pending_cost = U256::ZERO;
        self.pending_bytes = 0;
        self.extend_pending();
        dropped
    }

    /// Removes and returns the highest-nonce transaction.
    pub(crate) fn pop_last(&mut self) -> Option<PooledTx<T>> {
        let nonce = *self.txs.last_key_value()?.0;
        self.remove(nonce)
    }

    /// Removes and returns the last pending transaction.
    pub(crate) fn pop_last_pending(&mut self) -> Option<PooledTx<T>> {
        if self.pending_end == self.info.nonce {
            return None;
        }
        self.remove(self.pending_end - 1)
    }

    /// All transactions in nonce order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PooledTx<T>> + '_ {
        self.txs.values()
    }

    /// Checks this sender's invariants from scratch (tests).
    #[cfg(test)]
    pub(crate) fn assert_invariants(&self) {
        // Every nonce at or above the on-chain nonce.
        if let Some((first, _)) = self.txs.first_key_value() {
            assert!(*first >= self.info.nonce, "tx below on-chain nonce");
        }
        // The pending run is the longest contiguous affordable prefix.
        let mut end = self.info.nonce;
        let mut cost = U256::ZERO;
        let mut pending_bytes = 0;
        while let Some(tx) = self.txs.get(&end) {
            let Some(next) = cost.checked_add(tx.cost) else { break };
            if next > self.info.balance {
                break;
            }
            cost = next;
            pending_bytes += tx.size;
            end += 1;
        }
        assert_eq!(self.pending_end, end, "pending run is not maximal/valid");
        assert_eq!(self.pending_cost, cost, "pending cost");
        assert_eq!(self.pending_bytes, pending_bytes, "pending bytes");
        assert_eq!(self.bytes, self.txs.values().map(|tx| tx.size).sum::<usize>(), "bytes");
        for (nonce, tx) in &self.txs {
            assert_eq!(*nonce, tx.nonce, "keyed by nonce");
            assert!(tx.cost <= self.info.balance, "a transaction costs more than the balance");
        }
    }
}
