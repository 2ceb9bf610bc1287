//! Benchmark of the incremental state-root engine against full `HashBuilder` recomputation.
//!
//! Run with: `cargo bench -p ol-sequencer --bench trie` (optionally `-- --big` to also build a
//! 1M-account state and report its memory footprint).

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{HashBuilder, KECCAK_EMPTY, Nibbles, TrieAccount};
use ol_sequencer::trie::{AccountState, AccountUpdate, MerkleTrie, StateTrie};
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// Deterministic splitmix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn address(&mut self) -> Address {
        let mut bytes = [0u8; 20];
        for chunk in bytes.chunks_mut(8) {
            let n = chunk.len();
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..n]);
        }
        Address::from(bytes)
    }

    fn account(&mut self) -> AccountState {
        AccountState {
            nonce: self.next_u64() % 1000,
            balance: U256::from(self.next_u64()) * U256::from(1_000_000_000u64),
            code_hash: KECCAK_EMPTY,
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn account_leaf(info: &AccountState, storage_root: B256) -> Vec<u8> {
    alloy_rlp::encode(TrieAccount::new(info.nonce, info.balance, storage_root, info.code_hash))
}

/// Full recomputation baseline: HashBuilder over all (already sorted) leaves.
fn hash_builder_root(leaves: &BTreeMap<B256, Vec<u8>>) -> B256 {
    let mut hb = HashBuilder::default();
    for (key, value) in leaves {
        hb.add_leaf(Nibbles::unpack(key), value);
    }
    hb.root()
}

const ACCOUNTS: usize = 100_000;
const BUILD_RUNS: usize = 5;
const ROUNDS: usize = 9;

fn bench_accounts() {
    let mut rng = Rng(1);
    let accounts: Vec<(Address, AccountState)> =
        (0..ACCOUNTS).map(|_| (rng.address(), rng.account())).collect();

    // 1. Build from sorted (start-up rebuild path), including hashing every node.
    let mut samples = Vec::new();
    let mut state = StateTrie::new();
    for _ in 0..BUILD_RUNS {
        let start = Instant::now();
        state = StateTrie::from_accounts(
            accounts.iter().map(|(a, info)| (*a, *info, std::iter::empty())),
        );
        samples.push(start.elapsed());
    }
    println!(
        "build {ACCOUNTS} accounts (StateTrie::from_accounts, incl. keccak of addresses + root): median {:.1} ms",
        ms(median(samples))
    );

    // Baseline model: hashed address -> account leaf.
    let mut model: BTreeMap<B256, Vec<u8>> = accounts
        .iter()
        .map(|(a, info)| (keccak256(a), account_leaf(info, alloy_trie::EMPTY_ROOT_HASH)))
        .collect();
    let mut samples = Vec::new();
    for _ in 0..BUILD_RUNS {
        let start = Instant::now();
        let root = hash_builder_root(&model);
        samples.push(start.elapsed());
        assert_eq!(root, state.root());
    }
    println!(
        "  reference: HashBuilder over the same {ACCOUNTS} pre-hashed sorted leaves: median {:.1} ms",
        ms(median(samples))
    );
    let mut samples = Vec::new();
    for _ in 0..BUILD_RUNS {
        let leaves: Vec<(B256, Vec<u8>)> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
        let start = Instant::now();
        let mut trie = match MerkleTrie::from_sorted(leaves) {
            Ok(trie) => trie,
            Err(e) => panic!("{e}"),
        };
        let root = trie.root();
        samples.push(start.elapsed());
        assert_eq!(root, state.root());
    }
    println!(
        "  MerkleTrie::from_sorted + root over the same pre-hashed sorted leaves: median {:.1} ms",
        ms(median(samples))
    );

    // 2. Rounds of 4,000 balance changes + 4,000 new accounts.
    let mut addresses: Vec<Address> = accounts.iter().map(|(a, _)| *a).collect();
    let (mut incremental, mut full) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut updates = Vec::with_capacity(8000);
        for _ in 0..4000 {
            let address = addresses[(rng.next_u64() % addresses.len() as u64) as usize];
            updates.push((address, rng.account()));
        }
        for _ in 0..4000 {
            let address = rng.address();
            addresses.push(address);
            updates.push((address, rng.account()));
        }
        let block: Vec<(Address, AccountUpdate)> = updates
            .iter()
            .map(|(a, info)| (*a, AccountUpdate { info: Some(*info), ..Default::default() }))
            .collect();

        let start = Instant::now();
        let root = state.apply(block);
        incremental.push(start.elapsed());

        for (address, info) in &updates {
            model.insert(keccak256(address), account_leaf(info, alloy_trie::EMPTY_ROOT_HASH));
        }
        let start = Instant::now();
        let expected = hash_builder_root(&model);
        full.push(start.elapsed());
        assert_eq!(root, expected, "round {round}");
    }
    let (inc, fullm) = (median(incremental), median(full));
    println!(
        "rounds of 8,000 account updates (4,000 balance changes + 4,000 new) on {}..{} accounts, {ROUNDS} rounds:",
        ACCOUNTS,
        state.account_count()
    );
    println!(
        "  incremental StateTrie::apply (keccak addresses, encode, update, root): median {:.2} ms",
        ms(inc)
    );
    println!(
        "  full HashBuilder rebuild of the account trie (leaves pre-sorted):      median {:.2} ms",
        ms(fullm)
    );
    println!("  speed-up: {:.1}x", fullm.as_secs_f64() / inc.as_secs_f64());
}

fn bench_erc20_storage() {
    // One ERC20-like contract: balances mapping at slot 0, slot = keccak(holder . 0).
    let mut rng = Rng(2);
    const HOLDERS: usize = 200_000;
    const UPDATES: usize = 20_000;
    let slot_of = |holder: &Address| {
        let mut preimage = [0u8; 64];
        preimage[12..32].copy_from_slice(holder.as_slice());
        U256::from_be_bytes(keccak256(preimage).0)
    };
    let token = Address::repeat_byte(0xee);
    let token_info = AccountState { nonce: 1, balance: U256::ZERO, code_hash: keccak256(b"erc20") };
    let mut holders: Vec<Address> = (0..HOLDERS).map(|_| rng.address()).collect();
    let storage: Vec<(U256, U256)> =
        holders.iter().map(|h| (slot_of(h), U256::from(rng.next_u64() | 1))).collect();
    let others: Vec<(Address, AccountState)> =
        (0..ACCOUNTS).map(|_| (rng.address(), rng.account())).collect();

    let mut state =
        StateTrie::from_accounts(others.iter().map(|(a, info)| (*a, *info, Vec::new())).chain([(
            token,
            token_info,
            storage.clone(),
        )]));
    let mut model: BTreeMap<B256, Vec<u8>> = storage
        .iter()
        .map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), alloy_rlp::encode(value)))
        .collect();
    assert_eq!(state.storage_root(token), hash_builder_root(&model));

    let (mut incremental, mut full) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // 15,000 transfers touching existing holders, 5,000 new holders.
        let mut slots = Vec::with_capacity(UPDATES);
        for i in 0..UPDATES {
            let holder = if i % 4 == 3 {
                let h = rng.address();
                holders.push(h);
                h
            } else {
                holders[(rng.next_u64() % holders.len() as u64) as usize]
            };
            slots.push((slot_of(&holder), U256::from(rng.next_u64() | 1)));
        }
        let block = vec![(
            token,
            AccountUpdate { info: Some(token_info), storage_wiped: false, storage: slots.clone() },
        )];
        let start = Instant::now();
        state.apply(block);
        incremental.push(start.elapsed());

        for (slot, value) in &slots {
            model.insert(keccak256(slot.to_be_bytes::<32>()), alloy_rlp::encode(value));
        }
        let start = Instant::now();
        let expected = hash_builder_root(&model);
        full.push(start.elapsed());
        assert_eq!(state.storage_root(token), expected, "round {round}");
    }
    let (inc, fullm) = (median(incremental), median(full));
    println!(
        "one ERC20 contract, {HOLDERS}..{} balance slots, {UPDATES} slot updates per block (+{ACCOUNTS} other accounts), {ROUNDS} rounds:",
        model.len()
    );
    println!("  incremental StateTrie::apply (storage + account trie): median {:.2} ms", ms(inc));
    println!("  full HashBuilder rebuild of that storage trie alone:   median {:.2} ms", ms(fullm));
    println!("  speed-up: {:.1}x", fullm.as_secs_f64() / inc.as_secs_f64());
    if let Some(trie) = state.storage_trie(token) {
        println!(
            "  storage trie memory_usage(): {:.1} MiB for {} slots ({:.0} B/slot)",
            trie.memory_usage() as f64 / (1 << 20) as f64,
            trie.len(),
            trie.memory_usage() as f64 / trie.len() as f64
        );
    }
}

