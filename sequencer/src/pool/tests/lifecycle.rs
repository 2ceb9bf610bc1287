//! Nonce gaps, promotion, block commits, removal.

use crate::pool::{
    Pool, PoolConfig, PoolTransaction, SenderInfo, SubPool,
    test_utils::{GWEI, MockTx, addr, balance_for},
};
use alloy_primitives::{B256, U256};

const BASE_FEE: u64 = 10 * GWEI as u64;

fn nonces(txs: &[MockTx]) -> Vec<u64> {
    txs.iter().map(|tx| tx.nonce).collect()
}

#[test]
fn nonce_gap_is_queued_then_promoted() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    let state = SenderInfo::new(0, balance_for(100));
    assert_eq!(pool.pending_nonce(&a), None);

    assert_eq!(
        pool.add(MockTx::eip1559(a, 0), state, BASE_FEE).unwrap().sub_pool,
        SubPool::Pending
    );
    assert_eq!(pool.pending_nonce(&a), Some(1));
    assert_eq!(pool.add(MockTx::eip1559(a, 2), state, BASE_FEE).unwrap().sub_pool, SubPool::Queued);
    assert_eq!(pool.add(MockTx::eip1559(a, 3), state, BASE_FEE).unwrap().sub_pool, SubPool::Queued);
    assert_eq!(pool.add(MockTx::eip1559(a, 5), state, BASE_FEE).unwrap().sub_pool, SubPool::Queued);
    assert_eq!(pool.pending_nonce(&a), Some(1));
    assert_eq!((pool.status().pending, pool.status().queued), (1, 3));

    // Filling the gap promotes 2 and 3, not 5.
    assert_eq!(
        pool.add(MockTx::eip1559(a, 1), state, BASE_FEE).unwrap().sub_pool,
        SubPool::Pending
    );
    assert_eq!(pool.pending_nonce(&a), Some(4));
    assert_eq!((pool.status().pending, pool.status().queued), (4, 1));
    let (pending, queued) = pool.sender_transactions(&a);
    assert_eq!(nonces(&pending), vec![0, 1, 2, 3]);
    assert_eq!(nonces(&queued), vec![5]);

    // A sender whose first pooled nonce is above its on-chain nonce.
    let b = addr(1);
    pool.add(MockTx::eip1559(b, 7), SenderInfo::new(6, balance_for(10)), BASE_FEE).unwrap();
    assert_eq!(pool.pending_nonce(&b), Some(6));
}

#[test]
fn cumulative_cost_beyond_the_balance_is_queued() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    // Covers two transfers.
    let state = SenderInfo::new(0, balance_for(2));
    pool.add(MockTx::eip1559(a, 0), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(a, 1), state, BASE_FEE).unwrap();
    let third = pool.add(MockTx::eip1559(a, 2), state, BASE_FEE).unwrap();
    assert_eq!(third.sub_pool, SubPool::Queued);
    assert_eq!((pool.status().pending, pool.status().queued), (2, 1));
    // The wallet's next nonce is still 3: nonce 2 is taken.
    assert_eq!(pool.pending_nonce(&a), Some(3));
    let best: Vec<_> = pool.best_transactions(BASE_FEE).collect();
    assert_eq!(nonces(&best), vec![0, 1]);

    // More funds arrive: nonce 2 is promoted.
    pool.on_block_committed([(a, SenderInfo::new(0, balance_for(3)))], [], BASE_FEE);
    assert_eq!((pool.status().pending, pool.status().queued), (3, 0));
}

#[test]
fn best_transactions_respects_nonce_order_and_ranks_by_tip() {
    let pool = Pool::new(PoolConfig::default());
    let state = SenderInfo::new(0, balance_for(100));
    let (a, b, c) = (addr(0), addr(1), addr(2));
    // a: a poor head blocks its rich followers.
    pool.add(MockTx::eip1559(a, 0).with_tip(GWEI), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(a, 1).with_tip(5 * GWEI), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(a, 2).with_tip(10 * GWEI), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(b, 0).with_tip(3 * GWEI), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(b, 1).with_tip(3 * GWEI), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(c, 0).with_tip(7 * GWEI), state, BASE_FEE).unwrap();

    let order: Vec<_> = pool.best_transactions(BASE_FEE).map(|tx| (tx.sender, tx.nonce)).collect();
    assert_eq!(order, vec![(c, 0), (b, 0), (b, 1), (a, 0), (a, 1), (a, 2)]);
}

