//! The whole path on a tiny model: train with a manifest, serve the adapter with the OpenLoRA
//! engine, fit factors, build the index, attribute a verbatim quote to its contributor.

use crate::common::{contributor, examples, small_train_config, tiny_model};
use attribution_engine::{
    Analyzer, AnalyzerError, FactorArgs, Factors, IndexArgs, IndexError, LoraConfig, Manifest, Run,
    Strategy, TrainableLora,
    attribution::{AttributeError, Totals, attribute},
    context::{Context, ContextError},
    data::{query_sequence, training_sequence},
    model_fingerprint,
    projection::Projector,
};
use openlora_server::{Engine, EngineConfig, GenerateRequest, ModuleKind, Prompt, SamplingParams};
use std::collections::BTreeMap;
use tch::Tensor;

#[test]
fn train_serve_index_and_attribute_a_verbatim_quote() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    let (model, cfg) = tiny_model(&model_dir);
    let tokenizer = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json")).unwrap();
    let examples = examples(24);
    let train_cfg = small_train_config(3);
    let run_dir = tmp.path().join("run");
    let run =
        Run::train(&model, &model_dir, &tokenizer, examples.clone(), &train_cfg, &run_dir, false)
            .unwrap();
    let losses = &run.info.report.epoch_losses;
    assert!(losses[2] < losses[0], "training lowers the loss: {losses:?}");
    // A second run into the same folder is refused; the folder reads back consistently.
    assert!(
        Run::train(&model, &model_dir, &tokenizer, examples.clone(), &train_cfg, &run_dir, false)
            .is_err()
    );
    let run = Run::open(&run_dir).unwrap();
    assert_eq!(
        run.manifest.root(),
        Manifest::new(examples.iter().map(|e| e.entry()).collect()).unwrap().root()
    );
    let proof = run.manifest.proof(5).unwrap();
    assert!(Manifest::verify(&proof, run.manifest.root(), run.manifest.entries()[5].leaf()));
    assert_eq!(run.info.checkpoints, ["checkpoints/epoch-1", "checkpoints/epoch-2", "adapter"]);

    // The OpenLoRA engine serves the adapter as written, and greedily picks the token our
    // training forward ranks first.
    let lora = run.load_adapter(&cfg).unwrap();
    let engine = Engine::start(EngineConfig::new(&model_dir)).unwrap();
    let info = engine.add_adapter_dir(&run.adapter_dir()).unwrap();
    assert_eq!(info.id, run.info.adapter_id);
    let prompt = "the ship sails over";
    let done = engine
        .submit(GenerateRequest {
            adapter: Some(info.id),
            prompt: Prompt::Text(prompt.into()),
            params: SamplingParams::greedy(1),
        })
        .unwrap()
        .collect_blocking()
        .unwrap();
    let ids: Vec<i64> =
        tokenizer.encode(prompt, false).unwrap().get_ids().iter().map(|&i| i64::from(i)).collect();
    let logits = lora.forward(&model, &Tensor::from_slice(&ids).view([1, -1]), None).unwrap();
    let ours = logits.get(0).get(ids.len() as i64 - 1).argmax(0, false).int64_value(&[]);
    assert_eq!(i64::from(done.tokens[0]), ours);
    engine.shutdown();

    // Factors, index, attribution.
    let fingerprint = model_fingerprint(&model_dir, run.info.adapter_id).unwrap();
    let analysis = run_dir.join("analysis");
    let analyzer = Analyzer::new(&analysis, &model, &lora, fingerprint);
    let train: Vec<_> = run
        .examples
        .iter()
        .map(|e| training_sequence(&tokenizer, &e.text, train_cfg.max_len).unwrap())
        .collect();
    let args = FactorArgs { strategy: Strategy::Ekfac, damping_factor: 0.1, batch_size: 16 };
    analyzer.fit_factors("ekfac", &train, &args).unwrap();
    let factors = analyzer.load_factors("ekfac").unwrap();
    assert!(matches!(analyzer.fit_factors("ekfac", &train, &args), Err(AnalyzerError::Exists(_))));
    let index_args =
        IndexArgs { projection_dim: 256, projection_seed: 1, shard_rows: 40, batch_size: 16 };
    let groups: Vec<_> = run.examples.iter().map(|e| e.group_key()).collect();
    let index = analyzer
        .build_index(
            "main",
            "ekfac",
            &factors,
            &train,
            Some(&groups),
            vec![],
            run.manifest.root(),
            &index_args,
        )
        .unwrap();
    assert_eq!(index.len(), examples.len());
    assert!(index.checkpoints().is_empty());
    let projector = Projector::new(index.header().params.projection.clone());
    assert_eq!(index.header().shards.len(), 3);
    // A quote of example `i`: its first three words as the prompt, the rest as the completion.
    let quote = |i: usize| {
        let words: Vec<&str> = run.examples[i].text.split(' ').collect();
        (words[..3].join(" "), format!(" {}", words[3..].join(" ")))
    };
    let attribute_to = |index, checkpoints, prompt: &str, completion: &str| {
        attribute(
            &analyzer,
            index,
            checkpoints,
            &run.examples,
            &tokenizer,
            prompt,
            completion,
            64,
            3,
        )
    };
    for quoted in [5usize, 30, 77] {
        let (prompt, completion) = quote(quoted);
        let result = attribute_to(&index, &[], &prompt, &completion).unwrap();
        let owner = run.examples[quoted].contributor;
        assert_eq!(result.contributors.top[0].id, owner, "quote of example {quoted}: {result:#?}");
        assert!(result.datanets.top.iter().any(|s| s.id == run.examples[quoted].datanet));
        assert_eq!(result.index_root, index.root());
        assert_eq!(result.method, "ekfac");
        let total: u32 = result.contributors.top.iter().map(|s| u32::from(s.bps)).sum::<u32>()
            + u32::from(result.contributors.rest_bps);
        assert_eq!(total, 10_000);
        assert!(owner == contributor(quoted / 24));

        // The contributors' totals are the exact (unprojected) EK-FAC influence summed over
        // their examples, not the projected rows' sum.
        assert_eq!(result.totals, Totals::ExactGroupSums);
        let query = query_sequence(&tokenizer, &prompt, &completion, 64).unwrap();
        let exact = analyzer
            .compute_pairwise_scores(None, &factors, std::slice::from_ref(&query), &train, None, 16)
            .unwrap();
        let projected = analyzer
            .compute_pairwise_scores(None, &factors, &[query], &train, Some(&projector), 16)
            .unwrap();
        let sum_of = |scores: &Tensor, who: alloy_primitives::Address| -> f64 {
            let row = Vec::<f64>::try_from(scores.get(0).to_kind(tch::Kind::Double)).unwrap();
            row.iter()
                .zip(&run.examples)
                .filter(|(_, e)| e.contributor == who)
                .map(|(s, _)| s)
                .sum()
        };
        let mut worst_exact = 0f64;
        let mut worst_projected = 0f64;
        for share in &result.contributors.top {
            let (want, proj) = (sum_of(&exact, share.id), sum_of(&projected, share.id));
            let scale = want.abs().max(1e-6);
            worst_exact = worst_exact.max((share.influence - want).abs() / scale);
            worst_projected = worst_projected.max((proj - want).abs() / scale);
        }
        eprintln!(
            "quote {quoted}: totals off the exact sums by {worst_exact:.1e}, projected rows by {worst_projected:.1e}"
        );
        assert!(worst_exact < 1e-2, "exact totals off by {worst_exact:.2e}: {result:#?}");
        assert!(
            worst_projected > 10.0 * worst_exact,
            "projection error {worst_projected:.2e} vs {worst_exact:.2e}: the test cannot tell them apart"
        );
    }

    // An index that also keeps the group sums at the run's two earlier checkpoints: a quote's
    // totals are then the exact EK-FAC influence summed over the three adapters, each
    // preconditioned with factors fitted under it.
    let ctx = Context::open(&run_dir, Some(&model_dir)).unwrap();
    let earlier = ctx.earlier_checkpoints(usize::MAX).unwrap();
    assert_eq!(
        earlier.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["checkpoints/epoch-1", "checkpoints/epoch-2"]
    );
    let mut sums = Vec::new();
    let mut fitted = Vec::new();
    for (adapter, adapter_id, lora_c) in &earlier {
        let f = analyzer.factors_at(lora_c, &train, &args).unwrap();
        let at =
            analyzer.checkpoint_sums(lora_c, &f, adapter.clone(), *adapter_id, &train, &groups, 16);
        sums.push(at.unwrap());
        fitted.push(f);
    }
    let ckpt_index = analyzer
        .build_index(
            "ckpt",
            "ekfac",
            &factors,
            &train,
            Some(&groups),
            sums,
            run.manifest.root(),
            &index_args,
        )
        .unwrap();
    assert_eq!(ckpt_index.checkpoints().len(), 2);
    assert_ne!(ckpt_index.root(), index.root());
    let reopened = analyzer.open_index("ckpt", true).unwrap();
    let loras = ctx.index_checkpoints(&reopened).unwrap();
    let (prompt, completion) = quote(30);
    let result = attribute_to(&reopened, &loras, &prompt, &completion).unwrap();
    assert_eq!(result.totals, Totals::CheckpointGroupSums);
    assert_eq!(result.index_root, ckpt_index.root());
    assert_eq!(result.contributors.top[0].id, run.examples[30].contributor, "{result:#?}");
    let query = query_sequence(&tokenizer, &prompt, &completion, 64).unwrap();
    let by_contributor =
        |lora: &TrainableLora, f: &Factors| -> BTreeMap<alloy_primitives::Address, f64> {
            let at = Analyzer::new(&analysis, &model, lora, fingerprint);
            let scores = at
                .compute_pairwise_scores(None, f, std::slice::from_ref(&query), &train, None, 16)
                .unwrap();
            let row = Vec::<f64>::try_from(scores.get(0).to_kind(tch::Kind::Double)).unwrap();
            let mut out = BTreeMap::new();
            for (s, e) in row.iter().zip(&run.examples) {
                *out.entry(e.contributor).or_default() += s;
            }
            out
        };
    let last = by_contributor(&lora, &factors);
    let mut summed = last.clone();
    for ((_, _, lora_c), f) in earlier.iter().zip(&fitted) {
        for (who, v) in by_contributor(lora_c, f) {
            *summed.entry(who).or_default() += v;
        }
    }
    let (mut worst_summed, mut worst_last) = (0f64, 0f64);
    for share in &result.contributors.top {
        let scale = summed[&share.id].abs().max(1e-6);
        worst_summed = worst_summed.max((share.influence - summed[&share.id]).abs() / scale);
        worst_last = worst_last.max((last[&share.id] - summed[&share.id]).abs() / scale);
    }
    eprintln!(
        "checkpoint sums: totals off the exact sums by {worst_summed:.1e}; the final adapter alone by {worst_last:.1e}"
    );
    assert!(worst_summed < 1e-2, "checkpoint totals off by {worst_summed:.2e}: {result:#?}");
    assert!(worst_last > 10.0 * worst_summed, "the checkpoints change nothing the test can see");
    // Without the checkpoints' adapters, or with another adapter in a checkpoint's folder, or
    // with a checkpoint's sums altered on disk: refused.
    assert!(matches!(
        attribute_to(&reopened, &[], &prompt, &completion),
        Err(AttributeError::Mismatch(_))
    ));
    let ckpt_dir = analysis.join("index_ckpt");
    let file = ckpt_dir.join("groups-ckpt-1.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[20] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    assert!(matches!(
        analyzer.open_index("ckpt", true),
        Err(AnalyzerError::Index(IndexError::CorruptShard { .. }))
    ));
    bytes[20] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    for name in ["adapter_model.safetensors", "adapter_config.json"] {
        std::fs::copy(
            run_dir.join("adapter").join(name),
            run_dir.join("checkpoints/epoch-1").join(name),
        )
        .unwrap();
    }
    assert!(matches!(
        ctx.index_checkpoints(&analyzer.open_index("ckpt", true).unwrap()),
        Err(ContextError::CheckpointMismatch { .. })
    ));

    // Another adapter's analyzer refuses these artifacts.
    let other = TrainableLora::init(&cfg, train_cfg.lora.clone(), 99);
    let stranger = Analyzer::new(&analysis, &model, &other, alloy_primitives::B256::repeat_byte(9));
    assert!(matches!(stranger.load_factors("ekfac"), Err(AnalyzerError::Fingerprint { .. })));
    assert!(matches!(stranger.open_index("main", true), Err(AnalyzerError::Fingerprint { .. })));
}

