//! Reads from one consistent snapshot of the store, and the revm database view of the state at
//! any stored block.

use super::{
    ACCOUNT_HISTORY, ACCOUNTS, AccountState, BLOCK_NUMBERS, BYTECODES, CHANGESETS, HEAD_KEY,
    HEADERS, L1_ORIGINS, LOG_ADDRESS_INDEX, LOG_TOPIC_INDEX, META, RECEIPTS, STORAGE,
    STORAGE_HISTORY, StoreError, StoreResult, TRANSACTIONS, TX_LOOKUP,
    codec::{self, AccountRecord},
};
use crate::{
    l1::L1Origin,
    primitives::{Receipt, SealedHeader, Transaction},
};
use alloy_consensus::Header;
use alloy_eips::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, Sealed, U256, keccak256};
use alloy_rlp::Decodable;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};
use revm::{
    bytecode::Bytecode,
    database_interface::{DBErrorMarker, DatabaseRef},
    primitives::KECCAK_EMPTY,
    state::AccountInfo,
};
use std::sync::Arc;

impl DBErrorMarker for StoreError {}

/// One account of a state dump: address, fields and non-zero storage slots.
pub type AccountDump = (Address, AccountState, Vec<(U256, U256)>);

/// A consistent, read-only snapshot of the store.
pub struct StoreReader {
    // Kept so the snapshot lives as long as the tables opened from it.
    _tx: ReadTransaction,
    meta: ReadOnlyTable<&'static str, u64>,
    headers: ReadOnlyTable<u64, &'static [u8]>,
    block_numbers: ReadOnlyTable<&'static [u8], u64>,
    transactions: ReadOnlyTable<&'static [u8], &'static [u8]>,
    tx_lookup: ReadOnlyTable<&'static [u8], &'static [u8]>,
    receipts: ReadOnlyTable<&'static [u8], &'static [u8]>,
    accounts: ReadOnlyTable<&'static [u8], &'static [u8]>,
    storage: ReadOnlyTable<&'static [u8], &'static [u8]>,
    bytecodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    account_history: ReadOnlyTable<&'static [u8], &'static [u8]>,
    storage_history: ReadOnlyTable<&'static [u8], &'static [u8]>,
    log_addresses: ReadOnlyTable<&'static [u8], ()>,
    log_topics: ReadOnlyTable<&'static [u8], ()>,
    l1_origins: ReadOnlyTable<u64, &'static [u8]>,
    changesets: ReadOnlyTable<u64, &'static [u8]>,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReader").finish_non_exhaustive()
    }
}

fn decode_header(bytes: &[u8]) -> StoreResult<SealedHeader> {
    let hash = keccak256(bytes);
    let header =
        Header::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt(format!("header: {e}")))?;
    Ok(Sealed::new_unchecked(header, hash))
}

fn decode_transaction(bytes: &[u8]) -> StoreResult<(Transaction, Address)> {
    if bytes.len() < 20 {
        return Err(StoreError::Corrupt("transaction record too short".into()));
    }
    let sender = Address::from_slice(&bytes[..20]);
    let tx = Transaction::decode_2718(&mut &bytes[20..])
        .map_err(|e| StoreError::Corrupt(format!("transaction: {e}")))?;
    Ok((tx, sender))
}

fn decode_receipt(bytes: &[u8]) -> StoreResult<Receipt> {
    Receipt::decode_2718(&mut &bytes[..]).map_err(|e| StoreError::Corrupt(format!("receipt: {e}")))
}

impl StoreReader {
    pub(super) fn new(tx: ReadTransaction) -> StoreResult<Self> {
        Ok(Self {
            meta: tx.open_table(META)?,
            headers: tx.open_table(HEADERS)?,
            block_numbers: tx.open_table(BLOCK_NUMBERS)?,
            transactions: tx.open_table(TRANSACTIONS)?,
            tx_lookup: tx.open_table(TX_LOOKUP)?,
            receipts: tx.open_table(RECEIPTS)?,
            accounts: tx.open_table(ACCOUNTS)?,
            storage: tx.open_table(STORAGE)?,
            bytecodes: tx.open_table(BYTECODES)?,
            account_history: tx.open_table(ACCOUNT_HISTORY)?,
            storage_history: tx.open_table(STORAGE_HISTORY)?,
            log_addresses: tx.open_table(LOG_ADDRESS_INDEX)?,
            log_topics: tx.open_table(LOG_TOPIC_INDEX)?,
            l1_origins: tx.open_table(L1_ORIGINS)?,
            changesets: tx.open_table(CHANGESETS)?,
            _tx: tx,
        })
    }

