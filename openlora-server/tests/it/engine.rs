//! The engine API: continuous batching, sampling, stop sequences, adapters at run time, the
//! tiered cache, folder watching, cancellation.

use crate::common::*;
use openlora_server::{
    AdapterId, Engine, EngineConfig, EngineError, EngineHandle, Event, FinishReason,
    GenerateRequest, MakeModel, ModelSize, ModuleKind, Prompt, SamplingParams, Tier,
};
use std::time::{Duration, Instant};

fn engine(f: impl FnOnce(&mut EngineConfig)) -> EngineHandle {
    let mut cfg = EngineConfig::new(tiny_model());
    f(&mut cfg);
    Engine::start(cfg).unwrap()
}

fn req(adapter: Option<AdapterId>, prompt: &str, params: SamplingParams) -> GenerateRequest {
    GenerateRequest { adapter, prompt: Prompt::Text(prompt.into()), params }
}

fn long(n: usize) -> SamplingParams {
    SamplingParams { max_tokens: n, ignore_eos: true, ..SamplingParams::default() }
}

#[test]
fn requests_join_and_leave_the_running_batch() {
    let engine = engine(|c| c.max_batch = 8);
    let mut first = engine.submit(req(None, "The sequencer", long(200))).unwrap();
    // Wait until the first request is decoding, then add three short ones.
    for _ in 0..3 {
        assert!(matches!(first.blocking_next(), Some(Event::Token { .. })));
    }
    let shorts: Vec<_> = (0..3)
        .map(|i| engine.submit(req(None, &format!("Adapter {i}"), long(5))).unwrap())
        .collect();
    for s in shorts {
        let done = s.collect_blocking().unwrap();
        assert_eq!((done.finish_reason, done.usage.completion_tokens), (FinishReason::Length, 5));
    }
    // The short ones joined the running batch and left it while the long one kept going.
    let m = engine.metrics();
    assert_eq!((m.requests, m.finished), (4, 3), "the long request is still running: {m:?}");
    let mut finished = None;
    let mut tokens = 3;
    while let Some(ev) = first.blocking_next() {
        match ev {
            Event::Token { .. } => tokens += 1,
            Event::Done { usage, .. } => finished = Some(usage),
            Event::Error(e) => panic!("{e}"),
        }
    }
    assert_eq!((tokens, finished.unwrap().completion_tokens), (200, 200));
    let m = engine.metrics();
    assert!(m.steps < 200 + 3 * 5, "requests shared steps: {m:?}");
    assert_eq!((m.requests, m.finished, m.generated_tokens), (4, 4, 215));
}

#[test]
fn tokenizer_and_chat_template_are_exposed() {
    let engine = engine(|_| {});
    assert!(engine.chat_template().unwrap().contains("<|im_start|>"));
    assert_eq!(engine.eos_token().as_deref(), Some("<|endoftext|>"));
    assert_eq!(engine.model_name(), "openlora/tiny-seed0");
    let ids = engine.tokenizer().encode("<|im_start|>user", false).unwrap();
    assert_eq!(ids.get_ids()[0], engine.tokenizer().token_to_id("<|im_start|>").unwrap());
    let m = engine.metrics();
    assert_eq!((m.requests, m.queue_depth), (0, 0));
}

#[test]
fn greedy_is_deterministic_and_sampling_follows_the_seed() {
    let engine = engine(|_| {});
    let run = |params: SamplingParams| {
        engine
            .submit(req(None, "Contributors claim", params))
            .unwrap()
            .collect_blocking()
            .unwrap()
            .tokens
    };
    assert_eq!(run(long(12)), run(long(12)));
    let sampled =
        |seed| run(SamplingParams { temperature: 1.0, top_p: 0.9, seed: Some(seed), ..long(12) });
    assert_eq!(sampled(7), sampled(7));
    assert!((8..12).any(|s| sampled(s) != sampled(7)), "different seeds give different samples");
}

#[test]
fn stop_sequences_and_max_tokens() {
    let engine = engine(|_| {});
    let full =
        engine.submit(req(None, "The bridge", long(24))).unwrap().collect_blocking().unwrap();
    assert_eq!(full.finish_reason, FinishReason::Length);
    assert_eq!(full.usage.completion_tokens, 24);
    assert_eq!(full.usage.prompt_tokens, tokens("The bridge").len());
    // Pick a stop string from the middle of the greedy text.
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() > 12, "{:?}", full.text);
    let start = chars.len() / 2;
    let stop: String = chars[start..start + 3].iter().collect();
    let cut = full.text.find(&stop).unwrap();
    let stopped = engine
        .submit(req(
            None,
            "The bridge",
            SamplingParams { stop: vec![stop.clone(), "never-there".into()], ..long(24) },
        ))
        .unwrap()
        .collect_blocking()
        .unwrap();
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert_eq!(stopped.text, full.text[..cut], "stop {stop:?}");
    assert!(stopped.usage.completion_tokens < 24);
}

