//! Property test: random sequences of adds, replacements, block commits and removals keep the
//! pool consistent, and the builder's iterator stays correct.

use crate::pool::{
    PoolConfig, PoolTransaction, SenderInfo, SubPoolLimit,
    ordering::effective_tip,
    test_utils::{GWEI, MockTx, addr},
    transaction::PooledTransaction,
    txpool::TxPool,
};
use alloy_primitives::{Address, U256, map::AddressMap};
use proptest::{prelude::*, sample::Index};
use std::collections::{BTreeMap, HashSet};

const SENDERS: usize = 4;
/// Cost of 21,000 gas at 1 gwei.
const UNIT: u128 = 21_000 * GWEI;

#[derive(Debug, Clone)]
enum Op {
    /// A transaction at `base + nonce_offset`, where `base` is the pool's next nonce for the
    /// sender if `after_pooled` (extends its run), else the chain nonce (often a replacement or
    /// a gap); with `stale`, the caller passes an on-chain state one nonce behind.
    Add {
        sender: usize,
        after_pooled: bool,
        nonce_offset: u64,
        fee: u128,
        tip: u128,
        value: u64,
        size: usize,
        salt: u64,
        stale: bool,
    },
    /// A block: the sender's nonce advances (its pooled transactions below it are mined), its
    /// balance changes, the base fee moves, and a few other pooled transactions are mined.
    Commit { sender: usize, advance: u64, balance: u64, base_fee: u64, mine: Vec<Index> },
    /// The builder drops a pooled transaction.
    Remove { pick: Index },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SENDERS, any::<bool>(), prop_oneof![3 => 0u64..2, 1 => 0u64..8], 4u128..=20, 0u128..=20, 0u64..8, 50usize..400, 0u64..3, prop::bool::weighted(0.1))
            .prop_map(|(sender, after_pooled, nonce_offset, fee, tip, value, size, salt, stale)| Op::Add {
                sender, after_pooled, nonce_offset, fee, tip: tip.min(fee), value, size, salt, stale,
            }),
        2 => (0..SENDERS, 0u64..4, 0u64..100, 1u64..10, prop::collection::vec(any::<Index>(), 0..3))
            .prop_map(|(sender, advance, balance, base_fee, mine)| Op::Commit {
                sender, advance, balance, base_fee, mine,
            }),
        1 => any::<Index>().prop_map(|pick| Op::Remove { pick }),
    ]
}

fn config() -> PoolConfig {
    PoolConfig::default()
        .with_pending_limit(SubPoolLimit::new(10, 2_500))
        .with_queued_limit(SubPoolLimit::new(6, 1_200))
        .with_max_account_slots(5)
}

/// Pooled hashes in a deterministic order.
fn pooled(pool: &TxPool<MockTx>) -> Vec<(Address, u64, alloy_primitives::B256)> {
    let content = pool.content();
    let mut all: Vec<_> = content
        .pending
        .iter()
        .chain(content.queued.iter())
        .flat_map(|(sender, txs)| txs.values().map(move |tx| (*sender, tx.nonce, tx.hash())))
        .collect();
    all.sort();
    all
}

/// Checks the builder's iterator against the pool: exactly the includable pending prefix of
/// each sender, in nonce order, each step the best available head.
fn check_best(pool: &TxPool<MockTx>, chain: &[SenderInfo], base_fee: u64) {
    let content = pool.content();
    // Each sender's includable run: pending, stopping at the first fee cap below base fee.
    let mut expected: AddressMap<Vec<MockTx>> = AddressMap::default();
    for (sender, txs) in &content.pending {
        let run: Vec<_> =
            txs.values().take_while(|tx| tx.max_fee >= u128::from(base_fee)).cloned().collect();
        if !run.is_empty() {
            expected.insert(*sender, run);
        }
    }
    let tip = |tx: &MockTx| effective_tip(tx.max_fee, tx.tip.unwrap_or(tx.max_fee), base_fee);
    let mut cursor: AddressMap<usize> = AddressMap::default();
    let mut count = 0;
    for tx in pool.best_transactions(base_fee) {
        count += 1;
        let run = &expected[&tx.sender];
        let at = cursor.entry(tx.sender).or_default();
        assert_eq!(run[*at], tx, "not the sender's next transaction");
        *at += 1;
        // No other available head pays more.
        for (sender, run) in &expected {
            let next = cursor.get(sender).copied().unwrap_or(0);
            if *sender != tx.sender && next < run.len() {
                assert!(tip(&run[next]) <= tip(&tx), "a better paid head was skipped");
            }
        }
    }
    assert_eq!(
        count,
        expected.values().map(Vec::len).sum::<usize>(),
        "iterator missed transactions"
    );
    // Pending runs start at the pool's view of the on-chain nonce, which is at least the
    // model's (the pool ignores stale states).
    for (sender, txs) in &content.pending {
        let first = *txs.keys().next().expect("non-empty");
        let model = chain
            .iter()
            .enumerate()
            .find(|(i, _)| addr(*i as u64) == *sender)
            .map(|(_, s)| s.nonce);
        assert!(Some(first) >= model, "pending below the on-chain nonce");
        let keys: Vec<_> = txs.keys().copied().collect();
        assert_eq!(
            keys,
            (first..first + keys.len() as u64).collect::<Vec<_>>(),
            "pending not contiguous"
        );
    }
}