fn bench_big() {
    const BIG: usize = 1_000_000;
    let mut rng = Rng(3);
    let before = rss_mib();
    let start = Instant::now();
    let mut leaves: Vec<(B256, Vec<u8>)> = (0..BIG)
        .map(|_| {
            (keccak256(rng.address()), account_leaf(&rng.account(), alloy_trie::EMPTY_ROOT_HASH))
        })
        .collect();
    leaves.sort_unstable_by_key(|(k, _)| *k);
    let prepared = start.elapsed();
    let start = Instant::now();
    let mut trie = match MerkleTrie::from_sorted(leaves) {
        Ok(trie) => trie,
        Err(e) => panic!("{e}"),
    };
    let built = start.elapsed();
    let start = Instant::now();
    let root = trie.root();
    let hashed = start.elapsed();
    let (l, e, b) = trie.node_counts();
    println!(
        "1M-account trie: from_sorted {:.0} ms + first root {:.0} ms (input prep {:.0} ms); nodes: {l} leaves, {e} extensions, {b} branches",
        ms(built),
        ms(hashed),
        ms(prepared)
    );
    println!(
        "  memory_usage() {:.0} MiB ({:.0} B/leaf), process RSS grew {:.0} MiB; root {root}",
        trie.memory_usage() as f64 / (1 << 20) as f64,
        trie.memory_usage() as f64 / BIG as f64,
        rss_mib() - before
    );
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..8000 {
            let key = keccak256(rng.address());
            trie.insert(key, account_leaf(&rng.account(), alloy_trie::EMPTY_ROOT_HASH));
        }
        trie.root();
        samples.push(start.elapsed());
    }
    println!("  8,000 inserts + root on the 1M trie: median {:.2} ms", ms(median(samples)));
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    bench_accounts();
    bench_erc20_storage();
    if std::env::args().any(|a| a == "--big") {
        bench_big();
    }
}
