//! Every error the API answers, in OpenAI's shape, through one conversion:
//!
//! ```json
//! {"error": {"message": "…", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}
//! ```
//!
//! `type` is one of `invalid_request_error` (the client can fix it), `payment_error` (402: the
//! voucher is missing, short or invalid), `authentication_error`, `server_error`; `code` is a
//! stable machine-readable reason. Engine, adapter and payment errors are mapped here and
//! nowhere else.

use crate::{AdapterError, EngineError, payment::PaymentError};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;
use std::borrow::Cow;

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error answer: HTTP status plus OpenAI's error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// OpenAI's `type`.
    pub kind: &'static str,
    /// A stable reason.
    pub code: Cow<'static, str>,
    /// For people.
    pub message: String,
    /// The request field at fault, if one is.
    pub param: Option<&'static str>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: code.into(),
            message: message.into(),
            param: None,
        }
    }

    /// A 404 for a model (adapter) that is not served.
    pub fn model_not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: "model_not_found".into(),
            message: message.into(),
            param: Some("model"),
        }
    }

    /// A 500 `server_error`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            code: "internal_error".into(),
            message: message.into(),
            param: None,
        }
    }

    /// A 401 for the adapter routes when an admin token is configured.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code: "invalid_admin_token".into(),
            message: "this route needs the server's admin token: Authorization: Bearer <token>"
                .into(),
            param: None,
        }
    }

    /// Names the request field at fault.
    pub const fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// Sets the status (for body-limit and similar rejections).
    pub const fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        metrics::counter!("openlora_http_errors_total", "code" => self.code.to_string())
            .increment(1);
        (self.status, Json(self.body())).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::UnknownAdapter(_) | EngineError::AdapterRemoved(_) => {
                Self::model_not_found(message)
            }
            EngineError::PromptTooLong { .. } => {
                Self::invalid("context_length_exceeded", message).with_param("prompt")
            }
            EngineError::ExceedsKvCache { .. } => {
                Self::invalid("kv_cache_exceeded", message).with_param("max_tokens")
            }
            EngineError::InvalidRequest(_) => Self::invalid("invalid_value", message),
            EngineError::Adapter(a) => a.into(),
            EngineError::AdapterLoad { .. } => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "server_error",
                code: "adapter_unavailable".into(),
                message,
                param: None,
            },
            EngineError::Shutdown => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "server_error",
                code: "server_shutting_down".into(),
                message,
                param: None,
            },
            EngineError::Config(_)
            | EngineError::Model(_)
            | EngineError::Tokenizer(_)
            | EngineError::Other(_) => Self::internal(message),
        }
    }
}

impl From<AdapterError> for ApiError {
    fn from(e: AdapterError) -> Self {
        let message = e.to_string();
        let unprocessable = |code: &'static str| Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "invalid_request_error",
            code: code.into(),
            message: message.clone(),
            param: None,
        };
        match e {
            // The bytes are not a readable adapter.
            AdapterError::Config(_) | AdapterError::Weights(_) => {
                Self::invalid("invalid_adapter", message)
            }
            AdapterError::BadId(_) => Self::invalid("invalid_adapter_id", message),
            // A readable adapter that does not fit this server's model or slots.
            AdapterError::BaseModelMismatch { .. } => unprocessable("adapter_base_model_mismatch"),
            AdapterError::Shape { .. } => unprocessable("adapter_shape_mismatch"),
            AdapterError::RankTooLarge { .. } => unprocessable("adapter_rank_too_large"),
            AdapterError::ModuleNotServed(_)
            | AdapterError::UnexpectedTensor(_)
            | AdapterError::Unpaired(_)
            | AdapterError::Empty
            | AdapterError::Unsupported(_) => unprocessable("adapter_unsupported"),
            AdapterError::Io { .. } | AdapterError::Changed { .. } => Self::internal(message),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            kind: if e.is_client_error() { "payment_error" } else { "server_error" },
            code: e.code().into(),
            message: e.to_string(),
            param: None,
        }
    }
}
