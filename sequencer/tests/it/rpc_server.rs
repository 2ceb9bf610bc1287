//! The JSON-RPC server itself: identity methods, unknown methods, batch and body limits,
//! answered over real HTTP as a wallet would call it.

use crate::common::dev_sequencer;
use jsonrpsee::{
    core::{ClientError, client::ClientT},
    http_client::HttpClientBuilder,
    rpc_params,
};
use ol_sequencer::{SequencerConfig, genesis::DEV_ACCOUNTS};

#[tokio::test]
async fn identity_methods_answer_over_http() {
    let (seq, _dir) = dev_sequencer().await;
    let client = HttpClientBuilder::default().build(seq.http_url()).unwrap();

    let chain_id: String = client.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(chain_id, format!("{:#x}", ol_sequencer::config::DEFAULT_CHAIN_ID));
    let net_version: String = client.request("net_version", rpc_params![]).await.unwrap();
    assert_eq!(net_version, ol_sequencer::config::DEFAULT_CHAIN_ID.to_string());
    let version: String = client.request("web3_clientVersion", rpc_params![]).await.unwrap();
    assert!(version.starts_with("ol-sequencer/v"), "{version}");
    assert_eq!(DEV_ACCOUNTS, 10);
    seq.stop().await;
}

#[tokio::test]
async fn unknown_method_is_minus_32601() {
    let (seq, _dir) = dev_sequencer().await;
    let client = HttpClientBuilder::default().build(seq.http_url()).unwrap();
    let err = client.request::<String, _>("eth_noSuchMethod", rpc_params![]).await.unwrap_err();
    match err {
        ClientError::Call(obj) => assert_eq!(obj.code(), -32601, "{obj:?}"),
        other => panic!("expected a JSON-RPC error object, got {other:?}"),
    }
    seq.stop().await;
}

#[tokio::test]
async fn batches_are_answered_call_by_call() {
    let (seq, _dir) = dev_sequencer().await;
    let batch = serde_json::json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_noSuchMethod"},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber"},
    ]);
    let answer: serde_json::Value = reqwest::Client::new()
        .post(seq.http_url())
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answers = answer.as_array().expect("a batch answers with an array");
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(by_id(1)["result"], format!("{:#x}", ol_sequencer::config::DEFAULT_CHAIN_ID));
    assert_eq!(by_id(2)["error"]["code"], -32601);
    assert_eq!(by_id(3)["result"], "0x0");
    seq.stop().await;
}

#[tokio::test]
async fn admin_methods_are_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        SequencerConfig { datadir: dir.path().into(), dev: true, ..Default::default() };
    config.rpc.http_port = 0;
    let seq = ol_sequencer::spawn(config).await.unwrap();
    let client = HttpClientBuilder::default().build(seq.http_url()).unwrap();
    let err = client
        .request::<String, _>("ol_queueDeposit", rpc_params![serde_json::json!({})])
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Call(ref obj) if obj.code() == -32601), "{err:?}");
    seq.stop().await;
}
