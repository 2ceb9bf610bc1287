//! Picking the next token (greedy, or temperature + top-p with a per-request seeded RNG) and
//! turning tokens into text deltas with stop sequences held back until they are decided.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

/// How a request is decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Most tokens to generate (clamped to what the context length leaves).
    pub max_tokens: usize,
    /// 0 means greedy; otherwise logits are divided by it before softmax.
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f32,
    /// Seed of the sampler; the same seed, prompt and adapter give the same completion.
    pub seed: Option<u64>,
    /// Generation ends before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// Keep generating past the end-of-sequence token (for benchmarks).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            max_tokens: 16,
            temperature: 0.0,
            top_p: 1.0,
            seed: None,
            stop: Vec::new(),
            ignore_eos: false,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding of at most `max_tokens` tokens.
    pub fn greedy(max_tokens: usize) -> Self {
        Self { max_tokens, ..Self::default() }
    }

    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!(
                "temperature must be a finite number ≥ 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if self.max_tokens == 0 {
            return Err("max_tokens must be at least 1".into());
        }
        if self.stop.iter().any(String::is_empty) {
            return Err("stop sequences must not be empty".into());
        }
        Ok(())
    }
}

/// A request's sampler.
#[derive(Debug)]
pub struct Sampler {
    temperature: f32,
    top_p: f32,
    rng: ChaCha8Rng,
    scratch: Vec<(f32, u32)>,
}

impl Sampler {
    /// A sampler for `params`; `fallback_seed` is used when the request gives none.
    pub fn new(params: &SamplingParams, fallback_seed: u64) -> Self {
        Self {
            temperature: params.temperature,
            top_p: params.top_p,
            rng: ChaCha8Rng::seed_from_u64(params.seed.unwrap_or(fallback_seed)),
            scratch: Vec::new(),
        }
    }

    /// The next token from one row of logits.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let argmax = || {
            logits
                .iter()
                .enumerate()
                .fold(
                    (0usize, f32::NEG_INFINITY),
                    |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                )
                .0 as u32
        };
        if self.temperature < 1e-6 {
            return argmax();
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return argmax();
        }
        self.scratch.clear();
        let inv_t = 1.0 / self.temperature;
        let mut total = 0f32;
        for (i, &l) in logits.iter().enumerate() {
            let p = ((l - max) * inv_t).exp();
            total += p;
            self.scratch.push((p, i as u32));
        }
        if self.top_p < 1.0 {
            self.scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut kept_mass = 0f32;
            let mut keep = self.scratch.len();
            for (i, (p, _)) in self.scratch.iter().enumerate() {
                kept_mass += p;
                if kept_mass >= self.top_p * total {
                    keep = i + 1;
                    break;
                }
            }
            self.scratch.truncate(keep);
            total = kept_mass.min(total);
        }
        let mut target = self.rng.random::<f32>() * total;
        for &(p, id) in &self.scratch {
            if target < p {
                return id;
            }
            target -= p;
        }
        self.scratch.last().map_or_else(argmax, |&(_, id)| id)
    }
}

/// Incremental detokenizer with stop-sequence handling.
///
/// Byte-level BPE tokens can end inside a UTF-8 character, and a stop string can span tokens,
/// so text is emitted only once it is settled: never a partial character, never a prefix of a
/// stop string that the next tokens could complete.
#[derive(Debug, Default)]
pub struct TextStream {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
    text: String,
    emitted: usize,
}

/// What one new token produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Newly settled text (may be empty).
    pub text: String,
    /// A stop sequence was reached (the text up to it has been emitted, the stop itself not).
    pub stopped: bool,
}