#[test]
fn best_transactions_uses_the_effective_tip_and_skips_under_base_fee() {
    let pool = Pool::new(PoolConfig::default());
    let state = SenderInfo::new(0, balance_for(100));
    // At base fee 10 gwei: fee cap 12, tip 5 -> 2; fee cap 100, tip 3 -> 3; legacy 14 -> 4.
    let capped = MockTx::eip1559(addr(0), 0).with_fees(12 * GWEI, 5 * GWEI);
    let plain = MockTx::eip1559(addr(1), 0).with_fees(100 * GWEI, 3 * GWEI);
    let legacy = MockTx::legacy(addr(2), 0, 14 * GWEI);
    // Accepted at base fee 10; at 20 it is below the base fee, and so is its successor.
    let low = MockTx::eip1559(addr(3), 0).with_fees(15 * GWEI, 15 * GWEI);
    let low_next = MockTx::eip1559(addr(3), 1).with_fees(100 * GWEI, 50 * GWEI);
    for tx in [&capped, &plain, &legacy, &low, &low_next] {
        pool.add(tx.clone(), state, BASE_FEE).unwrap();
    }

    let at_10: Vec<_> = pool.best_transactions(BASE_FEE).collect();
    // low: min(15, 15 - 10) = 5 first; then its successor (50 gwei tip, headroom 90).
    assert_eq!(
        at_10,
        vec![low.clone(), low_next.clone(), legacy.clone(), plain.clone(), capped.clone()]
    );

    let at_20: Vec<_> = pool.best_transactions(2 * BASE_FEE).collect();
    // capped (12), legacy (14) and low (15) are below 20 and skipped, and low_next with low.
    assert_eq!(at_20, vec![plain]);
}

#[test]
fn equal_tips_go_first_come_first_served() {
    let pool = Pool::new(PoolConfig::default());
    let state = SenderInfo::new(0, balance_for(100));
    for i in (0..10).rev() {
        pool.add(MockTx::eip1559(addr(i), 0), state, BASE_FEE).unwrap();
    }
    let senders: Vec<_> = pool.best_transactions(BASE_FEE).map(|tx| tx.sender).collect();
    assert_eq!(senders, (0..10).rev().map(addr).collect::<Vec<_>>());
}

#[test]
fn mark_invalid_drops_the_rest_of_the_sender() {
    let pool = Pool::new(PoolConfig::default());
    let state = SenderInfo::new(0, balance_for(100));
    let (a, b) = (addr(0), addr(1));
    for n in 0..3 {
        pool.add(MockTx::eip1559(a, n).with_tip(10 * GWEI), state, BASE_FEE).unwrap();
    }
    pool.add(MockTx::eip1559(b, 0).with_tip(GWEI), state, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(b, 1).with_tip(GWEI), state, BASE_FEE).unwrap();

    let mut best = pool.best_transactions(BASE_FEE);
    assert_eq!(best.remaining(), 5);
    let first = best.next().unwrap();
    assert_eq!((first.sender, first.nonce), (a, 0));
    best.mark_invalid(&first);
    let rest: Vec<_> = best.by_ref().map(|tx| (tx.sender, tx.nonce)).collect();
    assert_eq!(rest, vec![(b, 0), (b, 1)]);
    assert_eq!(best.next(), None);
    // Only the iterator forgot them.
    assert_eq!(pool.status().pending, 5);
}

#[test]
fn best_transactions_is_a_snapshot() {
    let pool = Pool::new(PoolConfig::default());
    let state = SenderInfo::new(0, balance_for(100));
    pool.add(MockTx::eip1559(addr(0), 0), state, BASE_FEE).unwrap();
    let best = pool.best_transactions(BASE_FEE);
    pool.add(MockTx::eip1559(addr(1), 0), state, BASE_FEE).unwrap();
    assert_eq!(best.count(), 1);
}

