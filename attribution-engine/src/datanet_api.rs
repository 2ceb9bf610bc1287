//! The Datanet content store over HTTP: contributors upload, anyone reads, curators (holding the
//! bearer token) approve or reject, trainers read a snapshot.
//!
//! ```text
//! POST /v1/contributions                                  upload (JSON or multipart/form-data:
//!                                                         datanet, contributor, content) → 201
//! GET  /v1/contributions/{hash}                           content + its records in every Datanet
//! GET  /v1/datanets                                       Datanets with counts per status
//! GET  /v1/datanets/{datanet}/contributions[?status=…]    a Datanet's records
//! GET  /v1/datanets/{datanet}/contributions/{hash}        one record + content
//! POST /v1/datanets/{datanet}/contributions/{hash}/curation   {"status":"approved"|"rejected"}
//!                                                         (Authorization: Bearer <curator token>)
//! GET  /v1/datanets/{datanet}/snapshot                    approved contributions + manifest root
//! GET  /health
//! ```
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with a matching status (400 bad
//! input, 401 no or wrong token, 404 unknown, 409 duplicate or already decided, 413 body over
//! the limit, 415 unsupported content type). Every check runs before anything is written, and
//! writes are serialised, so a refused request leaves the store as it was. Curation decisions
//! are final (as on chain): repeating one is a no-op, reversing one is a 409.

use crate::{
    datanet::{Contribution, DatanetStore, Status, StoreError},
    manifest::{Manifest, ManifestEntry},
};
use alloy_primitives::{Address, B256};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};
use tracing::{info, warn};

/// The default request body limit (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Errors of the API, each with an HTTP status and a short code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The contributor is not a valid address.
    #[error("bad contributor address {value:?}: {reason}")]
    BadAddress {
        /// What was sent.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A content hash is not 32 bytes of hex.
    #[error("bad content hash {0:?} (expected 0x and 64 hex digits)")]
    BadHash(String),
    /// The request is malformed (JSON, multipart fields, query).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body is over the limit.
    #[error("request body is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Neither JSON nor multipart.
    #[error("unsupported content type {0:?} (use application/json or multipart/form-data)")]
    UnsupportedMediaType(String),
    /// No or wrong curator token.
    #[error("curation needs the curator's bearer token")]
    Unauthorized,
    /// The contribution was already decided the other way.
    #[error("{hash} is already {current:?} in Datanet {datanet}; curation decisions are final")]
    AlreadyDecided {
        /// The Datanet.
        datanet: String,
        /// The content hash.
        hash: B256,
        /// Its status.
        current: Status,
    },
    /// No Datanet holds the hash.
    #[error("no contribution {0} in any Datanet")]
    UnknownHash(B256),
    /// The server failed (a panicked task, a socket).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the short code of the error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Store(StoreError::BadName(_)) => (StatusCode::BAD_REQUEST, "bad_datanet"),
            Self::Store(StoreError::BadContent(_)) => (StatusCode::BAD_REQUEST, "bad_content"),
            Self::Store(StoreError::Duplicate { .. }) => (StatusCode::CONFLICT, "duplicate"),
            Self::Store(StoreError::NotFound { .. }) | Self::UnknownHash(_) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            Self::Store(StoreError::Io { .. } | StoreError::Corrupt { .. }) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            Self::BadAddress { .. } => (StatusCode::BAD_REQUEST, "bad_address"),
            Self::BadHash(_) => (StatusCode::BAD_REQUEST, "bad_hash"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::AlreadyDecided { .. } => (StatusCode::CONFLICT, "already_decided"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            warn!(error = %self, "datanet API request failed");
        }
        let body = Json(json!({ "error": { "code": code, "message": self.to_string() } }));
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// API settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The bearer token curation requests must carry.
    pub curator_token: String,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
}

#[derive(Debug)]
struct Inner {
    /// The store; the lock serialises check-then-write sequences.
    store: Mutex<DatanetStore>,
    config: ApiConfig,
}

/// The shared state of the handlers.
#[derive(Debug, Clone)]
pub struct ApiState(Arc<Inner>);

impl ApiState {
    /// Serves `store` with `config`.
    pub fn new(store: DatanetStore, config: ApiConfig) -> Self {
        Self(Arc::new(Inner { store: Mutex::new(store), config }))
    }

    /// Runs `f` on the store under the lock, off the async threads.
    async fn with_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&DatanetStore) -> Result<T, ApiError> + Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let store =
                inner.store.lock().map_err(|_| ApiError::Internal("store lock poisoned".into()))?;
            f(&store)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let limit = state.0.config.max_body_bytes;
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/contributions", post(upload))
        .route("/v1/contributions/{hash}", get(get_by_hash))
        .route("/v1/datanets", get(list_datanets))
        .route("/v1/datanets/{datanet}/contributions", get(list_contributions))
        .route("/v1/datanets/{datanet}/contributions/{hash}", get(get_in_datanet))
        .route("/v1/datanets/{datanet}/contributions/{hash}/curation", post(curate))
        .route("/v1/datanets/{datanet}/snapshot", get(snapshot))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"code": "not_found", "message": "no such route"}})),
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT: shutting down"),
        () = term => info!("SIGTERM: shutting down"),
    }
}

