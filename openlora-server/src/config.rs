//! The base model's `config.json`, as Hugging Face writes it for Llama-family models.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Errors reading or checking a model config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON for a Llama config.
    #[error("{path} is not a valid Llama config.json: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The numbers do not describe a usable model.
    #[error("invalid model config: {0}")]
    Invalid(String),
}

fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_rms_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    2048
}

/// A Llama-family decoder's hyper-parameters (the fields of HF's `LlamaConfig` that matter
/// here; unknown fields are ignored so real checkpoints' configs load as they are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); defaults to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Vocabulary size (rows of the embedding and of the LM head).
    pub vocab_size: usize,
    /// Epsilon of every RMSNorm.
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// Context length: prompt plus completion may not exceed it.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Whether the LM head reuses the embedding matrix (no `lm_head.weight` then).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token: generation stops there unless asked not to.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// HF's record of the model's name; adapters name their base model the same way.
    #[serde(default, rename = "_name_or_path", skip_serializing_if = "Option::is_none")]
    pub name_or_path: Option<String>,
    /// `["LlamaForCausalLM"]` for the models this crate writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// `"llama"` for the models this crate writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// The dtype the weights were saved in (`"float32"`, `"bfloat16"`, ...); informative only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// The MLP activation: only `silu` (SwiGLU) is run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// RoPE scaling (Llama 3.1's `llama3`, `linear`, `dynamic`, ...): not run; must be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// Biases on the attention projections: not run; must be false.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections: not run; must be false.
    #[serde(default)]
    pub mlp_bias: bool,
    /// An explicit head width; when given it must equal `hidden_size / num_attention_heads`.
    #[serde(default, rename = "head_dim", skip_serializing_if = "Option::is_none")]
    pub explicit_head_dim: Option<usize>,
}

impl LlamaConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|source| ConfigError::Json { path: path.display().to_string(), source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Key/value heads, resolved.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// `(in_features, out_features)` of one of the seven linear modules of a block.
    pub fn module_dims(&self, module: crate::lora::ModuleKind) -> (usize, usize) {
        use crate::lora::ModuleKind::*;
        let (h, kv, i) =
            (self.hidden_size, self.kv_heads() * self.head_dim(), self.intermediate_size);
        match module {
            Q | O => (h, h),
            K | V => (h, kv),
            Gate | Up => (h, i),
            Down => (i, h),
        }
    }

    /// Checks that the numbers describe a model this crate can run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.hidden_size == 0
            || self.intermediate_size == 0
            || self.num_hidden_layers == 0
            || self.num_attention_heads == 0
            || self.vocab_size == 0
        {
            return bad(format!("sizes must be positive: {self:?}"));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        let kv = self.kv_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {kv}",
                self.num_attention_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!("head_dim {} must be even for RoPE", self.head_dim()));
        }
        if let Some(act) = &self.hidden_act
            && act != "silu"
        {
            return bad(format!("hidden_act `{act}` is not supported (only silu)"));
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return bad("rope_scaling is not supported: this server runs plain RoPE".into());
        }
        if let Some(hd) = self.explicit_head_dim
            && hd != self.head_dim()
        {
            return bad(format!(
                "head_dim {hd} differs from hidden_size / num_attention_heads = {}: not supported",
                self.head_dim()
            ));
        }
        if self.attention_bias || self.mlp_bias {
            return bad("attention_bias / mlp_bias are not supported".into());
        }
        if self.max_position_embeddings < 2 {
            return bad("max_position_embeddings must be at least 2".into());
        }
        for (what, id) in [("bos", self.bos_token_id), ("eos", self.eos_token_id)] {
            if let Some(id) = id
                && id as usize >= self.vocab_size
            {
                return bad(format!(
                    "{what}_token_id {id} is outside the vocabulary {}",
                    self.vocab_size
                ));
            }
        }
        Ok(())
    }
}

/// The model sizes `make-model` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelSize {
    /// For tests: 2 layers, width 64, 4 query / 2 KV heads, 512-token vocabulary.
    Tiny,
    /// For benchmarks and demos: 4 layers, width 512, 8 query / 4 KV heads, 2,048 tokens.
    Small,
}

impl ModelSize {
    /// The config of this size (token ids are filled in once the tokenizer is trained).
    pub fn config(self) -> LlamaConfig {
        let (hidden, inter, layers, heads, kv, vocab, ctx) = match self {
            Self::Tiny => (64, 128, 2, 4, 2, 512, 256),
            Self::Small => (512, 1376, 4, 8, 4, 2048, 1024),
        };
        LlamaConfig {
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: Some(kv),
            vocab_size: vocab,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            max_position_embeddings: ctx,
            tie_word_embeddings: false,
            bos_token_id: None,
            eos_token_id: None,
            name_or_path: None,
            architectures: Some(vec!["LlamaForCausalLM".into()]),
            model_type: Some("llama".into()),
            torch_dtype: Some("float32".into()),
            hidden_act: Some("silu".into()),
            rope_scaling: None,
            attention_bias: false,
            mlp_bias: false,
            explicit_head_dim: None,
        }
    }

    /// The name used in `_name_or_path`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Small => "small",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hf_style_config_and_rejects_bad_numbers() {
        let json = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
            "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,
            "rms_norm_eps":1e-5,"rope_theta":10000.0,"max_position_embeddings":64,
            "torch_dtype":"float32","model_type":"llama","unknown_field":1}"#;
        let cfg: LlamaConfig = serde_json::from_str(json).unwrap();
        cfg.validate().unwrap();
        assert_eq!((cfg.kv_heads(), cfg.head_dim()), (2, 16));
        let mut bad = cfg.clone();
        bad.num_key_value_heads = Some(3);
        assert!(bad.validate().unwrap_err().to_string().contains("num_key_value_heads 3"));
        let mut bad = cfg.clone();
        bad.eos_token_id = Some(100);
        assert!(bad.validate().unwrap_err().to_string().contains("outside the vocabulary"));
        let mut bad = cfg.clone();
        bad.rope_scaling = Some(serde_json::json!({"rope_type": "llama3", "factor": 8.0}));
        assert!(bad.validate().unwrap_err().to_string().contains("rope_scaling"));
        let mut bad = cfg;
        bad.hidden_act = Some("gelu".into());
        assert!(bad.validate().unwrap_err().to_string().contains("gelu"));
        for size in [ModelSize::Tiny, ModelSize::Small] {
            size.config().validate().unwrap();
        }
    }
}