#[test]
fn adapters_are_added_listed_and_removed_at_run_time() {
    let store = tempfile::tempdir().unwrap();
    let engine = engine(|c| c.adapter_store = Some(store.path().to_owned()));
    let dir = tempfile::tempdir().unwrap();
    let a = random_adapter(4, &[ModuleKind::Q, ModuleKind::V], 1);
    let id_a = a.write(&tiny_config(), &dir.path().join("a")).unwrap();
    let info_a = engine.add_adapter_dir(&dir.path().join("a")).unwrap();
    assert_eq!(info_a.id, id_a);
    assert_eq!(
        engine.add_adapter_dir(&dir.path().join("a")).unwrap(),
        info_a,
        "adding twice is a no-op"
    );
    let (c, w) = adapter_bytes(&random_adapter(8, &ModuleKind::ALL, 2));
    let info_b = engine.add_adapter_bytes(&c, &w).unwrap();
    assert!(store.path().join(info_b.id.to_string()).join("adapter_model.safetensors").is_file());
    let list = engine.list_adapters();
    assert_eq!(list.len(), 2);
    // Both were parsed when added and are kept warm in host memory (the engine thread files
    // them there asynchronously).
    let t = Instant::now();
    while !engine.list_adapters().iter().all(|s| s.tier == Tier::Host) {
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", engine.list_adapters());
        std::thread::sleep(Duration::from_millis(5));
    }
    let done =
        engine.submit(req(Some(info_b.id), "The", long(3))).unwrap().collect_blocking().unwrap();
    assert_eq!(done.usage.completion_tokens, 3);
    assert_eq!(engine.adapter(&info_b.id).unwrap().tier, Tier::Device);
    engine.remove_adapter(&info_a.id).unwrap();
    assert!(matches!(engine.remove_adapter(&info_a.id), Err(EngineError::UnknownAdapter(_))));
    assert_eq!(engine.list_adapters().len(), 1);
    let err = engine.submit(req(Some(info_a.id), "The", long(3))).unwrap_err();
    assert_eq!(err.to_string(), format!("unknown adapter {}", info_a.id));
}

/// A bf16 engine (`--dtype bf16`): adapters are held in bf16 (half the host bytes of f32),
/// concurrent requests on different adapters and none complete, answers are deterministic, and
/// the adapters change them.
#[test]
fn bf16_engine_serves_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(|c| c.dtype = tch::Kind::BFloat16);
    let mut ids = Vec::new();
    for (i, a) in mixed_adapters().iter().enumerate() {
        let path = dir.path().join(format!("a{i}"));
        a.write(&tiny_config(), &path).unwrap();
        ids.push(Some(e.add_adapter_dir(&path).unwrap().id));
    }
    ids.push(None);
    let f32_bytes: usize =
        mixed_adapters().iter().map(|a| parsed(a, tch::Kind::Float).1.bytes()).sum();
    assert_eq!(2 * e.metrics().host_cache_bytes as usize, f32_bytes, "adapters held in bf16");
    let ask = || -> Vec<Vec<u32>> {
        let streams: Vec<_> =
            ids.iter().map(|&a| e.submit(req(a, "Datanets pay", long(6))).unwrap()).collect();
        streams.into_iter().map(|s| s.collect_blocking().unwrap().tokens).collect()
    };
    let (first, again) = (ask(), ask());
    assert_eq!(first, again, "greedy bf16 answers are deterministic");
    assert!(first.iter().all(|t| t.len() == 6));
    let base = first.last().unwrap();
    assert!(first[..first.len() - 1].iter().any(|t| t != base), "adapters change the answer");
}

/// With a host cache that holds one adapter and one device slot, requests that rotate over
/// three adapters reload them from disk in the background, and answers don't change.
#[test]
fn tiered_cache_reloads_from_disk_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let adapters: Vec<_> =
        (0..3).map(|i| random_adapter(8, &[ModuleKind::Q, ModuleKind::Up], 50 + i)).collect();
    let one = parsed(&adapters[0], tch::Kind::Float).1.bytes();
    let roomy = engine(|_| {});
    let tight = engine(|c| {
        c.host_cache_bytes = one + one / 2;
        c.max_loras = 1;
    });
    let mut ids = Vec::new();
    for (i, a) in adapters.iter().enumerate() {
        let path = dir.path().join(format!("a{i}"));
        a.write(&tiny_config(), &path).unwrap();
        ids.push(roomy.add_adapter_dir(&path).unwrap().id);
        assert_eq!(tight.add_adapter_dir(&path).unwrap().id, ids[i]);
    }
    let ask = |e: &EngineHandle, i: usize| {
        e.submit(req(Some(ids[i % 3]), "Staking and", long(4))).unwrap()
    };
    let streams: Vec<_> = (0..9).map(|i| (ask(&roomy, i), ask(&tight, i))).collect();
    for (a, b) in streams {
        assert_eq!(a.collect_blocking().unwrap().tokens, b.collect_blocking().unwrap().tokens);
    }
    let m = tight.metrics();
    assert!(m.disk_loads >= 2 && m.host_evictions >= 2, "{m:?}");
    assert!(m.mean_load_ms > 0.0);
    assert_eq!(roomy.metrics().disk_loads, 0);
}