    /// The last committed block's number; `None` before genesis is written.
    pub fn head_number(&self) -> StoreResult<Option<u64>> {
        Ok(self.meta.get(HEAD_KEY)?.map(|v| v.value()))
    }

    /// The header of block `number`, with its hash.
    pub fn header(&self, number: u64) -> StoreResult<Option<SealedHeader>> {
        self.headers.get(number)?.map(|v| decode_header(v.value())).transpose()
    }

    /// The number of the block with this hash.
    pub fn block_number(&self, hash: &B256) -> StoreResult<Option<u64>> {
        Ok(self.block_numbers.get(hash.as_slice())?.map(|v| v.value()))
    }

    /// The transactions of block `number` with their senders, in order.
    pub fn block_transactions(&self, number: u64) -> StoreResult<Vec<(Transaction, Address)>> {
        let start = codec::tx_key(number, 0);
        let end = codec::tx_key(number + 1, 0);
        self.transactions
            .range(start.as_slice()..end.as_slice())?
            .map(|entry| decode_transaction(entry?.1.value()))
            .collect()
    }

    /// The number of transactions in block `number`.
    pub fn block_transaction_count(&self, number: u64) -> StoreResult<usize> {
        let start = codec::tx_key(number, 0);
        let end = codec::tx_key(number + 1, 0);
        Ok(self.receipts.range(start.as_slice()..end.as_slice())?.count())
    }

    /// The receipts of block `number`, in transaction order.
    pub fn block_receipts(&self, number: u64) -> StoreResult<Vec<Receipt>> {
        let start = codec::tx_key(number, 0);
        let end = codec::tx_key(number + 1, 0);
        self.receipts
            .range(start.as_slice()..end.as_slice())?
            .map(|entry| decode_receipt(entry?.1.value()))
            .collect()
    }

    /// Where a transaction was included: block number and index.
    pub fn transaction_location(&self, hash: &B256) -> StoreResult<Option<(u64, u32)>> {
        self.tx_lookup.get(hash.as_slice())?.map(|v| codec::decode_tx_key(v.value())).transpose()
    }

    /// The transaction at a position, with its sender.
    pub fn transaction(
        &self,
        number: u64,
        index: u32,
    ) -> StoreResult<Option<(Transaction, Address)>> {
        let key = codec::tx_key(number, index);
        self.transactions.get(key.as_slice())?.map(|v| decode_transaction(v.value())).transpose()
    }

    /// The receipt at a position.
    pub fn receipt(&self, number: u64, index: u32) -> StoreResult<Option<Receipt>> {
        let key = codec::tx_key(number, index);
        self.receipts.get(key.as_slice())?.map(|v| decode_receipt(v.value())).transpose()
    }

    /// The receipt before a position (for the gas a transaction used: the difference of
    /// cumulative gas).
    pub fn previous_cumulative_gas(&self, number: u64, index: u32) -> StoreResult<u64> {
        if index == 0 {
            return Ok(0);
        }
        Ok(self.receipt(number, index - 1)?.map_or(0, |r| r.cumulative_gas_used()))
    }

    /// The latest state of an account.
    pub fn account(&self, address: &Address) -> StoreResult<Option<AccountState>> {
        self.accounts.get(address.as_slice())?.map(|v| AccountRecord::decode(v.value())).transpose()
    }