impl TextStream {
    /// Adds a token; returns the settled text delta.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32, stop: &[String]) -> Delta {
        self.ids.push(id);
        let prefix = tokenizer
            .decode(&self.ids[self.prefix_offset..self.read_offset], true)
            .unwrap_or_default();
        let full = tokenizer.decode(&self.ids[self.prefix_offset..], true).unwrap_or_default();
        if full.len() > prefix.len() && !full.ends_with('\u{FFFD}') {
            if let Some(new) = full.get(prefix.len()..) {
                self.text.push_str(new);
            }
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
        }
        // A stop sequence anywhere in the unsent text (or straddling its start)?
        let longest = stop.iter().map(String::len).max().unwrap_or(0);
        let mut search_from = self.emitted.saturating_sub(longest);
        while !self.text.is_char_boundary(search_from) {
            search_from -= 1;
        }
        let hit = stop
            .iter()
            .filter_map(|s| self.text[search_from..].find(s.as_str()).map(|p| p + search_from))
            .min();
        if let Some(at) = hit {
            let at = at.max(self.emitted);
            let delta = self.text[self.emitted..at].to_owned();
            self.emitted = at;
            self.text.truncate(at);
            return Delta { text: delta, stopped: true };
        }
        // Hold back the longest tail that could still grow into a stop sequence.
        let mut safe = self.text.len();
        for s in stop {
            for k in (1..s.len()).rev() {
                if self.text.len() >= k && s.is_char_boundary(k) && self.text.ends_with(&s[..k]) {
                    safe = safe.min(self.text.len() - k);
                    break;
                }
            }
        }
        let safe = safe.max(self.emitted);
        let delta = self.text[self.emitted..safe].to_owned();
        self.emitted = safe;
        Delta { text: delta, stopped: false }
    }

    /// Text still held back (emitted when generation ends for another reason).
    pub fn flush(&mut self) -> String {
        let rest = self.text[self.emitted..].to_owned();
        self.emitted = self.text.len();
        rest
    }

    /// All text so far (up to a stop sequence, if one was hit).
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::make::{DEFAULT_CORPUS, train_tokenizer};

    #[test]
    fn greedy_seeded_and_top_p() {
        let logits = [0.1f32, 3.0, 0.2, 2.9];
        assert_eq!(Sampler::new(&SamplingParams::greedy(1), 0).sample(&logits), 1);
        let params =
            SamplingParams { temperature: 1.0, seed: Some(9), ..SamplingParams::default() };
        let draw = |p: &SamplingParams| {
            let mut s = Sampler::new(p, 0);
            (0..50).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(&params), draw(&params), "same seed, same draws");
        let all = draw(&params);
        assert!(all.contains(&1) && all.contains(&3), "both likely tokens show up: {all:?}");
        let nucleus = SamplingParams { top_p: 0.4, ..params.clone() };
        assert!(
            draw(&nucleus).iter().all(|&t| t == 1),
            "top_p 0.4 keeps only the top token (p ≈ 0.49)"
        );
        let bad = SamplingParams { top_p: 0.0, ..params };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn stop_sequences_across_tokens_are_held_back() {
        let corpus: Vec<String> = DEFAULT_CORPUS.iter().map(|s| (*s).to_owned()).collect();
        let tok = train_tokenizer(&corpus, 300).unwrap();
        let ids = tok
            .encode("The adapter is paid. STOP here and more ✓", false)
            .unwrap()
            .get_ids()
            .to_vec();
        let stop = vec!["STOP".to_owned()];
        let mut stream = TextStream::default();
        let mut out = String::new();
        let mut stopped = false;
        for &id in &ids {
            let d = stream.push(&tok, id, &stop);
            out.push_str(&d.text);
            if d.stopped {
                stopped = true;
                break;
            }
        }
        assert!(stopped);
        assert_eq!(out, "The adapter is paid. ");
        // Without stops, everything comes out, multi-byte characters whole.
        let mut stream = TextStream::default();
        let mut out = String::new();
        for &id in &ids {
            let d = stream.push(&tok, id, &[]);
            assert!(!d.text.contains('\u{FFFD}'));
            out.push_str(&d.text);
        }
        out.push_str(&stream.flush());
        assert_eq!(out, "The adapter is paid. STOP here and more ✓");
    }
}
