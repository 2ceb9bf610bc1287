//! Key and value layouts of the tables. Keys are big-endian so that redb's byte order is the
//! numeric order, and an address or slot prefix selects a contiguous range.

use super::{AccountState, StoreError};
use crate::l1::L1Origin;
use alloy_primitives::{Address, B256, U256};

/// An account as stored: nonce (8 bytes, BE) ‖ balance (32) ‖ code hash (32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRecord(pub AccountState);

/// Length of an encoded [`AccountRecord`].
pub(crate) const ACCOUNT_RECORD_LEN: usize = 72;

impl From<AccountState> for AccountRecord {
    fn from(state: AccountState) -> Self {
        Self(state)
    }
}

impl AccountRecord {
    /// The stored bytes.
    pub fn encode(&self) -> [u8; ACCOUNT_RECORD_LEN] {
        let mut out = [0u8; ACCOUNT_RECORD_LEN];
        out[..8].copy_from_slice(&self.0.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.0.balance.to_be_bytes::<32>());
        out[40..].copy_from_slice(self.0.code_hash.as_slice());
        out
    }

    /// Reads stored bytes back.
    pub fn decode(bytes: &[u8]) -> Result<AccountState, StoreError> {
        if bytes.len() != ACCOUNT_RECORD_LEN {
            return Err(StoreError::Corrupt(format!(
                "account record of {} bytes, expected {ACCOUNT_RECORD_LEN}",
                bytes.len()
            )));
        }
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&bytes[..8]);
        Ok(AccountState {
            nonce: u64::from_be_bytes(nonce),
            balance: U256::from_be_slice(&bytes[8..40]),
            code_hash: B256::from_slice(&bytes[40..]),
        })
    }
}

/// `number ‖ index`: a transaction's or receipt's position.
pub(crate) fn tx_key(number: u64, index: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&number.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Splits a [`tx_key`].
pub(crate) fn decode_tx_key(key: &[u8]) -> Result<(u64, u32), StoreError> {
    if key.len() != 12 {
        return Err(StoreError::Corrupt(format!("transaction key of {} bytes", key.len())));
    }
    let mut number = [0u8; 8];
    number.copy_from_slice(&key[..8]);
    let mut index = [0u8; 4];
    index.copy_from_slice(&key[8..]);
    Ok((u64::from_be_bytes(number), u32::from_be_bytes(index)))
}

/// `address ‖ number`: account history and the log address index.
pub(crate) fn address_block_key(address: &Address, number: u64) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&number.to_be_bytes());
    key
}

/// `topic ‖ number`: the log topic index.
pub(crate) fn topic_block_key(topic: &B256, number: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(topic.as_slice());
    key[32..].copy_from_slice(&number.to_be_bytes());
    key
}

/// The block number at the end of an index or history key.
pub(crate) fn trailing_block(key: &[u8]) -> Result<u64, StoreError> {
    let start = key
        .len()
        .checked_sub(8)
        .ok_or_else(|| StoreError::Corrupt(format!("index key of {} bytes", key.len())))?;
    let mut number = [0u8; 8];
    number.copy_from_slice(&key[start..]);
    Ok(u64::from_be_bytes(number))
}

/// `address ‖ slot`: latest storage.
pub(crate) fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

/// `address ‖ slot ‖ number`: storage history.
pub(crate) fn storage_history_key(address: &Address, slot: &U256, number: u64) -> [u8; 60] {
    let mut key = [0u8; 60];
    key[..52].copy_from_slice(&storage_key(address, slot));
    key[52..].copy_from_slice(&number.to_be_bytes());
    key
}

/// The key range holding every storage slot of `address` (in `storage`).
pub(crate) fn storage_prefix_range(address: &Address) -> ([u8; 52], [u8; 52]) {
    (storage_key(address, &U256::ZERO), storage_key(address, &U256::MAX))
}

/// Reads a 32-byte stored word.
pub(crate) fn word(bytes: &[u8]) -> Result<U256, StoreError> {
    if bytes.len() != 32 {
        return Err(StoreError::Corrupt(format!("storage word of {} bytes", bytes.len())));
    }
    Ok(U256::from_be_slice(bytes))
}

