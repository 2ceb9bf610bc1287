//! `attribution-engine`: Datanet store, LoRA training with manifests, factors, gradient index
//! and attribution of inferences, from the command line.

use alloy_primitives::{Address, B256};
use attribution_engine::{
    FactorArgs, IndexArgs, LoraConfig, Manifest, Run, Strategy, TrainConfig,
    attribution::attribute,
    audit::{AuditOptions, CheckpointRows, audit},
    context::Context,
    data::{Example, training_sequence},
    datanet::{DatanetStore, Status},
};
use clap::{Args, Parser, Subcommand};
use openlora_server::{LlamaConfig, ModuleKind, model::Llama};
use std::{path::PathBuf, process::ExitCode};
use tch::{Device, Kind};

/// OpenLedger's attribution engine.
#[derive(Debug, Parser)]
#[command(name = "attribution-engine", version, about, verbatim_doc_comment)]
struct Cli {
    /// libtorch intra-op threads.
    #[arg(long, global = true, default_value_t = 1)]
    threads: i32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the Merkle root of a training manifest (`example_hash,contributor` per line).
    ManifestRoot {
        /// The manifest file.
        manifest: PathBuf,
    },
    /// The Datanet content store.
    #[command(subcommand)]
    Datanet(DatanetCommand),
    /// Fine-tunes a LoRA adapter on a snapshot of approved contributions; writes the run
    /// folder (PEFT adapter, checkpoints, manifest, examples) and prints run.json.
    Train(TrainArgs),
    /// Fits curvature factors on a run's training set (`<run>/analysis/factors_<name>`).
    FitFactors {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Artifact name.
        #[arg(long, default_value = "ekfac")]
        name: String,
        /// Strategy.
        #[arg(long, value_enum, default_value_t = Strategy::Ekfac)]
        strategy: Strategy,
        /// Damping as a fraction of the mean eigenvalue.
        #[arg(long, default_value_t = 0.1)]
        damping: f64,
        /// Replace an existing artifact.
        #[arg(long)]
        overwrite: bool,
    },
    /// Builds the gradient index of a run (`<run>/analysis/index_<name>`).
    BuildIndex {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Factors artifact to precondition with.
        #[arg(long, default_value = "ekfac")]
        factors: String,
        /// Index name.
        #[arg(long, default_value = "main")]
        name: String,
        /// Coordinates per example (0: no projection).
        #[arg(long, default_value_t = 1024)]
        projection_dim: usize,
        /// Rows per shard.
        #[arg(long, default_value_t = 65_536)]
        shard_rows: usize,
        /// Also keep the group sums at this many of the run's earlier checkpoints, evenly spaced
        /// and ending with the latest (factors of the same strategy fitted at each):
        /// contributors' totals then add up over them and the final adapter. Each costs a query
        /// one more gradient and group scan.
        #[arg(long, default_value_t = 0)]
        checkpoints: usize,
        /// Damping of the checkpoints' factors, as a fraction of the mean eigenvalue.
        #[arg(long, default_value_t = 0.1)]
        checkpoint_damping: f64,
        /// Replace an existing index.
        #[arg(long)]
        overwrite: bool,
    },
    /// Registers a run's adapter with its manifest root and Datanets in the ModelRegistry (or
    /// checks the registration there); prints the model id.
    RegisterModel(attribution_engine::registration::cli::RegisterModelArgs),
    /// Attribution receipts: the ledger worker, the API, one-off attribution.
    #[command(subcommand)]
    Receipts(attribution_engine::receipts::cli::ReceiptsCommand),
    /// Attributes one inference (prompt, completion) and prints the result as JSON.
    Attribute {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Index name.
        #[arg(long, default_value = "main")]
        index: String,
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// The completion the adapter gave.
        #[arg(long)]
        completion: String,
        /// Contributors, Datanets and examples to list.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
    },
    /// Data cleaning: scores every training example by its influence summed over a held-out
    /// validation set (clean text nobody trained on), lists the most negative share of them and
    /// every contributor's total, the most harmful first. For a per-example audit the index
    /// should be built with `--projection-dim 0` (projected rows rank examples only roughly).
    Audit {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Index name.
        #[arg(long, default_value = "main")]
        index: String,
        /// Validation text files, each split into passages at blank lines.
        #[arg(long, required = true, num_args = 1..)]
        validation: Vec<PathBuf>,
        /// The share of examples to flag, the most negative first.
        #[arg(long, default_value_t = 0.1)]
        share: f64,
        /// Also add every example's exact influence at this many of the run's earlier
        /// checkpoints (evenly spaced, the latest included; factors fitted under each and one
        /// gradient pass over the training set per checkpoint): TracIn's sum over checkpoints,
        /// the strongest ranking in the quality bench.
        #[arg(long, default_value_t = 0)]
        checkpoint_rows: usize,
        /// Damping of those checkpoints' factors, as a fraction of the mean eigenvalue.
        #[arg(long, default_value_t = 0.1)]
        checkpoint_damping: f64,
    },
}

