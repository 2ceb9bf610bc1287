//! Every refusal, with geth's exact message.

use crate::pool::{
    Pool, PoolConfig, PoolErrorKind, SenderInfo, SubPool, SubPoolLimit, TX_REJECTED_RPC_CODE,
    test_utils::{GWEI, MockTx, addr, balance_for},
};
use alloy_primitives::U256;

const BASE_FEE: u64 = 10 * GWEI as u64;

/// One row of the rejection table: a pool, what is in it, the transaction, and the message.
struct Case {
    name: &'static str,
    config: PoolConfig,
    /// Added first; each must be accepted.
    setup: Vec<(MockTx, SenderInfo)>,
    tx: MockTx,
    on_chain: SenderInfo,
    base_fee: u64,
    message: &'static str,
    bad_transaction: bool,
}

fn info(nonce: u64, txs_affordable: u64) -> SenderInfo {
    SenderInfo::new(nonce, balance_for(txs_affordable))
}

fn cases() -> Vec<Case> {
    let a = addr(0);
    let b = addr(1);
    let c = addr(2);
    let rich = info(0, 1_000);
    let small_pending = PoolConfig::default()
        .with_pending_limit(SubPoolLimit::new(3, 1 << 20))
        .with_queued_limit(SubPoolLimit::new(2, 1 << 20));
    vec![
        Case {
            name: "nonce too low",
            config: PoolConfig::default(),
            setup: vec![],
            tx: MockTx::eip1559(a, 3),
            on_chain: info(5, 10),
            base_fee: BASE_FEE,
            message: "nonce too low: next nonce 5, tx nonce 3",
            bad_transaction: false,
        },
        Case {
            name: "insufficient funds (own cost)",
            config: PoolConfig::default(),
            setup: vec![],
            tx: MockTx::eip1559(a, 0).with_value(U256::from(7)),
            on_chain: info(0, 1),
            base_fee: BASE_FEE,
            // cost = 21000 * 100 gwei + 7; balance = 21000 * 100 gwei.
            message: "insufficient funds for gas * price + value: balance 2100000000000000, \
                      tx cost 2100000000000007, overshot 7",
            bad_transaction: false,
        },
        Case {
            name: "insufficient funds (pending replacement over the balance)",
            config: PoolConfig::default(),
            setup: vec![(MockTx::eip1559(a, 0), info(0, 2)), (MockTx::eip1559(a, 1), info(0, 2))],
            // Replaces nonce 0 with a bump that costs more than balance minus nonce 1's cost.
            tx: MockTx::eip1559(a, 0).with_fees(150 * GWEI, 2 * GWEI),
            on_chain: info(0, 2),
            base_fee: BASE_FEE,
            message: "insufficient funds for gas * price + value: balance 4200000000000000, \
                      queued cost 2100000000000000, tx cost 3150000000000000, \
                      overshot 1050000000000000",
            bad_transaction: false,
        },
        Case {
            name: "fee cap below base fee",
            config: PoolConfig::default(),
            setup: vec![],
            tx: MockTx::eip1559(a, 0).with_fees(5 * GWEI, GWEI),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "max fee per gas less than block base fee: address \
                      0x0000000000000000000000000000000000000001, maxFeePerGas: 5000000000, \
                      baseFee: 10000000000",
            bad_transaction: false,
        },
        Case {
            name: "replacement: +9% fee cap and tip refused",
            config: PoolConfig::default(),
            setup: vec![(MockTx::eip1559(a, 0).with_fees(100 * GWEI, 10 * GWEI), rich)],
            tx: MockTx::eip1559(a, 0).with_fees(109 * GWEI, 109 * GWEI / 10),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "replacement transaction underpriced",
            bad_transaction: false,
        },
        Case {
            name: "replacement: +10% fee cap but +9% tip refused",
            config: PoolConfig::default(),
            setup: vec![(MockTx::eip1559(a, 0).with_fees(100 * GWEI, 10 * GWEI), rich)],
            tx: MockTx::eip1559(a, 0).with_fees(110 * GWEI, 109 * GWEI / 10),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "replacement transaction underpriced",
            bad_transaction: false,
        },
        Case {
            name: "replacement: +9% fee cap but +10% tip refused",
            config: PoolConfig::default(),
            setup: vec![(MockTx::eip1559(a, 0).with_fees(100 * GWEI, 10 * GWEI), rich)],
            tx: MockTx::eip1559(a, 0).with_fees(109 * GWEI, 11 * GWEI),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "replacement transaction underpriced",
            bad_transaction: false,
        },
        Case {
            name: "replacement: legacy +9% gas price refused",
            config: PoolConfig::default(),
            setup: vec![(MockTx::legacy(a, 0, 100 * GWEI), rich)],
            tx: MockTx::legacy(a, 0, 109 * GWEI),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "replacement transaction underpriced",
            bad_transaction: false,
        },
        Case {
            name: "already known",
            config: PoolConfig::default(),
            setup: vec![(MockTx::eip1559(a, 0), rich)],
            tx: MockTx::eip1559(a, 0),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "already known",
            bad_transaction: false,
        },
        Case {
            name: "per-sender limit",
            config: PoolConfig::default().with_max_account_slots(3),
            setup: (0..3).map(|n| (MockTx::eip1559(a, n), rich)).collect(),
            tx: MockTx::eip1559(a, 3),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "account limit exceeded",
            bad_transaction: false,
        },
        Case {
            name: "pool full, newcomer as cheap as the cheapest pending candidate",
            config: small_pending.clone(),
            setup: vec![
                (MockTx::eip1559(a, 0).with_tip(GWEI), rich),
                (MockTx::eip1559(b, 0).with_tip(2 * GWEI), rich),
                (MockTx::eip1559(c, 0).with_tip(3 * GWEI), rich),
            ],
            tx: MockTx::eip1559(addr(3), 0).with_tip(GWEI),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "txpool is full",
            bad_transaction: false,
        },
        Case {
            name: "pool full, queued newcomer cheapest",
            config: small_pending,
            setup: vec![
                (MockTx::eip1559(a, 5).with_tip(2 * GWEI), rich),
                (MockTx::eip1559(b, 5).with_tip(3 * GWEI), rich),
            ],
            tx: MockTx::eip1559(c, 5).with_tip(GWEI),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "txpool is full",
            bad_transaction: false,
        },
        Case {
            name: "oversized",
            config: PoolConfig::default(),
            setup: vec![],
            tx: MockTx::eip1559(a, 0).with_size(128 * 1024 + 1),
            on_chain: rich,
            base_fee: BASE_FEE,
            message: "oversized data: transaction size 131073, limit 131072",
            bad_transaction: true,
        },
        Case {
            name: "gas limit above the block's",
            config: PoolConfig::default().with_max_tx_gas_limit(30_000_000),
            setup: vec![],
            tx: MockTx::eip1559(a, 0).with_gas_limit(30_000_001),
            on_chain: info(0, 100_000),
            base_fee: BASE_FEE,
            message: "exceeds block gas limit",
            bad_transaction: true,
        },
    ]
}