/// Pre-training a base model: the merged folder is a new base model (its own name, loadable by
/// the server's code) on which the pre-training texts cost fewer nats than on the random one.
#[test]
fn pretrained_base_model_has_learned_its_texts() {
    use attribution_engine::train::{PretrainConfig, evaluate, pretrain_base};
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    let (model, cfg) = tiny_model(&model_dir);
    let tokenizer = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json")).unwrap();
    let seqs: Vec<_> =
        examples(8).iter().map(|e| training_sequence(&tokenizer, &e.text, 32).unwrap()).collect();
    let out = tmp.path().join("pretrained");
    let pre = PretrainConfig { epochs: 3, lr: 1e-2, batch_size: 8, max_len: 32, seed: 1 };
    let report = pretrain_base(&model, &model_dir, &seqs, &pre, "tiny-pretrained", &out).unwrap();
    assert_eq!(report.epoch_losses.len(), 3);
    let merged_cfg = openlora_server::LlamaConfig::from_file(&out.join("config.json")).unwrap();
    assert_eq!(merged_cfg.name_or_path.as_deref(), Some("tiny-pretrained"));
    assert_eq!(merged_cfg.hidden_size, cfg.hidden_size);
    let merged = openlora_server::model::Llama::load(
        &out,
        &merged_cfg,
        None,
        tch::Kind::Float,
        tch::Device::Cpu,
    )
    .unwrap();
    // A zero adapter (B = 0 at init) leaves each model as it is.
    let plain = TrainableLora::init(
        &cfg,
        LoraConfig { rank: 2, alpha: 2.0, targets: ModuleKind::ALL.to_vec() },
        0,
    );
    let before: f64 = evaluate(&model, &plain, &seqs, 8).unwrap().iter().sum();
    let after: f64 = evaluate(&merged, &plain, &seqs, 8).unwrap().iter().sum();
    assert!(after < 0.9 * before, "pre-training lowered the loss: {before} -> {after}");
}
