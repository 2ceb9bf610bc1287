//! `openlora-server`: the multi-adapter LoRA inference sidecar.

use clap::{Parser, Subcommand};
use openlora_server::{
    BackendKind, DeviceInfo, Engine, EngineConfig, GenerateRequest, LoraWeights, MakeModel,
    ModelSize, ModuleKind, Prompt, RandomAdapter, SamplingParams,
    config::LlamaConfig,
    device::parse_device,
    server::{Server, args::ServeArgs},
};
use std::{path::PathBuf, process::ExitCode};
use tch::{Kind, Tensor};
use tracing_subscriber::EnvFilter;

/// OpenLoRA: many LoRA adapters over one base model, batched, OpenAI-compatible.
#[derive(Debug, Parser)]
#[command(name = "openlora-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the OpenAI-compatible API: completions and chat (SSE streaming), models, adapter
    /// upload and removal, /health, /metrics; paid per inference with EIP-712 vouchers (unless
    /// --no-payment), every inference recorded in the usage ledger.
    Serve(Box<ServeArgs>),
    /// Reports the libtorch build, the devices it sees, and (with the `cuda` feature) whether
    /// the CUDA kernels can run; then checks one LoRA forward on the chosen device.
    Info {
        /// Device for the check: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Creates a small Llama model folder in Hugging Face's layout (config.json, safetensors,
    /// tokenizer.json) with seeded random weights and a BPE tokenizer trained on real text.
    MakeModel {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Size preset.
        #[arg(long, value_enum, default_value = "tiny")]
        size: ModelSize,
        /// Seed of the weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Safetensors shards (default: 1 for tiny, 2 for small).
        #[arg(long)]
        shards: Option<usize>,
        /// Text files to train the tokenizer on (default: the project's own documentation).
        #[arg(long = "corpus")]
        corpus: Vec<PathBuf>,
    },
    /// Creates random PEFT LoRA adapters for a model folder, one subfolder each, and prints
    /// each adapter's id (keccak-256 of its adapter_model.safetensors).
    MakeAdapters {
        /// The model folder.
        #[arg(long)]
        model: PathBuf,
        /// Output folder (adapters go to OUT/adapter-NNNN).
        #[arg(long)]
        out: PathBuf,
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Rank.
        #[arg(long, default_value_t = 8)]
        rank: usize,
        /// lora_alpha (default: 2 × rank).
        #[arg(long)]
        alpha: Option<f64>,
        /// Target modules, comma-separated PEFT names.
        #[arg(long, value_delimiter = ',', default_value = "q_proj,k_proj,v_proj,o_proj")]
        targets: Vec<String>,
        /// Seed of the first adapter (the i-th uses seed + i).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Runs one prompt through the engine (optionally with an adapter folder) and prints the
    /// completion and its usage.
    Generate {
        /// The model folder.
        #[arg(long)]
        model: PathBuf,
        /// An adapter folder.
        #[arg(long)]
        adapter: Option<PathBuf>,
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// Most tokens to generate.
        #[arg(long, default_value_t = 32)]
        max_tokens: usize,
        /// 0 for greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Nucleus sampling mass.
        #[arg(long, default_value_t = 1.0)]
        top_p: f32,
        /// Sampler seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Stop sequences.
        #[arg(long)]
        stop: Vec<String>,
        /// LoRA kernel.
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendKind,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("openlora-server: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.into_config()?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async {
                let server = Server::start(config).await?;
                server.run_until_signal().await;
                Ok::<_, Box<dyn std::error::Error>>(())
            })
        }
        Command::Info { device } => {
            let info = DeviceInfo::detect();
            println!(
                "libtorch: cuda devices {}, intra-op threads {}",
                info.cuda_devices, info.threads
            );
            #[cfg(feature = "cuda")]
            match openlora_server::cuda::CudaRuntime::open(0) {
                Ok(_) => println!("cuda kernels: compiled and loaded on GPU 0"),
                Err(err) => println!("cuda kernels: {err}"),
            }
            let device = parse_device(&device)?;
            let opts = (Kind::Float, device);
            let (x, w) = (Tensor::randn([4, 64], opts), Tensor::randn([32, 64], opts));
            let lora =
                LoraWeights::new(Tensor::randn([8, 64], opts), Tensor::randn([32, 8], opts), 16.0)?;
            let diff = (lora.forward(&x, &w)? - x.matmul(&lora.merged(&w).tr()))
                .abs()
                .max()
                .double_value(&[]);
            println!("lora forward on {device:?}: max |unmerged - merged| = {diff:.2e}");
            Ok(())
        }
        Command::MakeModel { out, size, seed, shards, corpus } => {
            let mut make = MakeModel::new(size);
            make.seed = seed;
            if let Some(shards) = shards {
                make.shards = shards;
            }
            if !corpus.is_empty() {
                make.corpus = corpus
                    .iter()
                    .map(|p| {
                        std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
                    })
                    .collect::<Result<_, _>>()?;
            }
            let cfg = make.write(&out)?;
            println!(
                "{}: {} layers, hidden {}, {} heads ({} KV), vocab {}, context {}",
                out.display(),
                cfg.num_hidden_layers,
                cfg.hidden_size,
                cfg.num_attention_heads,
                cfg.kv_heads(),
                cfg.vocab_size,
                cfg.max_position_embeddings
            );
            Ok(())
        }
        Command::MakeAdapters { model, out, count, rank, alpha, targets, seed } => {
            let cfg = LlamaConfig::from_file(&model.join("config.json"))?;
            let modules = targets
                .iter()
                .map(|t| {
                    ModuleKind::from_name(t.trim())
                        .ok_or_else(|| format!("unknown target module `{t}`"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for i in 0..count {
                let adapter = RandomAdapter {
                    rank,
                    alpha: alpha.unwrap_or(2.0 * rank as f64),
                    modules: modules.clone(),
                    base_model: cfg.name_or_path.clone(),
                    seed: seed + i as u64,
                    b_std: 0.05,
                };
                let dir = out.join(format!("adapter-{i:04}"));
                let id = adapter.write(&cfg, &dir)?;
                println!("{id} {}", dir.display());
            }
            Ok(())
        }
        Command::Generate {
            model,
            adapter,
            prompt,
            max_tokens,
            temperature,
            top_p,
            seed,
            stop,
            backend,
        } => {
            let mut cfg = EngineConfig::new(&model);
            cfg.backend = backend;
            cfg.max_batch = 4;
            let engine = Engine::start(cfg)?;
            let adapter = match adapter {
                Some(dir) => Some(engine.add_adapter_dir(&dir)?.id),
                None => None,
            };
            let params =
                SamplingParams { max_tokens, temperature, top_p, seed, stop, ignore_eos: false };
            let done = engine
                .submit(GenerateRequest { adapter, prompt: Prompt::Text(prompt), params })?
                .collect_blocking()?;
            println!("{}", done.text);
            eprintln!(
                "finish: {:?}, prompt tokens {}, completion tokens {}, ttft {:.1} ms",
                done.finish_reason,
                done.usage.prompt_tokens,
                done.usage.completion_tokens,
                done.ttft_ms
            );
            engine.shutdown();
            Ok(())
        }
    }
}
