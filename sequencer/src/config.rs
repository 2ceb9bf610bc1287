//! Node configuration: a TOML file (every key optional, unknown keys refused) whose values the
//! command line can override. Defaults are the library's constants, so the file, the flags and
//! the code agree (see `sequencer/sequencer.example.toml`).

use crate::{l1::L1FeeParams, node::SEQUENCER_FEE_VAULT, pool::PoolConfig};
use alloy_primitives::Address;
use serde::Deserialize;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

/// Default L2 chain id of the devnet. Chosen to clash with no public network.
pub const DEFAULT_CHAIN_ID: u64 = 1_337_420;
/// Default data directory.
pub const DEFAULT_DATADIR: &str = "ol-data";
/// Default JSON-RPC listen address.
pub const DEFAULT_HTTP_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Default JSON-RPC port (HTTP and WebSocket share it unless `ws_port` is set).
pub const DEFAULT_HTTP_PORT: u16 = 8545;
/// Default limit on one HTTP request body, in bytes (a batch counts as one body).
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u32 = 10 * 1024 * 1024;
/// Default limit on the number of calls in one JSON-RPC batch.
pub const DEFAULT_MAX_BATCH_LEN: u32 = 1_000;
/// Default limit on concurrent HTTP and WebSocket connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1_000;
/// Default gas cap of `eth_call` and `eth_estimateGas` (geth's).
pub const DEFAULT_GAS_CAP: u64 = 50_000_000;
/// Default widest `eth_getLogs` block range.
pub const DEFAULT_MAX_LOG_BLOCK_RANGE: u64 = 10_000;
/// Default most logs in one `eth_getLogs` answer.
pub const DEFAULT_MAX_LOGS_PER_RESPONSE: usize = 20_000;
/// Default block time, in milliseconds.
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1_000;
/// Shortest block time accepted, in milliseconds.
pub const MIN_BLOCK_TIME_MS: u64 = 100;

/// Errors reading or checking the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file named on the command line.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file named on the command line.
        path: String,
        /// The parser's message, with line and column.
        source: toml::de::Error,
    },
    /// A value is out of its allowed range.
    #[error("invalid config value `{key}`: {reason}")]
    Invalid {
        /// The key, in TOML dotted form.
        key: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

/// The whole node configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequencerConfig {
    /// Where the database lives.
    pub datadir: PathBuf,
    /// Use the dev genesis (the test mnemonic's first ten accounts funded) when no genesis
    /// file is given.
    pub dev: bool,
    /// A geth-style genesis JSON file; its `config.chainId` is the chain id.
    pub genesis: Option<PathBuf>,
    /// The chain id of the dev genesis.
    pub chain_id: u64,
    /// Block production.
    pub block: BlockConfig,
    /// The transaction pool.
    pub pool: PoolSettings,
    /// The JSON-RPC server.
    pub rpc: RpcConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
}

/// Block production settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockConfig {
    /// Milliseconds between blocks (at least 100).
    pub time_ms: u64,
    /// Block gas limit; the genesis' `gasLimit` when unset.
    pub gas_limit: Option<u64>,
    /// Produce blocks without transactions (off: the chain only advances with work to do).
    pub empty_blocks: bool,
    /// Receives priority fees.
    pub fee_recipient: Address,
    /// L1-fee parameters written with every L1 info deposit (zero: no L1 data fee).
    pub l1_fees: L1FeeParams,
}

/// Pool limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Most executable transactions.
    pub max_pending: usize,
    /// Most transactions waiting for a nonce gap or funds.
    pub max_queued: usize,
    /// Most transactions of one sender.
    pub max_account_slots: usize,
    /// Minimum fee bump of a replacement, in percent.
    pub price_bump_percent: u128,
}

/// JSON-RPC server settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Listen address for HTTP and WebSocket.
    pub http_addr: IpAddr,
    /// HTTP port; WebSocket upgrades are served on it too.
    pub http_port: u16,
    /// A separate WebSocket port (also serving HTTP); none by default.
    pub ws_port: Option<u16>,
    /// Largest accepted request body, in bytes.
    pub max_request_body_bytes: u32,
    /// Largest accepted batch, in calls.
    pub max_batch_len: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// Gas cap of `eth_call` and `eth_estimateGas`.
    pub gas_cap: u64,
    /// Widest block range of one `eth_getLogs`.
    pub max_log_block_range: u64,
    /// Most logs in one `eth_getLogs` answer.
    pub max_logs_per_response: usize,
    /// Serve the `ol_` operator methods (the bridge's L1 origins and deposits); off by default.
    pub admin: bool,
}

/// Prometheus metrics settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address; off when unset.
    pub addr: Option<SocketAddr>,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            datadir: PathBuf::from(DEFAULT_DATADIR),
            dev: false,
            genesis: None,
            chain_id: DEFAULT_CHAIN_ID,
            block: BlockConfig::default(),
            pool: PoolSettings::default(),
            rpc: RpcConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for BlockConfig {
    fn default() -> Self {
        Self {
            time_ms: DEFAULT_BLOCK_TIME_MS,
            gas_limit: None,
            empty_blocks: false,
            fee_recipient: SEQUENCER_FEE_VAULT,
            l1_fees: L1FeeParams::default(),
        }
    }
}

impl Default for PoolSettings {
    fn default() -> Self {
        let pool = PoolConfig::default();
        Self {
            max_pending: pool.pending_limit.max_txs,
            max_queued: pool.queued_limit.max_txs,
            max_account_slots: pool.max_account_slots,
            price_bump_percent: pool.price_bump_percent,
        }
    }
}