#[test]
fn watched_folder_adds_and_removes_adapters() {
    let watch = tempfile::tempdir().unwrap();
    let engine = engine(|c| {
        c.watch_dir = Some(watch.path().to_owned());
        c.watch_interval = Duration::from_millis(20);
    });
    let wait_for = |n: usize| {
        let t = Instant::now();
        while engine.list_adapters().len() != n {
            assert!(t.elapsed() < Duration::from_secs(10), "watcher did not reach {n} adapters");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let id = random_adapter(2, &[ModuleKind::O], 9)
        .write(&tiny_config(), &watch.path().join("x"))
        .unwrap();
    // A broken adapter in the same folder is skipped with a warning, not fatal.
    std::fs::create_dir(watch.path().join("broken")).unwrap();
    std::fs::write(watch.path().join("broken/adapter_config.json"), b"{}").unwrap();
    std::fs::write(watch.path().join("broken/adapter_model.safetensors"), b"nope").unwrap();
    wait_for(1);
    assert_eq!(engine.list_adapters()[0].info.id, id);
    engine.submit(req(Some(id), "The", long(2))).unwrap().collect_blocking().unwrap();
    std::fs::remove_dir_all(watch.path().join("x")).unwrap();
    wait_for(0);
}

/// Dropping a stream cancels the request and frees its KV blocks for the next one.
#[test]
fn dropping_the_stream_cancels() {
    let engine = engine(|c| c.kv_cache_tokens = Some(128));
    let mut s = engine.submit(req(None, "The", long(100))).unwrap();
    assert!(matches!(s.blocking_next(), Some(Event::Token { .. })));
    drop(s);
    let done = engine.submit(req(None, "The", long(100))).unwrap().collect_blocking().unwrap();
    assert_eq!(done.usage.completion_tokens, 100);
}

/// A model saved in three shards (with `model.safetensors.index.json`) gives the same output
/// as the same weights in one file.
#[test]
fn sharded_checkpoint_loads_like_a_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut make = MakeModel::new(ModelSize::Tiny);
    make.shards = 3;
    make.write(dir.path()).unwrap();
    assert!(dir.path().join("model.safetensors.index.json").is_file());
    assert!(dir.path().join("model-00003-of-00003.safetensors").is_file());
    assert_eq!(
        std::fs::read(dir.path().join("tokenizer.json")).unwrap(),
        std::fs::read(tiny_model().join("tokenizer.json")).unwrap()
    );
    let sharded = Engine::start(EngineConfig::new(dir.path())).unwrap();
    let single = engine(|_| {});
    let a = sharded.submit(req(None, "Rewards", long(8))).unwrap().collect_blocking().unwrap();
    let b = single.submit(req(None, "Rewards", long(8))).unwrap().collect_blocking().unwrap();
    assert_eq!(a.tokens, b.tokens);
}

#[test]
fn cli_makes_a_model_and_adapters_and_generates() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_openlora-server");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let model = dir.path().join("m");
    let adapters = dir.path().join("ad");
    run(&["make-model", "--out", model.to_str().unwrap(), "--size", "tiny", "--seed", "3"]);
    let listed = run(&[
        "make-adapters",
        "--model",
        model.to_str().unwrap(),
        "--out",
        adapters.to_str().unwrap(),
        "--count",
        "2",
        "--rank",
        "4",
        "--targets",
        "q_proj,down_proj",
    ]);
    let first = listed.lines().next().unwrap();
    let (id, path) = first.split_once(' ').unwrap();
    assert_eq!(
        id.parse::<AdapterId>().unwrap(),
        AdapterId::of_bytes(&std::fs::read(format!("{path}/adapter_model.safetensors")).unwrap())
    );
    let out = std::process::Command::new(bin)
        .args([
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--adapter",
            path,
            "--prompt",
            "The",
            "--max-tokens",
            "5",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("completion tokens"));
    let bad = std::process::Command::new(bin)
        .args(["generate", "--model", "/nonexistent", "--prompt", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read /nonexistent/config.json"));
}
