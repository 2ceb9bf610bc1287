//! Shared helpers: one tiny model per test binary, random adapters, and a reference greedy
//! decoder that runs one sequence alone through a model.

use openlora_server::{
    LlamaConfig, MakeModel, ModelSize, ModuleKind, RandomAdapter,
    adapter::{AdapterInfo, AdapterSpec, AdapterWeights, parse_adapter},
    kv::KvCache,
    lora::GatherBackend,
    model::{Llama, LoraStep, StepBatch},
};
use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};
use tch::{Device, Kind, Tensor};

/// The tiny model, made once per test binary.
pub fn tiny_model() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tiny");
        MakeModel::new(ModelSize::Tiny).write(&path).expect("make tiny model");
        (dir, path)
    });
    path
}

pub fn tiny_config() -> LlamaConfig {
    LlamaConfig::from_file(&tiny_model().join("config.json")).expect("config")
}

pub fn spec(max_rank: usize) -> AdapterSpec {
    let cfg = tiny_config();
    AdapterSpec {
        model_names: vec![cfg.name_or_path.clone().expect("name")],
        model: cfg,
        max_rank,
        modules: ModuleKind::ALL.to_vec(),
    }
}

pub fn random_adapter(rank: usize, modules: &[ModuleKind], seed: u64) -> RandomAdapter {
    RandomAdapter {
        rank,
        alpha: 2.0 * rank as f64,
        modules: modules.to_vec(),
        base_model: tiny_config().name_or_path,
        seed,
        b_std: 0.05,
    }
}

/// Bytes and parsed weights of a random adapter.
pub fn adapter_bytes(a: &RandomAdapter) -> (Vec<u8>, Vec<u8>) {
    a.to_bytes(&tiny_config()).expect("adapter bytes")
}

pub fn parsed(a: &RandomAdapter, kind: Kind) -> (AdapterInfo, AdapterWeights) {
    let (c, w) = adapter_bytes(a);
    parse_adapter(&c, &w, &spec(16), kind, Device::Cpu).expect("parse adapter")
}

/// Mixed ranks and target sets used by the correctness tests.
pub fn mixed_adapters() -> Vec<RandomAdapter> {
    use ModuleKind::*;
    vec![
        random_adapter(1, &[Q, V], 100),
        random_adapter(4, &ModuleKind::ALL, 101),
        random_adapter(8, &[Gate, Up, Down], 102),
        random_adapter(2, &[K, O], 103),
        random_adapter(16, &[Q, K, V, O, Down], 104),
    ]
}

/// A model without adapter slots, with `adapter` merged into its weights.
pub fn merged_model(adapter: Option<&AdapterWeights>, kind: Kind) -> Llama {
    let cfg = tiny_config();
    let mut model = Llama::load(tiny_model(), &cfg, None, kind, Device::Cpu).expect("load");
    if let Some(a) = adapter {
        model.merge_adapter(a, 1.0).expect("merge");
    }
    model
}

/// Runs one sequence alone: prefill `prompt`, then feed `follow` one token at a time; returns
/// the logits after the prompt and after each followed token.
pub fn run_alone(model: &Llama, prompt: &[i64], follow: &[i64]) -> Vec<Tensor> {
    let mut kv: KvCache = model.new_kv_cache(16, 16);
    let table = kv.allocate(prompt.len() + follow.len() + 1).expect("kv");
    let none = LoraStep::none(&GatherBackend);
    let mut out = Vec::new();
    let batch = StepBatch {
        tokens: prompt.to_vec(),
        positions: (0..prompt.len() as i64).collect(),
        slot_mapping: (0..prompt.len()).map(|p| kv.slot(&table, p).expect("slot")).collect(),
        lora_slots: vec![-1; prompt.len()],
        decode_contexts: vec![],
        prefill_lens: vec![prompt.len()],
    };
    out.push(model.forward(&batch, &mut kv, &none).expect("prefill").get(0));
    for (i, &t) in follow.iter().enumerate() {
        let pos = prompt.len() + i;
        let batch = StepBatch {
            tokens: vec![t],
            positions: vec![pos as i64],
            slot_mapping: vec![kv.slot(&table, pos).expect("slot")],
            lora_slots: vec![-1],
            decode_contexts: vec![(0..=pos).map(|p| kv.slot(&table, p).expect("slot")).collect()],
            prefill_lens: vec![],
        };
        out.push(model.forward(&batch, &mut kv, &none).expect("decode").get(0));
    }
    out
}

/// Greedy decoding of `n` tokens, alone, through `model`.
pub fn greedy_alone(model: &Llama, prompt: &[i64], n: usize) -> Vec<u32> {
    let mut follow: Vec<i64> = Vec::new();
    for _ in 0..n {
        let logits = run_alone(model, prompt, &follow);
        let last = logits.last().expect("logits");
        follow.push(last.argmax(0, false).int64_value(&[]));
    }
    follow.iter().map(|&t| t as u32).collect()
}

pub fn tokens(text: &str) -> Vec<i64> {
    let tok =
        tokenizers::Tokenizer::from_file(tiny_model().join("tokenizer.json")).expect("tokenizer");
    tok.encode(text, false).expect("encode").get_ids().iter().map(|&t| t as i64).collect()
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}