#[derive(Debug, Subcommand)]
enum DatanetCommand {
    /// Stores contributions (each file one contribution, or each paragraph with --paragraphs).
    Add {
        /// The store folder.
        #[arg(long)]
        store: PathBuf,
        /// The Datanet.
        #[arg(long)]
        datanet: String,
        /// The contributor's address.
        #[arg(long)]
        contributor: Address,
        /// Split each file at blank lines.
        #[arg(long)]
        paragraphs: bool,
        /// Approve them at once (as the Datanet's curator).
        #[arg(long)]
        approve: bool,
        /// The files.
        files: Vec<PathBuf>,
    },
    /// Sets contributions' curation status.
    Curate {
        /// The store folder.
        #[arg(long)]
        store: PathBuf,
        /// The Datanet.
        #[arg(long)]
        datanet: String,
        /// The new status.
        #[arg(long, value_enum)]
        status: Status,
        /// Content hashes.
        hashes: Vec<B256>,
    },
    /// Lists a Datanet's contributions as JSON lines.
    List {
        /// The store folder.
        #[arg(long)]
        store: PathBuf,
        /// The Datanet.
        #[arg(long)]
        datanet: String,
    },
    /// Serves the store over HTTP (upload, read, curate, snapshot) until SIGINT or SIGTERM.
    Serve(attribution_engine::datanet_api::ServeArgs),
    /// Registers a Datanet's contributions on chain and mirrors their curation; prints a
    /// report (exit 1 if some could not be mirrored).
    Register(attribution_engine::registration::cli::RegisterArgs),
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// The base model folder (Hugging Face layout).
    #[arg(long)]
    model: PathBuf,
    /// The Datanet store.
    #[arg(long)]
    store: PathBuf,
    /// Datanets whose approved contributions form the training set.
    #[arg(long = "datanet", required = true)]
    datanets: Vec<String>,
    /// The run folder to write.
    #[arg(long)]
    out: PathBuf,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// LoRA alpha.
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    /// Target modules (PEFT names); all seven by default.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Learning rate (Adam).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Epochs.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Tokens per example.
    #[arg(long, default_value_t = 128)]
    max_len: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace an existing run.
    #[arg(long)]
    overwrite: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("attribution-engine: error: {err}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

fn json<T: serde::Serialize>(value: &T) -> Result<(), BoxError> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run(cli: Cli) -> Result<(), BoxError> {
    tch::set_num_threads(cli.threads.max(1));
    match cli.command {
        Command::ManifestRoot { manifest } => {
            let text = std::fs::read_to_string(&manifest)
                .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
            let manifest =
                Manifest::parse_csv(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
            println!("{}", manifest.root());
        }
        Command::Datanet(cmd) => datanet(cmd)?,
        Command::Train(args) => train(args)?,
        Command::FitFactors { run, name, strategy, damping, overwrite } => {
            let ctx = Context::open(&run, None)?;
            let train = ctx.train_sequences()?;
            let args = FactorArgs { strategy, damping_factor: damping, batch_size: 16 };
            let factors = ctx.analyzer(overwrite).fit_factors(&name, &train, &args)?;
            json(&serde_json::json!({
                "factors": name, "strategy": factors.strategy, "examples": factors.examples,
                "blocks": factors.blocks.len(), "fingerprint": ctx.fingerprint,
            }))?;
        }
        Command::BuildIndex {
            run,
            factors,
            name,
            projection_dim,
            shard_rows,
            checkpoints,
            checkpoint_damping,
            overwrite,
        } => {
            let ctx = Context::open(&run, None)?;
            let train = ctx.train_sequences()?;
            let analyzer = ctx.analyzer(overwrite);
            let f = analyzer.load_factors(&factors)?;
            let args = IndexArgs { projection_dim, shard_rows, ..IndexArgs::default() };
            let groups: Vec<_> = ctx.run.examples.iter().map(Example::group_key).collect();
            let start = std::time::Instant::now();
            let mut sums = Vec::new();
            if checkpoints > 0 {
                let factor_args = FactorArgs {
                    strategy: f.strategy,
                    damping_factor: checkpoint_damping,
                    batch_size: 16,
                };
                if f.strategy == Strategy::Datainf {
                    return Err("DataInf indexes keep no group sums, so no checkpoint sums".into());
                }
                for (adapter, adapter_id, lora) in ctx.earlier_checkpoints(checkpoints)? {
                    let at = analyzer.factors_at(&lora, &train, &factor_args)?;
                    let c = &lora;
                    sums.push(
                        analyzer
                            .checkpoint_sums(c, &at, adapter, adapter_id, &train, &groups, 16)?,
                    );
                }
            }
            let index = analyzer.build_index(
                &name,
                &factors,
                &f,
                &train,
                Some(&groups),
                sums,
                ctx.run.manifest.root(),
                &args,
            )?;
            let secs = start.elapsed().as_secs_f64();
            json(&serde_json::json!({
                "index": name, "root": index.root(), "rows": index.len(),
                "checkpoints": index.checkpoints().len(),
                "dim": index.header().dim, "shards": index.header().shards.len(),
                "bytes_per_example": index.header().bytes_per_row(),
                "examples_per_second": index.len() as f64 / secs.max(1e-9),
            }))?;
        }
        Command::RegisterModel(args) => {
            json(&attribution_engine::registration::cli::register_model(args)?)?;
        }
        Command::Receipts(cmd) => attribution_engine::receipts::cli::run(cmd)?,
        Command::Attribute { run, index, prompt, completion, top_k } => {
            let ctx = Context::open(&run, None)?;
            let analyzer = ctx.analyzer(false);
            let index = analyzer.open_index(&index, true)?;
            let checkpoints = ctx.index_checkpoints(&index)?;
            let result = attribute(
                &analyzer,
                &index,
                &checkpoints,
                &ctx.run.examples,
                &ctx.tokenizer,
                &prompt,
                &completion,
                ctx.run.info.config.max_len.max(ctx.cfg.max_position_embeddings),
                top_k,
            )?;
            json(&result)?;
        }
        Command::Audit { run, index, validation, share, checkpoint_rows, checkpoint_damping } => {
            let ctx = Context::open(&run, None)?;
            let mut passages = Vec::new();
            for file in &validation {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                for p in split_paragraphs(&text) {
                    let seq = training_sequence(&ctx.tokenizer, &p, ctx.run.info.config.max_len)
                        .map_err(|e| format!("{}: {e}", file.display()))?;
                    passages.push(seq);
                }
            }
            let analyzer = ctx.analyzer(false);
            let index = analyzer.open_index(&index, true)?;
            let checkpoints = ctx.index_checkpoints(&index)?;
            let adapters: Vec<_> = match checkpoint_rows {
                0 => vec![],
                n => ctx.earlier_checkpoints(n)?.into_iter().map(|(_, _, lora)| lora).collect(),
            };
            let train = if adapters.is_empty() { vec![] } else { ctx.train_sequences()? };
            let options = AuditOptions {
                share,
                checkpoint_rows: (!adapters.is_empty()).then(|| CheckpointRows {
                    adapters: &adapters,
                    train: &train,
                    factor_args: FactorArgs {
                        damping_factor: checkpoint_damping,
                        ..FactorArgs::default()
                    },
                }),
            };
            let examples = &ctx.run.examples;
            json(&audit(&analyzer, &index, &checkpoints, examples, &passages, &options)?)?;
        }
    }
    Ok(())
}

/// The non-empty paragraphs of `text` (separated by blank lines), trimmed.
fn split_paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

fn datanet(cmd: DatanetCommand) -> Result<(), BoxError> {
    match cmd {
        DatanetCommand::Add { store, datanet, contributor, paragraphs, approve, files } => {
            let store = DatanetStore::open(&store)?;
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                let parts = if paragraphs { split_paragraphs(&text) } else { vec![text] };
                for part in parts {
                    let mut c = store.add(&datanet, contributor, part.as_bytes())?;
                    if approve {
                        c = store.set_status(&datanet, c.hash, Status::Approved)?;
                    }
                    println!("{}", serde_json::to_string(&c)?);
                }
            }
        }
        DatanetCommand::Curate { store, datanet, status, hashes } => {
            let store = DatanetStore::open(&store)?;
            for hash in hashes {
                println!("{}", serde_json::to_string(&store.set_status(&datanet, hash, status)?)?);
            }
        }
        DatanetCommand::List { store, datanet } => {
            for c in DatanetStore::open(&store)?.list(&datanet)? {
                println!("{}", serde_json::to_string(&c)?);
            }
        }
        DatanetCommand::Serve(args) => attribution_engine::datanet_api::run_serve(args)?,
        DatanetCommand::Register(args) => {
            let report = attribution_engine::registration::cli::register(args)?;
            json(&report)?;
            if report.blocked() > 0 {
                return Err(
                    format!("{} contributions not mirrored on chain", report.blocked()).into()
                );
            }
        }
    }
    Ok(())
}

fn train(a: TrainArgs) -> Result<(), BoxError> {
    let store = DatanetStore::open(&a.store)?;
    let examples = store.snapshot(&a.datanets)?;
    if examples.is_empty() {
        return Err(format!("no approved contributions in {:?}", a.datanets).into());
    }
    let targets = if a.targets.is_empty() {
        ModuleKind::ALL.to_vec()
    } else {
        a.targets
            .iter()
            .map(|t| ModuleKind::from_name(t).ok_or_else(|| format!("unknown module {t}")))
            .collect::<Result<_, _>>()?
    };
    let cfg = LlamaConfig::from_file(&a.model.join("config.json"))?;
    let model = Llama::load(&a.model, &cfg, None, Kind::Float, Device::Cpu)?;
    let tokenizer = tokenizers::Tokenizer::from_file(a.model.join("tokenizer.json"))
        .map_err(|e| format!("tokenizer: {e}"))?;
    let train_cfg = TrainConfig {
        lora: LoraConfig { rank: a.rank, alpha: a.alpha, targets },
        lr: a.lr,
        epochs: a.epochs,
        batch_size: a.batch_size,
        max_len: a.max_len,
        seed: a.seed,
        weight_decay: 0.0,
    };
    let run = Run::train(&model, &a.model, &tokenizer, examples, &train_cfg, &a.out, a.overwrite)?;
    json(&run.info)
}
