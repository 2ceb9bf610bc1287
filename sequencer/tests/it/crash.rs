//! `kill -9` under load: every transaction whose receipt was handed out survives, and the
//! chain continues from the same head.

use crate::common::{dev_signer, eip1559, free_port, quantity, rpc, sign};
use alloy::{
    primitives::{Address, B256, Bytes, TxKind, U256, address},
    signers::local::PrivateKeySigner,
};
use serde_json::json;
use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const SINK: Address = address!("00000000000000000000000000000000000C0FFE");

struct Sequencer {
    child: Child,
    url: String,
}

fn start(datadir: &Path, port: u16) -> Sequencer {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(datadir.with_extension("log"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ol-sequencer"))
        .args(["--dev", "--block-time", "100", "--http.port", &port.to_string()])
        .arg("--datadir")
        .arg(datadir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while rpc(&url, "eth_chainId", json!([])).is_err() {
        assert!(Instant::now() < deadline, "the sequencer did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    Sequencer { child, url }
}

fn transfer(signer: &PrivateKeySigner, nonce: u64) -> Bytes {
    sign(signer, eip1559(nonce, TxKind::Call(SINK), U256::from(1), Bytes::new(), 21_000))
}

/// Receipts handed out: tx hash → (block number, block hash).
type Acknowledged = BTreeMap<B256, (u64, B256)>;

/// Sends transactions from the dev accounts for `duration` and records every receipt seen.
fn load(
    url: &str,
    signers: &[PrivateKeySigner],
    acknowledged: &mut Acknowledged,
    duration: Duration,
) {
    let deadline = Instant::now() + duration;
    let mut outstanding: Vec<B256> = Vec::new();
    while Instant::now() < deadline {
        for signer in signers {
            let Ok(nonce) =
                rpc(url, "eth_getTransactionCount", json!([signer.address(), "pending"]))
            else {
                return;
            };
            let Ok(hash) =
                rpc(url, "eth_sendRawTransaction", json!([transfer(signer, quantity(&nonce))]))
            else {
                continue;
            };
            outstanding.push(serde_json::from_value(hash).unwrap());
        }
        let mut still = Vec::new();
        for hash in outstanding.drain(..) {
            match rpc(url, "eth_getTransactionReceipt", json!([hash])) {
                Ok(receipt) if !receipt.is_null() => {
                    let block = serde_json::from_value(receipt["blockHash"].clone()).unwrap();
                    acknowledged.insert(hash, (quantity(&receipt["blockNumber"]), block));
                }
                _ => still.push(hash),
            }
        }
        outstanding = still;
    }
}

#[test]
fn kill_minus_nine_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    let port = free_port();
    let signers: Vec<PrivateKeySigner> = (1..5).map(dev_signer).collect();
    let mut acknowledged = Acknowledged::new();
    let mut rng_state = 0x9e37_79b9_7f4a_7c15u64;
    let mut last_head: Option<(u64, B256)> = None;

    for round in 0..6 {
        let mut node = start(&datadir, port);
        // The restarted chain continues from the head it had: same number, same hash.
        let head = rpc(&node.url, "eth_getBlockByNumber", json!(["latest", false])).unwrap();
        let (number, hash) = (
            quantity(&head["number"]),
            serde_json::from_value::<B256>(head["hash"].clone()).unwrap(),
        );
        if let Some((n, h)) = last_head {
            assert!(number >= n, "round {round}: head went back from {n} to {number}");
            let same =
                rpc(&node.url, "eth_getBlockByNumber", json!([format!("{n:#x}"), false])).unwrap();
            assert_eq!(
                serde_json::from_value::<B256>(same["hash"].clone()).unwrap(),
                h,
                "block {n} changed"
            );
        }
        // Every receipt ever handed out is still there, in the same block.
        for (tx, (n, block)) in &acknowledged {
            let receipt =
                rpc(&node.url, "eth_getTransactionReceipt", json!([tx])).expect("an answer");
            assert!(!receipt.is_null(), "round {round}: acknowledged transaction {tx} is gone");
            assert_eq!(quantity(&receipt["blockNumber"]), *n);
            assert_eq!(
                serde_json::from_value::<B256>(receipt["blockHash"].clone()).unwrap(),
                *block
            );
        }
        if round == 5 {
            // After the last restart the chain still produces blocks on top of the old head.
            let before = acknowledged.len();
            load(&node.url, &signers, &mut acknowledged, Duration::from_millis(1_500));
            assert!(acknowledged.len() > before, "no new receipts after the last restart");
            let child = rpc(
                &node.url,
                "eth_getBlockByNumber",
                json!([format!("{:#x}", number + 1), false]),
            )
            .unwrap();
            assert_eq!(serde_json::from_value::<B256>(child["parentHash"].clone()).unwrap(), hash);
            node.child.kill().unwrap();
            node.child.wait().unwrap();
            break;
        }
        // Load, then kill -9 at a pseudo-random moment between 300 and 1,300 ms.
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let run_for = Duration::from_millis(300 + rng_state % 1_000);
        load(&node.url, &signers, &mut acknowledged, run_for);
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        // The newest block a receipt came from must survive (or the head at start, if none).
        last_head = acknowledged
            .values()
            .copied()
            .max_by_key(|(n, _)| *n)
            .filter(|(n, _)| *n >= number)
            .or(Some((number, hash)));
    }
    assert!(acknowledged.len() >= 20, "too little load to mean anything: {}", acknowledged.len());
}
