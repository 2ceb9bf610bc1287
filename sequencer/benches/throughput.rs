//! End-to-end throughput: the same pre-signed load sent over JSON-RPC to `ol-sequencer` and to
//! anvil in one run, plus the in-process pipeline on the same transactions as the machine's
//! ceiling. Prints tx/s, Mgas/s and the ratios. Not a test: run it with
//!
//! ```text
//! cargo bench -p ol-sequencer --bench throughput            # 20,000 txs per load
//! cargo bench -p ol-sequencer --bench throughput -- --txs 40000 --runs 3
//! OL_BENCH_LOG=info cargo bench -p ol-sequencer --bench throughput   # keep ol-sequencer's log
//! ```
//!
//! Both nodes start from the same genesis file (the load's senders funded), with 200 ms
//! blocks and a 1 Ggas gas limit (so the limit never binds), and the load goes out as JSON-RPC
//! batches over a few concurrent connections until every transaction is mined. ol-sequencer
//! persists every block to its database; anvil keeps everything in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol,
    sol_types::SolCall,
};
use ol_sequencer::{
    chainspec::ChainSpec, execution::BlockAttributes, genesis::with_predeploys,
    memory::MemoryChain, primitives::Transaction,
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

const CHAIN_ID: u64 = 1_337_420;
const GAS_LIMIT: u64 = 1_000_000_000;
const BLOCK_TIME_MS: u64 = 200;
const MAX_FEE: u128 = 100_000_000_000;
const TIP: u128 = 1_000_000_000;
/// Raw transactions per JSON-RPC batch request.
const BATCH: usize = 200;
/// Concurrent connections sending batches.
const CONNECTIONS: usize = 4;

sol! {
    function deposit() payable;
    function transfer(address to, uint256 amount) returns (bool);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Transfers,
    Erc20,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Self::Transfers => "native transfers",
            Self::Erc20 => "ERC20 transfers",
        }
    }
}

/// One load: setup transactions (sent and mined before timing) and the timed ones.
struct Workload {
    load: Load,
    setup: Vec<Vec<u8>>,
    timed: Vec<Vec<u8>>,
    /// Each sender's nonce after everything is mined.
    final_nonces: BTreeMap<Address, u64>,
}

fn signers(n: usize) -> Vec<PrivateKeySigner> {
    (0..n)
        .map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("ol-bench-sender-{i}"))).unwrap())
        .collect()
}

fn sign(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas: u64,
) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: MAX_FEE,
        max_priority_fee_per_gas: TIP,
        to,
        value,
        access_list: Default::default(),
        input,
    };
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

fn workload(load: Load, senders: &[PrivateKeySigner], txs: usize, token_code: &Bytes) -> Workload {
    let per_sender = txs.div_ceil(senders.len());
    let mut setup = Vec::new();
    let mut timed = Vec::with_capacity(txs);
    let mut nonces: BTreeMap<Address, u64> = senders.iter().map(|s| (s.address(), 0)).collect();
    let token = senders[0].address().create(0);
    if load == Load::Erc20 {
        setup.push(sign(&senders[0], 0, TxKind::Create, U256::ZERO, token_code.clone(), 3_000_000));
        nonces.insert(senders[0].address(), 1);
        for s in senders {
            let nonce = nonces[&s.address()];
            let value = U256::from(10u64).pow(U256::from(21u64));
            setup.push(sign(
                s,
                nonce,
                TxKind::Call(token),
                value,
                depositCall {}.abi_encode().into(),
                100_000,
            ));
            nonces.insert(s.address(), nonce + 1);
        }
    }
    // Round-robin over senders so every batch carries many senders, as real traffic does.
    'outer: for round in 0..per_sender {
        for (i, s) in senders.iter().enumerate() {
            if timed.len() == txs {
                break 'outer;
            }
            let nonce = nonces[&s.address()];
            let to = senders[(i + 1 + round) % senders.len()].address();
            let raw = match load {
                Load::Transfers => {
                    sign(s, nonce, TxKind::Call(to), U256::from(1), Bytes::new(), 21_000)
                }
                Load::Erc20 => sign(
                    s,
                    nonce,
                    TxKind::Call(token),
                    U256::ZERO,
                    transferCall { to, amount: U256::from(1) }.abi_encode().into(),
                    60_000,
                ),
            };
            timed.push(raw);
            nonces.insert(s.address(), nonce + 1);
        }
    }
    Workload { load, setup, timed, final_nonces: nonces }
}

