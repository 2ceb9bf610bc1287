//! Streaming (SSE) and whole answers over HTTP without payment: chunks that add up to the
//! whole answer, `[DONE]` last, usage in the last chunk, usage in every answer, a row in the
//! usage ledger per inference, and the Prometheus series.

use super::{TestServer, completion, sse_data};
use alloy::primitives::keccak256;
use openlora_server::ledger::InferenceQuery;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chunks_add_up_to_the_whole_answer() {
    let t = TestServer::free().await;
    let adapter = t.add_adapter(11).await.to_string();

    // Whole answer, greedy.
    let resp = t.post("/v1/completions", &completion(&adapter, "The sequencer orders", 12)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-inference-id"));
    assert_eq!(resp.headers()["x-payment-fee"], "0");
    let whole: Value = resp.json().await.unwrap();
    assert_eq!(whole["object"], "text_completion");
    assert_eq!(whole["model"], adapter);
    let text = whole["choices"][0]["text"].as_str().unwrap().to_owned();
    let usage = whole["usage"].clone();
    assert_eq!(usage["completion_tokens"], 12, "{whole}");
    assert_eq!(whole["choices"][0]["finish_reason"], "length");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + 12
    );

    // The same request streamed.
    let mut req = completion(&adapter, "The sequencer orders", 12);
    req["stream"] = json!(true);
    let resp = t.post("/v1/completions", &req).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let inference_id = resp.headers()["x-inference-id"].to_str().unwrap().to_owned();
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert!(chunks.len() >= 2, "several chunks: {chunks:?}");
    let streamed: String =
        chunks.iter().map(|c| c["choices"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, text, "streamed text = whole text (greedy)");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"], usage, "usage in the last chunk");
    assert_eq!(last["payment"]["inference_id"], inference_id);
    assert_eq!(last["payment"]["fee"], "0");
    for c in &chunks[..chunks.len() - 1] {
        assert!(c["choices"][0]["finish_reason"].is_null() && c.get("usage").is_none());
    }

    // Chat, streamed: the role first, then content, then the finish with usage.
    let chat = json!({
        "model": adapter, "stream": true, "max_tokens": 6, "temperature": 0,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who orders blocks?"}],
    });
    let resp = t.post("/v1/chat/completions", &chat).await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let last = chunks.last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string());
    let completion_tokens = last["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=6).contains(&completion_tokens), "{last}");
    let chat_text: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();

    // The ledger has the three inferences, with the hashes of what was answered.
    let ledger = t.server.gate.ledger();
    let rows = ledger.list_inferences(&InferenceQuery::default()).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].id.to_string(), inference_id);
    assert_eq!(rows[1].output_hash, keccak256(text.as_bytes()));
    assert_eq!(rows[1].prompt_hash, keccak256("The sequencer orders"));
    assert_eq!(rows[1].tokens_out, 12);
    assert_eq!(rows[2].output_hash, keccak256(chat_text.as_bytes()));
    assert_eq!(rows[1].prompt.as_deref(), Some("The sequencer orders"));
    assert_eq!(rows[1].completion.as_deref(), Some(text.as_str()));
    assert_eq!(rows[2].completion.as_deref(), Some(chat_text.as_str()));
    assert!(rows[2].prompt.as_deref().is_some_and(|p| keccak256(p) == rows[2].prompt_hash));
    assert_eq!(rows[2].adapter.to_string(), adapter);
    assert!(rows.iter().all(|r| r.fee.is_zero() && r.payer.is_none()));

    // Metrics carry the engine's series and the HTTP counters.
    let metrics = t.get("/metrics").await.text().await.unwrap();
    for series in [
        "openlora_generated_tokens_total",
        "openlora_tokens_per_second",
        "openlora_queue_depth",
        "openlora_batch_size",
        "openlora_http_requests_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    t.shutdown().await;
}
