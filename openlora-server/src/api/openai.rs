//! The OpenAI wire types this server reads and writes (the subset of the completions and chat
//! completions APIs it implements; unknown request fields are ignored, as OpenAI's own server
//! ignores fields that newer clients send).

use crate::{FinishReason, api::error::ApiError};
use serde::{Deserialize, Serialize};

/// A string or a list of strings (`stop`, `prompt`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    /// One string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl StringOrList {
    /// As a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `prompt` of `/v1/completions`: text or token ids, one or a batch of one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptInput {
    /// Text.
    Text(String),
    /// A batch of texts (only one is served per request).
    Texts(Vec<String>),
    /// Token ids.
    Tokens(Vec<u32>),
    /// A batch of token id lists (only one is served per request).
    TokenBatches(Vec<Vec<u32>>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Accepted for compatibility: the last chunk always carries `usage`.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// The sampling fields both endpoints share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CommonParams {
    /// The adapter id (`0x` + 64 hex digits), or the base model's name.
    pub model: String,
    /// Sampling temperature (OpenAI's default: 1).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Nucleus mass (default 1).
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Choices per request: only 1.
    #[serde(default)]
    pub n: Option<u32>,
    /// Server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Stop sequences (up to 4, as OpenAI).
    #[serde(default)]
    pub stop: Option<StringOrList>,
    /// Sampler seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Not supported unless 0.
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    /// Not supported unless 0.
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    /// Not supported unless empty.
    #[serde(default)]
    pub logit_bias: Option<serde_json::Map<String, serde_json::Value>>,
    /// Recorded nowhere; accepted.
    #[serde(default)]
    pub user: Option<String>,
    /// Extension (as vLLM's): keep generating past the end-of-sequence token.
    #[serde(default)]
    pub ignore_eos: Option<bool>,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonParams,
    /// The prompt (default: empty, which the model starts from its BOS token).
    #[serde(default)]
    pub prompt: Option<PromptInput>,
    /// Most tokens to generate (OpenAI's default: 16).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Not supported.
    #[serde(default)]
    pub echo: Option<bool>,
    /// Not supported.
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
    /// Only 1.
    #[serde(default)]
    pub best_of: Option<u32>,
    /// Not supported unless empty.
    #[serde(default)]
    pub suffix: Option<String>,
}

/// One part of a message's content list.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    /// `text` is the only kind served.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
}

/// A message's content: text or a list of parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Text.
    Text(String),
    /// Parts (only text parts are served).
    Parts(Vec<ContentPart>),
}

/// A chat message.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The content (null is read as empty).
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Accepted and passed to the template.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonParams,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Most tokens to generate (default: what the context leaves).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens` (wins when both are given).
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Not supported unless false.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// Not supported.
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// Only `{"type": "text"}`.
    #[serde(default)]
    pub response_format: Option<serde_json::Value>,
}

/// `usage` of every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsageBody {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

impl UsageBody {
    /// From the engine's counts.
    pub const fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// What the payment layer charged, in the last streamed chunk (non-streamed answers carry the
/// same in headers). Amounts are wei as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentBody {
    /// The inference id the usage ledger records.
    pub inference_id: String,
    /// The fee charged.
    pub fee: String,
    /// The channel's metered total after this inference (paid requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed: Option<String>,
    /// The channel's highest accepted voucher (paid requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
}

/// OpenAI's `finish_reason`.
pub const fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// Checks the fields this server does not implement, so that a client asking for them gets a
/// clear 400 rather than a silently different answer.
pub fn check_common(c: &CommonParams) -> Result<(), ApiError> {
    if c.n.is_some_and(|n| n != 1) {
        return Err(
            ApiError::invalid("unsupported_parameter", "only n = 1 is supported").with_param("n")
        );
    }
    if c.presence_penalty.is_some_and(|p| p != 0.0) {
        return Err(ApiError::invalid(
            "unsupported_parameter",
            "presence_penalty is not supported (only 0)",
        )
        .with_param("presence_penalty"));
    }
    if c.frequency_penalty.is_some_and(|p| p != 0.0) {
        return Err(ApiError::invalid(
            "unsupported_parameter",
            "frequency_penalty is not supported (only 0)",
        )
        .with_param("frequency_penalty"));
    }
    if c.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
        return Err(ApiError::invalid("unsupported_parameter", "logit_bias is not supported")
            .with_param("logit_bias"));
    }
    if let Some(stop) = &c.stop {
        let n = match stop {
            StringOrList::One(_) => 1,
            StringOrList::Many(v) => v.len(),
        };
        if n > 4 {
            return Err(ApiError::invalid(
                "invalid_value",
                format!("at most 4 stop sequences are accepted, got {n}"),
            )
            .with_param("stop"));
        }
    }
    Ok(())
}
