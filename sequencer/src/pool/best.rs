//! The block builder's view: pending transactions, best paying first, each sender in nonce
//! order.

use super::{
    ordering::BestKey,
    transaction::{PoolTransaction, PooledTx},
};
use alloy_primitives::{Address, map::AddressMap};
use std::{collections::BinaryHeap, fmt};

/// One sender's slice of the snapshot.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// Index of the sender's next transaction in `txs`.
    next: usize,
    /// End of the sender's slice; `next == end` once drained or marked invalid.
    end: usize,
}

/// An iterator over the executable pending transactions, as of the moment it was created,
/// best first.
///
/// Made by [`Pool::best_transactions`](super::Pool::best_transactions). Order:
///
/// - a sender's transactions come in nonce order, and its transaction `n + 1` competes only
///   once `n` was yielded;
/// - across senders, the highest effective tip at the iterator's base fee comes first
///   (`min(max_priority_fee, max_fee - base_fee)`; `gas_price - base_fee` for legacy), equal
///   tips by arrival order;
/// - a transaction whose fee cap is below the base fee is not yielded, nor is anything after it
///   from the same sender.
///
/// It holds a snapshot (shared pointers, no lock): transactions added after its creation are not
/// seen, and transactions removed meanwhile are still yielded. Each step costs `O(log senders)`:
/// a binary heap holds one entry per sender, its next transaction.
///
/// When the builder cannot include a yielded transaction (it fails, or the sender is out of
/// funds), it calls [`mark_invalid`](Self::mark_invalid) so the sender's later transactions,
/// which can no longer execute, are skipped. That only affects this iterator; removing the
/// transaction from the pool is [`Pool::remove_transactions`](super::Pool::remove_transactions).
pub struct BestTransactions<T> {
    base_fee: u64,
    /// Pending transactions, grouped by sender, each group in nonce order.
    txs: Vec<PooledTx<T>>,
    cursors: Vec<Cursor>,
    /// One entry per sender with a transaction left: its next one.
    heap: BinaryHeap<BestKey>,
    /// Sender → cursor index, built on the first `mark_invalid`.
    by_sender: Option<AddressMap<usize>>,
}

impl<T> fmt::Debug for BestTransactions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BestTransactions")
            .field("base_fee", &self.base_fee)
            .field("transactions", &self.txs.len())
            .field("senders", &self.cursors.len())
            .field("ready_senders", &self.heap.len())
            .finish_non_exhaustive()
    }
}

impl<T: PoolTransaction> BestTransactions<T> {
    /// Builds the iterator from a snapshot: `txs` grouped by sender in nonce order, `ends` the
    /// exclusive end index of each group.
    pub(crate) fn new(base_fee: u64, txs: Vec<PooledTx<T>>, ends: &[usize]) -> Self {
        let mut cursors = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in ends {
            debug_assert!(start < end, "empty sender group");
            cursors.push(Cursor { next: start, end });
            start = end;
        }
        let mut this = Self {
            base_fee,
            txs,
            heap: BinaryHeap::with_capacity(cursors.len()),
            cursors,
            by_sender: None,
        };
        for sender in 0..this.cursors.len() {
            this.push_head(sender);
        }
        this
    }

    /// The base fee the tips are computed at.
    pub const fn base_fee(&self) -> u64 {
        self.base_fee
    }

    /// Number of transactions in the snapshot not yet yielded or skipped (an upper bound on
    /// what is left to yield).
    pub fn remaining(&self) -> usize {
        self.cursors.iter().map(|c| c.end - c.next).sum()
    }

    /// Puts the sender's next transaction in the heap, or drops the sender's remaining
    /// transactions if that one's fee cap is below the base fee.
    fn push_head(&mut self, sender: usize) {
        let cursor = &mut self.cursors[sender];
        if cursor.next >= cursor.end {
            return;
        }
        let tx = &self.txs[cursor.next];
        match tx.effective_tip(self.base_fee) {
            Some(tip) => self.heap.push(BestKey {
                tip,
                submission_id: tx.submission_id,
                sender: sender as u32,
            }),
            None => cursor.next = cursor.end,
        }
    }

    /// Skips every remaining transaction of `tx`'s sender (see the type's docs).
    pub fn mark_invalid(&mut self, tx: &T) {
        self.mark_sender_invalid(tx.sender());
    }

    /// Skips every remaining transaction of `sender`.
    pub fn mark_sender_invalid(&mut self, sender: Address) {
        let txs = &self.txs;
        let cursors = &self.cursors;
        let by_sender = self.by_sender.get_or_insert_with(|| {
            cursors.iter().enumerate().map(|(i, c)| (txs[c.end - 1].sender, i)).collect()
        });
        if let Some(&index) = by_sender.get(&sender) {
            let cursor = &mut self.cursors[index];
            // Its heap entry, if any, is skipped when popped.
            cursor.next = cursor.end;
        }
    }
}

impl<T: PoolTransaction> Iterator for BestTransactions<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            let key = self.heap.pop()?;
            let sender = key.sender as usize;
            let cursor = &mut self.cursors[sender];
            if cursor.next >= cursor.end {
                // Marked invalid after this entry was pushed.
                continue;
            }
            let tx = self.txs[cursor.next].transaction.clone();
            cursor.next += 1;
            self.push_head(sender);
            return Some(tx);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining()))
    }
}