    /// The latest value of a storage slot (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> StoreResult<U256> {
        let key = codec::storage_key(address, slot);
        self.storage.get(key.as_slice())?.map_or(Ok(U256::ZERO), |v| codec::word(v.value()))
    }

    /// Code by its hash.
    pub fn code(&self, hash: &B256) -> StoreResult<Option<Bytes>> {
        if *hash == KECCAK_EMPTY {
            return Ok(Some(Bytes::new()));
        }
        Ok(self.bytecodes.get(hash.as_slice())?.map(|v| Bytes::copy_from_slice(v.value())))
    }

    /// An account as it was after block `number`.
    pub fn account_at(&self, address: &Address, number: u64) -> StoreResult<Option<AccountState>> {
        let start = codec::address_block_key(address, 0);
        let end = codec::address_block_key(address, number);
        match self.account_history.range(start.as_slice()..=end.as_slice())?.next_back() {
            Some(entry) => {
                let (_, value) = entry?;
                let bytes = value.value();
                if bytes.is_empty() { Ok(None) } else { AccountRecord::decode(bytes).map(Some) }
            }
            None => Ok(None),
        }
    }

    /// A storage slot as it was after block `number`.
    pub fn storage_at(&self, address: &Address, slot: &U256, number: u64) -> StoreResult<U256> {
        let start = codec::storage_history_key(address, slot, 0);
        let end = codec::storage_history_key(address, slot, number);
        match self.storage_history.range(start.as_slice()..=end.as_slice())?.next_back() {
            Some(entry) => codec::word(entry?.1.value()),
            None => Ok(U256::ZERO),
        }
    }

    /// Blocks in `from..=to` with at least one log emitted by `address`.
    pub fn blocks_with_log_address(
        &self,
        address: &Address,
        from: u64,
        to: u64,
    ) -> StoreResult<Vec<u64>> {
        let start = codec::address_block_key(address, from);
        let end = codec::address_block_key(address, to);
        self.log_addresses
            .range(start.as_slice()..=end.as_slice())?
            .map(|entry| codec::trailing_block(entry?.0.value()))
            .collect()
    }

    /// Blocks in `from..=to` with at least one log carrying `topic` (in any position).
    pub fn blocks_with_log_topic(&self, topic: &B256, from: u64, to: u64) -> StoreResult<Vec<u64>> {
        let start = codec::topic_block_key(topic, from);
        let end = codec::topic_block_key(topic, to);
        self.log_topics
            .range(start.as_slice()..=end.as_slice())?
            .map(|entry| codec::trailing_block(entry?.0.value()))
            .collect()
    }

    /// The L1 origin and sequence number of the newest block at or before `number` that
    /// carries an L1 info deposit.
    pub fn l1_origin_at_or_before(&self, number: u64) -> StoreResult<Option<(L1Origin, u64)>> {
        match self.l1_origins.range(..=number)?.next_back() {
            Some(entry) => codec::decode_l1_origin(entry?.1.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The accounts and slots block `number` changed.
    pub fn changed_keys(&self, number: u64) -> StoreResult<Vec<(Address, Vec<U256>)>> {
        match self.changesets.get(number)? {
            Some(v) => codec::decode_changed_keys(v.value()),
            None => Ok(Vec::new()),
        }
    }

    /// Every account of the latest state with its non-zero storage, in address order: what the
    /// state trie is rebuilt from at start-up.
    pub fn all_accounts(&self) -> StoreResult<Vec<AccountDump>> {
        let mut out = Vec::new();
        for entry in self.accounts.iter()? {
            let (key, value) = entry?;
            let address = Address::try_from(key.value())
                .map_err(|_| StoreError::Corrupt("account key is not an address".into()))?;
            out.push((address, AccountRecord::decode(value.value())?, Vec::new()));
        }
        // Both tables are in address order: merge them in one pass.
        let mut account_index = 0;
        for entry in self.storage.iter()? {
            let (key, value) = entry?;
            let key = key.value();
            if key.len() != 52 {
                return Err(StoreError::Corrupt("storage key of wrong length".into()));
            }
            let address = Address::from_slice(&key[..20]);
            while account_index < out.len() && out[account_index].0 < address {
                account_index += 1;
            }
            match out.get_mut(account_index) {
                Some((a, _, storage)) if *a == address => {
                    storage.push((U256::from_be_slice(&key[20..]), codec::word(value.value())?));
                }
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "storage of {address}, which has no account"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// revm's view of the state after a stored block (or the latest state): what execution,
/// `eth_call` and `eth_estimateGas` run against.
#[derive(Debug, Clone)]
pub struct HistoricalStateDb {
    reader: Arc<StoreReader>,
    /// `None`: the latest state, read from the plain tables (faster than history).
    at: Option<u64>,
}

impl HistoricalStateDb {
    /// The latest committed state.
    pub fn latest(reader: Arc<StoreReader>) -> Self {
        Self { reader, at: None }
    }

    /// The state after block `number`.
    pub fn at_block(reader: Arc<StoreReader>, number: u64) -> Self {
        Self { reader, at: Some(number) }
    }

    /// The account as this view sees it.
    pub fn account_state(&self, address: &Address) -> StoreResult<Option<AccountState>> {
        match self.at {
            None => self.reader.account(address),
            Some(n) => self.reader.account_at(address, n),
        }
    }

    /// A storage slot as this view sees it.
    pub fn storage_value(&self, address: &Address, slot: &U256) -> StoreResult<U256> {
        match self.at {
            None => self.reader.storage(address, slot),
            Some(n) => self.reader.storage_at(address, slot, n),
        }
    }

    /// The snapshot this view reads.
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }
}

impl DatabaseRef for HistoricalStateDb {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account_state(&address)?.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            account_id: None,
            code: None,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        let code = self
            .reader
            .code(&code_hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("missing code {code_hash}")))?;
        Bytecode::new_raw_checked(code)
            .map_err(|e| StoreError::Corrupt(format!("code {code_hash}: {e}")))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.storage_value(&address, &index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.reader.header(number)?.map(|h| h.hash()).unwrap_or_default())
    }
}