/// Parses a contributor address: 20 bytes of hex, EIP-55 checked when the case is mixed, not
/// the zero address (which can send no transaction to register it on chain).
pub fn parse_contributor(value: &str) -> Result<Address, ApiError> {
    let bad = |reason: String| ApiError::BadAddress { value: value.to_owned(), reason };
    let hex =
        value.strip_prefix("0x").ok_or_else(|| bad("expected 0x and 40 hex digits".into()))?;
    if hex.len() != 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("expected 0x and 40 hex digits".into()));
    }
    let mixed =
        hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    let address = if mixed {
        Address::parse_checksummed(value, None).map_err(|e| bad(format!("EIP-55 checksum: {e}")))?
    } else {
        value.parse::<Address>().map_err(|e| bad(e.to_string()))?
    };
    if address == Address::ZERO {
        return Err(bad("the zero address cannot contribute".into()));
    }
    Ok(address)
}

fn parse_hash(value: &str) -> Result<B256, ApiError> {
    let hex = value.strip_prefix("0x").ok_or_else(|| ApiError::BadHash(value.to_owned()))?;
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::BadHash(value.to_owned()));
    }
    value.parse().map_err(|_| ApiError::BadHash(value.to_owned()))
}

/// An upload as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadJson {
    datanet: String,
    contributor: String,
    content: String,
}

/// A contribution's record as the API answers it.
#[derive(Debug, Serialize)]
struct RecordOut<'a> {
    #[serde(flatten)]
    record: &'a Contribution,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

fn too_large_or_bad(status: StatusCode, limit: usize, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge { limit }
    } else {
        ApiError::BadRequest(text)
    }
}

/// Reads an upload's three fields from JSON or multipart/form-data.
async fn read_upload(
    state: &ApiState,
    req: Request,
) -> Result<(String, String, Vec<u8>), ApiError> {
    let limit = state.0.config.max_body_bytes;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => {
            let body = Bytes::from_request(req, &())
                .await
                .map_err(|e| too_large_or_bad(e.status(), limit, e.body_text()))?;
            let up: UploadJson = serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("JSON body: {e}")))?;
            Ok((up.datanet, up.contributor, up.content.into_bytes()))
        }
        "multipart/form-data" => {
            let mut form = Multipart::from_request(req, &())
                .await
                .map_err(|e| too_large_or_bad(e.status(), limit, e.body_text()))?;
            let (mut datanet, mut contributor, mut content) = (None, None, None);
            while let Some(field) = form
                .next_field()
                .await
                .map_err(|e| too_large_or_bad(e.status(), limit, e.body_text()))?
            {
                let name = field.name().unwrap_or_default().to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| too_large_or_bad(e.status(), limit, e.body_text()))?;
                let text = |what: &str| {
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| ApiError::BadRequest(format!("field {what} is not UTF-8")))
                };
                let slot = match name.as_str() {
                    "datanet" => datanet.replace(text("datanet")?).is_some(),
                    "contributor" => contributor.replace(text("contributor")?).is_some(),
                    "content" => content.replace(bytes.to_vec()).is_some(),
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "unknown field {other:?} (expected datanet, contributor, content)"
                        )));
                    }
                };
                if slot {
                    return Err(ApiError::BadRequest(format!("field {name} given twice")));
                }
            }
            let missing = |what: &str| ApiError::BadRequest(format!("missing field {what}"));
            Ok((
                datanet.ok_or_else(|| missing("datanet"))?,
                contributor.ok_or_else(|| missing("contributor"))?,
                content.ok_or_else(|| missing("content"))?,
            ))
        }
        _ => Err(ApiError::UnsupportedMediaType(content_type)),
    }
}

async fn upload(State(state): State<ApiState>, req: Request) -> Result<Response, ApiError> {
    let (datanet, contributor, content) = read_upload(&state, req).await?;
    let contributor = parse_contributor(&contributor)?;
    let record =
        state.with_store(move |store| Ok(store.add(&datanet, contributor, &content)?)).await?;
    info!(
        datanet = %record.datanet, hash = %record.hash, contributor = %record.contributor,
        "contribution stored"
    );
    Ok((StatusCode::CREATED, Json(RecordOut { record: &record, content: None })).into_response())
}

fn utf8(bytes: Vec<u8>, hash: B256) -> Result<String, ApiError> {
    String::from_utf8(bytes)
        .map_err(|_| ApiError::Internal(format!("stored content {hash} is not UTF-8")))
}

