//! Training examples, queries, and how they become token batches and losses.
//!
//! A training example is a text whose every token is predicted (causal LM loss). A query is an
//! inference: a prompt and the completion the model gave; only the completion's tokens count.
//! Both are [`Sequence`]s: token ids plus the position where the scored part starts.

use crate::manifest::ManifestEntry;
use alloy_primitives::{Address, B256, keccak256};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use tokenizers::Tokenizer;

/// Errors turning text into tokens.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A sequence with nothing to score.
    #[error("{0}")]
    Empty(String),
}

/// One training example of a snapshot: its content, who contributed it, to which Datanet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// keccak256 of the UTF-8 text (the content hash the Datanet registers).
    pub hash: B256,
    /// The contributor's address.
    pub contributor: Address,
    /// The Datanet it came from.
    pub datanet: String,
    /// The text.
    pub text: String,
}

impl Example {
    /// An example with its hash computed from the text.
    pub fn new(text: impl Into<String>, contributor: Address, datanet: impl Into<String>) -> Self {
        let text = text.into();
        Self { hash: keccak256(text.as_bytes()), contributor, datanet: datanet.into(), text }
    }

    /// The group its influence is paid to.
    pub fn group_key(&self) -> crate::index::GroupKey {
        crate::index::GroupKey { contributor: self.contributor, datanet: self.datanet.clone() }
    }

    /// The manifest entry (content hash, contributor).
    pub fn entry(&self) -> ManifestEntry {
        ManifestEntry { example_hash: self.hash, contributor: self.contributor }
    }
}

/// Token ids and where the scored part begins: positions `score_from..` are predicted from
/// the ones before (so `score_from ≥ 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Token ids.
    pub ids: Vec<i64>,
    /// First predicted position.
    pub score_from: usize,
}

impl Sequence {
    /// Tokens that are predicted.
    pub fn scored(&self) -> usize {
        self.ids.len().saturating_sub(self.score_from)
    }
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<i64>, DataError> {
    let enc = tokenizer.encode(text, false).map_err(|e| DataError::Tokenizer(e.to_string()))?;
    Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
}

/// A training text: every token after the first is predicted; cut to `max_len` tokens.
pub fn training_sequence(
    tokenizer: &Tokenizer,
    text: &str,
    max_len: usize,
) -> Result<Sequence, DataError> {
    let mut ids = encode(tokenizer, text)?;
    ids.truncate(max_len);
    if ids.len() < 2 {
        return Err(DataError::Empty(format!("example {text:?} has fewer than two tokens")));
    }
    Ok(Sequence { ids, score_from: 1 })
}

/// An inference: the prompt's tokens then the completion's; only the completion is scored.
/// The prompt is cut from the left and the completion from the right to fit `max_len`.
pub fn query_sequence(
    tokenizer: &Tokenizer,
    prompt: &str,
    completion: &str,
    max_len: usize,
) -> Result<Sequence, DataError> {
    let mut p = encode(tokenizer, prompt)?;
    let mut c = encode(tokenizer, completion)?;
    if c.is_empty() {
        return Err(DataError::Empty("the completion has no tokens".into()));
    }
    if p.is_empty() {
        // The first completion token needs a context: move it into the prompt.
        p.push(c.remove(0));
        if c.is_empty() {
            return Err(DataError::Empty(
                "a one-token completion without a prompt has nothing to score".into(),
            ));
        }
    }
    let keep_prompt = p.len().min(max_len.saturating_sub(1).max(1));
    let p = p.split_off(p.len() - keep_prompt);
    c.truncate(max_len.saturating_sub(p.len()));
    if c.is_empty() {
        return Err(DataError::Empty("no room for the completion".into()));
    }
    let score_from = p.len();
    let mut ids = p;
    ids.extend(c);
    Ok(Sequence { ids, score_from })
}

/// A right-padded batch: `tokens` `[b, len]`, `targets` `[b, len-1]` (the next token) and
/// `mask` `[b, len-1]` (1 where a target is scored).
#[derive(Debug)]
pub struct Batch {
    /// Input ids.
    pub tokens: Tensor,
    /// Next-token targets.
    pub targets: Tensor,
    /// Scored targets.
    pub mask: Tensor,
}

impl Batch {
    /// Pads `seqs` (with token 0, unscored) into one batch.
    pub fn new(seqs: &[&Sequence]) -> Self {
        let len = seqs.iter().map(|s| s.ids.len()).max().unwrap_or(1).max(2);
        let mut tokens = Vec::with_capacity(seqs.len() * len);
        let mut mask = Vec::with_capacity(seqs.len() * (len - 1));
        for s in seqs {
            tokens.extend(s.ids.iter().copied());
            tokens.extend(std::iter::repeat_n(0i64, len - s.ids.len()));
            // Target j is token j + 1: scored when j + 1 is in score_from..ids.len().
            mask.extend((0..len - 1).map(|j| {
                let p = j + 1;
                f32::from(u8::from(p >= s.score_from.max(1) && p < s.ids.len()))
            }));
        }
        let b = seqs.len() as i64;
        let tokens = Tensor::from_slice(&tokens).view([b, len as i64]);
        let targets = tokens.narrow(1, 1, len as i64 - 1).contiguous();
        let mask = Tensor::from_slice(&mask).view([b, len as i64 - 1]);
        Self { tokens, targets, mask }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.tokens.size()[0] as usize
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Scored tokens in the batch.
    pub fn scored_tokens(&self) -> f64 {
        self.mask.sum(Kind::Float).double_value(&[])
    }

    /// Each row's summed negative log-likelihood of its scored tokens, `[b]`, from the logits
    /// `[b, len, vocab]`.
    pub fn nll_per_row(&self, logits: &Tensor) -> Tensor {
        let len = logits.size()[1];
        let logp = logits.narrow(1, 0, len - 1).log_softmax(-1, Kind::Float);
        let picked = logp.gather(2, &self.targets.unsqueeze(-1), false).squeeze_dim(-1);
        -(picked * &self.mask).sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_never_scored_and_queries_score_only_the_completion() {
        let a = Sequence { ids: vec![1, 2, 3, 4], score_from: 1 };
        let q = Sequence { ids: vec![5, 6, 7], score_from: 2 };
        let batch = Batch::new(&[&a, &q]);
        assert_eq!(batch.tokens.size(), [2, 4]);
        let mask: Vec<f32> = Vec::<f32>::try_from(batch.mask.view([-1])).unwrap();
        assert_eq!(mask, [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
        // Uniform logits: NLL = scored tokens × ln(vocab).
        let logits = Tensor::zeros([2, 4, 10], (Kind::Float, tch::Device::Cpu));
        let nll: Vec<f32> = Vec::<f32>::try_from(batch.nll_per_row(&logits)).unwrap();
        let ln10 = 10f32.ln();
        assert!((nll[0] - 3.0 * ln10).abs() < 1e-5 && (nll[1] - ln10).abs() < 1e-5, "{nll:?}");
    }
}
