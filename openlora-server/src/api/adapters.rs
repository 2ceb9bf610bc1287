//! Adapters at run time: `POST /v1/adapters` (upload), `GET /v1/adapters[/{id}]`,
//! `DELETE /v1/adapters/{id}`, and the OpenAI model list (`GET /v1/models[/{id}]`).
//!
//! An upload is `multipart/form-data` with two file parts, named by the PEFT file they hold:
//! `adapter_config.json` and `adapter_model.safetensors` (`config` and `weights` are accepted
//! too), as `curl -F adapter_config.json=@dir/adapter_config.json -F
//! adapter_model.safetensors=@dir/adapter_model.safetensors` sends them. The adapter is named by
//! the keccak-256 of the safetensors bytes; clients never name server paths.

use crate::{
    AdapterId, AdapterStatus,
    api::{
        AppState,
        error::{ApiError, ApiResult},
    },
};
use axum::{
    Json,
    extract::{Multipart, Path, State, multipart::MultipartRejection},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// The JSON of one adapter.
fn adapter_json(s: &AdapterStatus) -> Value {
    json!({
        "id": s.info.id.to_string(),
        "object": "adapter",
        "rank": s.info.rank,
        "alpha": s.info.alpha,
        "target_modules": s.info.target_modules,
        "base_model": s.info.base_model,
        "file_bytes": s.info.file_bytes,
        "tier": s.tier,
    })
}

/// The OpenAI model object of an adapter.
fn model_json(state: &AppState, s: &AdapterStatus) -> Value {
    let base = state.engine.model_name();
    json!({
        "id": s.info.id.to_string(),
        "object": "model",
        "created": state.created,
        "owned_by": "openlora",
        "root": base,
        "parent": base,
        "adapter": adapter_json(s),
    })
}

fn base_model_json(state: &AppState) -> Value {
    let cfg = state.engine.model_config();
    json!({
        "id": state.engine.model_name(),
        "object": "model",
        "created": state.created,
        "owned_by": "openlora",
        "root": state.engine.model_name(),
        "parent": null,
        "context_length": cfg.max_position_embeddings,
    })
}

fn parse_id(id: &str) -> ApiResult<AdapterId> {
    id.parse().map_err(|e: crate::AdapterError| ApiError::from(e))
}

/// The admin token check of the routes that change the adapter set.
fn authorize(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(token) = &state.admin_token else { return Ok(()) };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Compare without an early exit on the first differing byte.
    let ok = given.is_some_and(|g| {
        g.len() == token.len()
            && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if ok { Ok(()) } else { Err(ApiError::unauthorized()) }
}

/// `GET /v1/models`: the adapters (and the base model when it is served without payment).
pub(crate) async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let mut data: Vec<Value> =
        state.engine.list_adapters().iter().map(|s| model_json(&state, s)).collect();
    if !state.gate.is_enabled() {
        data.push(base_model_json(&state));
    }
    Json(json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{id}`.
pub(crate) async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if id == state.engine.model_name() && !state.gate.is_enabled() {
        return Ok(Json(base_model_json(&state)));
    }
    let parsed =
        parse_id(&id).map_err(|_| ApiError::model_not_found(format!("unknown model `{id}`")))?;
    let status = state
        .engine
        .adapter(&parsed)
        .ok_or_else(|| ApiError::model_not_found(format!("unknown adapter {parsed}")))?;
    Ok(Json(model_json(&state, &status)))
}

/// `GET /v1/adapters`.
pub(crate) async fn list_adapters(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state.engine.list_adapters().iter().map(adapter_json).collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /v1/adapters/{id}`.
pub(crate) async fn get_adapter(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let status = state
        .engine
        .adapter(&id)
        .ok_or_else(|| ApiError::model_not_found(format!("unknown adapter {id}")))?;
    Ok(Json(adapter_json(&status)))
}

/// `POST /v1/adapters`: 201 with the adapter when added, 200 when it was already there.
pub(crate) async fn upload_adapter(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    upload(state, headers, multipart).await.unwrap_or_else(IntoResponse::into_response)
}

async fn upload(
    state: AppState,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    authorize(&state, &headers)?;
    let mut multipart = multipart.map_err(|r| {
        ApiError::invalid(
            "invalid_upload",
            format!(
                "{} (send multipart/form-data with the parts adapter_config.json and \
                 adapter_model.safetensors)",
                r.body_text()
            ),
        )
        .with_status(r.status())
    })?;
    let (mut config, mut weights) = (None, None);
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            ApiError::invalid("invalid_upload", format!("reading the upload failed: {e}"))
                .with_status(e.status())
        })?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_owned();
        let file = field.file_name().unwrap_or_default().to_owned();
        let slot = match (name.as_str(), file.as_str()) {
            ("adapter_config.json" | "config", _) | (_, "adapter_config.json") => &mut config,
            ("adapter_model.safetensors" | "weights", _) | (_, "adapter_model.safetensors") => {
                &mut weights
            }
            _ => {
                return Err(ApiError::invalid(
                    "invalid_upload",
                    format!(
                        "unexpected part `{name}`: send adapter_config.json and \
                         adapter_model.safetensors"
                    ),
                ));
            }
        };
        let bytes = field.bytes().await.map_err(|e| {
            ApiError::invalid("invalid_upload", format!("reading part `{name}` failed: {e}"))
                .with_status(e.status())
        })?;
        *slot = Some(bytes);
    }
    let (Some(config), Some(weights)) = (config, weights) else {
        return Err(ApiError::invalid(
            "invalid_upload",
            "the upload needs both adapter_config.json and adapter_model.safetensors",
        ));
    };
    let existed = state.engine.adapter(&AdapterId::of_bytes(&weights)).is_some();
    let engine = state.engine.clone();
    let info = tokio::task::spawn_blocking(move || engine.add_adapter_bytes(&config, &weights))
        .await
        .map_err(|e| ApiError::internal(format!("upload task failed: {e}")))??;
    let status = state
        .engine
        .adapter(&info.id)
        .ok_or_else(|| ApiError::internal(format!("adapter {} vanished after upload", info.id)))?;
    let code = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((code, Json(adapter_json(&status))).into_response())
}

/// `DELETE /v1/adapters/{id}`: new requests for it are refused, queued ones fail, running ones
/// finish.
pub(crate) async fn delete_adapter(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &headers)?;
    let id = parse_id(&id)?;
    let info = state.engine.remove_adapter(&id)?;
    Ok(Json(json!({"id": info.id.to_string(), "object": "adapter", "deleted": true})))
}
