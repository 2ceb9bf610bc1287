//! Throughput of the transaction pool: adds (one and two threads), block-building iteration,
//! a block commit, eviction under a full pool, and one sender with thousands in flight.
//!
//! Run with: `cargo bench -p ol-sequencer --bench pool`

use alloy_primitives::{Address, B256, U256, keccak256};
use ol_sequencer::pool::{Pool, PoolConfig, PoolTransaction, SenderInfo, SubPoolLimit};
use std::{
    hint::black_box,
    sync::Barrier,
    time::{Duration, Instant},
};

const GWEI: u128 = 1_000_000_000;
const BASE_FEE: u64 = 1_000_000_000;
const SENDERS: u64 = 1_000;
const PER_SENDER: u64 = 50;

/// A transaction with precomputed fields, as the node's recovered transaction would have.
#[derive(Debug, Clone)]
struct BenchTx {
    hash: B256,
    sender: Address,
    nonce: u64,
    max_fee: u128,
    tip: u128,
}

impl BenchTx {
    fn new(sender: u64, nonce: u64, tip_gwei: u128) -> Self {
        let mut bytes = [0u8; 20];
        bytes[12..].copy_from_slice(&(sender + 1).to_be_bytes());
        let sender = Address::from(bytes);
        let mut preimage = sender.to_vec();
        preimage.extend_from_slice(&nonce.to_be_bytes());
        preimage.extend_from_slice(&tip_gwei.to_be_bytes());
        Self {
            hash: keccak256(&preimage),
            sender,
            nonce,
            max_fee: 100 * GWEI,
            tip: tip_gwei * GWEI,
        }
    }
}

impl PoolTransaction for BenchTx {
    fn hash(&self) -> B256 {
        self.hash
    }
    fn sender(&self) -> Address {
        self.sender
    }
    fn nonce(&self) -> u64 {
        self.nonce
    }
    fn gas_limit(&self) -> u64 {
        21_000
    }
    fn max_fee_per_gas(&self) -> u128 {
        self.max_fee
    }
    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        Some(self.tip)
    }
    fn cost(&self) -> U256 {
        U256::from(21_000u64) * U256::from(self.max_fee)
    }
    fn encoded_length(&self) -> usize {
        110
    }
}

fn rich() -> SenderInfo {
    SenderInfo::new(0, U256::from(10u128.pow(24)))
}

/// `SENDERS` × `PER_SENDER` transactions, arriving round-robin (each sender's nonces in
/// order), tips spread over 1..=50 gwei.
fn workload(senders: std::ops::Range<u64>) -> Vec<BenchTx> {
    let mut txs = Vec::new();
    for nonce in 0..PER_SENDER {
        for sender in senders.clone() {
            txs.push(BenchTx::new(sender, nonce, u128::from((sender * 7 + nonce * 13) % 50 + 1)));
        }
    }
    txs
}

fn rate(n: usize, elapsed: Duration) -> String {
    format!(
        "{n:>7} txs in {:>8.2} ms = {:>10.0} tx/s",
        elapsed.as_secs_f64() * 1e3,
        n as f64 / elapsed.as_secs_f64()
    )
}