impl PoolSettings {
    /// The pool configuration these settings give.
    pub fn pool_config(&self, block_gas_limit: u64) -> PoolConfig {
        let defaults = PoolConfig::default();
        PoolConfig::default()
            .with_pending_limit(crate::pool::config::SubPoolLimit::new(
                self.max_pending,
                defaults.pending_limit.max_bytes,
            ))
            .with_queued_limit(crate::pool::config::SubPoolLimit::new(
                self.max_queued,
                defaults.queued_limit.max_bytes,
            ))
            .with_max_account_slots(self.max_account_slots)
            .with_price_bump_percent(self.price_bump_percent)
            .with_max_tx_gas_limit(block_gas_limit)
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            http_addr: DEFAULT_HTTP_ADDR,
            http_port: DEFAULT_HTTP_PORT,
            ws_port: None,
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            max_batch_len: DEFAULT_MAX_BATCH_LEN,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            gas_cap: DEFAULT_GAS_CAP,
            max_log_block_range: DEFAULT_MAX_LOG_BLOCK_RANGE,
            max_logs_per_response: DEFAULT_MAX_LOGS_PER_RESPONSE,
            admin: false,
        }
    }
}

impl RpcConfig {
    /// The HTTP (and WebSocket) listen address.
    pub fn http_socket(&self) -> SocketAddr {
        SocketAddr::new(self.http_addr, self.http_port)
    }

    /// The separate WebSocket listen address, if one is configured and differs from HTTP's.
    pub fn ws_socket(&self) -> Option<SocketAddr> {
        self.ws_port.filter(|p| *p != self.http_port).map(|p| SocketAddr::new(self.http_addr, p))
    }
}

impl SequencerConfig {
    /// Parses a configuration from TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)
            .map_err(|source| ConfigError::Parse { path: origin.to_owned(), source })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: origin.clone(), source })?;
        Self::from_toml_str(&text, &origin)
    }

    /// Checks the values that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| Err(ConfigError::Invalid { key, reason: reason.into() });
        if self.chain_id == 0 {
            return invalid("chain_id", "must be non-zero");
        }
        if !self.dev && self.genesis.is_none() {
            return invalid(
                "genesis",
                "name a genesis file, or run with --dev for the dev genesis",
            );
        }
        if self.block.time_ms < MIN_BLOCK_TIME_MS {
            return Err(ConfigError::Invalid {
                key: "block.time_ms",
                reason: format!("must be at least {MIN_BLOCK_TIME_MS}"),
            });
        }
        if self.block.gas_limit.is_some_and(|g| g < 21_000) {
            return invalid("block.gas_limit", "must be at least 21000");
        }
        if self.pool.max_pending == 0 || self.pool.max_account_slots == 0 {
            return invalid("pool", "limits must be at least 1");
        }
        if self.rpc.max_batch_len == 0 {
            return invalid("rpc.max_batch_len", "must be at least 1");
        }
        if self.rpc.max_request_body_bytes < 1024 {
            return invalid("rpc.max_request_body_bytes", "must be at least 1024");
        }
        if self.rpc.max_log_block_range == 0 {
            return invalid("rpc.max_log_block_range", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_file_gives_defaults() {
        let config = SequencerConfig::from_toml_str("dev = true", "test").unwrap();
        assert_eq!(config, SequencerConfig { dev: true, ..SequencerConfig::default() });
    }

    #[test]
    fn values_are_read() {
        let config = SequencerConfig::from_toml_str(
            "dev = true\nchain_id = 42\n[rpc]\nhttp_addr = \"0.0.0.0\"\nhttp_port = 9000\nmax_batch_len = 7\n[block]\ntime_ms = 200\ngas_limit = 1000000000\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.chain_id, 42);
        assert_eq!(config.rpc.http_socket(), "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.rpc.max_batch_len, 7);
        assert_eq!(config.rpc.max_request_body_bytes, DEFAULT_MAX_REQUEST_BODY_BYTES);
        assert_eq!(config.block.time_ms, 200);
        assert_eq!(config.block.gas_limit, Some(1_000_000_000));
    }

    /// Malformed input gets an error that names the file and the problem.
    #[test]
    fn bad_files_are_refused_with_a_clear_error() {
        let table: &[(&str, &str)] = &[
            ("chain_id = ", "invalid config file cfg.toml"),
            ("dev = true\nchain_id = \"one\"", "invalid type"),
            ("chian_id = 5", "unknown field `chian_id`"),
            ("dev = true\n[rpc]\nhttp_addr = \"localhost\"", "invalid IP address"),
            ("chain_id = -1", "invalid config file"),
            ("dev = true\nchain_id = 0", "`chain_id`: must be non-zero"),
            ("chain_id = 5", "`genesis`"),
            ("dev = true\n[rpc]\nmax_batch_len = 0", "`rpc.max_batch_len`"),
            ("dev = true\n[rpc]\nmax_request_body_bytes = 10", "`rpc.max_request_body_bytes`"),
            ("dev = true\n[block]\ntime_ms = 50", "`block.time_ms`: must be at least 100"),
            ("dev = true\n[block]\ngas_limit = 5", "`block.gas_limit`"),
            ("dev = true\n[block]\nfee_recipient = \"0x12\"", "invalid"),
        ];
        for (text, expected) in table {
            let err = SequencerConfig::from_toml_str(text, "cfg.toml").unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: error {err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = SequencerConfig::load(Path::new("/nonexistent/ol.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ol.toml"), "{err}");
    }

    #[test]
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let text = include_str!("../sequencer.example.toml");
        let config = SequencerConfig::from_toml_str(text, "sequencer.example.toml").unwrap();
        assert_eq!(config, SequencerConfig { dev: true, ..SequencerConfig::default() });
    }
}
