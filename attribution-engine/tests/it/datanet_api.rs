//! The Datanet API over real HTTP (reqwest against the served router, and the `datanet serve`
//! binary stopped by SIGTERM), and registration on a real chain (anvil with the L2 suite
//! deployed by the production script, see [`crate::chain`]), driven through the
//! `datanet register` and `register-model` commands.

use crate::{
    chain::{Chain, DEPLOYER, address, key_hex, signer},
    common::{Reap, texts, tiny_model},
};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    sol_types::SolValue,
};
use attribution_engine::{
    LoraConfig, Manifest, Run, TrainConfig,
    datanet::{DatanetStore, Status},
    datanet_api::{ApiConfig, ApiState, router, serve},
};
use ol_primitives::contracts::{datanets::IDatanets, model_registry::IModelRegistry};
use openlora_server::ModuleKind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

const TOKEN: &str = "curator-secret";

/// Owns and curates the Datanet; owns the model.
const CURATOR: usize = DEPLOYER;
const ALICE: usize = 2;
const BOB: usize = 3;
const CAROL: usize = 4;

// ---------------------------------------------------------------------------------------------
// The API in-process, over real HTTP.
// ---------------------------------------------------------------------------------------------

/// A served API over a store; stopped (gracefully) when dropped.
struct Api {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Api {
    async fn start(store: &Path, max_body_bytes: usize) -> Self {
        let state = ApiState::new(
            DatanetStore::open(store).unwrap(),
            ApiConfig { curator_token: TOKEN.into(), max_body_bytes },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router(state), async {
            let _ = stopped.await;
        }));
        Self { base, stop: Some(stop) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A multipart/form-data body with these fields (built by hand: the wire format is the test).
fn multipart(fields: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----datanet-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = if *name == "content" {
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"c.txt\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
        } else {
            format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_json(client: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn post_multipart(
    client: &reqwest::Client,
    url: &str,
    fields: &[(&str, &[u8])],
) -> (StatusCode, Value) {
    let (ct, body) = multipart(fields);
    let r = client.post(url).header("content-type", ct).body(body).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let r = client.get(url).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn curate(
    client: &reqwest::Client,
    api: &Api,
    datanet: &str,
    hash: B256,
    status: &str,
) -> (StatusCode, Value) {
    let r = client
        .post(api.url(&format!("/v1/datanets/{datanet}/contributions/{hash}/curation")))
        .bearer_auth(TOKEN)
        .json(&json!({ "status": status }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_upload_get_list_curate_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(dir.path(), 1 << 20).await;
    let client = reqwest::Client::new();
    let (alice, bob, carol) = (address(ALICE), address(BOB), address(CAROL));

    // Upload: JSON, multipart, and the same text into a second Datanet.
    let hamlet = "To be, or not to be, that is the question";
    let (status, a) = post_json(
        &client,
        &api.url("/v1/contributions"),
        json!({ "datanet": "plays", "contributor": alice.to_checksum(None), "content": hamlet }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let a_hash: B256 = a["hash"].as_str().unwrap().parse().unwrap();
    assert_eq!(a_hash, keccak256(hamlet));
    assert_eq!(a["status"], "pending");
    assert_eq!(a["contributor"].as_str().unwrap().parse::<Address>().unwrap(), alice);
    let richard = b"A horse! a horse! my kingdom for a horse!";
    let bob_hex = format!("{bob:#x}");
    let (status, b) = post_multipart(
        &client,
        &api.url("/v1/contributions"),
        &[("datanet", b"plays"), ("contributor", bob_hex.as_bytes()), ("content", richard)],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let b_hash: B256 = b["hash"].as_str().unwrap().parse().unwrap();
    assert_eq!(b_hash, keccak256(richard));
    let (status, _) = post_json(
        &client,
        &api.url("/v1/contributions"),
        json!({ "datanet": "sonnets", "contributor": format!("{carol:#x}"), "content": hamlet }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Read by hash: the content and its record in both Datanets.
    let (status, got) = get(&client, &api.url(&format!("/v1/contributions/{a_hash}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["content"], hamlet);
    let records = got["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["datanet"], "plays");
    assert_eq!(records[1]["datanet"], "sonnets");
    let (status, got) =
        get(&client, &api.url(&format!("/v1/datanets/plays/contributions/{b_hash}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["content"].as_str().unwrap().as_bytes(), richard);
    assert_eq!(got["bytes"], richard.len());

    // Listings.
    let (_, list) = get(&client, &api.url("/v1/datanets/plays/contributions")).await;
    let hashes: Vec<&str> = list["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect();
    let mut expected = vec![a_hash.to_string(), b_hash.to_string()];
    expected.sort();
    assert_eq!(hashes, expected);
    let (_, datanets) = get(&client, &api.url("/v1/datanets")).await;
    assert_eq!(
        datanets["datanets"],
        json!([
            { "name": "plays", "pending": 2, "approved": 0, "rejected": 0 },
            { "name": "sonnets", "pending": 1, "approved": 0, "rejected": 0 },
        ])
    );

    // Curation: approve one (twice: the second changes nothing), reject the other.
    let (status, c) = curate(&client, &api, "plays", a_hash, "approved").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        (c["changed"].as_bool(), c["record"]["status"].as_str()),
        (Some(true), Some("approved"))
    );
    let (status, c) = curate(&client, &api, "plays", a_hash, "approved").await;
    assert_eq!((status, c["changed"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = curate(&client, &api, "plays", b_hash, "rejected").await;
    assert_eq!(status, StatusCode::OK);
    let (_, approved) =
        get(&client, &api.url("/v1/datanets/plays/contributions?status=approved")).await;
    assert_eq!(approved["contributions"].as_array().unwrap().len(), 1);
    assert_eq!(approved["contributions"][0]["hash"], a_hash.to_string());

    // The snapshot is the training set: the approved contribution, with the manifest root a
    // run on it commits.
    let (status, snap) = get(&client, &api.url("/v1/datanets/plays/snapshot")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snap["examples"], 1);
    assert_eq!(snap["contributions"][0]["hash"], a_hash.to_string());
    let store = DatanetStore::open(dir.path()).unwrap();
    let examples = store.snapshot(&["plays".into()]).unwrap();
    let root = Manifest::new(examples.iter().map(|e| e.entry()).collect()).unwrap().root();
    assert_eq!(snap["manifest_root"], root.to_string());
    // The decisions are on disk.
    assert_eq!(store.get_record("plays", a_hash).unwrap().status, Status::Approved);
    assert_eq!(store.get_record("plays", b_hash).unwrap().status, Status::Rejected);
    assert_eq!(store.get_record("sonnets", a_hash).unwrap().status, Status::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bad_inputs_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 4096;
    let alice = address(ALICE);
    let store = DatanetStore::open(dir.path()).unwrap();
    let kept = store.add("plays", alice, b"Now is the winter of our discontent").unwrap();
    store.set_status("plays", kept.hash, Status::Approved).unwrap();
    let pending = store.add("plays", alice, b"Friends, Romans, countrymen").unwrap();
    let api = Api::start(dir.path(), limit).await;
    let client = reqwest::Client::new();
    let before = tree(dir.path());
    let alice_hex = format!("{alice:#x}");
    // A valid address with one letter's case flipped fails its EIP-55 checksum.
    let checksummed = alice.to_checksum(None);
    let flipped: String = checksummed
        .char_indices()
        .map(|(i, c)| {
            if i == checksummed.rfind(|c: char| c.is_ascii_alphabetic() && c != 'x').unwrap() {
                if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() }
            } else {
                c
            }
        })
        .collect();
    let upload = api.url("/v1/contributions");
    let big = "x".repeat(limit + 1);
    let curation =
        |hash: B256| api.url(&format!("/v1/datanets/plays/contributions/{hash}/curation"));

    use StatusCode as S;
    type Case = (&'static str, reqwest::RequestBuilder, StatusCode, &'static str);
    // An upload as JSON.
    let up = |datanet: &str, contributor: &str, content: &str| {
        let body = json!({ "datanet": datanet, "contributor": contributor, "content": content });
        client.post(&upload).json(&body)
    };
    // An upload as multipart/form-data.
    let form = |fields: &[(&str, &[u8])]| {
        let (ct, bytes) = multipart(fields);
        client.post(&upload).header("content-type", ct).body(bytes)
    };
    // A curation decision.
    let decide = |hash: B256, token: Option<&str>, status: &str| {
        let r = client.post(curation(hash)).json(&json!({ "status": status }));
        if let Some(t) = token { r.bearer_auth(t) } else { r }
    };
    let a = alice_hex.as_bytes();
    let zero = format!("{:#x}", Address::ZERO);
    let bob = format!("{:#x}", address(BOB));
    let unknown = B256::repeat_byte(7);
    let oversize_decision = format!("{{\"status\": \"approved\", \"pad\": \"{big}\"}}");
    let cases: Vec<Case> = vec![
        ("short address", up("plays", "0x1234", "hi"), S::BAD_REQUEST, "bad_address"),
        ("no 0x", up("plays", &alice_hex[2..], "hi"), S::BAD_REQUEST, "bad_address"),
        ("bad checksum", up("plays", &flipped, "hi"), S::BAD_REQUEST, "bad_address"),
        ("zero address", up("plays", &zero, "hi"), S::BAD_REQUEST, "bad_address"),
        ("empty content", up("plays", &alice_hex, ""), S::BAD_REQUEST, "bad_content"),
        ("blank content", up("plays", &alice_hex, " \n\t "), S::BAD_REQUEST, "bad_content"),
        (
            "non-UTF-8 content",
            form(&[("datanet", b"plays"), ("contributor", a), ("content", &[0x66, 0xff, 0xfe])]),
            S::BAD_REQUEST,
            "bad_content",
        ),
        ("bad Datanet name", up("../etc", &alice_hex, "hi"), S::BAD_REQUEST, "bad_datanet"),
        ("duplicate", up("plays", &bob, "Friends, Romans, countrymen"), S::CONFLICT, "duplicate"),
        (
            "malformed JSON",
            client.post(&upload).header("content-type", "application/json").body("{\"a\": "),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "unknown JSON field",
            client.post(&upload).json(
                &json!({ "datanet": "plays", "contributor": alice_hex, "content": "hi", "w": 5 }),
            ),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "missing multipart field",
            form(&[("datanet", b"plays"), ("content", b"hello")]),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "repeated multipart field",
            form(&[
                ("datanet", b"plays"),
                ("contributor", a),
                ("content", b"x"),
                ("content", b"y"),
            ]),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "text/plain",
            client.post(&upload).header("content-type", "text/plain").body("hello"),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        ("over-size JSON", up("plays", &alice_hex, &big), S::PAYLOAD_TOO_LARGE, "too_large"),
        (
            "over-size multipart",
            form(&[("datanet", b"plays"), ("contributor", a), ("content", big.as_bytes())]),
            S::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "unknown hash",
            client.get(api.url(&format!("/v1/contributions/{unknown}"))),
            S::NOT_FOUND,
            "not_found",
        ),
        (
            "unknown hash in the Datanet",
            client.get(api.url(&format!("/v1/datanets/plays/contributions/{unknown}"))),
            S::NOT_FOUND,
            "not_found",
        ),
        ("bad hash", client.get(api.url("/v1/contributions/0x1234")), S::BAD_REQUEST, "bad_hash"),
        (
            "bad status filter",
            client.get(api.url("/v1/datanets/plays/contributions?status=maybe")),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "curation without token",
            decide(pending.hash, None, "approved"),
            S::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "curation with a wrong token",
            decide(pending.hash, Some("curator-secreT"), "approved"),
            S::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "curation of an unknown hash",
            decide(unknown, Some(TOKEN), "approved"),
            S::NOT_FOUND,
            "not_found",
        ),
        (
            "curation back to pending",
            decide(pending.hash, Some(TOKEN), "pending"),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "curation with a bad status",
            decide(pending.hash, Some(TOKEN), "maybe"),
            S::BAD_REQUEST,
            "bad_request",
        ),
        (
            "over-size curation",
            client
                .post(curation(pending.hash))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(oversize_decision),
            S::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "reversing a decision",
            decide(kept.hash, Some(TOKEN), "rejected"),
            S::CONFLICT,
            "already_decided",
        ),
        ("unknown route", client.get(api.url("/v1/nothing")), S::NOT_FOUND, "not_found"),
    ];
    for (name, request, status, code) in cases {
        let response = request.send().await.unwrap();
        let got_status = response.status();
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert_eq!(got_status, status, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty(), "{name}");
        assert_eq!(tree(dir.path()), before, "{name} changed the store");
    }
    // The valid request still works afterwards.
    let body = json!({ "datanet": "plays", "contributor": alice_hex, "content": "hello" });
    let (status, _) = post_json(&client, &upload, body).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// The binary built for these tests.
fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attribution-engine"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_command_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let child = bin()
        .args(["datanet", "serve", "--store"])
        .arg(dir.path())
        .args(["--addr", "127.0.0.1:0"])
        .env("OL_DATANET_CURATOR_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let listening: Value = serde_json::from_str(&line).unwrap();
    let base = format!("http://{}", listening["listening"].as_str().unwrap());
    let client = reqwest::Client::new();
    let (status, record) = post_json(
        &client,
        &format!("{base}/v1/contributions"),
        json!({
            "datanet": "plays",
            "contributor": format!("{:#x}", address(ALICE)),
            "content": "Once more unto the breach",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let hash: B256 = record["hash"].as_str().unwrap().parse().unwrap();

    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "datanet serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "datanet serve exited with {status}");
    assert!(client.get(format!("{base}/health")).send().await.is_err(), "still listening");
    let store = DatanetStore::open(dir.path()).unwrap();
    assert_eq!(store.get_record("plays", hash).unwrap().contributor, address(ALICE));
}

// ---------------------------------------------------------------------------------------------
// Registration on a real chain.
// ---------------------------------------------------------------------------------------------

/// What the registration tests read and run on their chain.
impl Chain {
    /// The on-chain contribution of a content hash (`None`: not registered).
    async fn contribution(&self, hash: B256) -> Option<(U256, IDatanets::Contribution)> {
        let datanets = self.contract("Datanets");
        let id =
            self.call(datanets, IDatanets::contributionOfContentCall { _contentHash: hash }).await;
        if id.is_zero() {
            return None;
        }
        Some((
            id,
            self.call(datanets, IDatanets::getContributionCall { _contributionId: id }).await,
        ))
    }

    /// Nonces of the accounts the commands sign with, and the block number: equal before and
    /// after a command means it sent nothing.
    async fn activity(&self) -> (Vec<u64>, u64) {
        let mut nonces = Vec::new();
        for i in [CURATOR, ALICE, BOB, CAROL] {
            nonces.push(self.rpc.get_transaction_count(address(i)).await.unwrap());
        }
        (nonces, self.rpc.get_block_number().await.unwrap())
    }

    /// Runs `attribution-engine <args> --l2-rpc … --deployment …`.
    fn command(&self, args: &[&str]) -> Output {
        bin()
            .args(args)
            .args(["--l2-rpc", &self.anvil.url, "--deployment"])
            .arg(&self.deployment)
            .output()
            .unwrap()
    }
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ok(out: Output) -> Value {
    assert!(out.status.success(), "command failed:\n{}", String::from_utf8_lossy(&out.stderr));
    report(&out)
}

const ENUM_PENDING: u8 = 1;
const ENUM_APPROVED: u8 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_contributions_on_chain_and_rerun_sends_nothing() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = DatanetStore::open(&store_dir).unwrap();
    let (alice, bob, carol) = (address(ALICE), address(BOB), address(CAROL));
    let a1 = store.add("plays", alice, b"All the world's a stage").unwrap().hash;
    let a2 = store.add("plays", alice, b"Brevity is the soul of wit").unwrap().hash;
    let b1 = store.add("plays", bob, b"Off with his head!").unwrap().hash;
    let b2 = store.add("plays", bob, b"Something is rotten in the state of Denmark").unwrap().hash;
    store.set_status("plays", a1, Status::Approved).unwrap();
    store.set_status("plays", b1, Status::Rejected).unwrap();
    store.set_status("plays", b2, Status::Approved).unwrap();
    let store_arg = store_dir.to_str().unwrap();
    let curator_key = key_hex(CURATOR);
    let register = |extra: &[&str]| {
        let mut args = vec!["datanet", "register", "--store", store_arg, "--datanet", "plays"];
        args.extend_from_slice(&["--create", "--key", &curator_key]);
        args.extend_from_slice(extra);
        chain.command(&args)
    };
    let keys = format!("{},{}", key_hex(ALICE), key_hex(BOB));

    // First run: creates the Datanet, registers a1, a2, b2 (each from its contributor), and
    // approves a1 and b2; b1 was rejected before it reached the chain.
    let (before, _) = chain.activity().await;
    let first = ok(register(&["--contributor-key", &keys]));
    assert_eq!(first["created"], true);
    let id: U256 = first["datanet_id"].as_str().unwrap().parse().unwrap();
    let d =
        chain.call(chain.contract("Datanets"), IDatanets::getDatanetCall { _datanetId: id }).await;
    assert_eq!(d.owner, address(CURATOR));
    for (hash, who, status) in
        [(a1, alice, ENUM_APPROVED), (a2, alice, ENUM_PENDING), (b2, bob, ENUM_APPROVED)]
    {
        let (_, c) =
            chain.contribution(hash).await.unwrap_or_else(|| panic!("{hash} not on chain"));
        assert_eq!((c.contributor, U256::from(c.datanetId), c.contentHash), (who, id, hash));
        assert_eq!(c.status, status, "{hash}");
        assert_eq!(c.size as usize, store.get_record("plays", hash).unwrap().bytes);
    }
    assert!(
        chain.contribution(b1).await.is_none(),
        "a contribution rejected in the store is not registered"
    );
    let (after, _) = chain.activity().await;
    // createDatanet + setCurator + 2 approvals from the curator, 2 and 1 contribute()s.
    assert_eq!(after[0] - before[0], 4);
    assert_eq!((after[1] - before[1], after[2] - before[2]), (2, 1));
    assert_eq!(first["transactions"], 7);

    // A rerun (--create again: the remembered id is reused) sends nothing.
    let before = chain.activity().await;
    let second = ok(register(&["--contributor-key", &keys]));
    assert_eq!(chain.activity().await, before, "the rerun sent transactions");
    assert_eq!(
        (second["created"].as_bool(), second["transactions"].as_u64()),
        (Some(false), Some(0))
    );
    assert_eq!(second["datanet_id"], first["datanet_id"]);

    // A later decision in the store is mirrored by one transaction; without the
    // contributor's key a new contribution is reported, not sent, and the command fails.
    store.set_status("plays", a2, Status::Approved).unwrap();
    let c1 = store.add("plays", carol, b"The lady doth protest too much").unwrap().hash;
    let before = chain.activity().await;
    let out = register(&["--contributor-key", &keys]);
    assert!(!out.status.success(), "a contribution left unregistered must fail the command");
    let third = report(&out);
    assert_eq!(third["transactions"], 1);
    let blocked: Vec<&Value> = third["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["blocked"].is_null())
        .collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["hash"], c1.to_string());
    assert_eq!(chain.contribution(a2).await.unwrap().1.status, ENUM_APPROVED);
    assert!(chain.contribution(c1).await.is_none());
    let (after, blocks) = chain.activity().await;
    assert_eq!((after[0] - before.0[0], blocks - before.1), (1, 1));
    let weight = chain
        .call(
            chain.contract("Datanets"),
            IDatanets::weightOfCall { _datanetId: id, _account: alice },
        )
        .await;
    assert_eq!(weight, U256::from(2));
    // With her key (and the id given explicitly) it goes through, and then all is quiet.
    let keys = format!("{keys},{}", key_hex(CAROL));
    let id_arg = id.to_string();
    let out = chain.command(&[
        "datanet",
        "register",
        "--store",
        store_arg,
        "--datanet",
        "plays",
        "--key",
        &key_hex(CURATOR),
        "--datanet-id",
        &id_arg,
        "--contributor-key",
        &keys,
    ]);
    assert_eq!(ok(out)["transactions"], 1);
    assert_eq!(chain.contribution(c1).await.unwrap().1.contributor, carol);
    // Another id for the same store Datanet on this chain is refused.
    let out = chain.command(&[
        "datanet",
        "register",
        "--store",
        store_arg,
        "--datanet",
        "plays",
        "--key",
        &key_hex(CURATOR),
        "--datanet-id",
        "99",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is on-chain Datanet"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `datanet register --create` interrupted after signing its `createDatanet` (before or after
/// it was mined) but before remembering the id: the rerun finishes that same transaction and
/// creates no second Datanet; a recorded transaction whose nonce went elsewhere is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_create_is_finished_not_repeated() {
    use attribution_engine::registration::Registrar;
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = DatanetStore::open(&store_dir).unwrap();
    for name in ["plays", "poems", "sonnets"] {
        store.add(name, address(ALICE), format!("a line of {name}").as_bytes()).unwrap();
    }
    let datanets = chain.contract("Datanets");
    let count = || chain.call(datanets, IDatanets::datanetCountCall {});
    let create_call = |name: &str| IDatanets::createDatanetCall {
        _metadataURI: format!("ipfs://{name}"),
        _license: "CC-BY-4.0".into(),
        _rules: IDatanets::Rules {
            contributionStake: 0,
            minCuratorStake: 0,
            maxContributionSize: 0,
            allowListed: false,
        },
    };
    let registrar = Registrar::connect(&chain.anvil.url, chain.d, signer(CURATOR)).await.unwrap();
    let start = count().await;

    // "poems": signed, recorded and mined, then the command died.
    let mined = registrar.record_create(&store, "poems", create_call("poems")).await.unwrap();
    chain.rpc.send_raw_transaction(&mined.raw_tx).await.unwrap().get_receipt().await.unwrap();
    assert_eq!(count().await, start + U256::from(1));
    // "plays": signed and recorded, never broadcast.
    let unsent = registrar.record_create(&store, "plays", create_call("plays")).await.unwrap();
    assert_eq!(unsent.nonce, mined.nonce + 1);
    assert_eq!(count().await, start + U256::from(1), "recording sends nothing");
    // "sonnets": recorded, then its nonce taken by another transaction of the same key.
    let stale = registrar.record_create(&store, "sonnets", create_call("sonnets")).await.unwrap();
    assert_eq!(stale.nonce, unsent.nonce, "unsent transactions do not take a nonce");

    let store_arg = store_dir.to_str().unwrap();
    let (curator_key, alice_key) = (key_hex(CURATOR), key_hex(ALICE));
    let register = |name: &'static str| {
        let args = [
            "datanet",
            "register",
            "--store",
            store_arg,
            "--datanet",
            name,
            "--create",
            "--key",
            &curator_key,
            "--contributor-key",
            &alice_key,
        ];
        ok(chain.command(&args))
    };
    let id_of =
        |report: &Value| -> U256 { report["datanet_id"].as_str().unwrap().parse().unwrap() };
    let created_by = |record: &attribution_engine::registration::RecordedCreate| {
        let hash = record.tx_hash;
        let rpc = chain.rpc.clone();
        async move {
            let receipt = rpc.get_transaction_receipt(hash).await.unwrap()?;
            Some(receipt.decoded_log::<IDatanets::DatanetCreated>().unwrap().data.datanetId)
        }
    };

    let poems = register("poems");
    assert_eq!(Some(id_of(&poems)), created_by(&mined).await, "the mined create is adopted");
    assert_eq!(count().await, start + U256::from(1), "no second Datanet for poems");

    let plays = register("plays");
    assert_eq!(Some(id_of(&plays)), created_by(&unsent).await, "the recorded create is sent");
    assert_eq!(count().await, start + U256::from(2));

    // The key moves on: "sonnets"' recorded nonce is now used by another transaction.
    chain.send(CURATOR, address(CAROL), vec![], U256::from(1)).await;
    let sonnets = register("sonnets");
    assert_eq!(created_by(&stale).await, None, "the stale record never reaches the chain");
    assert_eq!(count().await, start + U256::from(3), "created anew, once");
    let exists = chain.call(datanets, IDatanets::existsCall { _datanetId: id_of(&sonnets) }).await;
    assert!(exists);

    // Every record is settled; a rerun creates and sends nothing.
    let leftovers: Vec<_> = std::fs::read_dir(store_dir.join("chain"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".creating-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (before, _) = chain.activity().await;
    let again = register("plays");
    assert_eq!((again["created"].as_bool(), id_of(&again)), (Some(false), id_of(&plays)));
    assert_eq!(chain.activity().await.0, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_model_reads_back_the_runs_manifest_root() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = DatanetStore::open(&store_dir).unwrap();
    // Two contributors' texts, approved, registered on chain.
    for (c, who) in [(0, ALICE), (1, BOB)] {
        for text in texts(c, 4, 10, 3) {
            let rec = store.add("sea", address(who), text.as_bytes()).unwrap();
            store.set_status("sea", rec.hash, Status::Approved).unwrap();
        }
    }
    let store_arg = store_dir.to_str().unwrap();
    let keys = format!("{},{}", key_hex(ALICE), key_hex(BOB));
    let registered = ok(chain.command(&[
        "datanet",
        "register",
        "--store",
        store_arg,
        "--datanet",
        "sea",
        "--create",
        "--key",
        &key_hex(CURATOR),
        "--contributor-key",
        &keys,
    ]));
    let datanet_id: U256 = registered["datanet_id"].as_str().unwrap().parse().unwrap();

    // A tiny run on the snapshot.
    let model_dir = dir.path().join("model");
    let (model, _) = tiny_model(&model_dir);
    let tokenizer = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json")).unwrap();
    let cfg = TrainConfig {
        lora: LoraConfig { rank: 2, alpha: 4.0, targets: vec![ModuleKind::ALL[0]] },
        lr: 1e-2,
        epochs: 1,
        batch_size: 8,
        max_len: 16,
        seed: 1,
        weight_decay: 0.0,
    };
    let run_dir = dir.path().join("run");
    let examples = store.snapshot(&["sea".into()]).unwrap();
    let run = Run::train(&model, &model_dir, &tokenizer, examples, &cfg, &run_dir, false).unwrap();
    let run_arg = run_dir.to_str().unwrap();

    let before = chain.activity().await;
    let out = ok(chain.command(&[
        "register-model",
        "--run",
        run_arg,
        "--key",
        &key_hex(CURATOR),
        "--store",
        store_arg,
        "--price-per-1k-tokens",
        "1000",
    ]));
    let model_id: B256 = out["model_id"].as_str().unwrap().parse().unwrap();
    let adapter = run.info.adapter_id.0;
    assert_eq!(model_id, keccak256((address(CURATOR), adapter).abi_encode()));
    assert_eq!(out["registered"], true);
    let m = chain.call(chain.d.registry, IModelRegistry::getModelCall { _modelId: model_id }).await;
    assert_eq!(m.manifestRoot, run.info.manifest_root);
    assert_eq!(m.manifestRoot, run.manifest.root());
    assert_eq!(m.adapterHash, adapter);
    assert_eq!(m.datanetIds, vec![datanet_id]);
    assert_eq!(m.owner, address(CURATOR));
    assert_eq!(m.pricePer1kTokens, 1000);
    assert_eq!(m.baseModelId, keccak256(run.info.base_model.clone().unwrap()));
    let (after, _) = chain.activity().await;
    assert_eq!(after[0] - before.0[0], 1);

    // Again: the registration is found, checked, and nothing is sent.
    let before = chain.activity().await;
    let id_arg = datanet_id.to_string();
    let again = ok(chain.command(&[
        "register-model",
        "--run",
        run_arg,
        "--key",
        &key_hex(CURATOR),
        "--datanet-id",
        &id_arg,
    ]));
    assert_eq!(
        (again["model_id"].as_str(), again["registered"].as_bool()),
        (Some(model_id.to_string().as_str()), Some(false))
    );
    assert_eq!(chain.activity().await, before);
    // Other terms for the same adapter are reported as a mismatch, not overwritten.
    let other_base = B256::repeat_byte(9).to_string();
    let out = chain.command(&[
        "register-model",
        "--run",
        run_arg,
        "--key",
        &key_hex(CURATOR),
        "--datanet-id",
        &id_arg,
        "--base-model-id",
        &other_base,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("base model id"));
    // A run whose adapter file changed after training is refused before anything is sent.
    let weights = run_dir.join("adapter").join(openlora_server::adapter::ADAPTER_WEIGHTS);
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let out = chain.command(&[
        "register-model",
        "--run",
        run_arg,
        "--key",
        &key_hex(CURATOR),
        "--datanet-id",
        &id_arg,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hashes to"));
    assert_eq!(chain.activity().await, before);
}
