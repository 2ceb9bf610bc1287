//! The `ol-sequencer` binary as an operator runs it: a config file, Prometheus metrics,
//! graceful shutdown on SIGTERM, a restart that keeps the chain, and clear errors for bad
//! flags.

use crate::common::{dev_signer, eip1559, free_port, rpc, sign};
use alloy::primitives::{Bytes, TxKind, U256, address};
use serde_json::json;
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn config_file_metrics_sigterm_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let config = dir.path().join("sequencer.toml");
    std::fs::write(
        &config,
        format!(
            "dev = true\ndatadir = {:?}\n[block]\ntime_ms = 100\n[rpc]\nhttp_port = {port}\n[metrics]\naddr = \"127.0.0.1:{metrics_port}\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_ol-sequencer"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let child = start();
    wait_for("the JSON-RPC server", || rpc(&url, "eth_chainId", json!([])).is_ok());
    let to = TxKind::Call(address!("0000000000000000000000000000000000000042"));
    let raw = sign(&dev_signer(0), eip1559(0, to, U256::from(1), Bytes::new(), 21_000));
    let hash = rpc(&url, "eth_sendRawTransaction", json!([raw])).unwrap();
    wait_for("the receipt", || {
        rpc(&url, "eth_getTransactionReceipt", json!([hash])).is_ok_and(|r| !r.is_null())
    });

    // Prometheus metrics count the block and the transaction (recorded just after the commit
    // that made the receipt visible).
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut metrics = String::new();
    wait_for("the block's metrics", || {
        metrics = reqwest::blocking::get(&metrics_url).unwrap().text().unwrap();
        [
            "ol_blocks_total 1",
            "ol_transactions_total 1",
            "ol_block_commit_seconds",
            "ol_pool_pending 0",
        ]
        .iter()
        .all(|m| metrics.contains(m))
    });

    // SIGTERM: a clean exit with status 0, quickly.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {stderr}", output.status);
    assert!(stderr.contains("stopped"), "{stderr}");

    // A restart keeps the chain: the transaction and its block are still there.
    let mut child = start();
    wait_for("the restarted server", || rpc(&url, "eth_chainId", json!([])).is_ok());
    let receipt = rpc(&url, "eth_getTransactionReceipt", json!([hash])).unwrap();
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(rpc(&url, "eth_blockNumber", json!([])).unwrap(), "0x1");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_flags_and_files_exit_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "dev = true\n[rpc]\nhttp_prot = 1\n").unwrap();
    let bad_genesis = dir.path().join("genesis.json");
    std::fs::write(&bad_genesis, "{\"config\": {}}").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--dev".into(), "--block-time".into(), "50".into()], "block.time_ms"),
        (vec!["--config".into(), bad_toml.display().to_string()], "unknown field `http_prot`"),
        (vec![], "name a genesis file, or run with --dev"),
        (vec!["--genesis".into(), bad_genesis.display().to_string()], "invalid genesis"),
        (vec!["--genesis".into(), "/nonexistent.json".into()], "/nonexistent.json"),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_ol-sequencer"))
            .args(&args)
            .arg("--datadir")
            .arg(dir.path().join("data"))
            .args(["--http.port", "0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr:?} lacks {expected:?}");
    }
}