async fn get_by_hash(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let (records, content) = state
        .with_store(move |store| {
            let mut records = Vec::new();
            for d in store.datanets()? {
                match store.get_record(&d, hash) {
                    Ok(r) => records.push(r),
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if records.is_empty() {
                return Err(ApiError::UnknownHash(hash));
            }
            Ok((records, utf8(store.content(hash)?, hash)?))
        })
        .await?;
    Ok(Json(
        json!({ "hash": hash, "bytes": content.len(), "content": content, "records": records }),
    )
    .into_response())
}

async fn list_datanets(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let out = state
        .with_store(|store| {
            let mut out = Vec::new();
            for name in store.datanets()? {
                let list = store.list(&name)?;
                let count = |s: Status| list.iter().filter(|c| c.status == s).count();
                out.push(json!({
                    "name": name,
                    "pending": count(Status::Pending),
                    "approved": count(Status::Approved),
                    "rejected": count(Status::Rejected),
                }));
            }
            Ok(out)
        })
        .await?;
    Ok(Json(json!({ "datanets": out })).into_response())
}

/// `?status=` of a listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
}

async fn list_contributions(
    State(state): State<ApiState>,
    Path(datanet): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let name = datanet.clone();
    let list = state.with_store(move |store| Ok(store.list(&name)?)).await?;
    let list: Vec<_> =
        list.into_iter().filter(|c| query.status.is_none_or(|s| c.status == s)).collect();
    Ok(Json(json!({ "datanet": datanet, "contributions": list })).into_response())
}

async fn get_in_datanet(
    State(state): State<ApiState>,
    Path((datanet, hash)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let (record, content) = state
        .with_store(move |store| {
            let record = store.get_record(&datanet, hash)?;
            Ok((record, utf8(store.content(hash)?, hash)?))
        })
        .await?;
    Ok(Json(RecordOut { record: &record, content: Some(&content) }).into_response())
}

/// A curation decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CurationBody {
    status: Status,
}

/// Whether the request carries the curator token (compared in constant time).
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn curate(
    State(state): State<ApiState>,
    Path((datanet, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    if !authorised(&headers, &state.0.config.curator_token) {
        return Err(ApiError::Unauthorized);
    }
    let limit = state.0.config.max_body_bytes;
    let body = body.map_err(|e| too_large_or_bad(e.status(), limit, e.body_text()))?;
    let hash = parse_hash(&hash)?;
    let decision: CurationBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("JSON body: {e}")))?;
    if decision.status == Status::Pending {
        return Err(ApiError::BadRequest("a decision is \"approved\" or \"rejected\"".into()));
    }
    let (record, changed) = state
        .with_store(move |store| {
            let current = store.get_record(&datanet, hash)?;
            if current.status == decision.status {
                return Ok((current, false));
            }
            if current.status != Status::Pending {
                return Err(ApiError::AlreadyDecided { datanet, hash, current: current.status });
            }
            Ok((store.set_status(&datanet, hash, decision.status)?, true))
        })
        .await?;
    if changed {
        info!(datanet = %record.datanet, hash = %record.hash, status = ?record.status, "curated");
    }
    Ok(Json(json!({ "record": record, "changed": changed })).into_response())
}

async fn snapshot(
    State(state): State<ApiState>,
    Path(datanet): Path<String>,
) -> Result<Response, ApiError> {
    let name = datanet.clone();
    let examples = state.with_store(move |store| Ok(store.snapshot(&[name])?)).await?;
    let entries: Vec<ManifestEntry> = examples.iter().map(|e| e.entry()).collect();
    let root = Manifest::new(entries).ok().map(|m| m.root());
    let list: Vec<_> = examples
        .iter()
        .map(|e| json!({ "hash": e.hash, "contributor": e.contributor, "bytes": e.text.len() }))
        .collect();
    Ok(Json(json!({
        "datanet": datanet,
        "examples": list.len(),
        "manifest_root": root,
        "contributions": list,
    }))
    .into_response())
}

/// `attribution-engine datanet serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8300")]
    pub addr: SocketAddr,
    /// The bearer token curation requests must carry.
    #[arg(long, env = "OL_DATANET_CURATOR_TOKEN", hide_env_values = true)]
    pub curator_token: String,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
}

/// Runs the API until SIGINT or SIGTERM; prints `{"listening": "<addr>"}` once bound.
pub fn run_serve(args: ServeArgs) -> Result<(), ApiError> {
    if args.curator_token.trim().is_empty() {
        return Err(ApiError::BadRequest("the curator token is empty".into()));
    }
    let store = DatanetStore::open(&args.store)?;
    let state = ApiState::new(
        store,
        ApiConfig { curator_token: args.curator_token, max_body_bytes: args.max_body_bytes },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ApiError::Internal(format!("runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot listen on {}: {e}", args.addr)))?;
        let local = listener.local_addr().map_err(|e| ApiError::Internal(e.to_string()))?;
        println!("{}", json!({ "listening": local.to_string() }));
        info!(addr = %local, store = %args.store.display(), "datanet API listening");
        serve(listener, router(state), shutdown_signal())
            .await
            .map_err(|e| ApiError::Internal(format!("server: {e}")))?;
        info!("datanet API stopped");
        Ok(())
    })
}
