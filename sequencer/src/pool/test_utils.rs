//! A mock transaction for the pool's tests.

use super::transaction::PoolTransaction;
use alloy_primitives::{Address, B256, U256, keccak256};

/// 1 gwei.
pub(crate) const GWEI: u128 = 1_000_000_000;

/// A transaction with just the fields the pool reads. The hash is derived from every field,
/// so two mocks differing in anything have different hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MockTx {
    pub(crate) sender: Address,
    pub(crate) nonce: u64,
    pub(crate) gas_limit: u64,
    pub(crate) max_fee: u128,
    /// `None`: legacy (gas price = `max_fee`).
    pub(crate) tip: Option<u128>,
    pub(crate) value: U256,
    pub(crate) size: usize,
    /// Distinguishes otherwise equal transactions.
    pub(crate) salt: u64,
}

impl MockTx {
    /// An EIP-1559 transfer: 21,000 gas, 100 gwei fee cap, 1 gwei tip, no value.
    pub(crate) fn eip1559(sender: Address, nonce: u64) -> Self {
        Self {
            sender,
            nonce,
            gas_limit: 21_000,
            max_fee: 100 * GWEI,
            tip: Some(GWEI),
            value: U256::ZERO,
            size: 110,
            salt: 0,
        }
    }

    /// A legacy transfer at `gas_price`.
    pub(crate) fn legacy(sender: Address, nonce: u64, gas_price: u128) -> Self {
        Self { max_fee: gas_price, tip: None, ..Self::eip1559(sender, nonce) }
    }

    pub(crate) fn with_fees(mut self, max_fee: u128, tip: u128) -> Self {
        self.max_fee = max_fee;
        self.tip = Some(tip);
        self
    }

    pub(crate) fn with_tip(mut self, tip: u128) -> Self {
        self.tip = Some(tip);
        self
    }

    pub(crate) fn with_value(mut self, value: U256) -> Self {
        self.value = value;
        self
    }

    pub(crate) fn with_gas_limit(mut self, gas_limit: u64) -> Self {
        self.gas_limit = gas_limit;
        self
    }

    pub(crate) fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    pub(crate) fn with_salt(mut self, salt: u64) -> Self {
        self.salt = salt;
        self
    }
}

impl PoolTransaction for MockTx {
    fn hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(self.sender.as_slice());
        buf.extend_from_slice(&self.nonce.to_be_bytes());
        buf.extend_from_slice(&self.gas_limit.to_be_bytes());
        buf.extend_from_slice(&self.max_fee.to_be_bytes());
        buf.extend_from_slice(&self.tip.map_or(u128::MAX, |t| t).to_be_bytes());
        buf.extend_from_slice(&self.value.to_be_bytes::<32>());
        buf.extend_from_slice(&(self.size as u64).to_be_bytes());
        buf.extend_from_slice(&self.salt.to_be_bytes());
        keccak256(&buf)
    }

    fn sender(&self) -> Address {
        self.sender
    }

    fn nonce(&self) -> u64 {
        self.nonce
    }

    fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    fn max_fee_per_gas(&self) -> u128 {
        self.max_fee
    }

    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        self.tip
    }

    fn cost(&self) -> U256 {
        self.value + U256::from(self.gas_limit) * U256::from(self.max_fee)
    }

    fn encoded_length(&self) -> usize {
        self.size
    }
}

/// A deterministic address for test sender `i`.
pub(crate) fn addr(i: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[12..].copy_from_slice(&(i + 1).to_be_bytes());
    Address::from(bytes)
}

/// A balance that covers `n` default [`MockTx`]s (21,000 gas at 100 gwei).
pub(crate) fn balance_for(n: u64) -> U256 {
    U256::from(n) * U256::from(21_000u64) * U256::from(100 * GWEI)
}