fn genesis_json(senders: &[PrivateKeySigner]) -> Value {
    let alloc: serde_json::Map<String, Value> = senders
        .iter()
        .map(|s| (format!("{:?}", s.address()), json!({"balance": "0x3635c9adc5dea00000000"})))
        .collect();
    json!({
        "config": {"chainId": CHAIN_ID, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
                   "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
                   "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0, "mergeNetsplitBlock": 0,
                   "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0,
                   "terminalTotalDifficulty": 0, "terminalTotalDifficultyPassed": true},
        "gasLimit": format!("{GAS_LIMIT:#x}"),
        "baseFeePerGas": "0x3b9aca00",
        "difficulty": "0x0",
        "timestamp": "0x0",
        "extraData": "0x",
        "alloc": alloc,
    })
}

/// A node under test, as a child process.
struct NodeProcess {
    name: &'static str,
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // OL_BENCH_LOG=info keeps the node's log (block timings) for a look afterwards.
        if std::env::var_os("OL_BENCH_LOG").is_some() {
            let log = self._dir.path().join("node.log");
            let kept = std::env::temp_dir().join(format!(
                "ol-bench-{}-{}.log",
                self.name,
                std::process::id()
            ));
            if std::fs::copy(&log, &kept).is_ok() {
                eprintln!("  {} log kept at {}", self.name, kept.display());
            }
        }
    }
}

use ol_testkit::{free_port, repo_root as root};

fn start(name: &'static str, genesis: &Value) -> NodeProcess {
    let dir = tempfile::tempdir().unwrap();
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, genesis.to_string()).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
    let mut cmd = if name == "anvil" {
        let mut cmd = Command::new(root().join(".tools/bin/anvil"));
        cmd.args(["--port", &port.to_string(), "--chain-id", &CHAIN_ID.to_string()])
            .args(["--block-time", &format!("{}", BLOCK_TIME_MS as f64 / 1000.0)])
            .args(["--gas-limit", &GAS_LIMIT.to_string(), "--hardfork", "prague"])
            .args(["--no-request-size-limit", "--init"])
            .arg(&genesis_path);
        cmd
    } else {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ol-sequencer"));
        cmd.arg("--genesis")
            .arg(&genesis_path)
            .arg("--datadir")
            .arg(dir.path().join("data"))
            .args(["--http.port", &port.to_string(), "--block-time", &BLOCK_TIME_MS.to_string()])
            .args(["--gas-limit", &GAS_LIMIT.to_string()])
            .env("RUST_LOG", std::env::var("OL_BENCH_LOG").unwrap_or_else(|_| "warn".into()));
        cmd
    };
    let child = cmd
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {name}: {e} (run scripts/bootstrap first for anvil)")
        });
    let url = format!("http://127.0.0.1:{port}");
    let node = NodeProcess { name, child, url, _dir: dir };
    let client = reqwest::blocking::Client::new();
    for _ in 0..300 {
        if rpc(&client, &node.url, "eth_chainId", json!([])).is_ok() {
            return node;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not start");
}

fn rpc(
    client: &reqwest::blocking::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: Value = client
        .post(url)
        .json(&body)
        .send()
        .map_err(|e| e.to_string())?
        .json()
        .map_err(|e| e.to_string())?;
    match answer.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(answer.to_string()),
    }
}

