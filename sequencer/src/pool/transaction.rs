//! The transaction abstraction the pool is generic over, and the pool's own record of a
//! transaction.

use alloy_primitives::{Address, B256, U256};
use std::sync::Arc;

/// A signed transaction whose sender has been recovered, as the pool sees it.
///
/// The node implements this for its recovered, signed transaction wrapper. Every method is
/// called once, when the transaction enters the pool, and the results are cached, so they may
/// do some work; `Clone` should be cheap, though (the pool clones
/// `T` when it hands a transaction out: [`Pool::get`](super::Pool::get), the
/// [`BestTransactions`](super::BestTransactions) iterator).
///
/// Stateless validity (signature, chain id, intrinsic gas, `max_priority_fee_per_gas <=
/// max_fee_per_gas`) is the caller's business and must be checked before
/// [`Pool::add`](super::Pool::add); the pool does the checks that need the sender's on-chain
/// state.
pub trait PoolTransaction: Clone + Send + Sync + 'static {
    /// The transaction hash.
    fn hash(&self) -> B256;
    /// The recovered sender.
    fn sender(&self) -> Address;
    /// The sender nonce the transaction uses.
    fn nonce(&self) -> u64;
    /// The gas limit.
    fn gas_limit(&self) -> u64;
    /// Legacy/EIP-2930: the gas price; EIP-1559/EIP-7702: `max_fee_per_gas`.
    fn max_fee_per_gas(&self) -> u128;
    /// `None` for legacy/EIP-2930 transactions (the whole gas price is the tip).
    fn max_priority_fee_per_gas(&self) -> Option<u128>;
    /// `value + gas_limit * max_fee_per_gas`: the most this transaction can take from the
    /// sender's balance.
    fn cost(&self) -> U256;
    /// The EIP-2718 encoded length in bytes.
    fn encoded_length(&self) -> usize;
}

/// A sender's account state at the head of the chain, as far as the pool needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SenderInfo {
    /// The account nonce: the nonce of the sender's next executable transaction.
    pub nonce: u64,
    /// The account balance in wei.
    pub balance: U256,
}

impl SenderInfo {
    /// Creates a new sender state.
    pub const fn new(nonce: u64, balance: U256) -> Self {
        Self { nonce, balance }
    }
}

/// A transaction inside the pool: the caller's `T` plus the values the pool orders and checks
/// by, computed once on entry.
#[derive(Debug)]
pub(crate) struct PooledTransaction<T> {
    /// The transaction itself.
    pub(crate) transaction: T,
    /// Cached [`PoolTransaction::hash`].
    pub(crate) hash: B256,
    /// Cached [`PoolTransaction::sender`].
    pub(crate) sender: Address,
    /// Cached [`PoolTransaction::nonce`].
    pub(crate) nonce: u64,
    /// Cached [`PoolTransaction::gas_limit`].
    pub(crate) gas_limit: u64,
    /// Cached [`PoolTransaction::max_fee_per_gas`].
    pub(crate) max_fee_per_gas: u128,
    /// The tip cap: `max_priority_fee_per_gas`, or the gas price for legacy/EIP-2930.
    pub(crate) max_priority_fee_per_gas: u128,
    /// Cached [`PoolTransaction::cost`].
    pub(crate) cost: U256,
    /// Cached [`PoolTransaction::encoded_length`].
    pub(crate) size: usize,
    /// The order in which the pool accepted transactions; breaks ties between equal tips
    /// (first come, first served). Set by the pool on insertion.
    pub(crate) submission_id: u64,
}

impl<T: PoolTransaction> PooledTransaction<T> {
    /// Reads and caches every value the pool needs from `transaction`.
    pub(crate) fn new(transaction: T, submission_id: u64) -> Self {
        let max_fee_per_gas = transaction.max_fee_per_gas();
        Self {
            hash: transaction.hash(),
            sender: transaction.sender(),
            nonce: transaction.nonce(),
            gas_limit: transaction.gas_limit(),
            max_fee_per_gas,
            max_priority_fee_per_gas: transaction
                .max_priority_fee_per_gas()
                .unwrap_or(max_fee_per_gas),
            cost: transaction.cost(),
            size: transaction.encoded_length(),
            submission_id,
            transaction,
        }
    }
}

impl<T> PooledTransaction<T> {
    /// The tip per gas the block producer earns at `base_fee`:
    /// `min(max_priority_fee, max_fee - base_fee)` (for legacy: `gas_price - base_fee`).
    ///
    /// `None` if `max_fee_per_gas < base_fee`: the transaction cannot be included.
    #[inline]
    pub(crate) fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        super::ordering::effective_tip(
            self.max_fee_per_gas,
            self.max_priority_fee_per_gas,
            base_fee,
        )
    }
}

/// Shared handle to a pooled transaction (cheap to clone into snapshots).
pub(crate) type PooledTx<T> = Arc<PooledTransaction<T>>;
