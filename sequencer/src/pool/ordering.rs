//! How the pool ranks transactions: the effective tip (block building and eviction) and the
//! replacement price-bump rule.

use super::transaction::PooledTransaction;
use alloy_primitives::Address;
use std::cmp::{Ordering, Reverse};

/// The tip per gas a block producer earns from a transaction at `base_fee`:
/// `min(max_priority_fee, max_fee - base_fee)`.
///
/// For legacy/EIP-2930 transactions pass the gas price as both caps: the result is
/// `gas_price - base_fee`. `None` if `max_fee < base_fee` (not includable at this base fee).
#[inline]
pub fn effective_tip(max_fee: u128, max_priority_fee: u128, base_fee: u64) -> Option<u128> {
    max_fee.checked_sub(u128::from(base_fee)).map(|headroom| headroom.min(max_priority_fee))
}

/// `value` raised by `percent` percent, rounded down (geth's `value * (100 + bump) / 100`),
/// saturating instead of overflowing.
#[inline]
fn bumped(value: u128, percent: u128) -> u128 {
    // Split to avoid overflow for huge fee values: v * (100 + p) / 100 = v + v * p / 100.
    let extra = (value / 100).saturating_mul(percent) + (value % 100).saturating_mul(percent) / 100;
    value.saturating_add(extra)
}

/// Whether `new` may replace `old` (same sender and nonce) under a `price_bump` percent rule.
///
/// Like geth: both the fee cap and the tip cap must be strictly higher than the old ones and
/// at least `price_bump` percent higher (`new >= old * (100 + bump) / 100`).
pub(crate) fn is_replacement_priced<T>(
    old: &PooledTransaction<T>,
    new: &PooledTransaction<T>,
    price_bump: u128,
) -> bool {
    let fee_ok = new.max_fee_per_gas > old.max_fee_per_gas
        && new.max_fee_per_gas >= bumped(old.max_fee_per_gas, price_bump);
    let tip_ok = new.max_priority_fee_per_gas > old.max_priority_fee_per_gas
        && new.max_priority_fee_per_gas >= bumped(old.max_priority_fee_per_gas, price_bump);
    fee_ok && tip_ok
}

/// A sender's eviction candidate (its last transaction of a sub-pool) in the pool's eviction
/// indexes. Ordered cheapest first: lowest effective tip (`None`, below the base fee, sorts
/// first), then lowest fee cap, then the newest submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EvictionKey {
    /// Effective tip at the pool's base fee when the key was computed.
    pub(crate) tip: Option<u128>,
    /// The fee cap, second criterion.
    pub(crate) max_fee: u128,
    /// Newer transactions go first.
    pub(crate) age: Reverse<u64>,
    /// The owner, so the index leads back to the sender.
    pub(crate) sender: Address,
}

impl EvictionKey {
    pub(crate) fn new<T>(tx: &PooledTransaction<T>, base_fee: u64) -> Self {
        Self {
            tip: tx.effective_tip(base_fee),
            max_fee: tx.max_fee_per_gas,
            age: Reverse(tx.submission_id),
            sender: tx.sender,
        }
    }

    /// The submission id of the transaction this key stands for.
    pub(crate) const fn submission_id(&self) -> u64 {
        self.age.0
    }
}

/// A sender's next transaction in [`BestTransactions`](super::BestTransactions)' heap.
/// The greatest entry is the best: highest effective tip, then earliest submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BestKey {
    pub(crate) tip: u128,
    pub(crate) submission_id: u64,
    /// Index of the sender in the iterator's snapshot.
    pub(crate) sender: u32,
}

impl Ord for BestKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tip
            .cmp(&other.tip)
            .then_with(|| other.submission_id.cmp(&self.submission_id))
            .then_with(|| other.sender.cmp(&self.sender))
    }
}

impl PartialOrd for BestKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_tip_cases() {
        // EIP-1559: capped by the priority fee.
        assert_eq!(effective_tip(100, 2, 50), Some(2));
        // EIP-1559: capped by the fee headroom.
        assert_eq!(effective_tip(100, 80, 50), Some(50));
        // Legacy: gas price as both caps.
        assert_eq!(effective_tip(70, 70, 50), Some(20));
        assert_eq!(effective_tip(50, 50, 50), Some(0));
        assert_eq!(effective_tip(49, 1, 50), None);
    }

    #[test]
    fn bump_rounds_like_geth() {
        assert_eq!(bumped(100, 10), 110);
        assert_eq!(bumped(1_000_000_000, 10), 1_100_000_000);
        assert_eq!(bumped(15, 10), 16); // 15 * 110 / 100 = 16.5 -> 16
        assert_eq!(bumped(0, 10), 0);
        assert_eq!(bumped(u128::MAX, 10), u128::MAX);
        assert_eq!(bumped(u128::MAX / 2, 10), u128::MAX / 2 + (u128::MAX / 2) / 10);
    }
}
