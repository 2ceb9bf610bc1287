//! Stateless validation of a raw transaction from `eth_sendRawTransaction`: everything that
//! depends on the transaction alone (size, encoding, type, chain id, signature, intrinsic gas,
//! fee fields, init code size). The checks that need the chain's state (nonce, balance, base
//! fee, replacement) are the pool's.
//!
//! The result, [`ValidTransaction`], carries the decoded transaction, its recovered sender and
//! its original bytes, and is what the pool holds and the block builder executes.

use crate::{
    pool::{PoolTransaction, config::DEFAULT_MAX_TX_SIZE as MAX_TX_SIZE_BYTES},
    primitives::{Transaction, TxType},
};
use alloy_consensus::{
    Transaction as _,
    transaction::{Recovered, SignerRecoverable},
};
use alloy_eips::{Decodable2718, Typed2718};
use alloy_primitives::{Address, B256, U256};
use revm::{context_interface::cfg::gas::calculate_initial_tx_gas, primitives::hardfork::SpecId};
use std::sync::Arc;

/// EIP-3860's limit on init code: twice the EIP-170 code size limit.
pub const MAX_INITCODE_SIZE: usize = 2 * 24_576;

/// Why a raw transaction was refused before reaching the pool. Each message is the one geth
/// answers, so that wallets and libraries recognise it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxValidationError {
    /// Larger than [`MAX_TX_SIZE_BYTES`].
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not an EIP-2718 transaction.
    #[error("failed to decode signed transaction: {0}")]
    Decode(String),
    /// Deposits (0x7E) and post-exec transactions come from the protocol, never from users.
    #[error("transaction type not supported: {0:#x}")]
    UnsupportedType(u8),
    /// The chain id is another chain's.
    #[error("invalid chain id: have {got}, want {expected}")]
    InvalidChainId {
        /// In the transaction.
        got: u64,
        /// This chain's.
        expected: u64,
    },
    /// A legacy transaction without EIP-155 replay protection.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    /// The signature does not recover to an address (or `s` is in the upper half).
    #[error("invalid signature")]
    InvalidSignature,
    /// The gas limit does not cover the intrinsic (or EIP-7623 floor) gas.
    #[error("intrinsic gas too low: have {gas_limit}, want {intrinsic}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// What it needs at least.
        intrinsic: u64,
    },
    /// The gas limit exceeds the block gas limit.
    #[error("exceeds block gas limit")]
    GasLimitExceedsBlock,
    /// `max_priority_fee_per_gas > max_fee_per_gas`.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// A contract creation with more than [`MAX_INITCODE_SIZE`] bytes of init code.
    #[error("max initcode size exceeded: code size {size}, limit {MAX_INITCODE_SIZE}")]
    InitcodeTooLarge {
        /// The init code size.
        size: usize,
    },
    /// An EIP-7702 transaction without authorizations, or one creating a contract.
    #[error("{0}")]
    InvalidSetCode(&'static str),
}

/// What stateless validation is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext {
    /// This chain's id.
    pub chain_id: u64,
    /// The block gas limit.
    pub block_gas_limit: u64,
    /// The EVM spec (for intrinsic gas).
    pub spec: SpecId,
}

/// A transaction that passed stateless validation: decoded, sender recovered, bytes kept.
/// Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct ValidTransaction(Arc<ValidInner>);

#[derive(Debug)]
struct ValidInner {
    tx: Recovered<Transaction>,
    hash: B256,
    encoded_len: usize,
    cost: U256,
}

impl ValidTransaction {
    /// The transaction with its sender.
    pub fn recovered(&self) -> &Recovered<Transaction> {
        &self.0.tx
    }

    /// The signed transaction.
    pub fn transaction(&self) -> &Transaction {
        self.0.tx.inner()
    }
}

impl PoolTransaction for ValidTransaction {
    fn hash(&self) -> B256 {
        self.0.hash
    }
    fn sender(&self) -> Address {
        self.0.tx.signer()
    }
    fn nonce(&self) -> u64 {
        self.0.tx.nonce()
    }
    fn gas_limit(&self) -> u64 {
        self.0.tx.gas_limit()
    }
    fn max_fee_per_gas(&self) -> u128 {
        self.0.tx.max_fee_per_gas()
    }
    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        self.0.tx.max_priority_fee_per_gas()
    }
    fn cost(&self) -> U256 {
        self.0.cost
    }
    fn encoded_length(&self) -> usize {
        self.0.encoded_len
    }
}

