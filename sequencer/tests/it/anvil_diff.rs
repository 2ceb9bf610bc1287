//! Differential test against anvil: the same signed transactions sent to both nodes give the
//! same receipts (status, gas used, logs, contract address), the same `eth_getLogs` answers and
//! the same state afterwards.

use crate::common::{
    GWEI, dev_sequencer, dev_signer, eip1559, free_port, rpc as rpc_result, set_topic,
    test_contract_initcode, tool,
};
use alloy::{
    consensus::{SignableTransaction, TxEip2930, TxEip7702, TxEnvelope, TxLegacy},
    eips::{
        Encodable2718,
        eip2930::{AccessList, AccessListItem},
        eip7702::Authorization,
    },
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256, address},
    signers::SignerSync,
};
use serde_json::{Value, json};
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const CHAIN_ID: u64 = ol_sequencer::config::DEFAULT_CHAIN_ID;
const X: Address = address!("0000000000000000000000000000000000001111");
const Y: Address = address!("0000000000000000000000000000000000002222");
const Z: Address = address!("0000000000000000000000000000000000003333");

/// The result of a call that must succeed.
fn rpc(url: &str, method: &str, params: Value) -> Value {
    rpc_result(url, method, params.clone())
        .unwrap_or_else(|e| panic!("{method} {params} on {url}: {e}"))
}

/// The transactions both nodes get, in order: every transaction type the chain runs, a
/// deployment, logs, a revert, an out-of-gas failure and an EIP-7702 delegation.
fn transactions() -> Vec<Vec<u8>> {
    let alice = dev_signer(0);
    let bob = dev_signer(1);
    let charlie = dev_signer(2);
    let contract = alice.address().create(3);
    let word = |n: u8| Bytes::from(B256::with_last_byte(n).to_vec());
    let one = U256::from(10u64).pow(U256::from(18u64));
    let mut out = Vec::new();
    let mut push = |envelope: TxEnvelope| out.push(envelope.encoded_2718());

    let mut tx = eip1559(0, TxKind::Call(X), one, Bytes::new(), 21_000);
    push(tx.clone().into_signed(alice.sign_transaction_sync(&mut tx).unwrap()).into());
    let mut legacy = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce: 1,
        gas_price: 100 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(Y),
        value: U256::from(12345),
        input: Bytes::new(),
    };
    push(legacy.clone().into_signed(alice.sign_transaction_sync(&mut legacy).unwrap()).into());
    let mut access = TxEip2930 {
        chain_id: CHAIN_ID,
        nonce: 2,
        gas_price: 100 * GWEI,
        gas_limit: 30_000,
        to: TxKind::Call(Z),
        value: U256::from(7),
        access_list: AccessList(vec![AccessListItem {
            address: Z,
            storage_keys: vec![B256::ZERO],
        }]),
        input: Bytes::new(),
    };
    push(access.clone().into_signed(alice.sign_transaction_sync(&mut access).unwrap()).into());
    for (nonce, to, input, gas) in [
        (3, TxKind::Create, test_contract_initcode(), 200_000),
        (4, TxKind::Call(contract), word(42), 100_000),
        (5, TxKind::Call(contract), Bytes::new(), 100_000), // reverts
        (6, TxKind::Call(contract), word(7), 25_000),       // runs out of gas (needs 27,200)
        (7, TxKind::Call(contract), word(9), 100_000),
    ] {
        let mut tx = eip1559(nonce, to, U256::ZERO, input, gas);
        push(tx.clone().into_signed(alice.sign_transaction_sync(&mut tx).unwrap()).into());
    }
    // Bob delegates his account to the contract's code (EIP-7702), in a transaction Alice
    // sends; then Charlie calls Bob, which runs the contract's code in Bob's storage.
    let auth = Authorization { chain_id: U256::from(CHAIN_ID), address: contract, nonce: 0 };
    let signature = bob.sign_hash_sync(&auth.signature_hash()).unwrap();
    let mut set_code = TxEip7702 {
        chain_id: CHAIN_ID,
        nonce: 8,
        gas_limit: 200_000,
        max_fee_per_gas: 100 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: bob.address(),
        value: U256::ZERO,
        access_list: Default::default(),
        authorization_list: vec![auth.into_signed(signature)],
        input: word(5),
    };
    push(set_code.clone().into_signed(alice.sign_transaction_sync(&mut set_code).unwrap()).into());
    let mut call_bob = eip1559(0, TxKind::Call(bob.address()), U256::ZERO, word(77), 100_000);
    push(
        call_bob.clone().into_signed(charlie.sign_transaction_sync(&mut call_bob).unwrap()).into(),
    );
    out
}

