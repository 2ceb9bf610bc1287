//! Deposit transactions (`0x7E`, OP semantics) queued through the operator API: they mint
//! OPEN, run without signature or fee, come first in their block, and show in the RPC with
//! their deposit fields.

use crate::common::{call, dev_sequencer};
use alloy::primitives::{Address, B256, U256, address};
use serde_json::{Value, json};
use std::time::Duration;

/// The result of a call that must succeed.
async fn result(url: &str, method: &str, params: Value) -> Value {
    let answer = call(url, method, params).await;
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

#[tokio::test]
async fn a_queued_deposit_mints_and_executes_without_fee() {
    let (seq, _dir) = dev_sequencer().await;
    let url = seq.http_url();
    let from = Address::repeat_byte(0xd1);
    let to = address!("000000000000000000000000000000000000b0b0");
    let one = U256::from(10u64).pow(U256::from(18u64));
    let hash = result(
        &url,
        "ol_queueDeposit",
        json!([{
            "sourceHash": B256::repeat_byte(0x5e),
            "from": from,
            "to": to,
            "mint": (one * U256::from(5)).to_string().parse::<u128>().unwrap(),
            "value": one,
            "gas": "0x186a0",
        }]),
    )
    .await;

    let mut receipt = Value::Null;
    for _ in 0..100 {
        receipt = result(&url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receipt["type"], "0x7e", "{receipt}");
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["transactionIndex"], "0x0", "deposits come first");
    assert_eq!(receipt["depositNonce"], "0x0", "{receipt}");
    assert_eq!(receipt["effectiveGasPrice"], "0x0");

    // Minted 5, sent 1, paid no fee.
    let balance = result(&url, "eth_getBalance", json!([from, "latest"])).await;
    assert_eq!(balance, json!(format!("{:#x}", one * U256::from(4))));
    let balance = result(&url, "eth_getBalance", json!([to, "latest"])).await;
    assert_eq!(balance, json!(format!("{one:#x}")));
    let tx = result(&url, "eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(tx["sourceHash"], json!(B256::repeat_byte(0x5e)));
    assert_eq!(tx["from"].as_str().unwrap().to_lowercase(), format!("{from:?}").to_lowercase());
    seq.stop().await;
}
