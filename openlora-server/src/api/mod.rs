//! # The HTTP API (axum)
//!
//! OpenAI-compatible inference plus adapter management, health and metrics:
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/completions` | text completion; `stream: true` for SSE ([`generate`]) |
//! | `POST /v1/chat/completions` | chat, rendered with the model's chat template ([`chat`]) |
//! | `GET /v1/models`, `GET /v1/models/{id}` | adapters by id (and the base model without payment) |
//! | `POST /v1/adapters` | upload an adapter (multipart: the two PEFT files, [`adapters`]) |
//! | `GET /v1/adapters`, `GET /v1/adapters/{id}` | adapters with rank, modules and cache tier |
//! | `DELETE /v1/adapters/{id}` | remove an adapter |
//! | `GET /health` | liveness, model, adapter count, payment domain |
//! | `GET /metrics` | Prometheus: the engine's `openlora_*` series plus HTTP and payment counters |
//!
//! `model` names an adapter by its id (`0x` + the keccak-256 of its safetensors file) or the
//! base model by name. Every error is OpenAI's error object ([`error`]). Paid requests carry an
//! `X-Payment-Voucher` header ([`crate::payment::voucher`]); answers carry `usage`, and the
//! payment headers `x-payment-fee`, `x-payment-consumed`, `x-payment-accepted` plus
//! `x-inference-id` (streamed answers: `x-inference-id` and `x-payment-max-fee` up front, the
//! settlement in the last chunk's `payment` object).
//!
//! Bodies are limited ([`ApiConfig::max_body_bytes`], [`ApiConfig::max_adapter_bytes`] for
//! uploads): a larger one gets 413 before it is read.

pub mod adapters;
pub mod chat;
pub mod error;
pub mod generate;
pub mod openai;

use crate::{EngineHandle, payment::PaymentGate};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{StatusCode, header::CONTENT_TYPE},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chat::ChatTemplate;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};
use tracing::{Instrument, debug, info_span, warn};

/// Largest request body by default (completions and chat): 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
/// Largest adapter upload by default: 512 MiB.
pub const DEFAULT_MAX_ADAPTER_BYTES: usize = 512 << 20;

/// Settings of the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Largest body of the inference routes ([`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// Largest adapter upload ([`DEFAULT_MAX_ADAPTER_BYTES`]).
    pub max_adapter_bytes: usize,
    /// When set, `POST /v1/adapters` and `DELETE /v1/adapters/{id}` need
    /// `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_adapter_bytes: DEFAULT_MAX_ADAPTER_BYTES,
            admin_token: None,
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// The engine.
    pub engine: EngineHandle,
    /// The payment gate (disabled under `--no-payment`; it still records the usage ledger).
    pub gate: PaymentGate,
    /// The compiled chat template, if the model has one.
    pub chat: Option<ChatTemplate>,
    /// The Prometheus recorder's handle, if this process installed one.
    pub prometheus: Option<PrometheusHandle>,
    /// See [`ApiConfig::admin_token`].
    pub admin_token: Option<String>,
    /// Unix seconds at start (the `created` of the model objects).
    pub created: u64,
}

/// The handlers' state (cheap to clone).
pub type AppState = Arc<ApiState>;

impl ApiState {
    /// The state for `engine` and `gate`: compiles the model's chat template (an unusable one
    /// is logged and chat answers 400) and picks up the process's Prometheus recorder.
    pub fn new(engine: EngineHandle, gate: PaymentGate, config: &ApiConfig) -> Self {
        let chat = engine.chat_template().and_then(|source| {
            let token = |key: &str| {
                engine
                    .tokenizer_config()
                    .and_then(|c| c.get(key))
                    .and_then(|t| t.as_str().or_else(|| t.get("content")?.as_str()))
                    .map(str::to_owned)
            };
            let eos = token("eos_token").or_else(|| engine.eos_token()).unwrap_or_default();
            let bos = token("bos_token").unwrap_or_default();
            ChatTemplate::new(source, bos, eos)
                .inspect_err(|e| warn!("{e}: /v1/chat/completions will refuse requests"))
                .ok()
        });
        Self {
            engine,
            gate,
            chat,
            prometheus: prometheus(),
            admin_token: config.admin_token.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// Installs a Prometheus recorder as the process's `metrics` recorder the first time it is
/// called, and answers its handle (`None` if another recorder was installed first).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .inspect_err(|e| warn!("no Prometheus recorder installed: {e}"))
                .ok()
        })
        .clone()
}

/// The router with every route, body limits and the request log/metrics middleware.
pub fn router(state: AppState, config: &ApiConfig) -> Router {
    let inference = Router::new()
        .route("/v1/completions", post(generate::completions))
        .route("/v1/chat/completions", post(generate::chat_completions))
        .layer(DefaultBodyLimit::max(config.max_body_bytes));
    let uploads = Router::new()
        .route("/v1/adapters", post(adapters::upload_adapter).get(adapters::list_adapters))
        .layer(DefaultBodyLimit::max(config.max_adapter_bytes));
    Router::new()
        .merge(inference)
        .merge(uploads)
        .route("/v1/models", get(adapters::list_models))
        .route("/v1/models/{id}", get(adapters::get_model))
        .route("/v1/adapters/{id}", get(adapters::get_adapter).delete(adapters::delete_adapter))
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Logs each request in a span and counts it by route and status.
async fn observe(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let span = info_span!("http", %method, route);
    let start = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let secs = start.elapsed().as_secs_f64();
    span.in_scope(|| debug!(status, ms = secs * 1e3, "answered"));
    metrics::counter!("openlora_http_requests_total", "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("openlora_http_request_seconds", "route" => route).record(secs);
    response
}

async fn not_found(request: Request) -> error::ApiError {
    error::ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: "not_found".into(),
        message: format!("no route {} {}", request.method(), request.uri().path()),
        param: None,
    }
}

/// `GET /health`.
async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    let m = state.engine.metrics();
    let payment = state.gate.domain().map(|d| {
        json!({
            "server": state.gate.server().map(|s| s.to_string()),
            "chainId": d.chain_id.map(|c| c.to::<u64>()),
            "verifyingContract": d.verifying_contract.map(|c| c.to_string()),
            "header": crate::payment::VOUCHER_HEADER,
        })
    });
    Json(json!({
        "status": "ok",
        "model": state.engine.model_name(),
        "adapters": state.engine.list_adapters().len(),
        "queue_depth": m.queue_depth,
        "uptime_s": m.uptime_secs,
        "payment": payment,
    }))
}

/// `GET /metrics`: Prometheus text.
async fn render_metrics(State(state): State<AppState>) -> Response {
    let m = state.engine.metrics();
    metrics::gauge!("openlora_tokens_per_second").set(m.tokens_per_sec);
    metrics::gauge!("openlora_adapters").set(state.engine.list_adapters().len() as f64);
    let body = match &state.prometheus {
        Some(handle) => handle.render(),
        // Another recorder owns the `metrics` facade: answer the engine's own counters.
        None => format!(
            "# TYPE openlora_requests_total counter\nopenlora_requests_total {}\n\
             # TYPE openlora_generated_tokens_total counter\nopenlora_generated_tokens_total {}\n\
             # TYPE openlora_tokens_per_second gauge\nopenlora_tokens_per_second {}\n\
             # TYPE openlora_queue_depth gauge\nopenlora_queue_depth {}\n\
             # TYPE openlora_batch_size gauge\nopenlora_batch_size {}\n",
            m.requests, m.generated_tokens, m.tokens_per_sec, m.queue_depth, m.batch_size
        ),
    };
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
