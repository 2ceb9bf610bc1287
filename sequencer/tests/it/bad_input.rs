//! Bad input, each with its clear error; the node keeps running and nothing changes.

use crate::common::{call, dev_config, dev_sequencer, dev_signer};
use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, Signature, TxKind, U256, address, hex},
    signers::local::PrivateKeySigner,
};
use ol_sequencer::config::DEFAULT_CHAIN_ID;
use serde_json::{Value, json};

const TO: Address = address!("000000000000000000000000000000000000bEEF");

fn eip1559(nonce: u64, max_fee: u128, tip: u128, gas: u64, input: Bytes) -> TxEip1559 {
    TxEip1559 {
        chain_id: DEFAULT_CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(TO),
        value: U256::from(1),
        access_list: Default::default(),
        input,
    }
}

fn sign(signer: &PrivateKeySigner, mut tx: TxEip1559) -> Vec<u8> {
    let sig = signer.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

async fn post(url: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn send_raw(url: &str, raw: &[u8]) -> Value {
    call(url, "eth_sendRawTransaction", json!([format!("0x{}", hex::encode(raw))])).await
}

#[tokio::test]
async fn bad_transactions_and_requests_get_clear_errors_and_change_nothing() {
    // Blocks an hour apart: nothing is mined while the table runs, so every case sees the same
    // state (and the test cannot race the block producer).
    let dir = tempfile::tempdir().unwrap();
    let mut config = dev_config(dir.path().to_path_buf());
    config.block.time_ms = 3_600_000;
    let seq = ol_sequencer::spawn(config).await.unwrap();
    let url = seq.http_url();
    let alice = dev_signer(0);
    let gwei = 1_000_000_000u128;

    // A first transaction that the replacement and replay cases refer to.
    let first = sign(&alice, eip1559(0, 10 * gwei, gwei, 21_000, Bytes::new()));
    let accepted = send_raw(&url, &first).await;
    assert!(accepted["result"].is_string(), "{accepted}");

    // r = 0 never recovers; an upper-half s is refused since Homestead (EIP-2).
    let with_signature = |r: U256, s: U256| {
        let tx = eip1559(1, 10 * gwei, gwei, 21_000, Bytes::new());
        TxEnvelope::from(tx.into_signed(Signature::new(r, s, false))).encoded_2718()
    };
    let secp_n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let mut wrong_chain = eip1559(1, 10 * gwei, gwei, 21_000, Bytes::new());
    wrong_chain.chain_id = 1;
    let unfunded = PrivateKeySigner::random();
    let unprotected = {
        let mut tx = TxLegacy {
            chain_id: None,
            nonce: 1,
            gas_price: 10 * gwei,
            gas_limit: 21_000,
            to: TxKind::Call(TO),
            value: U256::from(1),
            input: Bytes::new(),
        };
        let sig = alice.sign_transaction_sync(&mut tx).unwrap();
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
    };
    let deposit = {
        let mut raw = vec![0x7e];
        raw.extend(first[1..].iter());
        raw
    };

    let table: Vec<(&str, Vec<u8>, i64, &str)> = vec![
        (
            "malformed RLP",
            hex::decode("02f8deadbeef").unwrap(),
            -32602,
            "failed to decode signed transaction",
        ),
        ("empty", vec![], -32602, "failed to decode signed transaction"),
        ("zero r", with_signature(U256::ZERO, U256::from(1)), -32000, "invalid signature"),
        (
            "high s",
            with_signature(U256::from(1), secp_n - U256::from(1)),
            -32000,
            "invalid signature",
        ),
        ("wrong chain id", sign(&alice, wrong_chain), -32000, "invalid chain id"),
        ("unprotected legacy", unprotected, -32000, "replay-protected"),
        ("deposit type from a user", deposit, -32602, "failed to decode"),
        ("replay of a pooled tx", first.clone(), -32000, "already known"),
        (
            "underpriced replacement (+5 %)",
            sign(&alice, eip1559(0, 10 * gwei * 105 / 100, gwei * 105 / 100, 21_000, Bytes::new())),
            -32000,
            "replacement transaction underpriced",
        ),
        (
            "intrinsic gas too low",
            sign(&alice, eip1559(1, 10 * gwei, gwei, 20_000, Bytes::new())),
            -32000,
            "intrinsic gas too low",
        ),
        (
            "tip above fee cap",
            sign(&alice, eip1559(1, gwei, 2 * gwei, 21_000, Bytes::new())),
            -32000,
            "max priority fee per gas higher than max fee per gas",
        ),
        (
            "fee cap below base fee",
            sign(&alice, eip1559(1, 1, 1, 21_000, Bytes::new())),
            -32000,
            "max fee per gas less than block base fee",
        ),
        (
            "insufficient funds",
            sign(&unfunded, eip1559(0, 10 * gwei, gwei, 21_000, Bytes::new())),
            -32000,
            "insufficient funds for gas * price + value",
        ),
        (
            "oversized transaction (129 KiB)",
            sign(&alice, eip1559(1, 10 * gwei, gwei, 10_000_000, vec![1u8; 129 * 1024].into())),
            -32000,
            "oversized data",
        ),
        (
            "gas above the block gas limit",
            sign(&alice, eip1559(1, 10 * gwei, gwei, 1_000_000_000_000, Bytes::new())),
            -32000,
            "exceeds block gas limit",
        ),
    ];
    for (name, raw, code, message) in &table {
        let answer = send_raw(&url, raw).await;
        assert_eq!(answer["error"]["code"], json!(code), "{name}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{name}: {text:?} lacks {message:?}");
    }

    // Malformed requests at the JSON-RPC level.
    let (_, answer) = post(&url, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ".into()).await;
    assert_eq!(answer["error"]["code"], -32700, "invalid JSON: {answer}");
    let (_, answer) = post(
        &url,
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": ["0x12"]})
            .to_string(),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "bad params: {answer}");
    let batch: Vec<Value> =
        (0..1_001).map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "eth_chainId"})).collect();
    let (_, answer) = post(&url, Value::Array(batch).to_string()).await;
    assert_eq!(answer["error"]["code"], -32010, "oversized batch: {answer}");
    let (status, _) = post(&url, format!("[\"{}\"]", "a".repeat(11 * 1024 * 1024))).await;
    assert_eq!(status, 413, "an oversized body is refused with HTTP 413");

    // A nonce gap is not an error: the transaction waits in the queued set and runs nothing.
    let gapped =
        send_raw(&url, &sign(&alice, eip1559(5, 10 * gwei, gwei, 21_000, Bytes::new()))).await;
    assert!(gapped["result"].is_string(), "{gapped}");

    // Nothing of the refused ones changed anything: no block, the first transaction pending,
    // the gapped one queued, the balances untouched.
    assert_eq!(call(&url, "eth_blockNumber", json!([])).await["result"], "0x0");
    let status = call(&url, "txpool_status", json!([])).await;
    assert_eq!(status["result"], json!({"pending": "0x1", "queued": "0x1"}));
    let balance = call(&url, "eth_getBalance", json!([TO, "latest"])).await;
    assert_eq!(balance["result"], "0x0");
    seq.stop().await;
}

#[tokio::test]
async fn a_mined_transaction_sent_again_is_nonce_too_low() {
    let (seq, _dir) = dev_sequencer().await;
    let url = seq.http_url();
    let alice = dev_signer(0);
    let tx = sign(&alice, eip1559(0, 10_000_000_000, 1_000_000_000, 21_000, Bytes::new()));
    let hash = send_raw(&url, &tx).await["result"].clone();
    let mut receipt = Value::Null;
    for _ in 0..200 {
        receipt = call(&url, "eth_getTransactionReceipt", json!([hash])).await["result"].clone();
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let replay = send_raw(&url, &tx).await;
    assert_eq!(replay["error"]["code"], -32000, "{replay}");
    let message = replay["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nonce too low"), "{replay}");
    seq.stop().await;
}
