//! Shared helpers: a tiny base model whose tokenizer knows the test corpus, and contributors
//! with recognisably different texts.

use alloy_primitives::Address;
use attribution_engine::{LoraConfig, TrainConfig, data::Example};
use openlora_server::{LlamaConfig, MakeModel, ModelSize, ModuleKind, model::Llama};
use rand::{Rng, SeedableRng, seq::IndexedRandom};
use std::{path::Path, process::Child};
use tch::{Device, Kind};

/// Word pools: each contributor writes about its own things.
const POOLS: [&[&str]; 4] = [
    &[
        "the", "ship", "sails", "over", "grey", "waves", "sailor", "harbour", "anchor", "storm",
        "mast", "tide",
    ],
    &[
        "a", "baker", "kneads", "warm", "bread", "oven", "flour", "yeast", "crust", "morning",
        "loaf", "butter",
    ],
    &[
        "my", "garden", "roses", "bloom", "under", "sun", "bees", "petals", "soil", "rain",
        "tulips", "hedge",
    ],
    &[
        "our", "castle", "king", "sword", "knight", "banner", "siege", "tower", "crown", "battle",
        "gate", "horse",
    ],
];

/// `n` sentences of `words` words each from contributor `c`'s pool.
pub fn texts(c: usize, n: usize, words: usize, seed: u64) -> Vec<String> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 31 + c as u64);
    (0..n)
        .map(|_| {
            let mut s: Vec<&str> =
                (0..words).map(|_| *POOLS[c].choose(&mut rng).unwrap_or(&"x")).collect();
            if rng.random::<bool>() {
                s.push(".");
            }
            s.join(" ")
        })
        .collect()
}

/// Contributor `c`'s address.
pub fn contributor(c: usize) -> Address {
    Address::repeat_byte(0x10 + c as u8)
}

/// Training examples: `per` from each of the four contributors, Datanets "sea-land" (0, 1)
/// and "green-stone" (2, 3).
pub fn examples(per: usize) -> Vec<Example> {
    (0..4)
        .flat_map(|c| {
            texts(c, per, 12, 1).into_iter().map(move |t| {
                Example::new(t, contributor(c), if c < 2 { "sea-land" } else { "green-stone" })
            })
        })
        .collect()
}

/// A tiny model (2 layers, width 64) whose tokenizer was trained on the test corpus.
pub fn tiny_model(dir: &Path) -> (Llama, LlamaConfig) {
    let mut make = MakeModel::new(ModelSize::Tiny);
    make.corpus = (0..4).flat_map(|c| texts(c, 200, 12, 9)).collect();
    let cfg = make.write(dir).expect("make model");
    let model = Llama::load(dir, &cfg, None, Kind::Float, Device::Cpu).expect("load model");
    (model, cfg)
}

/// A child process killed by its PID when dropped (if it is still running), so that a failed
/// test leaves no process behind.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The fine-tune of the pipeline and receipts tests: rank 4 on every module, `epochs` passes
/// over sequences of up to 32 tokens.
pub fn small_train_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        lora: LoraConfig { rank: 4, alpha: 8.0, targets: ModuleKind::ALL.to_vec() },
        lr: 1e-2,
        epochs,
        batch_size: 8,
        max_len: 32,
        seed: 7,
        weight_decay: 0.0,
    }
}
