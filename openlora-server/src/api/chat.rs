//! Chat prompts: the model folder's Jinja `chat_template` (`tokenizer_config.json`, as Hugging
//! Face's `apply_chat_template` runs it) rendered with minijinja.
//!
//! The template sees `messages` (each `{role, content}`, plus `name` when given),
//! `add_generation_prompt = true`, `bos_token`, `eos_token`, and the function
//! `raise_exception(message)` that HF templates call to refuse a conversation (its message
//! becomes the 400 answer).

use crate::api::{
    error::ApiError,
    openai::{ChatMessage, MessageContent},
};
use minijinja::{Environment, ErrorKind, context};
use serde::Serialize;

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

#[derive(Debug, Serialize)]
struct TemplateMessage {
    role: String,
    content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// Why a template could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("the model's chat_template does not compile: {0}")]
pub struct TemplateError(String);

impl ChatTemplate {
    /// Compiles `source`.
    pub fn new(source: &str, bos_token: String, eos_token: String) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned("chat", source.to_owned())
            .map_err(|e| TemplateError(e.to_string()))?;
        Ok(Self { env, bos_token, eos_token })
    }

    /// Renders a conversation into the prompt text, ending with the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, ApiError> {
        if messages.is_empty() {
            return Err(ApiError::invalid("invalid_value", "messages must not be empty")
                .with_param("messages"));
        }
        let mut list = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            if !matches!(m.role.as_str(), "system" | "developer" | "user" | "assistant" | "tool") {
                return Err(ApiError::invalid(
                    "invalid_value",
                    format!(
                        "messages[{i}].role is `{}`: expected system, developer, user, assistant or tool",
                        m.role
                    ),
                )
                .with_param("messages"));
            }
            let content = match &m.content {
                None => String::new(),
                Some(MessageContent::Text(t)) => t.clone(),
                Some(MessageContent::Parts(parts)) => {
                    let mut text = String::new();
                    for p in parts {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(ApiError::invalid(
                                    "unsupported_content",
                                    format!(
                                        "messages[{i}] has a `{kind}` part: only text parts are served"
                                    ),
                                )
                                .with_param("messages"));
                            }
                        }
                    }
                    text
                }
            };
            list.push(TemplateMessage { role: m.role.clone(), content, name: m.name.clone() });
        }
        let template =
            self.env.get_template("chat").map_err(|e| ApiError::internal(e.to_string()))?;
        template
            .render(context! {
                messages => minijinja::Value::from(minijinja::value::Serde(list)),
                add_generation_prompt => true,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| {
                if e.kind() == ErrorKind::InvalidOperation {
                    ApiError::invalid(
                        "invalid_conversation",
                        format!(
                            "the chat template refused the conversation: {}",
                            e.detail().unwrap_or("")
                        ),
                    )
                    .with_param("messages")
                } else {
                    ApiError::internal(format!("the chat template failed: {e}"))
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: Some(MessageContent::Text(content.into())),
            name: None,
        }
    }

    const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    #[test]
    fn chatml_renders_like_hf() {
        let t = ChatTemplate::new(CHATML, "<s>".into(), "</s>".into()).unwrap();
        let out = t.render(&[msg("system", "Be brief."), msg("user", "Hi")]).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_is_a_clear_400() {
        let src = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}{{ bos_token }}{% for m in messages %}{{ m.content.strip() }}{% endfor %}";
        let t = ChatTemplate::new(src, "<s>".into(), "</s>".into()).unwrap();
        assert_eq!(t.render(&[msg("user", " x ")]).unwrap(), "<s>x");
        let err = t.render(&[msg("assistant", "x")]).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert!(err.message.contains("must start with a user message"), "{err}");
        assert!(t.render(&[]).is_err());
        assert!(t.render(&[msg("wizard", "x")]).unwrap_err().message.contains("wizard"));
    }

    #[test]
    fn broken_templates_are_refused_at_start() {
        assert!(ChatTemplate::new("{% for %}", String::new(), String::new()).is_err());
    }
}
