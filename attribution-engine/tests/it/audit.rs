//! Data cleaning (`attribution_engine::audit`, `attribution-engine audit`): a contributor whose
//! text is garbled is flagged against clean validation text, and the audit's scores are the
//! exact influence summed over the validation set.

use crate::common::{contributor, examples, small_train_config, texts, tiny_model};
use attribution_engine::{
    Analyzer, FactorArgs, IndexArgs, Run, Strategy,
    attribution::{AttributeError, Totals},
    audit::{Audit, AuditOptions, CheckpointRows, audit},
    context::Context,
    data::{Example, training_sequence},
};
use rand::{SeedableRng, seq::SliceRandom};
use std::process::Command;

/// Each word's letters shuffled (the planted corruption of the quality bench).
fn garble(text: &str, rng: &mut rand_chacha::ChaCha8Rng) -> String {
    text.split(' ')
        .map(|w| {
            let mut letters: Vec<char> = w.chars().collect();
            letters.shuffle(rng);
            letters.into_iter().collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn audit_flags_a_garbled_contributor_with_the_exact_summed_influence() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("model");
    let (model, _) = tiny_model(&model_dir);
    let tokenizer = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json")).unwrap();
    // Contributor 3's 24 examples garbled; the others clean.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let examples: Vec<Example> = examples(24)
        .into_iter()
        .map(|e| match e.contributor == contributor(3) {
            true => Example::new(garble(&e.text, &mut rng), e.contributor, e.datanet.clone()),
            false => e,
        })
        .collect();
    let train_cfg = small_train_config(3);
    let run_dir = tmp.path().join("run");
    Run::train(&model, &model_dir, &tokenizer, examples, &train_cfg, &run_dir, false).unwrap();
    let ctx = Context::open(&run_dir, Some(&model_dir)).unwrap();
    let analyzer = ctx.analyzer(false);
    let train = ctx.train_sequences().unwrap();
    let args = FactorArgs { strategy: Strategy::Ekfac, damping_factor: 0.1, batch_size: 16 };
    analyzer.fit_factors("ekfac", &train, &args).unwrap();
    let factors = analyzer.load_factors("ekfac").unwrap();
    let groups: Vec<_> = ctx.run.examples.iter().map(|e| e.group_key()).collect();
    let build = |name: &str, projection_dim: usize| {
        let index_args =
            IndexArgs { projection_dim, projection_seed: 1, shard_rows: 64, batch_size: 16 };
        let root = ctx.run.manifest.root();
        analyzer
            .build_index(name, "ekfac", &factors, &train, Some(&groups), vec![], root, &index_args)
            .unwrap()
    };
    let (exact, projected) = (build("exact", 0), build("projected", 64));

    // Clean validation text of every contributor, drawn apart from the training text.
    let validation_texts: Vec<String> = (0..4).flat_map(|c| texts(c, 32, 12, 5)).collect();
    let validation: Vec<_> = validation_texts
        .iter()
        .map(|t| training_sequence(&tokenizer, t, train_cfg.max_len).unwrap())
        .collect();
    let examples = &ctx.run.examples;
    let quarter = AuditOptions { share: 0.25, checkpoint_rows: None };
    let result = audit(&analyzer, &exact, &[], examples, &validation, &quarter).unwrap();
    let garbled = |i: usize| examples[i].contributor == contributor(3);
    let found = result.flagged.iter().filter(|e| garbled(e.index)).count();
    eprintln!(
        "audit: {found}/24 garbled among the 24 flagged; contributors {:?}",
        result.contributors.iter().map(|c| (c.flagged, c.influence)).collect::<Vec<_>>()
    );
    assert_eq!((result.validation, result.flagged.len()), (128, 24));
    assert!(!result.projected_rows);
    // Unprojected rows are exact, so their sums are the totals (no group sums kept).
    assert_eq!(result.totals, Totals::ExampleRows);
    assert_eq!(result.contributors[0].contributor, contributor(3), "{result:#?}");
    // On this tiny random model the garbled contributor is the only one that hurts, and half or
    // more of its examples are flagged (a quarter would be chance; 15 here). The quality bench
    // measures the recall on real text.
    assert!(result.contributors[0].influence < 0.0, "{result:#?}");
    assert!(result.contributors[1..].iter().all(|c| c.influence > 0.0), "{result:#?}");
    assert!(found >= 12, "only {found} of the 24 garbled examples flagged: {result:#?}");

    // The scores are the exact EK-FAC influence on each validation passage, summed.
    let pairwise = analyzer
        .compute_pairwise_scores(None, &factors, &validation, &train, None, 16)
        .unwrap()
        .sum_dim_intlist(0, false, tch::Kind::Double);
    let summed = Vec::<f64>::try_from(pairwise).unwrap();
    let scale = summed.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for e in &result.flagged {
        assert!((e.score - summed[e.index]).abs() < 1e-3 * scale, "{e:?} vs {}", summed[e.index]);
    }
    let cutoff = result.flagged.iter().map(|e| e.score).fold(f64::MIN, f64::max);
    let unflagged_min = (0..summed.len())
        .filter(|i| !result.flagged.iter().any(|e| e.index == *i))
        .map(|i| summed[i])
        .fold(f64::MAX, f64::min);
    assert!(cutoff <= unflagged_min + 1e-3 * scale, "the flagged are the most negative");
    for c in &result.contributors {
        let want: f64 = (0..summed.len())
            .filter(|i| examples[*i].contributor == c.contributor)
            .map(|i| summed[i])
            .sum();
        assert!(
            (c.influence - want).abs() < 1e-2 * want.abs().max(1e-3 * scale),
            "{c:?} vs {want}"
        );
        assert_eq!(c.examples, 24);
    }

    // A projected index ranks examples by its approximate rows, says so, and keeps exact totals.
    let approx = audit(&analyzer, &projected, &[], examples, &validation, &quarter).unwrap();
    assert!(approx.projected_rows);
    assert_eq!(approx.totals, Totals::ExactGroupSums);
    assert_eq!(approx.index_root, projected.root());
    for (a, b) in approx.contributors.iter().zip(&result.contributors) {
        assert_eq!(a.contributor, b.contributor);
        assert!((a.influence - b.influence).abs() < 1e-2 * b.influence.abs().max(1e-3 * scale));
    }

    // Bad arguments: a clear error each.
    for (validation, share) in [
        (&validation[..0], 0.1),
        (&validation[..], 0.0),
        (&validation[..], 1.5),
        (&validation[..], f64::NAN),
    ] {
        let options = AuditOptions { share, checkpoint_rows: None };
        assert!(matches!(
            audit(&analyzer, &exact, &[], examples, validation, &options),
            Err(AttributeError::Invalid(_))
        ));
    }
    assert!(matches!(
        audit(&analyzer, &exact, &[], &examples[1..], &validation, &quarter),
        Err(AttributeError::Mismatch(_))
    ));

    // With the two earlier checkpoints' rows recomputed, the scores are the exact influence
    // summed over the validation passages and over the three adapters, each preconditioned
    // with factors fitted under it.
    let adapters: Vec<_> =
        ctx.earlier_checkpoints(usize::MAX).unwrap().into_iter().map(|c| c.2).collect();
    assert_eq!(adapters.len(), 2);
    let rows = CheckpointRows { adapters: &adapters, train: &train, factor_args: args.clone() };
    let summed_over = AuditOptions { share: 0.25, checkpoint_rows: Some(rows.clone()) };
    let tracin = audit(&analyzer, &exact, &[], examples, &validation, &summed_over).unwrap();
    assert_eq!(tracin.checkpoint_rows, 2);
    let tracin_found = tracin.flagged.iter().filter(|e| garbled(e.index)).count();
    eprintln!("audit with checkpoint rows: {tracin_found}/24 garbled among the 24 flagged");
    // Summing over checkpoints ranks better, as in the quality bench (19 against 15 here).
    assert!(tracin_found >= found, "{tracin_found} with checkpoint rows, {found} without");
    let mut want = summed.clone();
    for lora in &adapters {
        let f = analyzer.factors_at(lora, &train, &args).unwrap();
        let at = Analyzer::new(tmp.path().join("scratch"), &model, lora, ctx.fingerprint)
            .compute_pairwise_scores(None, &f, &validation, &train, None, 16)
            .unwrap()
            .sum_dim_intlist(0, false, tch::Kind::Double);
        want.iter_mut().zip(Vec::<f64>::try_from(at).unwrap()).for_each(|(w, a)| *w += a);
    }
    let (mut worst, mut worst_final) = (0f64, 0f64);
    let wscale = want.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for e in &tracin.flagged {
        worst = worst.max((e.score - want[e.index]).abs() / wscale);
        worst_final = worst_final.max((summed[e.index] - want[e.index]).abs() / wscale);
    }
    eprintln!(
        "checkpoint rows: off the exact sum by {worst:.1e}, the final adapter alone by {worst_final:.1e}"
    );
    assert!(worst < 1e-3, "checkpoint rows off by {worst:.2e}");
    assert!(worst_final > 10.0 * worst, "the checkpoints change nothing the test can see");
    let short = CheckpointRows { train: &train[1..], ..rows };
    let options = AuditOptions { share: 0.25, checkpoint_rows: Some(short) };
    assert!(matches!(
        audit(&analyzer, &exact, &[], examples, &validation, &options),
        Err(AttributeError::Mismatch(_))
    ));

    // The command line: the same audit from validation files, passages split at blank lines;
    // a passage too short to score is refused with its file named.
    let file = tmp.path().join("validation.txt");
    std::fs::write(&file, validation_texts.join("\n\n")).unwrap();
    let cli = |file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_attribution-engine"))
            .args(["audit", "--run"])
            .arg(&run_dir)
            .args(["--index", "exact", "--share", "0.25", "--checkpoint-rows", "2", "--validation"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = cli(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let from_cli: Audit = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_cli.checkpoint_rows, 2);
    assert_eq!(
        from_cli.flagged.iter().map(|e| e.index).collect::<Vec<_>>(),
        tracin.flagged.iter().map(|e| e.index).collect::<Vec<_>>()
    );
    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, format!("{}\n\nx", validation_texts[0])).unwrap();
    let out = cli(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.txt") && err.contains("fewer than two tokens"), "{err}");
}
