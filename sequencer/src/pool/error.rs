//! Why the pool refused a transaction.
//!
//! Every [`PoolErrorKind`] displays as the message geth returns for the same case, so wallets
//! and libraries that match on geth's strings (MetaMask, ethers, viem, alloy, web3.py) recognise
//! them. The node should answer `eth_sendRawTransaction` with JSON-RPC error code
//! [`PoolError::rpc_code`] (`-32000`, as geth does) and the error's `Display` as the message.

use alloy_primitives::{Address, B256, U256};

/// Result type of pool operations.
pub type PoolResult<T> = Result<T, PoolError>;

/// JSON-RPC error code for a rejected transaction.
///
/// EIP-1474 reserves `-32000` for "invalid input", and geth answers every txpool rejection
/// (nonce, funds, fee, replacement, pool full, ...) with `-32000` and the error's message. The
/// alternative `-32003` ("transaction rejected") is not what geth sends, so clients rarely test
/// for it.
pub const TX_REJECTED_RPC_CODE: i32 = -32000;

/// A transaction the pool refused: which one, and why.
///
/// `Display` is the reason only (the geth message), so `err.to_string()` is the JSON-RPC error
/// message; the hash is in [`PoolError::hash`]. The reason is boxed to keep `Result`s small
/// (the balance variants carry three `U256`s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct PoolError {
    /// Hash of the refused transaction.
    pub hash: B256,
    /// Why it was refused.
    pub kind: Box<PoolErrorKind>,
}

impl PoolError {
    /// Creates an error for transaction `hash`.
    pub fn new(hash: B256, kind: PoolErrorKind) -> Self {
        Self { hash, kind: Box::new(kind) }
    }

    /// Why the transaction was refused.
    pub fn kind(&self) -> &PoolErrorKind {
        &self.kind
    }

    /// Whether the transaction itself is bad, whatever the chain's state: it can never become
    /// valid and the peer or client that keeps sending such transactions may be penalised.
    ///
    /// State- and policy-dependent refusals (nonce, balance, fees, a full pool) return
    /// `false`: they may be the result of a race with a new block.
    pub fn is_bad_transaction(&self) -> bool {
        self.kind.is_bad_transaction()
    }

    /// The JSON-RPC error code to answer with: always [`TX_REJECTED_RPC_CODE`] (`-32000`).
    pub const fn rpc_code(&self) -> i32 {
        TX_REJECTED_RPC_CODE
    }
}

/// The reasons the pool refuses a transaction. The `Display` of each is geth's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolErrorKind {
    /// A transaction with the same hash is already in the pool.
    #[error("already known")]
    AlreadyKnown,
    /// The encoded transaction is larger than the pool's per-transaction size limit.
    #[error("oversized data: transaction size {size}, limit {limit}")]
    OversizedData {
        /// The transaction's encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The transaction's gas limit is above the block gas limit: it can never be included.
    #[error("exceeds block gas limit")]
    ExceedsGasLimit {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// The block gas limit.
        block_gas_limit: u64,
    },
    /// The fee cap (gas price for legacy transactions) is below the current base fee.
    #[error(
        "max fee per gas less than block base fee: address {sender}, maxFeePerGas: {max_fee_per_gas}, baseFee: {base_fee}"
    )]
    FeeCapBelowBaseFee {
        /// The sender.
        sender: Address,
        /// The transaction's fee cap.
        max_fee_per_gas: u128,
        /// The base fee it was checked against.
        base_fee: u64,
    },
    /// The nonce is below the sender's on-chain nonce: that nonce has been used.
    #[error("nonce too low: next nonce {next_nonce}, tx nonce {tx_nonce}")]
    NonceTooLow {
        /// The sender's on-chain nonce.
        next_nonce: u64,
        /// The transaction's nonce.
        tx_nonce: u64,
    },
    /// The sender's balance does not cover the transaction's own cost
    /// (`value + gas_limit * max_fee_per_gas`).
    #[error(
        "insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {}",
        cost.saturating_sub(*balance)
    )]
    InsufficientFunds {
        /// The sender's balance.
        balance: U256,
        /// The transaction's cost.
        cost: U256,
    },
    /// A replacement of a pending transaction that would make the sender's pending
    /// transactions cost more than its balance.
    #[error(
        "insufficient funds for gas * price + value: balance {balance}, queued cost {queued_cost}, tx cost {cost}, overshot {}",
        queued_cost.saturating_add(*cost).saturating_sub(*balance)
    )]
    InsufficientFundsForPending {
        /// The sender's balance.
        balance: U256,
        /// The cost of the sender's other pending transactions.
        queued_cost: U256,
        /// The replacement's cost.
        cost: U256,
    },
    /// Another transaction with the same sender and nonce is pooled and this one does not pay
    /// at least the price bump more on both the fee cap and the tip cap.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced {
        /// Hash of the pooled transaction it tried to replace.
        existing: B256,
    },
    /// The sender already has the maximum number of transactions in the pool.
    #[error("account limit exceeded")]
    AccountLimitExceeded {
        /// The sender.
        sender: Address,
        /// The per-sender limit.
        limit: usize,
    },
    /// The pool is full and the transaction pays no more than the cheapest transaction that
    /// could be evicted for it.
    #[error("txpool is full")]
    PoolFull,
}

impl PoolErrorKind {
    /// See [`PoolError::is_bad_transaction`].
    pub const fn is_bad_transaction(&self) -> bool {
        match self {
            Self::OversizedData { .. } | Self::ExceedsGasLimit { .. } => true,
            Self::AlreadyKnown
            | Self::FeeCapBelowBaseFee { .. }
            | Self::NonceTooLow { .. }
            | Self::InsufficientFunds { .. }
            | Self::InsufficientFundsForPending { .. }
            | Self::ReplacementUnderpriced { .. }
            | Self::AccountLimitExceeded { .. }
            | Self::PoolFull => false,
        }
    }
}