/// Decodes and checks a raw transaction; on success the sender is recovered.
pub fn validate_raw_transaction(
    raw: &[u8],
    ctx: &ValidationContext,
) -> Result<ValidTransaction, TxValidationError> {
    if raw.len() > MAX_TX_SIZE_BYTES {
        return Err(TxValidationError::Oversized { size: raw.len(), limit: MAX_TX_SIZE_BYTES });
    }
    let tx = Transaction::decode_2718_exact(raw)
        .map_err(|e| TxValidationError::Decode(e.to_string()))?;
    let recovered = validate_transaction(tx, ctx)?;
    let cost = U256::from(recovered.gas_limit())
        .saturating_mul(U256::from(recovered.max_fee_per_gas()))
        .saturating_add(recovered.value());
    Ok(ValidTransaction(Arc::new(ValidInner {
        hash: recovered.inner().tx_hash(),
        encoded_len: raw.len(),
        cost,
        tx: recovered,
    })))
}

/// The checks of [`validate_raw_transaction`] after decoding.
pub fn validate_transaction(
    tx: Transaction,
    ctx: &ValidationContext,
) -> Result<Recovered<Transaction>, TxValidationError> {
    match tx.tx_type() {
        TxType::Legacy | TxType::Eip2930 | TxType::Eip1559 | TxType::Eip7702 => {}
        other => return Err(TxValidationError::UnsupportedType(other as u8)),
    }
    match tx.chain_id() {
        Some(id) if id != ctx.chain_id => {
            return Err(TxValidationError::InvalidChainId { got: id, expected: ctx.chain_id });
        }
        Some(_) => {}
        None => return Err(TxValidationError::Unprotected),
    }
    if tx.gas_limit() > ctx.block_gas_limit {
        return Err(TxValidationError::GasLimitExceedsBlock);
    }
    if tx.max_priority_fee_per_gas().is_some_and(|tip| tip > tx.max_fee_per_gas()) {
        return Err(TxValidationError::TipAboveFeeCap);
    }
    let is_create = tx.kind().is_create();
    if is_create && tx.input().len() > MAX_INITCODE_SIZE {
        return Err(TxValidationError::InitcodeTooLarge { size: tx.input().len() });
    }
    if tx.is_eip7702() {
        if is_create {
            return Err(TxValidationError::InvalidSetCode(
                "set code transaction cannot create a contract",
            ));
        }
        if tx.authorization_list().is_none_or(|list| list.is_empty()) {
            return Err(TxValidationError::InvalidSetCode(
                "set code transaction with empty auth list",
            ));
        }
    }
    let (accounts, slots) = tx.access_list().map_or((0, 0), |list| {
        (list.len() as u64, list.iter().map(|item| item.storage_keys.len() as u64).sum())
    });
    let gas = calculate_initial_tx_gas(
        ctx.spec,
        tx.input(),
        is_create,
        accounts,
        slots,
        tx.authorization_list().map_or(0, |list| list.len() as u64),
    );
    let intrinsic = gas.initial_total_gas.max(gas.floor_gas);
    if tx.gas_limit() < intrinsic {
        return Err(TxValidationError::IntrinsicGasTooLow { gas_limit: tx.gas_limit(), intrinsic });
    }
    // The most expensive step: keep it last, after every cheap check.
    let signer = tx.recover_signer().map_err(|_| TxValidationError::InvalidSignature)?;
    Ok(Recovered::new_unchecked(tx, signer))
}

/// Recovers the senders of many transactions on all cores (rayon): what block import and
/// replay use, where recovery bounds throughput.
pub fn recover_senders(
    txs: Vec<Transaction>,
) -> Result<Vec<Recovered<Transaction>>, (usize, TxValidationError)> {
    use rayon::prelude::*;
    txs.into_par_iter()
        .enumerate()
        .map(|(index, tx)| {
            let signer = match &tx {
                Transaction::Deposit(deposit) => deposit.from,
                _ => {
                    tx.recover_signer().map_err(|_| (index, TxValidationError::InvalidSignature))?
                }
            };
            Ok(Recovered::new_unchecked(tx, signer))
        })
        .collect()
}
