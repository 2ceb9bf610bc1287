//! The engine's bad-input table: each bad input gets a clear error, and the engine keeps
//! serving the request that was running meanwhile and the ones after.

use crate::common::*;
use openlora_server::{
    AdapterError, AdapterId, Engine, EngineConfig, EngineError, Event, FinishReason,
    GenerateRequest, ModuleKind, Prompt, SamplingParams, weights::WeightError,
};

fn long(n: usize) -> SamplingParams {
    SamplingParams { max_tokens: n, ignore_eos: true, ..SamplingParams::default() }
}

#[test]
fn bad_inputs_are_clear_errors_and_the_engine_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(tiny_model());
    cfg.max_lora_rank = 8;
    cfg.host_cache_bytes = 1; // host memory keeps only the adapter added or loaded last
    cfg.max_loras = 2;
    let engine = Engine::start(cfg).unwrap();
    let good_dir = dir.path().join("good");
    random_adapter(4, &[ModuleKind::Q, ModuleKind::V], 1).write(&tiny_config(), &good_dir).unwrap();
    let good = engine.add_adapter_dir(&good_dir).unwrap().id;
    // A request that runs through the whole table.
    let mut running = engine
        .submit(GenerateRequest {
            adapter: Some(good),
            prompt: Prompt::Text("The sequencer".into()),
            params: long(150),
        })
        .unwrap();
    assert!(matches!(running.blocking_next(), Some(Event::Token { .. })));

    let (cfg_bytes, weights) = adapter_bytes(&random_adapter(4, &[ModuleKind::K], 2));
    let unknown: AdapterId = AdapterId::of_bytes(b"not registered");
    let mut table: Vec<(&str, EngineError, &str)> = Vec::new();

    // 1. Unknown adapter.
    let err = engine
        .submit(GenerateRequest {
            adapter: Some(unknown),
            prompt: Prompt::Text("x".into()),
            params: long(2),
        })
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownAdapter(_)));
    table.push(("unknown adapter", err, "unknown adapter 0x"));

    // 2. Corrupt safetensors (header overwritten).
    let mut corrupt = weights.clone();
    corrupt[8..24].copy_from_slice(b"{\"x\":garbage!!!}");
    let err = engine.add_adapter_bytes(&cfg_bytes, &corrupt).unwrap_err();
    assert!(
        matches!(err, EngineError::Adapter(AdapterError::Weights(WeightError::Corrupt { .. }))),
        "{err}"
    );
    table.push((
        "corrupt safetensors",
        err,
        "invalid adapter weights: adapter_model.safetensors is not a valid safetensors file",
    ));

    // 3. Truncated safetensors, in a folder.
    let trunc_dir = dir.path().join("truncated");
    std::fs::create_dir(&trunc_dir).unwrap();
    std::fs::write(trunc_dir.join("adapter_config.json"), &cfg_bytes).unwrap();
    std::fs::write(trunc_dir.join("adapter_model.safetensors"), &weights[..weights.len() / 2])
        .unwrap();
    let err = engine.add_adapter_dir(&trunc_dir).unwrap_err();
    assert!(
        matches!(err, EngineError::Adapter(AdapterError::Weights(WeightError::Corrupt { .. }))),
        "{err}"
    );
    table.push(("truncated safetensors", err, "is not a valid safetensors file"));

    // 4. Shape mismatch: same base-model name, tensors for a wider model.
    let mut wide = tiny_config();
    wide.hidden_size = 96;
    let (c, w) = random_adapter(4, &[ModuleKind::Q], 3).to_bytes(&wide).unwrap();
    let err = engine.add_adapter_bytes(&c, &w).unwrap_err();
    assert!(matches!(err, EngineError::Adapter(AdapterError::Shape { .. })), "{err}");
    table.push(("shape mismatch", err, "has shape [4, 96], expected [4, 64] for this base model"));

    // 5. An adapter for another base model.
    let mut other = random_adapter(4, &[ModuleKind::Q], 4);
    other.base_model = Some("meta-llama/Llama-3.1-8B".into());
    let (c, w) = adapter_bytes(&other);
    let err = engine.add_adapter_bytes(&c, &w).unwrap_err();
    assert!(matches!(err, EngineError::Adapter(AdapterError::BaseModelMismatch { .. })), "{err}");
    table.push(("another base model", err, "adapter is for base model `meta-llama/Llama-3.1-8B`, but this server runs `openlora/tiny-seed0`"));

    // 6. Rank over the maximum.
    let (c, w) = adapter_bytes(&random_adapter(16, &[ModuleKind::Q], 5));
    let err = engine.add_adapter_bytes(&c, &w).unwrap_err();
    table.push(("rank over max", err, "adapter rank 16 exceeds the server's maximum LoRA rank 8"));

    // 7. Prompt over the context length.
    let ctx = tiny_config().max_position_embeddings;
    let err = engine
        .submit(GenerateRequest {
            adapter: None,
            prompt: Prompt::Tokens(vec![5; ctx + 10]),
            params: long(2),
        })
        .unwrap_err();
    assert!(matches!(err, EngineError::PromptTooLong { .. }));
    table.push((
        "prompt over context",
        err,
        &*Box::leak(
            format!("prompt has {} tokens, but the context length is {ctx}", ctx + 10)
                .into_boxed_str(),
        ),
    ));

    // 8. Bad sampling parameters and token ids.
    let err = engine
        .submit(GenerateRequest {
            adapter: None,
            prompt: Prompt::Text("x".into()),
            params: SamplingParams { top_p: 1.5, ..long(2) },
        })
        .unwrap_err();
    table.push(("top_p out of range", err, "invalid request: top_p must be in (0, 1], got 1.5"));
    let err = engine
        .submit(GenerateRequest {
            adapter: None,
            prompt: Prompt::Tokens(vec![1, 99_999]),
            params: long(2),
        })
        .unwrap_err();
    table.push(("token outside vocabulary", err, "token 99999 outside the vocabulary"));

    // 9. An adapter whose file is corrupted on disk after it was registered: the request that
    //    needs it fails when the loader reads it again; nothing else is affected.
    let later_dir = dir.path().join("later");
    random_adapter(2, &[ModuleKind::Down], 6).write(&tiny_config(), &later_dir).unwrap();
    let later = engine.add_adapter_dir(&later_dir).unwrap().id;
    std::fs::write(later_dir.join("adapter_model.safetensors"), b"overwritten").unwrap();
    // Adding another adapter pushes `later` out of host memory, so its next use reads the disk.
    let (c, w) = adapter_bytes(&random_adapter(2, &[ModuleKind::Gate], 7));
    engine.add_adapter_bytes(&c, &w).unwrap();
    let err = engine
        .submit(GenerateRequest {
            adapter: Some(later),
            prompt: Prompt::Text("x".into()),
            params: long(2),
        })
        .unwrap()
        .collect_blocking()
        .unwrap_err();
    assert!(matches!(err, EngineError::AdapterLoad { .. }), "{err}");
    table.push((
        "adapter changed on disk",
        err,
        "could not be loaded: adapter_model.safetensors changed: its keccak is now 0x",
    ));

    for (what, err, expected) in &table {
        let msg = err.to_string();
        eprintln!("{what:>26}: {msg}");
        assert!(msg.contains(expected), "{what}: `{msg}` does not contain `{expected}`");
    }

    // The running request finishes normally, and new requests are served.
    let mut tokens = 1;
    let mut done = None;
    while let Some(ev) = running.blocking_next() {
        match ev {
            Event::Token { .. } => tokens += 1,
            Event::Done { finish_reason, usage, .. } => done = Some((finish_reason, usage)),
            Event::Error(e) => panic!("the running request failed: {e}"),
        }
    }
    assert_eq!(tokens, 150);
    assert_eq!(done.unwrap().0, FinishReason::Length);
    let after = engine
        .submit(GenerateRequest {
            adapter: Some(good),
            prompt: Prompt::Text("Datanets".into()),
            params: long(4),
        })
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(after.usage.completion_tokens, 4);
    let ids: Vec<_> = engine.list_adapters().into_iter().map(|s| s.info.id).collect();
    assert_eq!(ids.len(), 3, "only the three valid adapters are registered");
    assert!(ids.contains(&good) && ids.contains(&later));
    let m = engine.metrics();
    assert_eq!(m.load_failures, 1);
    assert_eq!(m.failed, 1);
}