#[test]
fn rejection_table() {
    for case in cases() {
        let pool = Pool::new(case.config.clone());
        pool.set_base_fee(case.base_fee);
        for (tx, on_chain) in &case.setup {
            pool.add(tx.clone(), *on_chain, case.base_fee)
                .unwrap_or_else(|e| panic!("{}: setup refused: {e}", case.name));
        }
        let before = pool.status();
        let err = pool
            .add(case.tx.clone(), case.on_chain, case.base_fee)
            .expect_err(&format!("{}: accepted", case.name));
        assert_eq!(err.to_string(), case.message, "{}", case.name);
        assert_eq!(err.rpc_code(), TX_REJECTED_RPC_CODE, "{}", case.name);
        assert_eq!(err.is_bad_transaction(), case.bad_transaction, "{}", case.name);
        assert_eq!(err.hash, crate::pool::PoolTransaction::hash(&case.tx), "{}", case.name);
        // A refusal changes nothing.
        assert_eq!(pool.status(), before, "{}", case.name);
        for (tx, _) in &case.setup {
            assert!(pool.contains(&crate::pool::PoolTransaction::hash(tx)), "{}", case.name);
        }
    }
}

#[test]
fn replacement_with_ten_percent_on_both_fees_is_accepted() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    let rich = info(0, 1_000);
    let old = MockTx::eip1559(a, 0).with_fees(100 * GWEI, 10 * GWEI);
    let old_hash = pool.add(old, rich, BASE_FEE).unwrap().hash;

    let new = MockTx::eip1559(a, 0).with_fees(110 * GWEI, 11 * GWEI);
    let added = pool.add(new.clone(), rich, BASE_FEE).unwrap();
    assert_eq!(added.replaced, Some(old_hash));
    assert_eq!(added.sub_pool, SubPool::Pending);
    assert!(!pool.contains(&old_hash));
    assert_eq!(pool.get(&added.hash), Some(new));
    assert_eq!(pool.len(), 1);

    // Legacy: +10% gas price is enough (it is both caps).
    let legacy = MockTx::legacy(addr(1), 0, 100 * GWEI);
    pool.add(legacy, rich, BASE_FEE).unwrap();
    let bumped = pool.add(MockTx::legacy(addr(1), 0, 110 * GWEI), rich, BASE_FEE).unwrap();
    assert!(bumped.replaced.is_some());
}

