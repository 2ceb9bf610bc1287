//! `POST /v1/completions` and `POST /v1/chat/completions`: one path for both.
//!
//! ```text
//!  body ──parse──▶ request ──model → adapter id──▶ prompt (text, tokens, or the chat template)
//!    ──engine.prepare (tokenize, check context, clamp max_tokens)── nothing queued yet
//!    ──gate.admit(voucher, adapter, prompt tokens, max tokens, prompt hash)── 402 if short
//!    ──engine.submit_prepared──▶ tokens ──(stream: one SSE chunk per text delta)
//!    ──Done──▶ gate.settle(completion tokens, keccak(output)) ── ledger row committed
//!    ──▶ answer with usage (+ payment headers)  /  last chunk with usage + payment, [DONE]
//! ```
//!
//! Every refusal happens before the engine is given any work and writes nothing. A request
//! that fails or is cancelled (client gone) after admission is not charged: its reservation is
//! released and its voucher stays accepted (credit for the next one).

use crate::{
    AdapterId, Event, FinishReason, GenerateRequest, PreparedRequest, Prompt, SamplingParams,
    api::{
        AppState,
        error::{ApiError, ApiResult},
        openai::{
            ChatCompletionRequest, CompletionRequest, PaymentBody, PromptInput, UsageBody,
            check_common, finish_reason,
        },
    },
    payment::{self, Admission, AdmitRequest, Settlement, VOUCHER_HEADER},
};
use alloy::primitives::{B256, keccak256};
use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderName, HeaderValue},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::{convert::Infallible, time::Instant};
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Response header: the inference id the usage ledger records.
pub const INFERENCE_ID_HEADER: &str = "x-inference-id";
/// Response header of streamed answers: the most the request may cost, in wei.
pub const MAX_FEE_HEADER: &str = "x-payment-max-fee";

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Completion,
    Chat,
}

/// A request resolved and checked, not yet admitted.
struct Job {
    kind: Kind,
    /// The `model` string, echoed.
    model: String,
    stream: bool,
    prepared: PreparedRequest,
    prompt_hash: B256,
    /// The prompt text the ledger records (`None` for token-id prompts).
    prompt_text: Option<String>,
}

/// Parses a JSON body into `T`, with OpenAI-style errors for bodies that are too large, not
/// JSON, or not the request's shape.
pub(crate) fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let body =
        body.map_err(|r| ApiError::invalid("invalid_body", r.body_text()).with_status(r.status()))?;
    serde_json::from_slice(&body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::invalid("invalid_json", format!("the body is not valid JSON: {e}"))
            }
            Category::Data => {
                ApiError::invalid("invalid_request", format!("the request is invalid: {e}"))
            }
        }
    })
}

/// `model` → the adapter (or `None` for the base model).
fn resolve_model(state: &AppState, model: &str) -> ApiResult<Option<AdapterId>> {
    if model.starts_with("0x") {
        let id: AdapterId = model.parse().map_err(|e: crate::AdapterError| {
            ApiError::invalid("invalid_model", e.to_string()).with_param("model")
        })?;
        if state.engine.adapter(&id).is_none() {
            return Err(ApiError::model_not_found(format!(
                "unknown adapter {id}: not loaded on this server (GET /v1/models lists them)"
            )));
        }
        return Ok(Some(id));
    }
    if model == state.engine.model_name() {
        if state.gate.is_enabled() {
            return Err(ApiError::invalid(
                "model_not_payable",
                format!(
                    "the base model `{model}` is served only without payment (--no-payment); \
                     name an adapter (0x id) registered in the ModelRegistry"
                ),
            )
            .with_param("model"));
        }
        return Ok(None);
    }
    Err(ApiError::model_not_found(format!(
        "unknown model `{model}`: name an adapter by its id (0x followed by 64 hex digits) or \
         the base model `{}`",
        state.engine.model_name()
    )))
}

fn sampling(common: &crate::api::openai::CommonParams, max_tokens: usize) -> SamplingParams {
    SamplingParams {
        max_tokens,
        temperature: common.temperature.unwrap_or(1.0),
        top_p: common.top_p.unwrap_or(1.0),
        seed: common.seed,
        stop: common.stop.clone().map(|s| s.into_vec()).unwrap_or_default(),
        ignore_eos: common.ignore_eos.unwrap_or(false),
    }
}