/// What must be equal between the nodes for one transaction.
fn receipt_essence(receipt: &Value) -> Value {
    let logs: Vec<Value> = receipt["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"address": l["address"].as_str().unwrap().to_lowercase(), "topics": l["topics"], "data": l["data"], "logIndex": l["logIndex"]}))
        .collect();
    json!({
        "status": receipt["status"],
        "gasUsed": receipt["gasUsed"],
        "type": receipt["type"],
        "contractAddress": receipt["contractAddress"].as_str().map(str::to_lowercase),
        "from": receipt["from"].as_str().unwrap().to_lowercase(),
        "logs": logs,
    })
}

fn wait_receipt(url: &str, hash: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash]));
        if !receipt.is_null() {
            return receipt;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash} on {url}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends every transaction (each after the previous one's receipt, so both nodes execute the
/// same sequence) and returns the receipts' essences, some log queries and the state after.
fn observe(url: &str, txs: &[Vec<u8>]) -> Value {
    let receipts: Vec<Value> = txs
        .iter()
        .map(|raw| {
            let hash = rpc(url, "eth_sendRawTransaction", json!([Bytes::copy_from_slice(raw)]));
            receipt_essence(&wait_receipt(url, &hash))
        })
        .collect();
    let contract = dev_signer(0).address().create(3);
    let bob = dev_signer(1).address();
    let strip = |logs: Value| -> Value {
        logs.as_array()
            .unwrap()
            .iter()
            .map(|l| json!({"address": l["address"].as_str().unwrap().to_lowercase(), "topics": l["topics"], "data": l["data"]}))
            .collect()
    };
    let by_address =
        strip(rpc(url, "eth_getLogs", json!([{"fromBlock": "0x0", "address": contract}])));
    let by_topic =
        strip(rpc(url, "eth_getLogs", json!([{"fromBlock": "0x0", "topics": [set_topic()]}])));
    let by_both = strip(rpc(
        url,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "address": [bob], "topics": [[set_topic()]]}]),
    ));
    let mut state = serde_json::Map::new();
    for who in [X, Y, Z] {
        state.insert(format!("balance {who}"), rpc(url, "eth_getBalance", json!([who, "latest"])));
    }
    for who in [dev_signer(0).address(), bob, dev_signer(2).address(), contract] {
        state.insert(
            format!("nonce {who}"),
            rpc(url, "eth_getTransactionCount", json!([who, "latest"])),
        );
        state.insert(format!("code {who}"), rpc(url, "eth_getCode", json!([who, "latest"])));
        state.insert(
            format!("slot0 {who}"),
            rpc(url, "eth_getStorageAt", json!([who, "0x0", "latest"])),
        );
    }
    json!({"receipts": receipts, "logs": [by_address, by_topic, by_both], "state": state})
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_logs_and_state_match_anvil() {
    let port = free_port();
    let mut anvil = Command::new(tool("anvil"))
        .args([
            "--port",
            &port.to_string(),
            "--chain-id",
            &CHAIN_ID.to_string(),
            "--hardfork",
            "prague",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let anvil_url = format!("http://127.0.0.1:{port}");
    let (seq, _dir) = dev_sequencer().await;
    let seq_url = seq.http_url();

    let result = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::blocking::get(&anvil_url).is_err() {
            assert!(Instant::now() < deadline, "anvil did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let txs = transactions();
        let ours = observe(&seq_url, &txs);
        let theirs = observe(&anvil_url, &txs);
        // Sanity: the load did what it should on at least one side.
        let statuses: Vec<&str> = ours["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["0x1", "0x1", "0x1", "0x1", "0x1", "0x0", "0x0", "0x1", "0x1", "0x1"]
        );
        for (i, (a, b)) in ours["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(theirs["receipts"].as_array().unwrap())
            .enumerate()
        {
            assert_eq!(a, b, "receipt of transaction {i} differs (ol-sequencer left, anvil right)");
        }
        assert_eq!(ours["logs"], theirs["logs"], "eth_getLogs answers differ");
        assert_eq!(ours["state"], theirs["state"], "state after differs");
    })
    .await;
    let _ = anvil.kill();
    let _ = anvil.wait();
    seq.stop().await;
    result.unwrap();
}