#[test]
fn replacement_allowed_at_the_account_limit() {
    let pool = Pool::new(PoolConfig::default().with_max_account_slots(2));
    let rich = info(0, 1_000);
    pool.add(MockTx::eip1559(addr(0), 0), rich, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(addr(0), 1), rich, BASE_FEE).unwrap();
    let replaced = pool
        .add(MockTx::eip1559(addr(0), 1).with_fees(200 * GWEI, 2 * GWEI), rich, BASE_FEE)
        .unwrap();
    assert!(replaced.replaced.is_some());
    assert_eq!(pool.len(), 2);
}

#[test]
fn pool_full_evicts_the_cheapest_for_a_better_paid_newcomer() {
    let config = PoolConfig::default().with_pending_limit(SubPoolLimit::new(3, 1 << 20));
    let pool = Pool::new(config);
    pool.set_base_fee(BASE_FEE);
    let rich = info(0, 1_000);
    let cheap = MockTx::eip1559(addr(0), 0).with_tip(GWEI);
    let cheap_hash = pool.add(cheap, rich, BASE_FEE).unwrap().hash;
    pool.add(MockTx::eip1559(addr(1), 0).with_tip(2 * GWEI), rich, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(addr(2), 0).with_tip(3 * GWEI), rich, BASE_FEE).unwrap();

    let added = pool.add(MockTx::eip1559(addr(3), 0).with_tip(5 * GWEI), rich, BASE_FEE).unwrap();
    assert_eq!(added.sub_pool, SubPool::Pending);
    assert_eq!(added.evicted, vec![cheap_hash]);
    assert!(!pool.contains(&cheap_hash));
    assert_eq!(pool.status().pending, 3);
}

#[test]
fn eviction_takes_a_senders_highest_nonce_never_leaving_a_gap() {
    let config = PoolConfig::default().with_pending_limit(SubPoolLimit::new(3, 1 << 20));
    let pool = Pool::new(config);
    pool.set_base_fee(BASE_FEE);
    let rich = info(0, 1_000);
    let a = addr(0);
    // Sender a: a cheap head and better paid followers.
    pool.add(MockTx::eip1559(a, 0).with_tip(GWEI), rich, BASE_FEE).unwrap();
    pool.add(MockTx::eip1559(a, 1).with_tip(6 * GWEI), rich, BASE_FEE).unwrap();
    let a2 = pool.add(MockTx::eip1559(a, 2).with_tip(4 * GWEI), rich, BASE_FEE).unwrap().hash;

    // Cheaper than a's last (4 gwei) though dearer than a's head: refused, a untouched.
    let err = pool.add(MockTx::eip1559(addr(1), 0).with_tip(3 * GWEI), rich, BASE_FEE);
    assert_eq!(*err.unwrap_err().kind(), PoolErrorKind::PoolFull);
    assert_eq!(pool.pending_nonce(&a), Some(3));

    // Dearer than a's last: a's nonce 2 goes, nonces 0 and 1 stay pending.
    let added = pool.add(MockTx::eip1559(addr(1), 0).with_tip(5 * GWEI), rich, BASE_FEE).unwrap();
    assert_eq!(added.evicted, vec![a2]);
    assert_eq!(pool.pending_nonce(&a), Some(2));
    let (pending, queued) = pool.sender_transactions(&a);
    assert_eq!(pending.iter().map(|tx| tx.nonce).collect::<Vec<_>>(), vec![0, 1]);
    assert!(queued.is_empty());
}

