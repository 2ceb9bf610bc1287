//! Every JSON-RPC error the `eth_` API answers, and its one conversion to the wire
//! (EIP-1474 codes, geth's messages, revert data in `data`).

use crate::{node::NodeError, pool::PoolError, storage::StoreError, validate::TxValidationError};
use alloy_primitives::Bytes;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};

/// EIP-1474: invalid method parameters.
pub const INVALID_PARAMS_CODE: i32 = -32602;
/// EIP-1474: internal JSON-RPC error.
pub const INTERNAL_ERROR_CODE: i32 = -32603;
/// geth's generic server error (used for transaction rejections and missing blocks).
pub const SERVER_ERROR_CODE: i32 = -32000;
/// EIP-1474: limit exceeded (a log query over too many blocks).
pub const LIMIT_EXCEEDED_CODE: i32 = -32005;
/// geth's code for a call that reverted; `data` holds the revert bytes.
pub const EXECUTION_REVERTED_CODE: i32 = 3;

/// An `eth_` API failure.
#[derive(Debug, thiserror::Error)]
pub enum EthRpcError {
    /// The raw transaction failed stateless validation.
    #[error(transparent)]
    InvalidTransaction(#[from] TxValidationError),
    /// The pool refused the transaction.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The requested block is not known.
    #[error("header not found")]
    HeaderNotFound,
    /// Bad parameters that deserialisation could not catch.
    #[error("{0}")]
    InvalidParams(String),
    /// A call reverted.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// The decoded `Error(string)` reason, if any.
        reason: Option<String>,
        /// The raw revert data.
        data: Bytes,
    },
    /// A call halted (out of gas, invalid opcode, ...).
    #[error("{0}")]
    Halted(String),
    /// A call could not start (nonce, funds, fee checks).
    #[error("{0}")]
    CallInvalid(String),
    /// `eth_estimateGas` found no gas limit under the cap that succeeds.
    #[error("gas required exceeds allowance ({0})")]
    GasRequiredExceedsAllowance(u64),
    /// A log query spans more blocks than allowed.
    #[error("query exceeds max block range {max}")]
    LogRangeTooLarge {
        /// The limit.
        max: u64,
    },
    /// A log query returns more logs than allowed.
    #[error("query returned more than {max} results")]
    TooManyLogs {
        /// The limit.
        max: usize,
    },
    /// The database failed.
    #[error("internal error: {0}")]
    Store(#[from] StoreError),
    /// Something else failed inside the node.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<NodeError> for EthRpcError {
    fn from(err: NodeError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<EthRpcError> for ErrorObjectOwned {
    fn from(err: EthRpcError) -> Self {
        let message = err.to_string();
        match err {
            EthRpcError::InvalidTransaction(TxValidationError::Decode(_))
            | EthRpcError::InvalidParams(_) => {
                ErrorObject::owned(INVALID_PARAMS_CODE, message, None::<()>)
            }
            EthRpcError::Reverted { data, .. } => {
                ErrorObject::owned(EXECUTION_REVERTED_CODE, message, Some(data))
            }
            EthRpcError::LogRangeTooLarge { .. } | EthRpcError::TooManyLogs { .. } => {
                ErrorObject::owned(LIMIT_EXCEEDED_CODE, message, None::<()>)
            }
            EthRpcError::Store(_) | EthRpcError::Internal(_) => {
                tracing::error!(target: "rpc", %message, "internal error answering a call");
                ErrorObject::owned(INTERNAL_ERROR_CODE, message, None::<()>)
            }
            EthRpcError::Pool(ref pool) => ErrorObject::owned(pool.rpc_code(), message, None::<()>),
            EthRpcError::InvalidTransaction(_)
            | EthRpcError::HeaderNotFound
            | EthRpcError::Halted(_)
            | EthRpcError::CallInvalid(_)
            | EthRpcError::GasRequiredExceedsAllowance(_) => {
                ErrorObject::owned(SERVER_ERROR_CODE, message, None::<()>)
            }
        }
    }
}

/// The result type of the `eth_` API implementation.
pub type EthResult<T> = Result<T, EthRpcError>;