#[test]
fn block_commit_removes_mined_and_stale_and_promotes() {
    let pool = Pool::new(PoolConfig::default());
    let (a, b) = (addr(0), addr(1));
    let rich = SenderInfo::new(0, balance_for(100));
    let a_hashes: Vec<B256> =
        (0..5).map(|n| pool.add(MockTx::eip1559(a, n), rich, BASE_FEE).unwrap().hash).collect();
    // b's nonce 0 is sent elsewhere (another node); the pool holds 1 and 2, queued.
    pool.add(MockTx::eip1559(b, 1), rich, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(b, 2), rich, BASE_FEE).unwrap();
    assert_eq!((pool.status().pending, pool.status().queued), (5, 2));

    // A block mines a's 0..3 and b's nonce 0; the base fee moves to 12 gwei.
    let outcome = pool.on_block_committed(
        [(a, SenderInfo::new(3, balance_for(97))), (b, SenderInfo::new(1, balance_for(99)))],
        a_hashes[..3].iter().copied(),
        12 * GWEI as u64,
    );
    assert_eq!(outcome.removed, 3);
    assert_eq!((outcome.pending, outcome.queued), (4, 0));
    for hash in &a_hashes[..3] {
        assert!(!pool.contains(hash));
    }
    assert_eq!(pool.pending_nonce(&a), Some(5));
    assert_eq!(pool.pending_nonce(&b), Some(3));
    assert_eq!(pool.base_fee(), 12 * GWEI as u64);

    // Mined hashes whose sender state was not reported are removed too.
    let outcome = pool.on_block_committed([], [a_hashes[3]], 12 * GWEI as u64);
    assert_eq!(outcome.removed, 1);
    // a's nonce 4 is now behind a gap (the pool still thinks a is at nonce 3).
    assert_eq!(pool.status().queued, 1);
}

#[test]
fn block_commit_demotes_and_removes_on_balance_drop() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    let one_tx = balance_for(1);
    for n in 0..3 {
        pool.add(MockTx::eip1559(a, n), SenderInfo::new(0, balance_for(3)), BASE_FEE).unwrap();
    }
    // A pricier transaction behind them.
    let dear = MockTx::eip1559(a, 3).with_value(one_tx);
    pool.add(dear.clone(), SenderInfo::new(0, balance_for(5)), BASE_FEE).unwrap();
    assert_eq!(pool.status().pending, 4);

    // The balance drops to one transfer and a bit: 0 stays pending, 1 and 2 are demoted, and
    // `dear` (cost = two transfers) can never be paid at this balance: removed.
    let balance = one_tx + U256::from(1);
    let outcome = pool.on_block_committed([(a, SenderInfo::new(0, balance))], [], BASE_FEE);
    assert_eq!(outcome.removed, 1);
    assert!(!pool.contains(&dear.hash()));
    assert_eq!((pool.status().pending, pool.status().queued), (1, 2));
    let best: Vec<_> = pool.best_transactions(BASE_FEE).collect();
    assert_eq!(nonces(&best), vec![0]);
}

#[test]
fn removing_a_pending_transaction_demotes_the_later_ones() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    let rich = SenderInfo::new(0, balance_for(100));
    let hashes: Vec<_> =
        (0..4).map(|n| pool.add(MockTx::eip1559(a, n), rich, BASE_FEE).unwrap().hash).collect();
    let removed = pool.remove_transactions([hashes[1], B256::repeat_byte(0xee)]);
    assert_eq!(nonces(&removed), vec![1]);
    assert_eq!((pool.status().pending, pool.status().queued), (1, 2));
    assert_eq!(pool.pending_nonce(&a), Some(1));
    // Refilling the gap promotes them again.
    pool.add(MockTx::eip1559(a, 1).with_salt(1), rich, BASE_FEE).unwrap();
    assert_eq!((pool.status().pending, pool.status().queued), (4, 0));
}

#[test]
fn removing_everything_forgets_the_sender() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    let rich = SenderInfo::new(0, balance_for(100));
    let hash = pool.add(MockTx::eip1559(a, 0), rich, BASE_FEE).unwrap().hash;
    pool.remove_transactions([hash]);
    assert!(pool.is_empty());
    assert_eq!(pool.pending_nonce(&a), None);
    assert_eq!(pool.status().senders, 0);
}

