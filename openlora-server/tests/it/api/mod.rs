//! The HTTP API end to end: a real server (`Server::start`, the same code `openlora-server serve`
//! runs) on a free port of 127.0.0.1 over the tiny model, driven by an HTTP client, by the real
//! `openai` Python package, and (for payments) against anvil with the contract suite deployed
//! by `DeployL2.s.sol`.

mod bad_input;
mod binary;
mod openai_client;
mod paid;
mod streaming;

use crate::common::{random_adapter, tiny_config, tiny_model};
use openlora_server::{
    AdapterId, ModuleKind,
    server::{RunningServer, Server, ServerConfig},
};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use std::path::Path;

/// A running server and the folder holding its ledger and adapters.
pub struct TestServer {
    pub server: RunningServer,
    pub url: String,
    pub http: Client,
    /// Kept so the folder (ledger, uploads) lives as long as the server.
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server over the tiny model with `config` adjusted by `edit` (ledger, port and model are
    /// set here).
    pub async fn start(edit: impl FnOnce(&mut ServerConfig, &Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(tiny_model());
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.ledger = dir.path().join("ledger.db").to_str().unwrap().to_owned();
        config.max_batch = 8;
        config.max_loras = 4;
        config.max_lora_rank = 8;
        edit(&mut config, dir.path());
        let server = Server::start(config).await.unwrap();
        let url = server.url();
        Self { server, url, http: Client::new(), _dir: dir }
    }

    /// A server without payment.
    pub async fn free() -> Self {
        Self::start(|c, _| c.no_payment = true).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.http.post(format!("{}{path}", self.url)).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.url)).send().await.unwrap()
    }

    /// Uploads an adapter's two files; answers the response.
    pub async fn upload(&self, config: Vec<u8>, weights: Vec<u8>) -> Response {
        let form = reqwest::multipart::Form::new()
            .part(
                "adapter_config.json",
                reqwest::multipart::Part::bytes(config).file_name("adapter_config.json"),
            )
            .part(
                "adapter_model.safetensors",
                reqwest::multipart::Part::bytes(weights).file_name("adapter_model.safetensors"),
            );
        self.http.post(format!("{}/v1/adapters", self.url)).multipart(form).send().await.unwrap()
    }

    /// Uploads a random adapter of rank 4 on q/v with `seed`; answers its id.
    pub async fn add_adapter(&self, seed: u64) -> AdapterId {
        let (c, w) = random_adapter(4, &[ModuleKind::Q, ModuleKind::V], seed)
            .to_bytes(&tiny_config())
            .unwrap();
        let id = AdapterId::of_bytes(&w);
        let resp = self.upload(c, w).await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        id
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Asserts an OpenAI-style error: status, `type`, `code`, and a message containing `needle`.
pub async fn assert_error(resp: Response, status: u16, code: &str, needle: &str) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(got, status, "status for {code}: {body}");
    let err = &body["error"];
    assert_eq!(err["code"], code, "{body}");
    assert!(err["type"].is_string() && err.get("param").is_some(), "OpenAI error shape: {body}");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains(needle), "`{msg}` does not contain `{needle}`");
    body
}

/// A greedy completion request of exactly `max_tokens` tokens.
pub fn completion(model: &str, prompt: &str, max_tokens: u32) -> Value {
    json!({
        "model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
        "ignore_eos": true,
    })
}

/// The SSE `data:` payloads of a streamed answer (`[DONE]` included).
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_owned).collect()
}

pub use ol_testkit::repo_root;

/// A server taking payment on `chain` with the test's server key (account `SERVER`): chain
/// reads are not cached, the redeemer runs every second; `edit` adjusts the rest.
pub async fn paid_server(
    chain: &crate::payment::common::Chain,
    edit: impl FnOnce(&mut ServerConfig),
) -> TestServer {
    use crate::payment::common::{SERVER, signer};
    let c = chain.config;
    let url = chain.anvil.url.clone();
    TestServer::start(move |config, dir| {
        let deployment = dir.join("l2.json");
        let json = json!({
            "chainId": c.chain_id,
            "contracts": {"InferenceEscrow": c.escrow.to_string(), "ModelRegistry": c.registry.to_string()},
        });
        std::fs::write(&deployment, json.to_string()).unwrap();
        config.deployment = Some(deployment);
        config.l2_rpc = Some(url);
        config.server_key = Some(alloy::hex::encode_prefixed(signer(SERVER).to_bytes()));
        config.chain_cache_secs = 0;
        config.redeem_interval_secs = 1;
        edit(config);
    })
    .await
}
