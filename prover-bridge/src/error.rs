//! The bridge's errors, each naming what it was doing.

/// Errors of the bridge's parts.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A configuration or deployments file is missing or invalid.
    #[error("{0}")]
    Config(String),
    /// An RPC call to L1 or L2 failed (network, node error).
    #[error("{what}: {source}")]
    Rpc {
        /// What was asked.
        what: String,
        /// The transport or JSON-RPC error.
        source: alloy::transports::TransportError,
    },
    /// A contract call reverted or a transaction failed.
    #[error("{0}")]
    Contract(String),
    /// A contract call would revert; `data` is the revert data (a custom error).
    #[error("{call} on {to} reverts with {data}")]
    Reverted {
        /// The function.
        call: &'static str,
        /// The contract.
        to: alloy_primitives::Address,
        /// The revert data.
        data: alloy_primitives::Bytes,
    },
    /// The progress store failed.
    #[error("progress store: {0}")]
    Store(String),
    /// The sequencer refused what the bridge handed it.
    #[error("the sequencer refused {what}: {message}")]
    Sequencer {
        /// What was handed over.
        what: String,
        /// Its message.
        message: String,
    },
    /// Data read from a chain does not have the expected shape.
    #[error("{0}")]
    Decode(String),
}

impl BridgeError {
    /// Wraps a transport error with what was being done.
    pub fn rpc(what: impl Into<String>) -> impl FnOnce(alloy::transports::TransportError) -> Self {
        let what = what.into();
        move |source| Self::Rpc { what, source }
    }
}

macro_rules! store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for BridgeError {
            fn from(e: $t) -> Self {
                Self::Store(e.to_string())
            }
        }
    )*};
}
store_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A `Result` with [`BridgeError`].
pub type BridgeResult<T> = Result<T, BridgeError>;