#[test]
fn queued_overflow_evicts_the_cheapest_queued() {
    let config = PoolConfig::default().with_queued_limit(SubPoolLimit::new(2, 1 << 20));
    let pool = Pool::new(config);
    pool.set_base_fee(BASE_FEE);
    let rich = info(0, 1_000);
    let cheap = pool.add(MockTx::eip1559(addr(0), 5).with_tip(GWEI), rich, BASE_FEE).unwrap();
    assert_eq!(cheap.sub_pool, SubPool::Queued);
    pool.add(MockTx::eip1559(addr(1), 5).with_tip(2 * GWEI), rich, BASE_FEE).unwrap();
    // Pending transactions are not candidates for queued overflow.
    pool.add(MockTx::eip1559(addr(2), 0).with_tip(0), rich, BASE_FEE).unwrap();

    let added = pool.add(MockTx::eip1559(addr(3), 5).with_tip(3 * GWEI), rich, BASE_FEE).unwrap();
    assert_eq!(added.evicted, vec![cheap.hash]);
    assert_eq!(pool.status().queued, 2);
    assert_eq!(pool.status().pending, 1);
}

#[test]
fn byte_limit_evicts_several_or_refuses_without_side_effects() {
    let config = PoolConfig::default().with_pending_limit(SubPoolLimit::new(100, 1_000));
    let pool = Pool::new(config);
    pool.set_base_fee(BASE_FEE);
    let rich = info(0, 1_000);
    for (i, tip) in [1u128, 2, 3, 4].into_iter().enumerate() {
        let tx = MockTx::eip1559(addr(i as u64), 0).with_tip(tip * GWEI).with_size(250);
        pool.add(tx, rich, BASE_FEE).unwrap();
    }
    // 1,000 bytes used; 600 more at 5 gwei: the 1, 2 and 3 gwei transactions make room.
    let big = MockTx::eip1559(addr(10), 0).with_tip(5 * GWEI).with_size(600);
    let added = pool.add(big, rich, BASE_FEE).unwrap();
    assert_eq!(added.evicted.len(), 3);
    assert_eq!(pool.status().pending_bytes, 850);

    // Needs more room than the cheaper transactions free: refused, and nothing evicted.
    let before = pool.status();
    let huge = MockTx::eip1559(addr(11), 0).with_tip(4 * GWEI + 1).with_size(900);
    assert_eq!(*pool.add(huge, rich, BASE_FEE).unwrap_err().kind(), PoolErrorKind::PoolFull);
    assert_eq!(pool.status(), before);
    assert_eq!(pool.len(), 2);
}

#[test]
fn stale_on_chain_state_does_not_resurrect_used_nonces() {
    let pool = Pool::new(PoolConfig::default());
    let a = addr(0);
    pool.add(MockTx::eip1559(a, 5), info(5, 10), BASE_FEE).unwrap();
    // The RPC read state before the block with nonce 5... the pool knows nonce 5 already.
    let err = pool.add(MockTx::eip1559(a, 4), info(4, 10), BASE_FEE).unwrap_err();
    assert_eq!(err.to_string(), "nonce too low: next nonce 5, tx nonce 4");
}