/// Sends raw transactions as batches over `CONNECTIONS` threads; panics on any rejection.
fn send_all(url: &str, txs: &[Vec<u8>]) {
    let chunks: Vec<&[Vec<u8>]> = txs.chunks(BATCH).collect();
    let per_thread = chunks.len().div_ceil(CONNECTIONS);
    std::thread::scope(|scope| {
        for part in chunks.chunks(per_thread.max(1)) {
            scope.spawn(move || {
                let client = reqwest::blocking::Client::new();
                for chunk in part {
                    let batch: Vec<Value> = chunk
                        .iter()
                        .enumerate()
                        .map(|(id, raw)| json!({"jsonrpc": "2.0", "id": id, "method": "eth_sendRawTransaction", "params": [Bytes::copy_from_slice(raw)]}))
                        .collect();
                    let answers: Value = client.post(url).json(&batch).send().unwrap().json().unwrap();
                    for a in answers.as_array().expect("a batch answer") {
                        assert!(a.get("result").is_some(), "rejected: {a}");
                    }
                }
            });
        }
    });
}

/// Waits until every sender's nonce reached its final value.
fn wait_mined(url: &str, nonces: &BTreeMap<Address, u64>) {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let batch: Vec<Value> = nonces
            .keys()
            .enumerate()
            .map(|(id, a)| json!({"jsonrpc": "2.0", "id": id, "method": "eth_getTransactionCount", "params": [a, "latest"]}))
            .collect();
        let answers: Value = client.post(url).json(&batch).send().unwrap().json().unwrap();
        let mut answers = answers.as_array().unwrap().clone();
        answers.sort_by_key(|a| a["id"].as_u64());
        let done = answers.iter().zip(nonces.values()).all(|(a, want)| {
            u64::from_str_radix(a["result"].as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
                .unwrap_or(0)
                >= *want
        });
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "transactions were not all mined in 600 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn block_number(url: &str) -> u64 {
    let client = reqwest::blocking::Client::new();
    let n = rpc(&client, url, "eth_blockNumber", json!([])).unwrap();
    u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn gas_between(url: &str, from: u64, to: u64) -> u64 {
    let client = reqwest::blocking::Client::new();
    (from + 1..=to)
        .map(|n| {
            let b = rpc(&client, url, "eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
                .unwrap();
            u64::from_str_radix(b["gasUsed"].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap()
        })
        .sum()
}

/// One measured run: (tx/s, Mgas/s).
fn run_node(name: &'static str, genesis: &Value, w: &Workload) -> (f64, f64) {
    let node = start(name, genesis);
    if !w.setup.is_empty() {
        send_all(&node.url, &w.setup[..1]);
        let mut deployer = BTreeMap::new();
        let first = w.final_nonces.keys().next().copied();
        let _ = first;
        deployer.insert(sender_of(&w.setup[0]), 1);
        wait_mined(&node.url, &deployer);
        send_all(&node.url, &w.setup[1..]);
        let setup_nonces: BTreeMap<Address, u64> =
            w.setup[1..].iter().map(|raw| (sender_of(raw), nonce_of(raw) + 1)).collect();
        wait_mined(&node.url, &setup_nonces);
    }
    let start_block = block_number(&node.url);
    let started = Instant::now();
    send_all(&node.url, &w.timed);
    wait_mined(&node.url, &w.final_nonces);
    let elapsed = started.elapsed().as_secs_f64();
    let end_block = block_number(&node.url);
    let gas = gas_between(&node.url, start_block, end_block);
    eprintln!(
        "  {:<13} {} txs in {:.2} s, blocks {}..={}",
        node.name,
        w.timed.len(),
        elapsed,
        start_block + 1,
        end_block
    );
    (w.timed.len() as f64 / elapsed, gas as f64 / elapsed / 1e6)
}

fn decode(raw: &[u8]) -> Transaction {
    use alloy::eips::Decodable2718;
    Transaction::decode_2718(&mut &raw[..]).unwrap()
}

fn sender_of(raw: &[u8]) -> Address {
    use alloy::consensus::transaction::SignerRecoverable;
    decode(raw).recover_signer().unwrap()
}

fn nonce_of(raw: &[u8]) -> u64 {
    use alloy::consensus::Transaction as _;
    decode(raw).nonce()
}

/// The in-process pipeline on the same transactions: recovery on all cores, execution and
/// sealing (state trie, roots), in blocks the size the node produced; no RPC, no disk.
fn run_pipeline(genesis: &Value, w: &Workload, block_txs: usize) -> (f64, f64) {
    let genesis: alloy_genesis::Genesis = serde_json::from_value(genesis.clone()).unwrap();
    let spec = Arc::new(ChainSpec::new(with_predeploys(genesis)).unwrap());
    let mut chain = MemoryChain::from_genesis(spec).unwrap();
    let mut apply = |raw: &[Vec<u8>]| -> u64 {
        let txs: Vec<Transaction> = raw.iter().map(|r| decode(r)).collect();
        let recovered = ol_sequencer::validate::recover_senders(txs).unwrap();
        let attributes = BlockAttributes {
            timestamp: chain.head().timestamp + 1,
            beneficiary: Address::ZERO,
            gas_limit: GAS_LIMIT,
            prev_randao: B256::ZERO,
            parent_beacon_block_root: B256::ZERO,
            extra_data: Bytes::new(),
        };
        chain.execute(&attributes, recovered).unwrap().block.header.gas_used
    };
    if !w.setup.is_empty() {
        apply(&w.setup[..1]);
        apply(&w.setup[1..]);
    }
    let started = Instant::now();
    let mut gas = 0;
    for chunk in w.timed.chunks(block_txs.max(1)) {
        gas += apply(chunk);
    }
    let elapsed = started.elapsed().as_secs_f64();
    (w.timed.len() as f64 / elapsed, gas as f64 / elapsed / 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn token_code() -> Bytes {
    let status = Command::new(root().join(".tools/bin/forge"))
        .args(["build", "--quiet"])
        .current_dir(root())
        .status()
        .expect("forge (run scripts/bootstrap first)");
    assert!(status.success(), "forge build failed");
    let artifact: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("contracts/out/WrappedOpen.sol/WrappedOpen.json"))
            .unwrap(),
    )
    .unwrap();
    artifact["bytecode"]["object"].as_str().unwrap().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().unwrap())
    };
    let txs = arg("--txs", 20_000);
    let runs = arg("--runs", 1);
    let sender_count = arg("--senders", 1_000);
    let senders = signers(sender_count);
    let genesis = genesis_json(&senders);
    let code = token_code();

    println!(
        "ol-sequencer vs anvil: {txs} pre-signed txs per load, {sender_count} senders, {BLOCK_TIME_MS} ms blocks, {GAS_LIMIT} gas limit, {runs} run(s), medians"
    );
    println!(
        "{:<18} {:>14} {:>14} {:>8} {:>16} {:>10}",
        "load", "ol-sequencer", "anvil", "ratio", "pipeline", "e2e/pipe"
    );
    for load in [Load::Transfers, Load::Erc20] {
        let w = workload(load, &senders, txs, &code);
        let mut ol = Vec::new();
        let mut anvil = Vec::new();
        let mut pipe = Vec::new();
        for _ in 0..runs {
            ol.push(run_node("ol-sequencer", &genesis, &w));
            anvil.push(run_node("anvil", &genesis, &w));
            pipe.push(run_pipeline(&genesis, &w, 4_000));
        }
        let (ol_tps, ol_mgas) =
            (median(ol.iter().map(|r| r.0).collect()), median(ol.iter().map(|r| r.1).collect()));
        let (an_tps, an_mgas) = (
            median(anvil.iter().map(|r| r.0).collect()),
            median(anvil.iter().map(|r| r.1).collect()),
        );
        let (pi_tps, pi_mgas) = (
            median(pipe.iter().map(|r| r.0).collect()),
            median(pipe.iter().map(|r| r.1).collect()),
        );
        println!(
            "{:<18} {:>8.0} tx/s {:>8.0} tx/s {:>7.2}x {:>10.0} tx/s {:>9.0}%",
            w.load.name(),
            ol_tps,
            an_tps,
            ol_tps / an_tps,
            pi_tps,
            100.0 * ol_tps / pi_tps
        );
        println!(
            "{:<18} {:>7.1} Mgas/s {:>6.1} Mgas/s {:>7.2}x {:>8.1} Mgas/s",
            "",
            ol_mgas,
            an_mgas,
            ol_mgas / an_mgas,
            pi_mgas
        );
    }
}