/// Tokenizes and checks off the async threads (tokenizing a large prompt takes milliseconds).
async fn prepare(state: &AppState, req: GenerateRequest) -> ApiResult<PreparedRequest> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || engine.prepare(req))
        .await
        .map_err(|e| ApiError::internal(format!("prepare task failed: {e}")))?
        .map_err(ApiError::from)
}

async fn completion_job(state: &AppState, req: CompletionRequest) -> ApiResult<Job> {
    check_common(&req.common)?;
    if req.echo == Some(true) {
        return Err(
            ApiError::invalid("unsupported_parameter", "echo is not supported").with_param("echo")
        );
    }
    if req.logprobs.as_ref().is_some_and(|l| !l.is_null()) {
        return Err(ApiError::invalid("unsupported_parameter", "logprobs are not supported")
            .with_param("logprobs"));
    }
    if req.best_of.is_some_and(|b| b != 1) {
        return Err(ApiError::invalid("unsupported_parameter", "only best_of = 1 is supported")
            .with_param("best_of"));
    }
    if req.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid("unsupported_parameter", "suffix is not supported")
            .with_param("suffix"));
    }
    let adapter = resolve_model(state, &req.common.model)?;
    let one = |n: usize| {
        if n == 1 {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "unsupported_parameter",
                format!("one prompt per request is served, got {n}"),
            )
            .with_param("prompt"))
        }
    };
    let (prompt, prompt_hash) = match req.prompt {
        None => (Prompt::Text(String::new()), keccak256(b"")),
        Some(PromptInput::Text(t)) => (Prompt::Text(t.clone()), keccak256(t.as_bytes())),
        Some(PromptInput::Texts(mut v)) => {
            one(v.len())?;
            let t = v.pop().unwrap_or_default();
            let h = keccak256(t.as_bytes());
            (Prompt::Text(t), h)
        }
        Some(PromptInput::Tokens(ids)) => {
            let h = token_hash(&ids);
            (Prompt::Tokens(ids), h)
        }
        Some(PromptInput::TokenBatches(mut v)) => {
            one(v.len())?;
            let ids = v.pop().unwrap_or_default();
            let h = token_hash(&ids);
            (Prompt::Tokens(ids), h)
        }
    };
    let max_tokens = req.max_tokens.map_or(16, |m| m as usize);
    let params = sampling(&req.common, max_tokens);
    let prompt_text = match &prompt {
        Prompt::Text(t) => Some(t.clone()),
        Prompt::Tokens(_) => None,
    };
    let prepared = prepare(state, GenerateRequest { adapter, prompt, params }).await?;
    Ok(Job {
        kind: Kind::Completion,
        model: req.common.model,
        stream: req.common.stream.unwrap_or(false),
        prepared,
        prompt_hash,
        prompt_text,
    })
}

async fn chat_job(state: &AppState, req: ChatCompletionRequest) -> ApiResult<Job> {
    check_common(&req.common)?;
    if req.logprobs == Some(true) {
        return Err(ApiError::invalid("unsupported_parameter", "logprobs are not supported")
            .with_param("logprobs"));
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::invalid("unsupported_parameter", "tools are not supported")
            .with_param("tools"));
    }
    if let Some(format) = &req.response_format
        && format.get("type").and_then(|t| t.as_str()) != Some("text")
    {
        return Err(ApiError::invalid(
            "unsupported_parameter",
            "only response_format {\"type\": \"text\"} is supported",
        )
        .with_param("response_format"));
    }
    let adapter = resolve_model(state, &req.common.model)?;
    let template = state.chat.as_ref().ok_or_else(|| {
        ApiError::invalid(
            "no_chat_template",
            "the model has no chat_template in tokenizer_config.json: use /v1/completions",
        )
    })?;
    let text = template.render(&req.messages)?;
    let prompt_hash = keccak256(text.as_bytes());
    // Default: whatever the context leaves (the engine clamps it).
    let max_tokens =
        req.max_completion_tokens.or(req.max_tokens).map_or(usize::MAX, |m| m as usize);
    let params = sampling(&req.common, max_tokens);
    let prompt_text = Some(text.clone());
    let prepared = prepare(state, GenerateRequest { adapter, prompt: Prompt::Text(text), params })
        .await
        .map_err(|e| if e.param == Some("prompt") { e.with_param("messages") } else { e })?;
    Ok(Job {
        kind: Kind::Chat,
        model: req.common.model,
        stream: req.common.stream.unwrap_or(false),
        prepared,
        prompt_hash,
        prompt_text,
    })
}

