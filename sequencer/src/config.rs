//! Node configuration: a TOML file (every key optional, unknown keys refused) whose values the
//! command line can override.

use serde::Deserialize;
use std::{net::SocketAddr, path::Path};

/// Default L2 chain id of the devnet. Chosen to clash with no public network.
pub const DEFAULT_CHAIN_ID: u64 = 1_337_420;
/// Default JSON-RPC listen address (HTTP and WebSocket share it).
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:8545";
/// Default limit on one HTTP request body, in bytes (a batch counts as one body).
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u32 = 10 * 1024 * 1024;
/// Default limit on the number of calls in one JSON-RPC batch.
pub const DEFAULT_MAX_BATCH_LEN: u32 = 1_000;
/// Default limit on concurrent HTTP and WebSocket connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1_000;

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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SequencerConfig {
    /// The L2 chain id (EIP-155), answered by `eth_chainId` and checked in signed transactions.
    pub chain_id: u64,
    /// The JSON-RPC server.
    pub rpc: RpcConfig,
}

/// JSON-RPC server settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Listen address for HTTP and WebSocket.
    pub addr: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub max_request_body_bytes: u32,
    /// Largest accepted batch, in calls.
    pub max_batch_len: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self { chain_id: DEFAULT_CHAIN_ID, rpc: RpcConfig::default() }
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_RPC_ADDR.parse().expect("the default address is a valid socket address"),
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            max_batch_len: DEFAULT_MAX_BATCH_LEN,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
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
        if self.chain_id == 0 {
            return Err(ConfigError::Invalid {
                key: "chain_id",
                reason: "must be non-zero".into(),
            });
        }
        if self.rpc.max_batch_len == 0 {
            return Err(ConfigError::Invalid {
                key: "rpc.max_batch_len",
                reason: "must be at least 1".into(),
            });
        }
        if self.rpc.max_request_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "rpc.max_request_body_bytes",
                reason: "must be at least 1024".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = SequencerConfig::from_toml_str("", "test").unwrap();
        assert_eq!(config, SequencerConfig::default());
    }

    #[test]
    fn values_are_read() {
        let config = SequencerConfig::from_toml_str(
            "chain_id = 42\n[rpc]\naddr = \"0.0.0.0:9000\"\nmax_batch_len = 7\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.chain_id, 42);
        assert_eq!(config.rpc.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.rpc.max_batch_len, 7);
        assert_eq!(config.rpc.max_request_body_bytes, DEFAULT_MAX_REQUEST_BODY_BYTES);
    }

    /// Malformed input gets an error that names the file and the problem.
    #[test]
    fn bad_files_are_refused_with_a_clear_error() {
        let table: &[(&str, &str)] = &[
            ("chain_id = ", "invalid config file cfg.toml"),
            ("chain_id = \"one\"", "invalid type"),
            ("chian_id = 5", "unknown field `chian_id`"),
            ("[rpc]\naddr = \"localhost\"", "invalid socket address"),
            ("chain_id = -1", "invalid config file"),
            ("chain_id = 0", "`chain_id`: must be non-zero"),
            ("[rpc]\nmax_batch_len = 0", "`rpc.max_batch_len`"),
            ("[rpc]\nmax_request_body_bytes = 10", "`rpc.max_request_body_bytes`"),
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
}
