//! The JSON-RPC server answered over real HTTP, as a wallet would call it.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use jsonrpsee::{
    core::{ClientError, client::ClientT},
    http_client::HttpClientBuilder,
    rpc_params,
};
use ol_sequencer::{RpcConfig, start_rpc_server};

fn local_config() -> RpcConfig {
    RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), ..RpcConfig::default() }
}

#[tokio::test]
async fn identity_methods_answer_over_http() {
    let server = start_rpc_server(&local_config(), 424_242).await.unwrap();
    let client = HttpClientBuilder::default().build(server.http_url()).unwrap();

    let chain_id: String = client.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(chain_id, "0x67932");
    let net_version: String = client.request("net_version", rpc_params![]).await.unwrap();
    assert_eq!(net_version, "424242");
    let version: String = client.request("web3_clientVersion", rpc_params![]).await.unwrap();
    assert!(version.starts_with("ol-sequencer/v"), "{version}");

    server.stop().await;
}

#[tokio::test]
async fn unknown_method_is_minus_32601() {
    let server = start_rpc_server(&local_config(), 1).await.unwrap();
    let client = HttpClientBuilder::default().build(server.http_url()).unwrap();
    let err = client.request::<String, _>("eth_noSuchMethod", rpc_params![]).await.unwrap_err();
    match err {
        ClientError::Call(obj) => assert_eq!(obj.code(), -32601, "{obj:?}"),
        other => panic!("expected a JSON-RPC error object, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn batch_over_the_limit_is_refused() {
    let config = RpcConfig { max_batch_len: 2, ..local_config() };
    let server = start_rpc_server(&config, 1).await.unwrap();
    let call = |id: u32| serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "eth_chainId"});

    // Raw HTTP, so the batch reaches the server exactly as written.
    let ok = raw_post(server.local_addr(), serde_json::json!([call(1), call(2)])).await;
    let answers = ok.as_array().expect("a batch answers with an array");
    assert_eq!(answers.len(), 2);
    assert!(answers.iter().all(|a| a["result"] == "0x1"), "{ok}");

    let refused =
        raw_post(server.local_addr(), serde_json::json!([call(1), call(2), call(3)])).await;
    assert_eq!(refused["error"]["code"], -32010, "{refused}");

    server.stop().await;
}

/// Posts a JSON body over a plain TCP connection with HTTP/1.1 and returns the parsed answer.
async fn raw_post(addr: std::net::SocketAddr, body: serde_json::Value) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (_, payload) = response.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("bad JSON {payload:?}: {e}"))
}
