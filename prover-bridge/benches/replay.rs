//! Replay speed on a batch history of ≥100,000 transactions, against the sequencer's own
//! in-process execution of the same blocks; the batches' compression ratio and L1 gas per L2
//! transaction. Not a test: run it with
//!
//! ```text
//! cargo bench -p ol-prover-bridge --bench replay                  # 100,000 transfers
//! cargo bench -p ol-prover-bridge --bench replay -- --txs 200000
//! ```
//!
//! It starts anvil (L1) with the L1 contracts, an `ol-sequencer` (in-process) whose genesis
//! funds the senders, feeds it pre-signed transfers through its admission path, runs the
//! bridge until every block is batched on L1, then times (a) `replay` from L1 alone and (b)
//! the same blocks, read from the sequencer, decoded, recovered, executed and sealed on an
//! in-memory chain (`MemoryChain`, what the sequencer's pipeline does, without RPC or disk).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, TxKind, U256, keccak256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use ol_bridge::{
    blocks::{attributes, fetch_entry, recovered_transactions},
    deployments::L1Deployment,
    replay::{ReplayConfig, replay},
    rpc::connect,
    services::run::{BridgeConfig, Services},
};
use ol_primitives::contracts::batch_inbox::IBatchInbox;
use ol_sequencer::{
    SequencerConfig,
    memory::MemoryChain,
    validate::{ValidationContext, validate_raw_transaction},
};
use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

const CHAIN_ID: u64 = 1_337_420;
const SENDERS: usize = 1_000;

use ol_testkit::{dev_signer as key, free_port, repo_root as root};

fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let txs: usize = args
        .iter()
        .position(|a| a == "--txs")
        .and_then(|i| args.get(i + 1))
        .map_or(100_000, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();

    // L1: anvil with the L1 suite.
    let port = free_port();
    let mut anvil = Command::new(root().join(".tools/bin/anvil"))
        .args([
            "--port",
            &port.to_string(),
            "--block-time",
            "1",
            "--hardfork",
            "prague",
            "--gas-limit",
            "300000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anvil (run scripts/bootstrap first)");
    let l1_url = format!("http://127.0.0.1:{port}");
    let l1 = connect(&l1_url).unwrap();
    while l1.get_block_number().await.is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let network = format!("replay-bench-{}", std::process::id());
    let status = Command::new(root().join(".tools/bin/forge"))
        .args(["script", "contracts/script/DeployL1.s.sol", "--broadcast", "--rpc-url", &l1_url])
        .args(["--private-key", &format!("0x{}", alloy::hex::encode(key(0).to_bytes()))])
        .env("OL_NETWORK", &network)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "DeployL1 failed");
    let deployment =
        L1Deployment::load(&root().join("deployments").join(&network).join("l1.json")).unwrap();
    std::fs::remove_dir_all(root().join("deployments").join(&network)).unwrap();

    // L2: a sequencer whose genesis funds the senders.
    let senders: Vec<PrivateKeySigner> = (0..SENDERS)
        .map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("replay-bench-{i}"))).unwrap())
        .collect();
    let alloc: serde_json::Map<String, serde_json::Value> = senders
        .iter()
        .map(|s| {
            (
                format!("{:?}", s.address()),
                serde_json::json!({"balance": "0x3635c9adc5dea00000000"}),
            )
        })
        .collect();
    let genesis = serde_json::json!({"config": {"chainId": CHAIN_ID}, "gasLimit": "0x3b9aca00", "baseFeePerGas": "0x3b9aca00", "timestamp": "0x0", "extraData": "0x", "alloc": alloc});
    let genesis_path = dir.path().join("genesis.json");
    std::fs::write(&genesis_path, genesis.to_string()).unwrap();
    let mut config = SequencerConfig {
        datadir: dir.path().join("l2"),
        genesis: Some(genesis_path),
        ..Default::default()
    };
    config.rpc.http_port = 0;
    config.rpc.admin = true;
    config.block.time_ms = 200;
    let sequencer = ol_sequencer::spawn(config).await.unwrap();
    let node = Arc::clone(sequencer.node());

    // The bridge, batching as the blocks come.
    let bridge_config = BridgeConfig {
        l1_rpc: l1_url.clone(),
        l2_rpc: sequencer.http_url(),
        deployment: deployment.clone(),
        datadir: dir.path().join("bridge"),
        batcher_key: key(1),
        proposer_key: key(2),
        relayer_key: None,
        confirmations: 1,
        poll_interval: Duration::from_millis(200),
        output_interval: 100,
        output_max_age: Duration::from_secs(5),
        max_channel_blocks: 50,
        resubmit_after: Duration::from_secs(60),
    };
    let services = Services::new(&bridge_config).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let bridge = tokio::spawn(services.run(Duration::from_millis(200), stop_rx));

    // The load: transfers round-robin over the senders, admitted as eth_sendRawTransaction
    // admits them, a block's worth at a time.
    eprintln!("building an L2 history of {txs} transfers…");
    let ctx = ValidationContext {
        chain_id: CHAIN_ID,
        block_gas_limit: 1_000_000_000,
        spec: node.spec().eth_spec_id(),
    };
    let per_round = SENDERS;
    let rounds = txs.div_ceil(per_round);
    for round in 0..rounds {
        for (i, s) in senders.iter().enumerate() {
            if round * per_round + i >= txs {
                break;
            }
            let raw = transfer(s, round as u64, senders[(i + 1) % SENDERS].address());
            node.add_transaction(validate_raw_transaction(&raw, &ctx).unwrap()).unwrap();
        }
        while node.pool().status().pending > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let l2 = connect(&sequencer.http_url()).unwrap();
    let head = l2.get_block_number().await.unwrap();
    eprintln!("{head} L2 blocks; waiting for the batcher to land them on L1…");
    loop {
        let oracle_latest: alloy::primitives::U256 = ol_bridge::rpc::view(
            &l1,
            deployment.contracts.output_oracle,
            ol_primitives::contracts::output_oracle::IOutputOracle::latestBlockNumberCall {},
        )
        .await
        .unwrap();
        if oracle_latest >= U256::from(head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.send(true).unwrap();
    bridge.await.unwrap();

    // (a) Replay from L1.
    let report = replay(&ReplayConfig {
        l1_rpc: l1_url.clone(),
        deployment: deployment.clone(),
        spec: Arc::clone(node.spec()),
        compare_rpc: None,
        progress: false,
    })
    .await
    .unwrap();
    assert!(report.blocks >= head);

    // (b) The same blocks, in process.
    let mut entries = Vec::with_capacity(head as usize);
    for n in 1..=head {
        entries.push(fetch_entry(&l2, n).await.unwrap());
    }
    let mut chain = MemoryChain::from_genesis(Arc::clone(node.spec())).unwrap();
    let started = Instant::now();
    let mut gas = 0;
    for entry in &entries {
        let txs = recovered_transactions(entry).unwrap();
        gas += chain.execute(&attributes(entry), txs).unwrap().block.header.gas_used;
    }
    let in_process = started.elapsed().as_secs_f64();

    // L1 gas of the batches.
    let logs = l1
        .get_logs(
            &Filter::new()
                .address(deployment.contracts.batch_inbox)
                .event_signature(IBatchInbox::BatchSubmitted::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    let mut l1_gas = 0u64;
    for log in &logs {
        let receipt =
            l1.get_transaction_receipt(log.transaction_hash.unwrap()).await.unwrap().unwrap();
        l1_gas += receipt.gas_used;
    }

    let replay_secs = report.elapsed.as_secs_f64();
    println!(
        "replay of {} L2 blocks, {} transactions, {:.0} Mgas, from {} L1 batch transactions",
        report.blocks,
        report.transactions,
        report.gas as f64 / 1e6,
        logs.len()
    );
    println!(
        "  replay from L1 (read, decompress, decode, recover, execute, seal, check): {:.2} s = {:.0} blocks/s, {:.0} tx/s, {:.1} Mgas/s",
        replay_secs,
        report.blocks as f64 / replay_secs,
        report.transactions as f64 / replay_secs,
        report.gas as f64 / replay_secs / 1e6
    );
    println!(
        "  in-process (decode, recover, execute, seal the same blocks):                {:.2} s = {:.0} blocks/s, {:.1} Mgas/s",
        in_process,
        head as f64 / in_process,
        gas as f64 / in_process / 1e6
    );
    println!("  replay / in-process: {:.0} %", 100.0 * in_process / replay_secs);
    println!(
        "  compression: {} RLP bytes → {} compressed = {:.2}×",
        report.rlp_bytes,
        report.compressed_bytes,
        report.rlp_bytes as f64 / report.compressed_bytes.max(1) as f64
    );
    println!(
        "  L1 gas for batches: {} = {:.0} L1 gas per L2 transaction",
        l1_gas,
        l1_gas as f64 / report.transactions.max(1) as f64
    );
    sequencer.stop().await;
    let _ = anvil.kill();
    let _ = anvil.wait();
}