fn check(pool: &TxPool<MockTx>, chain: &[SenderInfo], base_fee: u64) {
    pool.assert_invariants();
    let status = pool.status();
    let content = pool.content();
    let pending: HashSet<_> =
        content.pending.values().flat_map(|t| t.values().map(|tx| tx.hash())).collect();
    let queued: HashSet<_> =
        content.queued.values().flat_map(|t| t.values().map(|tx| tx.hash())).collect();
    assert!(pending.is_disjoint(&queued), "a transaction both pending and queued");
    assert_eq!(pending.len(), status.pending);
    assert_eq!(queued.len(), status.queued);
    assert_eq!(pool.len(), status.pending + status.queued);
    for hash in pending.iter().chain(&queued) {
        assert!(pool.get(hash).is_some(), "pooled transaction not retrievable");
    }
    let per_sender: BTreeMap<_, usize> =
        pooled(pool).iter().fold(BTreeMap::new(), |mut m, (s, _, _)| {
            *m.entry(*s).or_default() += 1;
            m
        });
    assert!(per_sender.values().all(|n| *n <= pool.config().max_account_slots));
    check_best(pool, chain, base_fee);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_invariants(
        balances in prop::collection::vec(0u64..100, SENDERS),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut pool = TxPool::<MockTx>::new(config());
        let mut chain: Vec<SenderInfo> =
            balances.iter().map(|b| SenderInfo::new(0, U256::from(u128::from(*b) * UNIT))).collect();
        let mut base_fee = 5 * GWEI as u64;
        pool.set_base_fee(base_fee);

        for op in ops {
            match op {
                Op::Add { sender, after_pooled, nonce_offset, fee, tip, value, size, salt, stale } => {
                    let state = chain[sender];
                    let base = if after_pooled {
                        pool.pending_nonce(&addr(sender as u64)).unwrap_or(state.nonce).max(state.nonce)
                    } else {
                        state.nonce
                    };
                    let tx = MockTx::eip1559(addr(sender as u64), base + nonce_offset)
                        .with_fees(fee * GWEI, tip * GWEI)
                        .with_value(U256::from(u128::from(value) * UNIT))
                        .with_size(size)
                        .with_salt(salt);
                    let on_chain = if stale && state.nonce > 0 {
                        SenderInfo::new(state.nonce - 1, state.balance)
                    } else {
                        state
                    };
                    let hash = tx.hash();
                    let before = pool.status();
                    // A caller's newer state is applied even when the transaction is refused.
                    let applies_state = pool
                        .sender_info(&addr(sender as u64))
                        .is_some_and(|known| known.nonce <= on_chain.nonce && known != on_chain);
                    match pool.add(PooledTransaction::new(tx.clone(), 0), on_chain, base_fee) {
                        Ok(added) => {
                            prop_assert_eq!(added.hash, hash);
                            prop_assert_eq!(pool.get(&hash).map(|t| t.transaction.clone()), Some(tx));
                            for evicted in &added.evicted {
                                prop_assert!(!pool.contains(evicted));
                            }
                        }
                        Err(_) if applies_state => {}
                        Err(_) => prop_assert_eq!(pool.status(), before, "a refusal changed the pool"),
                    }
                }
                Op::Commit { sender, advance, balance, base_fee: fee, mine } => {
                    let state = &mut chain[sender];
                    let address = addr(sender as u64);
                    let all = pooled(&pool);
                    let mut mined: Vec<_> = all
                        .iter()
                        .filter(|(s, n, _)| *s == address && *n < state.nonce + advance)
                        .map(|(_, _, h)| *h)
                        .collect();
                    if !all.is_empty() {
                        mined.extend(mine.iter().map(|i| all[i.index(all.len())].2));
                    }
                    state.nonce += advance;
                    state.balance = U256::from(u128::from(balance) * UNIT);
                    base_fee = fee * GWEI as u64;
                    pool.on_block_committed([(address, *state)], mined.clone(), base_fee);
                    for hash in mined {
                        prop_assert!(!pool.contains(&hash));
                    }
                }
                Op::Remove { pick } => {
                    let all = pooled(&pool);
                    if !all.is_empty() {
                        let hash = all[pick.index(all.len())].2;
                        let removed = pool.remove_transactions([hash]);
                        prop_assert_eq!(removed.len(), 1);
                        prop_assert!(!pool.contains(&hash));
                    }
                }
            }
            check(&pool, &chain, base_fee);
        }
    }
}
