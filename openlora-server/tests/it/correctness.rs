//! The batched multi-adapter forward equals running each request alone on weights merged with
//! its adapter, for mixed ranks (1–16) and target-module sets, in one batch that also holds a
//! request without an adapter.
//!
//! Tolerances, on the logits (of order 1–10 here): in f64 the largest difference must be below
//! 1e-12 (measured: about 8e-15; the paths differ only in summation order), in f32 below 5e-5
//! (measured: about 4e-6, the rounding of `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` against `x·(W + s·B·A)ᵀ` over two
//! layers). Through the engine (f64), greedy generations are token-for-token identical.

use crate::common::*;
use openlora_server::{
    BackendKind, Engine, EngineConfig, GenerateRequest, ModuleKind, Prompt, SamplingParams,
    kv::KvCache,
    lora::{AutoBackend, BgmvBackend, GatherBackend, GroupedBackend, LoraBackend},
    model::{Llama, LoraLayout, LoraStep, StepBatch},
};
use tch::{Device, Kind, Tensor};

fn batched_vs_merged(kind: Kind, tolerance: f64, backend: &dyn LoraBackend) {
    batched_vs_merged_slots(kind, None, tolerance, backend);
}

/// What [`batched_run`] ran and its logits per step (prefill, then three decode steps).
struct BatchedRun {
    adapters: Vec<(openlora_server::AdapterInfo, openlora_server::adapter::AdapterWeights)>,
    prompts: Vec<Vec<i64>>,
    follow: Vec<Vec<i64>>,
    seq_adapter: Vec<Option<usize>>,
    logits: Vec<Tensor>,
}

/// Six sequences (five adapters in shuffled slots and one without) prefilled in one step, then
/// decoded together for three steps, on a model in `kind` with slots in `slot_dtype`.
fn batched_run(kind: Kind, slot_dtype: Option<Kind>, backend: &dyn LoraBackend) -> BatchedRun {
    let cfg = tiny_config();
    let adapters: Vec<_> = mixed_adapters().iter().map(|a| parsed(a, kind)).collect();
    let layout =
        LoraLayout { max_loras: 6, max_rank: 16, modules: ModuleKind::ALL.to_vec(), slot_dtype };
    let mut model = Llama::load(tiny_model(), &cfg, Some(layout), kind, Device::Cpu).unwrap();
    // Put the adapters in shuffled slots, leaving slot 0 empty.
    let slot_of = [3usize, 1, 5, 2, 4];
    for (i, (_, w)) in adapters.iter().enumerate() {
        model.set_lora(slot_of[i], w).unwrap();
    }
    let mut targets = vec![[false; 7]; 6];
    for (i, (_, w)) in adapters.iter().enumerate() {
        targets[slot_of[i]] = w.target_mask();
    }
    // Six sequences: five adapters and the base model, prompts of different lengths.
    let prompts: Vec<Vec<i64>> = [
        "The sequencer orders transactions",
        "Adapters",
        "Datanets pay their contributors when an inference is attributed",
        "forge test",
        "OPEN is the gas token of the L2 and",
        "The bridge carries deposits in and withdrawals out of the rollup",
    ]
    .iter()
    .map(|p| tokens(p))
    .collect();
    let seq_slot: Vec<i64> = vec![
        slot_of[0] as i64,
        slot_of[1] as i64,
        -1,
        slot_of[2] as i64,
        slot_of[3] as i64,
        slot_of[4] as i64,
    ];
    let seq_adapter: Vec<Option<usize>> = vec![Some(0), Some(1), None, Some(2), Some(3), Some(4)];
    let follow: Vec<Vec<i64>> =
        (0..prompts.len()).map(|i| vec![(7 * i as i64 + 3) % 300, 42, 5]).collect();

    let mut kv: KvCache = model.new_kv_cache(64, 8);
    let tables: Vec<_> = prompts.iter().map(|p| kv.allocate(p.len() + 4).unwrap()).collect();
    // Step 0: prefill everything at once.
    let mut batch = StepBatch::default();
    for (i, p) in prompts.iter().enumerate() {
        for (pos, &t) in p.iter().enumerate() {
            batch.tokens.push(t);
            batch.positions.push(pos as i64);
            batch.slot_mapping.push(kv.slot(&tables[i], pos).unwrap());
            batch.lora_slots.push(seq_slot[i]);
        }
        batch.prefill_lens.push(p.len());
    }
    let step = LoraStep::new(&batch.lora_slots, &targets, backend, Device::Cpu);
    let mut batched = vec![model.forward(&batch, &mut kv, &step).unwrap()];
    // Then three decode steps for all six at once.
    for k in 0..3 {
        let mut batch = StepBatch::default();
        for (i, (p, f)) in prompts.iter().zip(&follow).enumerate() {
            let pos = p.len() + k;
            batch.tokens.push(f[k]);
            batch.positions.push(pos as i64);
            batch.slot_mapping.push(kv.slot(&tables[i], pos).unwrap());
            batch.lora_slots.push(seq_slot[i]);
            batch
                .decode_contexts
                .push((0..=pos).map(|q| kv.slot(&tables[i], q).unwrap()).collect());
        }
        let step = LoraStep::new(&batch.lora_slots, &targets, backend, Device::Cpu);
        batched.push(model.forward(&batch, &mut kv, &step).unwrap());
    }
    BatchedRun { adapters, prompts, follow, seq_adapter, logits: batched }
}