fn token_hash(ids: &[u32]) -> B256 {
    let bytes: Vec<u8> = ids.iter().flat_map(|t| t.to_le_bytes()).collect();
    keccak256(bytes)
}

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let req: CompletionRequest = parse_json(body)?;
        let job = completion_job(&state, req).await?;
        run(state, &headers, job).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let req: ChatCompletionRequest = parse_json(body)?;
        let job = chat_job(&state, req).await?;
        run(state, &headers, job).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// Admits, submits, and answers (whole or streamed).
async fn run(state: AppState, headers: &HeaderMap, job: Job) -> ApiResult<Response> {
    let voucher = match headers.get(VOUCHER_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::from(payment::PaymentError::Malformed(payment::VoucherError::Encoding(
                "the header is not ASCII".into(),
            )))
        })?),
    };
    let prepared = &job.prepared;
    let admission = state
        .gate
        .admit(AdmitRequest {
            voucher_header: voucher,
            adapter: prepared.adapter().map_or(B256::ZERO, |a| a.0),
            prompt_tokens: prepared.prompt().len() as u64,
            max_tokens: prepared.params().max_tokens as u64,
            prompt_hash: job.prompt_hash,
        })
        .await
        .inspect_err(|e| {
            metrics::counter!("openlora_payment_refusals_total", "code" => e.code()).increment(1);
        })?;
    let stream = state.engine.submit_prepared(job.prepared.clone())?;
    let created = unix_now();
    if job.stream {
        Ok(stream_answer(state, job, admission, stream, created))
    } else {
        whole_answer(state, job, admission, stream, created).await
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn response_id(kind: Kind, inference: B256) -> String {
    let prefix = match kind {
        Kind::Completion => "cmpl",
        Kind::Chat => "chatcmpl",
    };
    format!("{prefix}-{}", alloy::primitives::hex::encode(inference))
}

fn payment_headers(settlement: &Settlement) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in settlement.response_headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&settlement.inference_id.to_string()) {
        headers.insert(HeaderName::from_static(INFERENCE_ID_HEADER), v);
    }
    headers
}

fn payment_body(s: &Settlement) -> PaymentBody {
    PaymentBody {
        inference_id: s.inference_id.to_string(),
        fee: s.fee.to_string(),
        consumed: s.channel.map(|c| c.consumed.to_string()),
        accepted: s.channel.map(|c| c.accepted.to_string()),
    }
}

/// Settles a finished generation: the fee on the real token count, the output's keccak, and
/// the prompt and output texts (for attribution).
async fn settle(
    state: &AppState,
    admission: Admission,
    prompt: Option<String>,
    completion_tokens: usize,
    text: &str,
) -> ApiResult<Settlement> {
    let settlement = state
        .gate
        .settle(
            admission.with_texts(prompt, text.to_owned()),
            payment::Usage {
                completion_tokens: completion_tokens as u64,
                output_hash: keccak256(text.as_bytes()),
            },
        )
        .await?;
    metrics::counter!("openlora_inferences_settled_total").increment(1);
    info!(
        inference = %settlement.inference_id,
        tokens_in = settlement.tokens_in,
        tokens_out = settlement.tokens_out,
        fee = %settlement.fee,
        "inference recorded"
    );
    Ok(settlement)
}

