//! The bad-input table through HTTP, on a server taking payment (anvil + `DeployL2`): each bad
//! input gets a clear OpenAI-style error with the right status, a long request streaming
//! meanwhile finishes, good requests are served after, and the usage ledger is unchanged.

use super::{TestServer, assert_error, completion, paid_server, sse_data};
use crate::{
    common::{adapter_bytes, random_adapter, tiny_config},
    payment::common::{Chain, OPEN, PAYER, PAYER_B, SERVER, STRANGER, address, signer},
};
use alloy::primitives::U256;
use openlora_server::{
    ModuleKind,
    payment::{SignedVoucher, VOUCHER_HEADER, voucher::voucher, voucher_domain},
};
use serde_json::{Value, json};

const PRICE: u128 = 1_000_000_000_000_000;

struct Case {
    what: &'static str,
    resp: reqwest::Response,
    status: u16,
    code: &'static str,
    needle: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors_and_change_nothing() {
    let chain = Chain::start().await;
    // No redemption rounds during the table (they would add ledger rows); small bodies.
    let t = paid_server(&chain, |c| {
        c.redeem_interval_secs = 3_600;
        c.max_body_bytes = 64 << 10;
    })
    .await;
    let adapter = t.add_adapter(41).await;
    let model = chain.register_model(adapter.0, PRICE).await;
    chain.deposit(PAYER, OPEN).await;
    chain.deposit(PAYER_B, OPEN).await;
    let a = adapter.to_string();
    let paid = |header: String, body: &Value| {
        t.http
            .post(format!("{}/v1/completions", t.url))
            .header(VOUCHER_HEADER, header)
            .json(body)
            .send()
    };

    // A long streamed request that runs through the whole table.
    let mut long = completion(&a, "The long one", 200);
    long["stream"] = json!(true);
    let long_resp = paid(chain.header(PAYER, model, PRICE), &long).await.unwrap();
    assert_eq!(long_resp.status(), 200);
    let long_task = tokio::spawn(long_resp.text());
    let mut cumulative = PRICE; // PAYER's highest voucher so far

    let ledger = t.server.gate.ledger().clone();
    // The long request is recorded (its inference, its channel's consumed amount) whenever it
    // finishes: compare the rest.
    let snapshot = || async {
        let mut c = ledger.counts().await.unwrap();
        c.inferences = 0;
        let accepted: Vec<_> = ledger
            .channels(address(SERVER))
            .await
            .unwrap()
            .into_iter()
            .map(|ch| (ch.key, ch.accepted))
            .collect();
        (c, accepted)
    };
    let before = snapshot().await;
    let adapters_before = registered_adapters(&t).await;
    let mut cases: Vec<Case> = Vec::new();
    let ctx = tiny_config().max_position_embeddings;

    // Inference requests.
    let unknown = format!("0x{}", "ab".repeat(32));
    cases.push(Case {
        what: "unknown adapter",
        resp: paid(chain.header(PAYER, model, cumulative + 1), &completion(&unknown, "x", 2))
            .await
            .unwrap(),
        status: 404,
        code: "model_not_found",
        needle: format!("unknown adapter {unknown}"),
    });
    cases.push(Case {
        what: "malformed model id",
        resp: t.post("/v1/completions", &completion("0x1234", "x", 2)).await,
        status: 400,
        code: "invalid_model",
        needle: "is not an adapter id".into(),
    });
    let mut over = completion(&a, "", 2);
    over["prompt"] = json!(vec![5u32; ctx + 10]);
    cases.push(Case {
        what: "prompt over the context length",
        resp: paid(chain.header(PAYER, model, cumulative + 2), &over).await.unwrap(),
        status: 400,
        code: "context_length_exceeded",
        needle: format!("prompt has {} tokens, but the context length is {ctx}", ctx + 10),
    });
    let chat_over =
        json!({"model": a, "messages": [{"role": "user", "content": "OPEN ".repeat(ctx)}]});
    cases.push(Case {
        what: "chat over the context length",
        resp: t.post("/v1/chat/completions", &chat_over).await,
        status: 400,
        code: "context_length_exceeded",
        needle: format!("the context length is {ctx}"),
    });
    cases.push(Case {
        what: "invalid JSON",
        resp: t
            .http
            .post(format!("{}/v1/completions", t.url))
            .header("content-type", "application/json")
            .body("{\"model\": \"x\", \"prompt\": ")
            .send()
            .await
            .unwrap(),
        status: 400,
        code: "invalid_json",
        needle: "the body is not valid JSON".into(),
    });
    cases.push(Case {
        what: "JSON of the wrong shape",
        resp: t.post("/v1/chat/completions", &json!({"model": a, "messages": "hi"})).await,
        status: 400,
        code: "invalid_request",
        needle: "the request is invalid".into(),
    });
    let mut bad_top_p = completion(&a, "x", 2);
    bad_top_p["top_p"] = json!(1.5);
    cases.push(Case {
        what: "top_p out of range",
        resp: t.post("/v1/completions", &bad_top_p).await,
        status: 400,
        code: "invalid_value",
        needle: "top_p must be in (0, 1], got 1.5".into(),
    });
    cases.push(Case {
        what: "body over the limit",
        resp: t
            .http
            .post(format!("{}/v1/completions", t.url))
            .header("content-type", "application/json")
            .body(vec![b' '; 100 << 10])
            .send()
            .await
            .unwrap(),
        status: 413,
        code: "invalid_body",
        needle: "length limit".into(),
    });
    cases.push(Case {
        what: "base model without payment support",
        resp: t.post("/v1/completions", &completion(t.server.engine.model_name(), "x", 2)).await,
        status: 400,
        code: "model_not_payable",
        needle: "served only without payment".into(),
    });

    // Adapter uploads.
    let (cfg_bytes, weights) = adapter_bytes(&random_adapter(4, &[ModuleKind::K], 42));
    let mut corrupt = weights.clone();
    corrupt[8..24].copy_from_slice(b"{\"x\":garbage!!!}");
    cases.push(Case {
        what: "corrupt safetensors",
        resp: t.upload(cfg_bytes.clone(), corrupt).await,
        status: 400,
        code: "invalid_adapter",
        needle: "is not a valid safetensors file".into(),
    });
    cases.push(Case {
        what: "truncated safetensors",
        resp: t.upload(cfg_bytes.clone(), weights[..weights.len() / 2].to_vec()).await,
        status: 400,
        code: "invalid_adapter",
        needle: "is not a valid safetensors file".into(),
    });
    cases.push(Case {
        what: "invalid adapter_config.json",
        resp: t.upload(b"{\"r\": \"four\"}".to_vec(), weights.clone()).await,
        status: 400,
        code: "invalid_adapter",
        needle: "invalid adapter_config.json".into(),
    });
    let mut wide = tiny_config();
    wide.hidden_size = 96;
    let (c, w) = random_adapter(4, &[ModuleKind::Q], 43).to_bytes(&wide).unwrap();
    cases.push(Case {
        what: "shape mismatch",
        resp: t.upload(c, w).await,
        status: 422,
        code: "adapter_shape_mismatch",
        needle: "has shape [4, 96], expected [4, 64] for this base model".into(),
    });
    let mut other = random_adapter(4, &[ModuleKind::Q], 44);
    other.base_model = Some("meta-llama/Llama-3.1-8B".into());
    let (c, w) = adapter_bytes(&other);
    cases.push(Case {
        what: "adapter for another base model",
        resp: t.upload(c, w).await,
        status: 422,
        code: "adapter_base_model_mismatch",
        needle: "adapter is for base model `meta-llama/Llama-3.1-8B`".into(),
    });
    cases.push(Case {
        what: "upload without the weights",
        resp: t
            .http
            .post(format!("{}/v1/adapters", t.url))
            .multipart(
                reqwest::multipart::Form::new().part(
                    "adapter_config.json",
                    reqwest::multipart::Part::bytes(cfg_bytes.clone()),
                ),
            )
            .send()
            .await
            .unwrap(),
        status: 400,
        code: "invalid_upload",
        needle: "needs both adapter_config.json and adapter_model.safetensors".into(),
    });
    cases.push(Case {
        what: "delete an unknown adapter",
        resp: t.http.delete(format!("{}/v1/adapters/{unknown}", t.url)).send().await.unwrap(),
        status: 404,
        code: "model_not_found",
        needle: "unknown adapter".into(),
    });

    // Vouchers.
    let domain = voucher_domain(chain.config.chain_id, chain.config.escrow);
    let req = completion(&a, "Pay me", 4);
    let forged = {
        // Claims PAYER's escrow, signed by someone else.
        let v = voucher(address(PAYER), address(SERVER), model, U256::from(cumulative + 10));
        SignedVoucher::sign(v, &domain, &signer(STRANGER)).unwrap().to_header()
    };
    cases.push(Case {
        what: "forged voucher",
        resp: paid(forged, &req).await.unwrap(),
        status: 402,
        code: "voucher_forged",
        needle: format!("is signed by {}, not by its payer {}", address(STRANGER), address(PAYER)),
    });
    cases.push(Case {
        what: "replayed voucher",
        resp: paid(chain.header(PAYER, model, cumulative), &req).await.unwrap(),
        status: 402,
        code: "voucher_replayed",
        needle: format!(
            "cumulative amount {cumulative} is not above {cumulative} already accepted"
        ),
    });
    cases.push(Case {
        what: "voucher too small",
        // A new channel (PAYER_B's): 1 wei does not cover the request's maximum fee.
        resp: paid(chain.header(PAYER_B, model, 1), &req).await.unwrap(),
        status: 402,
        code: "voucher_insufficient",
        needle: "voucher too small".into(),
    });
    cases.push(Case {
        what: "under-funded escrow",
        resp: paid(chain.header(STRANGER, model, PRICE), &req).await.unwrap(),
        status: 402,
        code: "escrow_underfunded",
        needle: format!("payer {} holds 0 wei in the escrow", address(STRANGER)),
    });
    cases.push(Case {
        what: "voucher for another server",
        resp: paid(chain.header_for(PAYER, address(STRANGER), model, PRICE * 2), &req)
            .await
            .unwrap(),
        status: 402,
        code: "voucher_wrong_server",
        needle: "voucher pays server".into(),
    });
    cases.push(Case {
        what: "malformed voucher header",
        resp: paid("not-a-voucher!".into(), &req).await.unwrap(),
        status: 400,
        code: "voucher_malformed",
        needle: "not base64url-encoded JSON".into(),
    });
    // Expired: PAYER_B asked to withdraw everything and the notice is nearly over.
    chain.request_withdrawal(PAYER_B, OPEN).await;
    chain.advance(250).await;
    cases.push(Case {
        what: "expired voucher (withdrawal due)",
        resp: paid(chain.header(PAYER_B, model, PRICE), &req).await.unwrap(),
        status: 402,
        code: "voucher_expired",
        needle: "requested a withdrawal".into(),
    });

    for case in cases {
        eprintln!("{:>34}: checking", case.what);
        let body = assert_error(case.resp, case.status, case.code, &case.needle).await;
        eprintln!("{:>34}: {} {}", case.what, case.status, body["error"]["message"]);
        assert_eq!(snapshot().await, before, "{}: the ledger changed", case.what);
    }
    let adapters_after = registered_adapters(&t).await;
    assert_eq!(adapters_after, adapters_before, "no bad upload registered anything");

    // The long request finished normally meanwhile, and new requests are served.
    let data = sse_data(&long_task.await.unwrap().unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]", "{:?}", data.last());
    let last: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(last["usage"]["completion_tokens"], 200);
    cumulative += PRICE;
    let resp = paid(chain.header(PAYER, model, cumulative), &req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["completion_tokens"], 4);
    let rows = ledger.counts().await.unwrap();
    assert_eq!(rows.inferences, 2, "the long request and the last one, nothing else");
    assert_eq!(rows.vouchers, 2);
    t.shutdown().await;
}

/// The adapter listing without each entry's cache `tier`, which moves between
/// device and host as requests run and is not what a bad upload could change.
async fn registered_adapters(t: &TestServer) -> Value {
    let mut list: Value = t.get("/v1/adapters").await.json().await.unwrap();
    for entry in list["data"].as_array_mut().unwrap() {
        entry.as_object_mut().unwrap().remove("tier");
    }
    list
}
