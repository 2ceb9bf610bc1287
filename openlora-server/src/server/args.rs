//! The flags of `openlora-server serve`. A TOML file (`--config`, keys as in
//! [`ServerConfig`], kebab-case) gives the base; each flag given on the command line overrides
//! its key. Defaults come from the library's constants.

use crate::server::{ServeError, ServerConfig};
use clap::Args;
use std::{net::SocketAddr, path::PathBuf};

/// `openlora-server serve` flags.
#[derive(Debug, Clone, Default, Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The Hugging Face model folder (config.json, *.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR", help_heading = "Model")]
    pub model: Option<PathBuf>,
    /// A folder watched for adapter subfolders (PEFT: adapter_config.json +
    /// adapter_model.safetensors), added and removed at run time.
    #[arg(long, value_name = "DIR", help_heading = "Model")]
    pub adapters: Option<PathBuf>,
    /// Where uploaded adapters are written (default: kept in memory).
    #[arg(long, value_name = "DIR", help_heading = "Model")]
    pub adapter_store: Option<PathBuf>,

    /// Listen address [default: 127.0.0.1:8000].
    #[arg(long, value_name = "HOST:PORT", help_heading = "HTTP")]
    pub addr: Option<SocketAddr>,
    /// Bearer token required by POST /v1/adapters and DELETE /v1/adapters/{id}.
    #[arg(long, env = "OPENLORA_ADMIN_TOKEN", hide_env_values = true, help_heading = "HTTP")]
    pub admin_token: Option<String>,
    /// Largest inference request body, bytes [default: 4 MiB].
    #[arg(long, help_heading = "HTTP")]
    pub max_body_bytes: Option<usize>,
    /// Largest adapter upload, bytes [default: 512 MiB].
    #[arg(long, help_heading = "HTTP")]
    pub max_adapter_bytes: Option<usize>,

    /// The usage ledger: a SQLite file path or a postgres:// URL [default: openlora-ledger.db].
    #[arg(long, value_name = "PATH|URL", help_heading = "Payments")]
    pub ledger: Option<String>,
    /// Serve free (no voucher needed); inferences are still recorded in the ledger.
    #[arg(long, help_heading = "Payments")]
    pub no_payment: bool,
    /// The L2 JSON-RPC URL.
    #[arg(long, value_name = "URL", help_heading = "Payments")]
    pub l2_rpc: Option<String>,
    /// The L2 deployment: deployments/<network>/l2.json.
    #[arg(long, value_name = "FILE", help_heading = "Payments")]
    pub deployment: Option<PathBuf>,
    /// The server's private key (hex): vouchers name its address, and it redeems them.
    #[arg(long, env = "OPENLORA_SERVER_KEY", hide_env_values = true, help_heading = "Payments")]
    pub server_key: Option<String>,
    /// Seconds between redemption rounds [default: 60].
    #[arg(long, help_heading = "Payments")]
    pub redeem_interval_secs: Option<u64>,
    /// Channels owing fewer wei wait for a later round [default: 0].
    #[arg(long, help_heading = "Payments")]
    pub redeem_min_wei: Option<String>,
    /// Seconds that balances and model registrations read from the chain are reused
    /// [default: 10].
    #[arg(long, help_heading = "Payments")]
    pub chain_cache_secs: Option<u64>,

    /// Compute device: cpu, cuda or cuda:N [default: cpu].
    #[arg(long, help_heading = "Engine")]
    pub device: Option<String>,
    /// LoRA kernel: auto, bgmv, gather, grouped (cuda with the feature) [default: auto].
    #[arg(long, help_heading = "Engine")]
    pub backend: Option<String>,
    /// Device adapter slots [default: 32].
    #[arg(long, help_heading = "Engine")]
    pub max_loras: Option<usize>,
    /// Highest adapter rank accepted [default: 16].
    #[arg(long, help_heading = "Engine")]
    pub max_lora_rank: Option<usize>,
    /// Weight and activation dtype: f32, or bf16 (half the bytes; on CPUs with AVX512-BF16 or
    /// AMX the batched matmuls run about twice as fast) [default: f32].
    #[arg(long, help_heading = "Engine")]
    pub dtype: Option<String>,
    /// How device slots store adapters: model (the model's dtype), bf16 (half the bytes each
    /// row's LoRA reads; adapters rounded to bf16) or f32 [default: model].
    #[arg(long, help_heading = "Engine")]
    pub lora_dtype: Option<String>,
    /// Most sequences in the running batch [default: 32].
    #[arg(long, help_heading = "Engine")]
    pub max_batch: Option<usize>,
    /// Most tokens in one step [default: 2048].
    #[arg(long, help_heading = "Engine")]
    pub max_batched_tokens: Option<usize>,
    /// Host-memory adapter cache, MiB [default: 1024].
    #[arg(long, help_heading = "Engine")]
    pub host_cache_mib: Option<usize>,
    /// KV-cache size in tokens [default: max-batch full contexts].
    #[arg(long, help_heading = "Engine")]
    pub kv_cache_tokens: Option<usize>,
    /// libtorch intra-op threads [default: libtorch's].
    #[arg(long, help_heading = "Engine")]
    pub threads: Option<i32>,
    /// How often the adapter folder is scanned, ms [default: 500].
    #[arg(long, help_heading = "Engine")]
    pub watch_interval_ms: Option<u64>,
}