#[test]
fn content_and_listener() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let pool = Pool::new(PoolConfig::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    pool.set_pending_listener(move || {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let rich = SenderInfo::new(0, balance_for(100));
    let generation = pool.pending_generation();
    pool.add(MockTx::eip1559(addr(0), 0), rich, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(addr(0), 2), rich, BASE_FEE).unwrap(); // queued: no call
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(pool.pending_generation() > generation);

    let content = pool.content();
    assert_eq!(content.pending[&addr(0)].keys().copied().collect::<Vec<_>>(), vec![0]);
    assert_eq!(content.queued[&addr(0)].keys().copied().collect::<Vec<_>>(), vec![2]);
}

#[test]
fn concurrent_adds_and_snapshots() {
    let pool = Pool::new(PoolConfig::default());
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for s in 0..50 {
                    let sender = addr(t * 1_000 + s);
                    let state = SenderInfo::new(0, balance_for(100));
                    for n in 0..20 {
                        pool.add(MockTx::eip1559(sender, n), state, BASE_FEE).unwrap();
                    }
                    let _ = pool.best_transactions(BASE_FEE).take(10).count();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(pool.status().pending, 2_000);
    assert_eq!(pool.best_transactions(BASE_FEE).count(), 2_000);
}

#[test]
fn a_cheaper_replacement_promotes_what_it_makes_affordable() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    let unit = U256::from(21_000 * GWEI);
    // Balance 300 units; nonce 0 costs 100 (fee) + 150 (value), nonce 1 costs 100.
    let state = SenderInfo::new(0, unit * U256::from(300));
    pool.add(MockTx::eip1559(a, 0).with_value(unit * U256::from(150)), state, BASE_FEE).unwrap();
    let second = pool.add(MockTx::eip1559(a, 1), state, BASE_FEE).unwrap();
    assert_eq!(second.sub_pool, SubPool::Queued);
    // Replace nonce 0 with a dearer fee but no value: 110 units; nonce 1 now fits.
    let cheaper = MockTx::eip1559(a, 0).with_fees(110 * GWEI, 2 * GWEI);
    pool.add(cheaper, state, BASE_FEE).unwrap();
    assert_eq!((pool.status().pending, pool.status().queued), (2, 0));

    // Same for a queued transaction at the end of the run.
    let b = addr(1);
    let state = SenderInfo::new(0, unit * U256::from(250));
    pool.add(MockTx::eip1559(b, 0), state, BASE_FEE).unwrap();
    let dear = pool.add(MockTx::eip1559(b, 1).with_value(unit * U256::from(60)), state, BASE_FEE);
    assert_eq!(dear.unwrap().sub_pool, SubPool::Queued);
    let fits = pool.add(MockTx::eip1559(b, 1).with_fees(110 * GWEI, 2 * GWEI), state, BASE_FEE);
    assert_eq!(fits.unwrap().sub_pool, SubPool::Pending);
}

#[test]
fn pending_overflow_evicts_the_last_pending_not_the_queued_tail() {
    use crate::pool::SubPoolLimit;
    let config = PoolConfig::default().with_pending_limit(SubPoolLimit::new(2, 1 << 20));
    let pool = Pool::new(config);
    pool.set_base_fee(BASE_FEE);
    let rich = SenderInfo::new(0, balance_for(100));
    let a = addr(0);
    let a0 = pool.add(MockTx::eip1559(a, 0).with_tip(GWEI), rich, BASE_FEE).unwrap().hash;
    let a5 = pool.add(MockTx::eip1559(a, 5).with_tip(GWEI), rich, BASE_FEE).unwrap().hash;
    pool.add(MockTx::eip1559(addr(1), 0).with_tip(3 * GWEI), rich, BASE_FEE).unwrap();
    let added = pool.add(MockTx::eip1559(addr(2), 0).with_tip(5 * GWEI), rich, BASE_FEE).unwrap();
    assert_eq!(added.evicted, vec![a0]);
    assert!(pool.contains(&a5));
    assert_eq!((pool.status().pending, pool.status().queued), (2, 1));
}

#[test]
fn handles_are_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Pool<MockTx>>();
    assert_send::<crate::pool::BestTransactions<MockTx>>();
}