async fn whole_answer(
    state: AppState,
    job: Job,
    admission: Admission,
    stream: crate::RequestStream,
    created: u64,
) -> ApiResult<Response> {
    let start = Instant::now();
    let done = stream.collect().await?;
    let settlement = settle(
        &state,
        admission,
        job.prompt_text.clone(),
        done.usage.completion_tokens,
        &done.text,
    )
    .await?;
    debug!(ms = start.elapsed().as_millis() as u64, "generation done");
    let usage =
        UsageBody::new(done.usage.prompt_tokens as u64, done.usage.completion_tokens as u64);
    let id = response_id(job.kind, settlement.inference_id);
    let reason = finish_reason(done.finish_reason);
    let body = match job.kind {
        Kind::Completion => json!({
            "id": id, "object": "text_completion", "created": created, "model": job.model,
            "choices": [{"index": 0, "text": done.text, "logprobs": null, "finish_reason": reason}],
            "usage": usage,
        }),
        Kind::Chat => json!({
            "id": id, "object": "chat.completion", "created": created, "model": job.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": done.text},
                "logprobs": null,
                "finish_reason": reason,
            }],
            "usage": usage,
        }),
    };
    Ok((payment_headers(&settlement), axum::Json(body)).into_response())
}

/// One streamed chunk.
fn chunk(
    kind: Kind,
    id: &str,
    created: u64,
    model: &str,
    text: Option<&str>,
    finish: Option<FinishReason>,
) -> serde_json::Value {
    let reason = finish.map(finish_reason);
    match kind {
        Kind::Completion => json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": reason}],
        }),
        Kind::Chat => {
            let delta = match text {
                Some(t) => json!({"content": t}),
                None => json!({}),
            };
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": reason}],
            })
        }
    }
}

fn sse_json(value: &serde_json::Value) -> SseEvent {
    SseEvent::default().data(value.to_string())
}

/// Streams tokens as SSE chunks from a task of their own; the last chunk carries
/// `finish_reason`, `usage` and `payment`, then `data: [DONE]`. A client that goes away drops
/// the receiver: the task stops, which drops the engine's stream (the engine cancels the
/// request) and the admission (nothing is charged).
fn stream_answer(
    state: AppState,
    job: Job,
    admission: Admission,
    mut stream: crate::RequestStream,
    created: u64,
) -> Response {
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    let id = response_id(job.kind, admission.inference_id());
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&admission.inference_id().to_string()) {
        headers.insert(HeaderName::from_static(INFERENCE_ID_HEADER), v);
    }
    if state.gate.is_enabled()
        && let Ok(v) = HeaderValue::from_str(&admission.max_fee().to_string())
    {
        headers.insert(HeaderName::from_static(MAX_FEE_HEADER), v);
    }
    tokio::spawn(async move {
        let (kind, model) = (job.kind, job.model.as_str());
        if kind == Kind::Chat {
            let mut first = chunk(kind, &id, created, model, Some(""), None);
            first["choices"][0]["delta"] = json!({"role": "assistant", "content": ""});
            if tx.send(sse_json(&first)).await.is_err() {
                return;
            }
        }
        let mut text = String::new();
        let error = loop {
            match stream.next().await {
                Some(Event::Token { text: delta, .. }) => {
                    if delta.is_empty() {
                        continue;
                    }
                    text.push_str(&delta);
                    let c = chunk(kind, &id, created, model, Some(&delta), None);
                    if tx.send(sse_json(&c)).await.is_err() {
                        debug!(id, "client went away: request cancelled, not charged");
                        return;
                    }
                }
                Some(Event::Done { finish_reason, usage, .. }) => {
                    match settle(
                        &state,
                        admission,
                        job.prompt_text.clone(),
                        usage.completion_tokens,
                        &text,
                    )
                    .await
                    {
                        Ok(s) => {
                            let mut last =
                                chunk(kind, &id, created, model, None, Some(finish_reason));
                            last["usage"] = json!(UsageBody::new(
                                usage.prompt_tokens as u64,
                                usage.completion_tokens as u64
                            ));
                            last["payment"] = json!(payment_body(&s));
                            let _ = tx.send(sse_json(&last)).await;
                            let _ = tx.send(SseEvent::default().data("[DONE]")).await;
                            return;
                        }
                        Err(e) => break e,
                    }
                }
                Some(Event::Error(e)) => break ApiError::from(e),
                None => break ApiError::from(crate::EngineError::Shutdown),
            }
        };
        metrics::counter!("openlora_http_errors_total", "code" => error.code.to_string())
            .increment(1);
        let _ = tx.send(sse_json(&error.body())).await;
    });
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    (headers, Sse::new(events).keep_alive(KeepAlive::default())).into_response()
}