fn main() {
    let all = workload(0..SENDERS);
    let total = all.len();

    // 1. Adds from one thread.
    let pool = Pool::new(PoolConfig::default());
    let start = Instant::now();
    for tx in all.iter().cloned() {
        pool.add(tx, rich(), BASE_FEE).expect("accepted");
    }
    println!("add, 1 thread:              {}", rate(total, start.elapsed()));
    assert_eq!(pool.status().pending, total);

    // 2. Block building: snapshot + iterate everything.
    let start = Instant::now();
    let best = pool.best_transactions(BASE_FEE);
    let snapshot = start.elapsed();
    let taken = black_box(best).count();
    let elapsed = start.elapsed();
    println!(
        "best, snapshot + 50k:       {} (snapshot {:.2} ms)",
        rate(taken, elapsed),
        snapshot.as_secs_f64() * 1e3
    );
    assert_eq!(taken, total);

    // 2b. A typical block: the best 20k.
    let start = Instant::now();
    let taken = black_box(pool.best_transactions(BASE_FEE)).take(20_000).count();
    println!("best, snapshot + first 20k: {}", rate(taken, start.elapsed()));

    // 3. Commit a block that mined everything.
    let changed: Vec<_> = (0..SENDERS)
        .map(|s| {
            (BenchTx::new(s, 0, 1).sender, SenderInfo::new(PER_SENDER, U256::from(10u128.pow(24))))
        })
        .collect();
    let mined: Vec<_> = all.iter().map(|tx| tx.hash).collect();
    let start = Instant::now();
    let outcome = pool.on_block_committed(changed, mined, BASE_FEE);
    println!("commit, all mined:          {}", rate(outcome.removed, start.elapsed()));
    assert!(pool.is_empty());

    // 4. Adds from two threads at once (500 senders each).
    let pool = Pool::new(PoolConfig::default());
    let halves = [workload(0..SENDERS / 2), workload(SENDERS / 2..SENDERS)];
    let barrier = Barrier::new(2);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for half in &halves {
            let pool = pool.clone();
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                for tx in half.iter().cloned() {
                    pool.add(tx, rich(), BASE_FEE).expect("accepted");
                }
            });
        }
    });
    println!("add, 2 threads:             {}", rate(total, start.elapsed()));
    assert_eq!(pool.len(), total);

    // 5. Two adding threads while the builder takes snapshots in a loop.
    let pool = Pool::new(PoolConfig::default());
    let done = std::sync::atomic::AtomicBool::new(false);
    let start = Instant::now();
    let mut built = 0;
    std::thread::scope(|scope| {
        let adders: Vec<_> = halves
            .iter()
            .map(|half| {
                let pool = pool.clone();
                scope.spawn(move || {
                    for tx in half.iter().cloned() {
                        pool.add(tx, rich(), BASE_FEE).expect("accepted");
                    }
                })
            })
            .collect();
        let builder = scope.spawn(|| {
            let mut blocks = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(pool.best_transactions(BASE_FEE).take(20_000).count());
                blocks += 1;
            }
            blocks
        });
        for adder in adders {
            adder.join().expect("adder");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        built = builder.join().expect("builder");
    });
    println!(
        "add, 2 threads + builder:   {} ({built} snapshots taken meanwhile)",
        rate(total, start.elapsed())
    );

    // 6. A full pool: 20k pending and 5k queued slots for 50k adds. Past the limits each add
    // evicts the cheapest candidate or is refused; an eviction leaves a gap, so that sender's
    // later nonces go to queued.
    let config = PoolConfig::default()
        .with_pending_limit(SubPoolLimit::new(20_000, 1 << 30))
        .with_queued_limit(SubPoolLimit::new(5_000, 1 << 30));
    let pool = Pool::new(config);
    pool.set_base_fee(BASE_FEE);
    let start = Instant::now();
    let (mut evicted, mut full) = (0, 0);
    for tx in all.iter().cloned() {
        match pool.add(tx, rich(), BASE_FEE) {
            Ok(added) => evicted += added.evicted.len(),
            Err(_) => full += 1,
        }
    }
    let status = pool.status();
    println!(
        "add, full pool (20k + 5k):  {} ({evicted} evictions, {full} refused, {} pending, {} queued)",
        rate(total, start.elapsed()),
        status.pending,
        status.queued
    );

    // 7. One sender with 16,384 transactions in flight.
    let pool = Pool::new(PoolConfig::default());
    let one: Vec<_> = (0..16_384).map(|n| BenchTx::new(0, n, 2)).collect();
    let start = Instant::now();
    for tx in one.iter().cloned() {
        pool.add(tx, rich(), BASE_FEE).expect("accepted");
    }
    println!("add, 1 sender x 16,384:     {}", rate(one.len(), start.elapsed()));
    // Out of order (reverse nonces): all queued, then one promotion of 16,383.
    let pool = Pool::new(PoolConfig::default());
    let start = Instant::now();
    for tx in one.iter().rev().cloned() {
        pool.add(tx, rich(), BASE_FEE).expect("accepted");
    }
    println!("add, same, reverse order:   {}", rate(one.len(), start.elapsed()));
    let start = Instant::now();
    let taken = pool.best_transactions(BASE_FEE).count();
    println!("best, 1 sender x 16,384:    {}", rate(taken, start.elapsed()));
}
