//! Speed benchmark of the attribution engine, on one core (`tch::set_num_threads(1)`, one
//! scanning thread):
//!
//! - query latency against 10,000 and 100,000 indexed examples: the scan of the memory-mapped
//!   f16 index, the scan of the exact per-(contributor, Datanet) sums at the adapter's full
//!   width (`--full-dim`, `--contributors`), and the aggregation into per-contributor and
//!   per-Datanet basis points (median and 90th percentile over warm queries), index bytes per
//!   example, open time with every shard hash checked; and the same with the group sums of
//!   `--checkpoints` earlier checkpoints scanned too (`build-index --checkpoints`);
//! - index build throughput from real gradients: a base model made by openlora-server's
//!   `make`, a LoRA adapter on all seven modules, EK-FAC factors, then per-example gradients,
//!   preconditioning, projection and f16 shards (examples/s), and the query gradient's cost.
//!
//! ```text
//! cargo bench -p attribution-engine --bench speed -- [--dim 1024] [--sizes 10000,100000]
//!     [--full-dim 16384] [--contributors 251] [--queries 30] [--build-examples 1024]
//!     [--size tiny|small] [--checkpoints 2] [--out DIR]
//! ```

use alloy_primitives::{Address, B256};
use attribution_engine::{
    Analyzer, FactorArgs, IndexArgs, LoraConfig, Strategy, TrainableLora,
    attribution::aggregate,
    data::{Example, Sequence, query_sequence, training_sequence},
    index::{GradientIndex, GroupKey, GroupSums, IndexParams, IndexWriter},
    projection::{ProjectionSpec, Projector},
};
use openlora_server::{MakeModel, ModelSize, ModuleKind, model::Llama};
use rand::{Rng, SeedableRng};
use std::{path::PathBuf, time::Instant};
use tch::{Device, Kind};