/// `slot_dtype`: how the slots store adapters; the reference then merges the adapter rounded
/// the same way.
fn batched_vs_merged_slots(
    kind: Kind,
    slot_dtype: Option<Kind>,
    tolerance: f64,
    backend: &dyn LoraBackend,
) {
    let run = batched_run(kind, slot_dtype, backend);
    let (adapters, prompts, follow, seq_adapter, batched) =
        (run.adapters, run.prompts, run.follow, run.seq_adapter, run.logits);
    let mut worst = 0f64;
    for (i, p) in prompts.iter().enumerate() {
        let rounded =
            seq_adapter[i].map(|a| adapters[a].1.rounded_through(slot_dtype.unwrap_or(kind)));
        let reference = merged_model(rounded.as_ref(), kind);
        let alone = run_alone(&reference, p, &follow[i]);
        for (k, want) in alone.iter().enumerate() {
            let got = batched[k].get(i as i64);
            let diff = max_abs_diff(&got, want);
            worst = worst.max(diff);
            assert!(
                diff < tolerance,
                "seq {i} step {k}: max |batched - merged| = {diff:e} ({})",
                backend.name()
            );
        }
        // The adapter really changes the output (the test is not vacuous).
        if seq_adapter[i].is_some() {
            let base = run_alone(&merged_model(None, kind), p, &follow[i]);
            assert!(max_abs_diff(&base[0], &alone[0]) > 1e-3, "adapter of seq {i} has no effect");
        }
    }
    eprintln!(
        "{kind:?} (slots {slot_dtype:?}) {}: worst |batched - merged| = {worst:e}",
        backend.name()
    );
}

#[test]
fn batched_equals_merged_f64_all_backends() {
    batched_vs_merged(Kind::Double, 1e-12, &BgmvBackend);
    batched_vs_merged(Kind::Double, 1e-12, &GatherBackend);
    batched_vs_merged(Kind::Double, 1e-12, &GroupedBackend);
    batched_vs_merged(Kind::Double, 1e-12, &AutoBackend { grouped_min_rows: Some(4) });
}

/// Slots in bf16 under an f32 model: equal to merging the bf16-rounded adapter, to f32 precision.
#[test]
fn batched_equals_merged_with_bf16_slots() {
    batched_vs_merged_slots(Kind::Float, Some(Kind::BFloat16), 5e-5, &BgmvBackend);
    batched_vs_merged_slots(
        Kind::Float,
        Some(Kind::BFloat16),
        5e-5,
        &AutoBackend { grouped_min_rows: Some(4) },
    );
    batched_vs_merged_slots(Kind::Float, Some(Kind::BFloat16), 5e-5, &GatherBackend);
}

#[test]
fn batched_equals_merged_f32() {
    batched_vs_merged(Kind::Float, 5e-5, &BgmvBackend);
    batched_vs_merged(Kind::Float, 5e-5, &GatherBackend);
}

