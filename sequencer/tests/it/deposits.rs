//! L1 origins and deposits as the bridge hands them over (`ol_advanceL1Origin`): the next block
//! starts with the L1 info deposit, then the epoch's deposits (OP semantics: minted OPEN, no
//! signature, no fee); epochs must chain; a resend is harmless; the origin survives a restart.

use crate::common::{call, dev_config, dev_sequencer};
use alloy::primitives::{Address, B256, U256, address};
use ol_sequencer::l1::{DEPOSITOR_ACCOUNT, L1Info};
use serde_json::{Value, json};
use std::time::Duration;

/// The result of a call that must succeed.
async fn result(url: &str, method: &str, params: Value) -> Value {
    let answer = call(url, method, params).await;
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

fn origin(number: u64) -> Value {
    json!({
        "number": number,
        "hash": B256::with_last_byte(number as u8),
        "parentHash": B256::with_last_byte(number as u8 - 1),
        "timestamp": 1_000 + number,
        "baseFee": 7,
        "blobBaseFee": 1,
    })
}

async fn wait_receipt(url: &str, hash: &Value) -> Value {
    for _ in 0..100 {
        let receipt = result(url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash}");
}

#[tokio::test]
async fn epochs_bring_the_l1_info_deposit_and_user_deposits_first() {
    let (seq, dir) = dev_sequencer().await;
    let url = seq.http_url();
    let from = Address::repeat_byte(0xd1);
    let to = address!("000000000000000000000000000000000000b0b0");
    let one = U256::from(10u64).pow(U256::from(18u64));
    let deposit = json!({
        "sourceHash": B256::repeat_byte(0x5e),
        "from": from,
        "to": to,
        "mint": format!("{:#x}", one * U256::from(5)),
        "value": format!("{one:#x}"),
        "gas": "0x186a0",
        "input": "0x",
    });
    let queued =
        result(&url, "ol_advanceL1Origin", json!([{"origin": origin(7), "deposits": [deposit]}]))
            .await;
    assert_eq!(queued, "queued");
    // A resend is acknowledged without effect; a gap and a wrong parent are refused.
    let again =
        result(&url, "ol_advanceL1Origin", json!([{"origin": origin(7), "deposits": []}])).await;
    assert_eq!(again, "alreadyKnown");
    let gap =
        call(&url, "ol_advanceL1Origin", json!([{"origin": origin(9), "deposits": []}])).await;
    assert!(gap["error"]["message"].as_str().unwrap().contains("send 8 first"), "{gap}");
    let mut forked = origin(8);
    forked["parentHash"] = json!(B256::repeat_byte(0xee));
    let reorg = call(&url, "ol_advanceL1Origin", json!([{"origin": forked, "deposits": []}])).await;
    assert!(reorg["error"]["message"].as_str().unwrap().contains("L1 reorg"), "{reorg}");

    // The block: [L1 info (7, seq 0), the deposit].
    let mut block = Value::Null;
    for _ in 0..100 {
        block = result(&url, "eth_getBlockByNumber", json!(["latest", true])).await;
        if block["number"] != "0x0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let txs = block["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2, "{block}");
    assert_eq!(
        txs[0]["from"].as_str().unwrap().to_lowercase(),
        format!("{DEPOSITOR_ACCOUNT:?}").to_lowercase()
    );
    assert_eq!(txs[1]["sourceHash"], json!(B256::repeat_byte(0x5e)));
    let receipt = wait_receipt(&url, &txs[1]["hash"]).await;
    assert_eq!(receipt["type"], "0x7e", "{receipt}");
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["depositNonce"], "0x0", "{receipt}");
    assert_eq!(receipt["effectiveGasPrice"], "0x0");
    // Minted 5, sent 1, paid no fee.
    let balance = result(&url, "eth_getBalance", json!([from, "latest"])).await;
    assert_eq!(balance, json!(format!("{:#x}", one * U256::from(4))));
    let balance = result(&url, "eth_getBalance", json!([to, "latest"])).await;
    assert_eq!(balance, json!(format!("{one:#x}")));
    // The L1Block predeploy holds the origin (slot 0: number in the low 8 bytes; slot 2: hash).
    let slot0 = result(
        &url,
        "eth_getStorageAt",
        json!([ol_primitives::predeploys::L1_BLOCK, "0x0", "latest"]),
    )
    .await;
    assert!(slot0.as_str().unwrap().ends_with("0000000000000007"), "{slot0}");
    let slot2 = result(
        &url,
        "eth_getStorageAt",
        json!([ol_primitives::predeploys::L1_BLOCK, "0x2", "latest"]),
    )
    .await;
    assert_eq!(slot2, json!(B256::with_last_byte(7)));

    // Later blocks of the same origin count up the sequence number.
    let status = result(&url, "ol_l1Origin", json!([])).await;
    assert_eq!(status["head"]["number"], 7);
    seq.stop().await;

    // After a restart the node still knows its origin and takes the next epoch.
    let restarted = ol_sequencer::spawn(dev_config(dir.path().to_path_buf())).await.unwrap();
    let url = restarted.http_url();
    let status = result(&url, "ol_l1Origin", json!([])).await;
    assert_eq!(status["head"]["hash"], json!(B256::with_last_byte(7)));
    assert_eq!(
        result(&url, "ol_advanceL1Origin", json!([{"origin": origin(7), "deposits": []}])).await,
        "alreadyKnown"
    );
    assert_eq!(
        result(&url, "ol_advanceL1Origin", json!([{"origin": origin(8), "deposits": []}])).await,
        "queued"
    );
    // An epoch without deposits waits for a block with work in it; a transfer brings one.
    let signer = crate::common::dev_signer(0);
    let raw = crate::common::sign(
        &signer,
        crate::common::eip1559(
            0,
            alloy::primitives::TxKind::Call(to),
            U256::from(1),
            Default::default(),
            21_000,
        ),
    );
    let hash = result(&url, "eth_sendRawTransaction", json!([raw])).await;
    let receipt = wait_receipt(&url, &hash).await;
    let block = result(&url, "eth_getBlockByNumber", json!([receipt["blockNumber"], true])).await;
    let first = &block["transactions"][0];
    let info = L1Info::decode(&op_deposit(first)).unwrap();
    assert_eq!((info.origin.number, info.sequence_number), (8, 0));
    restarted.stop().await;
}

/// The deposit fields of an RPC transaction.
fn op_deposit(tx: &Value) -> ol_sequencer::primitives::TxDeposit {
    serde_json::from_value(tx.clone()).unwrap()
}
