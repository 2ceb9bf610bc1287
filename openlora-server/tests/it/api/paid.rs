//! A paid inference end to end, against the real contracts on anvil: the payer deposits into
//! the InferenceEscrow, the owner registers a model for an adapter, the payer calls
//! `/v1/completions` (then streams) with vouchers; the answers carry usage and fee headers, the
//! ledger has the rows, and the server's redeemer redeems the latest voucher on chain.

use super::{completion, paid_server, sse_data};
use crate::payment::common::{Chain, OPEN, PAYER, SERVER, address};
use alloy::primitives::{U256, keccak256};
use openlora_server::{
    ledger::{ChannelKey, InferenceQuery},
    payment::{VOUCHER_HEADER, fee_for_tokens},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// 0.001 OPEN per 1,000 tokens.
const PRICE: u128 = 1_000_000_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_completion_is_metered_recorded_and_redeemed() {
    let chain = Chain::start().await;
    let t = paid_server(&chain, |_| {}).await;
    let adapter = t.add_adapter(31).await;
    let model = chain.register_model(adapter.0, PRICE).await;
    chain.deposit(PAYER, OPEN).await;
    let key = ChannelKey { payer: address(PAYER), server: address(SERVER), model_id: model };

    // /health tells clients where to pay.
    let health: Value = t.get("/health").await.json().await.unwrap();
    assert_eq!(health["payment"]["server"], address(SERVER).to_string());
    assert_eq!(health["payment"]["chainId"], chain.config.chain_id);
    assert_eq!(health["payment"]["verifyingContract"], chain.config.escrow.to_string());
    // The base model is not sold.
    let models: Value = t.get("/v1/models").await.json().await.unwrap();
    assert_eq!(models["data"].as_array().unwrap().len(), 1);

    // Without a voucher: 402 with the reason.
    let req = completion(&adapter.to_string(), "The escrow pays", 10);
    let resp = t.post("/v1/completions", &req).await;
    super::assert_error(resp, 402, "voucher_missing", "X-Payment-Voucher").await;

    // With one covering the maximum (prompt + 10 tokens at PRICE, well under 0.0005 OPEN).
    let first = PRICE / 2;
    let resp = t
        .http
        .post(format!("{}/v1/completions", t.url))
        .header(VOUCHER_HEADER, chain.header(PAYER, model, first))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    let body: Value = resp.json().await.unwrap();
    let usage = &body["usage"];
    let (tokens_in, tokens_out) =
        (usage["prompt_tokens"].as_u64().unwrap(), usage["completion_tokens"].as_u64().unwrap());
    assert_eq!(tokens_out, 10);
    let fee = fee_for_tokens(U256::from(PRICE), tokens_in + tokens_out);
    assert!(!fee.is_zero());
    assert_eq!(h["x-payment-fee"], fee.to_string());
    assert_eq!(h["x-payment-consumed"], fee.to_string());
    assert_eq!(h["x-payment-accepted"], first.to_string());
    let id = h["x-inference-id"].to_str().unwrap().parse().unwrap();

    // The ledger row.
    let ledger = t.server.gate.ledger();
    let row = ledger.inference(id).await.unwrap().expect("the inference is recorded");
    assert_eq!(row.payer, Some(address(PAYER)));
    assert_eq!(row.model_id, Some(model));
    assert_eq!(row.adapter, adapter.0);
    assert_eq!((row.tokens_in, row.tokens_out), (tokens_in, tokens_out));
    assert_eq!(row.fee, fee);
    assert_eq!(row.price_per_1k, U256::from(PRICE));
    assert_eq!(row.prompt_hash, keccak256("The escrow pays"));
    assert_eq!(row.output_hash, keccak256(body["choices"][0]["text"].as_str().unwrap()));
    // The texts, for the attribution engine.
    assert_eq!(row.prompt.as_deref(), Some("The escrow pays"));
    assert_eq!(row.completion.as_deref(), body["choices"][0]["text"].as_str());
    assert_eq!(row.voucher_cumulative, Some(U256::from(first)));

    // A replay of the same voucher: 402, nothing recorded.
    let before = ledger.counts().await.unwrap();
    let resp = t
        .http
        .post(format!("{}/v1/completions", t.url))
        .header(VOUCHER_HEADER, chain.header(PAYER, model, first))
        .json(&req)
        .send()
        .await
        .unwrap();
    super::assert_error(resp, 402, "voucher_replayed", "replayed voucher").await;
    assert_eq!(ledger.counts().await.unwrap(), before);

    // The next voucher, streamed: max fee up front, the settlement in the last chunk.
    let second = PRICE;
    let mut sreq = req.clone();
    sreq["stream"] = json!(true);
    let resp = t
        .http
        .post(format!("{}/v1/completions", t.url))
        .header(VOUCHER_HEADER, chain.header(PAYER, model, second))
        .json(&sreq)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-payment-max-fee"));
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(last["usage"]["completion_tokens"], 10);
    assert_eq!(last["payment"]["fee"], fee.to_string());
    assert_eq!(last["payment"]["consumed"], (fee * U256::from(2)).to_string());
    assert_eq!(last["payment"]["accepted"], second.to_string());
    let rows = ledger.list_inferences(&InferenceQuery::default()).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.iter().map(|r| r.fee).sum::<U256>(), fee * U256::from(2));

    // The redeemer (every second) redeems the latest accepted voucher on chain: the escrow
    // pays the whole signed amount to Rewards.
    let deadline = Instant::now() + Duration::from_secs(60);
    while chain.redeemed(&key).await != U256::from(second) {
        assert!(Instant::now() < deadline, "the voucher was not redeemed within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(chain.escrow_balance(address(PAYER)).await, U256::from(OPEN - second));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let confirmed = ledger.redemptions(&key).await.unwrap().iter().any(|r| {
            r.status == openlora_server::ledger::RedemptionStatus::Confirmed
                && r.cumulative == U256::from(second)
        });
        if confirmed {
            break;
        }
        assert!(Instant::now() < deadline, "the redemption was not confirmed in the ledger");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    t.shutdown().await;
}