/// The accounts and slots a block changed: per account, address ‖ slot count (u32) ‖ slots.
pub(crate) fn encode_changed_keys(changes: &super::StateChangeset) -> Vec<u8> {
    let mut out = Vec::new();
    for (address, update) in &changes.accounts {
        out.extend_from_slice(address.as_slice());
        out.extend_from_slice(&(update.storage.len() as u32).to_be_bytes());
        for (slot, _) in &update.storage {
            out.extend_from_slice(&slot.to_be_bytes::<32>());
        }
    }
    out
}

/// Reads [`encode_changed_keys`] back.
pub(crate) fn decode_changed_keys(
    mut bytes: &[u8],
) -> Result<Vec<(Address, Vec<U256>)>, StoreError> {
    let corrupt = || StoreError::Corrupt("changeset record truncated".into());
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 24 {
            return Err(corrupt());
        }
        let address = Address::from_slice(&bytes[..20]);
        let count = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]) as usize;
        bytes = &bytes[24..];
        let len = count.checked_mul(32).filter(|l| *l <= bytes.len()).ok_or_else(corrupt)?;
        let slots = bytes[..len].chunks_exact(32).map(U256::from_be_slice).collect();
        bytes = &bytes[len..];
        out.push((address, slots));
    }
    Ok(out)
}

/// An L1 origin and sequence number: number (8) ‖ hash (32) ‖ parent (32) ‖ timestamp (8) ‖
/// base fee (16) ‖ blob base fee (16) ‖ sequence number (8).
pub(crate) fn encode_l1_origin(origin: &L1Origin, seq: u64) -> [u8; 120] {
    let mut out = [0u8; 120];
    out[..8].copy_from_slice(&origin.number.to_be_bytes());
    out[8..40].copy_from_slice(origin.hash.as_slice());
    out[40..72].copy_from_slice(origin.parent_hash.as_slice());
    out[72..80].copy_from_slice(&origin.timestamp.to_be_bytes());
    out[80..96].copy_from_slice(&origin.base_fee.to_be_bytes());
    out[96..112].copy_from_slice(&origin.blob_base_fee.to_be_bytes());
    out[112..].copy_from_slice(&seq.to_be_bytes());
    out
}

/// Reads [`encode_l1_origin`] back.
pub(crate) fn decode_l1_origin(bytes: &[u8]) -> Result<(L1Origin, u64), StoreError> {
    if bytes.len() != 120 {
        return Err(StoreError::Corrupt(format!("L1 origin record of {} bytes", bytes.len())));
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_be_bytes(b)
    };
    let u128_at = |i: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&bytes[i..i + 16]);
        u128::from_be_bytes(b)
    };
    Ok((
        L1Origin {
            number: u64_at(0),
            hash: B256::from_slice(&bytes[8..40]),
            parent_hash: B256::from_slice(&bytes[40..72]),
            timestamp: u64_at(72),
            base_fee: u128_at(80),
            blob_base_fee: u128_at(96),
        },
        u64_at(112),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_record_round_trips_and_refuses_bad_lengths() {
        let state = AccountState {
            nonce: u64::MAX - 1,
            balance: U256::from(10).pow(U256::from(30)),
            code_hash: B256::repeat_byte(0xab),
        };
        let bytes = AccountRecord(state).encode();
        assert_eq!(AccountRecord::decode(&bytes).unwrap(), state);
        assert!(AccountRecord::decode(&bytes[..71]).is_err());
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(tx_key(1, u32::MAX) < tx_key(2, 0));
        let a = Address::repeat_byte(1);
        assert!(address_block_key(&a, 255) < address_block_key(&a, 256));
        assert!(
            storage_history_key(&a, &U256::from(1), 9) < storage_history_key(&a, &U256::from(2), 0)
        );
        assert_eq!(trailing_block(&address_block_key(&a, 77)).unwrap(), 77);
        assert_eq!(decode_tx_key(&tx_key(5, 6)).unwrap(), (5, 6));
    }
}