impl ServeArgs {
    /// The config file (if any) with the flags given on top.
    pub fn into_config(self) -> Result<ServerConfig, ServeError> {
        let mut c = match &self.config {
            Some(path) => ServerConfig::from_toml_file(path)?,
            None => ServerConfig::default(),
        };
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field { c.$field = v; }
            )*};
        }
        macro_rules! take_opt {
            ($($field:ident),*) => {$(
                if self.$field.is_some() { c.$field = self.$field; }
            )*};
        }
        take_opt!(model, adapters, adapter_store, admin_token, l2_rpc, deployment, server_key);
        take_opt!(kv_cache_tokens, threads);
        take!(addr, max_body_bytes, max_adapter_bytes, ledger, redeem_interval_secs);
        take!(redeem_min_wei, chain_cache_secs, device, backend, max_loras, max_lora_rank);
        take!(max_batch, max_batched_tokens, host_cache_mib, watch_interval_ms, lora_dtype, dtype);
        if self.no_payment {
            c.no_payment = true;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(
            &file,
            "model = \"/models/a\"\naddr = \"0.0.0.0:9000\"\nledger = \"postgres://x@y/z\"\n\
             max-batch = 8\nno-payment = true\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "x",
            "--config",
            file.to_str().unwrap(),
            "--addr",
            "127.0.0.1:7000",
            "--max-loras",
            "4",
            "--lora-dtype",
            "bf16",
            "--dtype",
            "bf16",
        ]);
        let c = cli.serve.into_config().unwrap();
        assert_eq!(c.model, Some(PathBuf::from("/models/a")));
        assert_eq!(c.addr, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.ledger, "postgres://x@y/z");
        assert_eq!((c.max_batch, c.max_loras), (8, 4));
        assert!(c.no_payment);
        assert_eq!(c.device, "cpu");
        assert_eq!(c.engine_config().unwrap().lora_dtype, Some(tch::Kind::BFloat16));
        assert_eq!(c.engine_config().unwrap().dtype, tch::Kind::BFloat16);
        let default = ServerConfig::new("/m").engine_config().unwrap();
        assert_eq!(default.lora_dtype, None, "slots in the model's dtype unless asked");
        assert_eq!(default.dtype, tch::Kind::Float);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(&file, "modle = \"/models/a\"\n").unwrap();
        let err = ServerConfig::from_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("modle"), "{err}");
        let c = ServerConfig { backend: "fast".into(), ..ServerConfig::new("/m") };
        assert!(c.engine_config().unwrap_err().to_string().contains("fast"));
        let c = ServerConfig { lora_dtype: "fp8".into(), ..ServerConfig::new("/m") };
        assert!(c.engine_config().unwrap_err().to_string().contains("lora-dtype `fp8`"));
        let c = ServerConfig { dtype: "f16".into(), ..ServerConfig::new("/m") };
        assert!(c.engine_config().unwrap_err().to_string().contains("dtype `f16`"));
        assert!(
            ServerConfig::default().engine_config().unwrap_err().to_string().contains("--model")
        );
    }
}
