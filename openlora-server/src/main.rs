//! `openlora-server`: the multi-adapter LoRA inference sidecar.

use clap::{Parser, Subcommand};
use openlora_server::{DeviceInfo, LoraWeights, device::parse_device};
use std::process::ExitCode;
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
    /// Reports the libtorch build, the devices it sees, and (with the `cuda` feature) whether
    /// the CUDA kernels can run; then checks one LoRA forward on the chosen device.
    Info {
        /// Device for the check: cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
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
    }
}