/// Through the engine: many concurrent requests on different adapters (and none) give exactly
/// the greedy tokens each would get alone on its merged weights.
#[test]
fn engine_greedy_matches_merged_alone() {
    let mut cfg = EngineConfig::new(tiny_model());
    cfg.dtype = Kind::Double;
    cfg.max_loras = 3; // fewer slots than adapters: slots are reused between requests
    cfg.backend = BackendKind::Auto;
    let engine = Engine::start(cfg).unwrap();
    let adapters = mixed_adapters();
    let mut ids = Vec::new();
    for a in &adapters {
        let (c, w) = adapter_bytes(a);
        ids.push(engine.add_adapter_bytes(&c, &w).unwrap().id);
    }
    let prompts =
        ["The sequencer", "Each adapter is named by", "Contributors claim", "A receipt batch"];
    let mut streams = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        for (j, id) in ids.iter().map(Some).chain([None]).enumerate() {
            let req = GenerateRequest {
                adapter: id.copied(),
                prompt: Prompt::Text((*p).into()),
                params: SamplingParams {
                    max_tokens: 6,
                    ignore_eos: true,
                    ..SamplingParams::default()
                },
            };
            streams.push((i, j, engine.submit(req).unwrap()));
        }
    }
    let mut refs: Vec<Llama> = adapters
        .iter()
        .map(|a| merged_model(Some(&parsed(a, Kind::Double).1), Kind::Double))
        .collect();
    refs.push(merged_model(None, Kind::Double));
    for (i, j, stream) in streams {
        let done = stream.collect_blocking().unwrap();
        let want = greedy_alone(&refs[j], &tokens(prompts[i]), 6);
        assert_eq!(done.tokens, want, "prompt {i} adapter {j}");
        assert_eq!(done.usage.completion_tokens, 6);
    }
    let m = engine.metrics();
    assert!(m.host_hits >= 5, "adapters were copied into slots: {m:?}");
}

/// A bf16 model (weights, activations, KV cache and slots in bf16): the CPU kernels (BGMV and
/// paged decode attention, computing in f32) agree with libtorch's bf16 ops (gather + bmm,
/// SDPA) to within bf16 rounding, and both stay close to the f32 model.
///
/// Measured worst differences, on logits of up to ~5: kernels vs libtorch ops about 0.03, bf16
/// vs f32 model about 0.05, against an adapter effect of 0.3–2.
#[test]
fn bf16_model_kernels_match_libtorch_ops() {
    let fast = batched_run(Kind::BFloat16, None, &AutoBackend { grouped_min_rows: Some(4) });
    let ops = batched_run(Kind::BFloat16, None, &GatherBackend);
    let f32_run = batched_run(Kind::Float, None, &AutoBackend { grouped_min_rows: Some(4) });
    let explicit_slots = batched_run(
        Kind::BFloat16,
        Some(Kind::BFloat16),
        &AutoBackend { grouped_min_rows: Some(4) },
    );
    let (mut kernels_vs_ops, mut vs_f32, mut smallest_effect) = (0f64, 0f64, f64::INFINITY);
    for k in 0..fast.logits.len() {
        assert_eq!(fast.logits[k].kind(), Kind::BFloat16);
        let f32_of = |t: &Tensor| t.to_kind(Kind::Float);
        kernels_vs_ops =
            kernels_vs_ops.max(max_abs_diff(&f32_of(&fast.logits[k]), &f32_of(&ops.logits[k])));
        vs_f32 = vs_f32.max(max_abs_diff(&f32_of(&fast.logits[k]), &f32_run.logits[k]));
        assert_eq!(max_abs_diff(&f32_of(&fast.logits[k]), &f32_of(&explicit_slots.logits[k])), 0.0);
    }
    // The adapters' effect in the bf16 model: each adapted sequence against the base model
    // alone, after the prompt.
    let plain = merged_model(None, Kind::BFloat16);
    for (i, p) in fast.prompts.iter().enumerate() {
        if fast.seq_adapter[i].is_some() {
            let alone = run_alone(&plain, p, &fast.follow[i]);
            let got = fast.logits[0].get(i as i64).to_kind(Kind::Float);
            smallest_effect =
                smallest_effect.min(max_abs_diff(&got, &alone[0].to_kind(Kind::Float)));
        }
    }
    eprintln!(
        "bf16 model: kernels vs libtorch ops {kernels_vs_ops:e}, vs f32 model {vs_f32:e}, \
         smallest adapter effect {smallest_effect:e}"
    );
    assert!(kernels_vs_ops < 0.1, "kernels vs libtorch ops: {kernels_vs_ops}");
    assert!(vs_f32 < 0.25, "bf16 vs f32 model: {vs_f32}");
    assert!(smallest_effect > 2.5 * kernels_vs_ops.max(vs_f32), "{smallest_effect}");
}