type Error = Box<dyn std::error::Error>;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Error> {
    let mut dim = 1024usize;
    // The tiny model's adapter in the build part below: r = 8 on 7 modules × 2 layers.
    let mut full_dim = 16_384usize;
    let mut contributors = 251usize;
    let mut sizes = vec![10_000usize, 100_000];
    let mut queries = 30usize;
    let mut build_examples = 1024usize;
    let mut checkpoints = 2usize;
    let mut size = ModelSize::Tiny;
    let mut out =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/attribution-bench/speed");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--dim" => dim = val()?.parse()?,
            "--full-dim" => full_dim = val()?.parse()?,
            "--contributors" => contributors = val()?.parse::<usize>()?.max(1),
            "--sizes" => sizes = val()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--queries" => queries = val()?.parse()?,
            "--build-examples" => build_examples = val()?.parse()?,
            "--checkpoints" => checkpoints = val()?.parse()?,
            "--size" => size = if val()? == "small" { ModelSize::Small } else { ModelSize::Tiny },
            "--out" => out = val()?.into(),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    tch::set_num_threads(1);
    std::fs::create_dir_all(&out)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);

    println!(
        "## query latency (one core), rows of {dim} coordinates, exact sums of {contributors} \
         contributors at {full_dim}"
    );
    // Contributor `c` gives to Datanet `c % 7`: one group per contributor.
    let example = |i: usize| Example {
        hash: B256::from(alloy_primitives::U256::from(i)),
        contributor: Address::with_last_byte((i % contributors) as u8),
        datanet: format!("d{}", (i % contributors) % 7),
        text: String::new(),
    };
    for &n in &sizes {
        let dir = out.join(format!("index-{n}"));
        let params = IndexParams {
            strategy: Strategy::Ekfac,
            factors: "synthetic".into(),
            projection: ProjectionSpec::new(0, vec![full_dim], dim),
            blocks: vec![],
            datainf_damping: vec![],
            fingerprint: B256::repeat_byte(1),
            manifest_root: B256::repeat_byte(2),
            shard_rows: 65_536,
        };
        let mut w = IndexWriter::create(&dir, params, true)?.with_groups(full_dim);
        // The group table's size, not how many rows were summed into it, is what a query
        // scans: one full-width row per group is enough to build it.
        let keys: Vec<GroupKey> =
            (0..contributors.min(n)).map(|i| example(i).group_key()).collect();
        let full: Vec<f32> =
            (0..keys.len() * full_dim).map(|_| rng.random::<f32>() - 0.5).collect();
        w.add_to_groups(&keys, &full)?;
        for c in 0..checkpoints {
            let mut sums = GroupSums::new(full_dim);
            let rows: Vec<f32> =
                (0..keys.len() * full_dim).map(|_| rng.random::<f32>() - 0.5).collect();
            sums.add(&keys, &rows)?;
            w.add_checkpoint(format!("checkpoints/epoch-{}", c + 1), B256::ZERO, sums)?;
        }
        let chunk_rows = 1000;
        let mut chunk = vec![0f32; chunk_rows * dim];
        let t = Instant::now();
        let mut written = 0;
        while written < n {
            let rows = chunk_rows.min(n - written);
            for v in chunk[..rows * dim].iter_mut() {
                *v = rng.random::<f32>() - 0.5;
            }
            w.push(&chunk[..rows * dim])?;
            written += rows;
        }
        w.finish()?;
        let write_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let index = GradientIndex::open(&dir, true)?;
        let open_s = t.elapsed().as_secs_f64();
        let examples: Vec<Example> = (0..n).map(example).collect();
        let (mut times, mut with_checkpoints) = (Vec::new(), Vec::new());
        for k in 0..queries + 3 {
            let q: Vec<f32> = (0..dim).map(|_| rng.random::<f32>() - 0.5).collect();
            let q_full: Vec<f32> = (0..full_dim).map(|_| rng.random::<f32>() - 0.5).collect();
            let t = Instant::now();
            let scores = index.scores(&q)?;
            let group_scores = index.group_scores(&q_full)?.ok_or("no group sums")?;
            let a = aggregate(
                &scores,
                &examples,
                index.groups().map(|g| (g, group_scores.as_slice())),
                Strategy::Ekfac,
                index.root(),
                B256::ZERO,
                B256::ZERO,
                10,
                0.0,
            );
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(a.contributors.top.len() <= 10);
            // The earlier checkpoints' sums, scanned with the same query (its gradient under
            // each checkpoint costs what the build part's "query gradient" says).
            let t = Instant::now();
            for c in 0..checkpoints {
                let at = index.checkpoint_group_scores(c, &q_full)?;
                assert_eq!(at.len(), group_scores.len());
            }
            let ckpt_ms = t.elapsed().as_secs_f64() * 1e3;
            if k >= 3 {
                times.push(ms);
                with_checkpoints.push(ms + ckpt_ms);
            }
        }
        let median = percentile(&mut times, 0.5);
        let p90 = percentile(&mut times, 0.9);
        let ckpt_median = percentile(&mut with_checkpoints, 0.5);
        println!(
            "{n:>8} examples: query {median:.1} ms median, {p90:.1} ms p90 (scans + per-contributor/Datanet bps); \
             {ckpt_median:.1} ms median with the sums of {checkpoints} earlier checkpoints scanned too; \
             {} bytes/example + {:.1} MB of group sums, {:.1} MB on disk; synthetic rows written at {:.0}/s; \
             open + verify {:.0} ms",
            index.header().bytes_per_row(),
            (index.disk_bytes() - n * index.header().bytes_per_row()) as f64 / 1e6,
            index.disk_bytes() as f64 / 1e6,
            n as f64 / write_s,
            open_s * 1e3
        );
    }

    println!("\n## index build from real gradients (one core), model {}", size.name());
    let model_dir = out.join(format!("model-{}", size.name()));
    let make = MakeModel::new(size);
    let cfg = if model_dir.join("config.json").exists() {
        openlora_server::LlamaConfig::from_file(&model_dir.join("config.json"))?
    } else {
        make.write(&model_dir)?
    };
    let model = Llama::load(&model_dir, &cfg, None, Kind::Float, Device::Cpu)?;
    let tok = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json"))
        .map_err(|e| e.to_string())?;
    let corpus: Vec<String> = make
        .corpus
        .iter()
        .flat_map(|d| d.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.len() > 40)
        .collect();
    let seqs: Vec<Sequence> = (0..build_examples)
        .filter_map(|i| {
            let text =
                format!("{} {}", corpus[i % corpus.len()], corpus[(i * 7 + 3) % corpus.len()]);
            training_sequence(&tok, &text, 64).ok()
        })
        .collect();
    let lora_cfg = LoraConfig { rank: 8, alpha: 16.0, targets: ModuleKind::ALL.to_vec() };
    let lora = TrainableLora::init(&cfg, lora_cfg, 3);
    // A trained-looking adapter: B nonzero.
    tch::no_grad(|| {
        for (i, p) in lora.parameters().iter().enumerate() {
            if i % 2 == 1 {
                p.shallow_clone().copy_(&(tch::Tensor::randn_like(p) * 0.02));
            }
        }
    });
    let analyzer = Analyzer::new(out.join("analysis"), &model, &lora, B256::repeat_byte(7))
        .with_overwrite(true);
    let t = Instant::now();
    let factors = analyzer.fit_factors("ekfac", &seqs, &FactorArgs::default())?;
    let fit_s = t.elapsed().as_secs_f64();
    let args = IndexArgs { projection_dim: dim, ..IndexArgs::default() };
    let t = Instant::now();
    let groups: Vec<GroupKey> = (0..seqs.len()).map(|i| example(i).group_key()).collect();
    let index = analyzer.build_index(
        "main",
        "ekfac",
        &factors,
        &seqs,
        Some(&groups),
        vec![],
        B256::ZERO,
        &args,
    )?;
    let build_s = t.elapsed().as_secs_f64();
    let projector = Projector::new(index.header().params.projection.clone());
    let query = query_sequence(
        &tok,
        "The attribution engine",
        " computes the influence of each example",
        64,
    )?;
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let _ = analyzer.query_rows(&query, &projector)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let tokens: usize = seqs.iter().map(|s| s.ids.len()).sum();
    println!(
        "{} examples ({} tokens, LoRA r=8 on 7 modules x {} layers = {} parameters, projected to {}): \
         EK-FAC factors {:.1} s ({:.0} examples/s over two passes), index build {:.1} s = {:.0} examples/s; \
         query gradient {:.1} ms median",
        seqs.len(),
        tokens,
        cfg.num_hidden_layers,
        lora.numel(),
        index.header().dim,
        fit_s,
        2.0 * seqs.len() as f64 / fit_s,
        build_s,
        seqs.len() as f64 / build_s,
        percentile(&mut times, 0.5)
    );
    Ok(())
}
