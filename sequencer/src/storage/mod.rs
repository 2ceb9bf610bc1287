//! The node's embedded database: [redb](https://docs.rs/redb), a pure-Rust, copy-on-write
//! B-tree store with ACID transactions.
//!
//! Each block is written in one write transaction ([`Store::commit_block`]) with
//! [`redb::Durability::Immediate`]: when it returns, the block, its transactions, receipts, log
//! index entries and state changes are on disk together, and a crash (even `kill -9`) leaves
//! the database at the previous or at this block, never in between. Receipts are only handed
//! out for committed blocks, so nothing acknowledged can be lost.
//!
//! Readers take a [`StoreReader`], a consistent snapshot (redb's MVCC read transaction) that
//! the writer never blocks.
//!
//! ```text
//!   tables                          key                          value
//!   meta                            name                         u64
//!   headers                         number                       RLP header
//!   block_numbers                   block hash                   number
//!   transactions                    number ‖ index               sender ‖ EIP-2718 bytes
//!   tx_lookup                       tx hash                      number ‖ index
//!   receipts                        number ‖ index               EIP-2718 receipt
//!   accounts        (latest)        address                      nonce ‖ balance ‖ code hash
//!   storage         (latest)        address ‖ slot               value (non-zero only)
//!   bytecodes                       code hash                    code
//!   account_history                 address ‖ number             account after block (or empty)
//!   storage_history                 address ‖ slot ‖ number      value after block
//!   log_address_index               address ‖ number             ()
//!   log_topic_index                 topic ‖ number               ()
//!   l1_origins                      number                       L1 origin ‖ sequence number
//!   changesets                      number                       accounts and slots it changed
//! ```
//!
//! The history tables record every value an account or slot took and the block that wrote it,
//! so the state at block `N` is the last entry at or below `N` (one reverse range step).

mod codec;
mod reader;

pub use codec::AccountRecord;
pub use reader::{AccountDump, HistoricalStateDb, StoreReader};

pub use crate::trie::{AccountState, AccountUpdate};

use crate::{
    l1::L1Origin,
    primitives::{Receipt, SealedBlock},
};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::Encodable;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::{collections::BTreeSet, path::Path};

pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
pub(crate) const HEADERS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("headers");
pub(crate) const BLOCK_NUMBERS: TableDefinition<'_, &[u8], u64> =
    TableDefinition::new("block_numbers");
pub(crate) const TRANSACTIONS: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("transactions");
pub(crate) const TX_LOOKUP: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("tx_lookup");
pub(crate) const RECEIPTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("receipts");
pub(crate) const ACCOUNTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("accounts");
pub(crate) const STORAGE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("storage");
pub(crate) const BYTECODES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("bytecodes");
pub(crate) const ACCOUNT_HISTORY: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("account_history");
pub(crate) const STORAGE_HISTORY: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("storage_history");
pub(crate) const LOG_ADDRESS_INDEX: TableDefinition<'_, &[u8], ()> =
    TableDefinition::new("log_address_index");
pub(crate) const LOG_TOPIC_INDEX: TableDefinition<'_, &[u8], ()> =
    TableDefinition::new("log_topic_index");
pub(crate) const L1_ORIGINS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("l1_origins");
pub(crate) const CHANGESETS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changesets");

/// The `meta` key holding the number of the last committed block.
const HEAD_KEY: &str = "head";
/// The `meta` key holding the schema version, checked on open.
const SCHEMA_KEY: &str = "schema_version";
/// Bumped whenever a table's layout changes; an old database is then refused, not misread.
const SCHEMA_VERSION: u64 = 2;

/// Errors of the embedded store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// redb's error.
        source: redb::DatabaseError,
    },
    /// A read or write failed inside redb (I/O, corruption detected by redb).
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// A stored value does not decode: the file is corrupt or from another program.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// The database was written by a different schema version.
    #[error("the database has schema version {found}, this node reads version {expected}")]
    Schema {
        /// Found in the file.
        found: u64,
        /// What this build writes.
        expected: u64,
    },
    /// A block was committed out of order.
    #[error("block {got} does not follow the head {head}")]
    NotNext {
        /// The current head.
        head: u64,
        /// The block offered.
        got: u64,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A `Result` with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// Every state change of a block, in a deterministic (address, slot) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChangeset {
    /// Changed accounts, sorted by address.
    pub accounts: Vec<(Address, AccountUpdate)>,
    /// Code deployed in the block, by hash.
    pub contracts: Vec<(B256, Bytes)>,
}

/// A block ready to commit: what execution produced and sealing added.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    /// The sealed block.
    pub block: SealedBlock,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// The state changes the block made.
    pub changes: StateChangeset,
    /// The block's L1 origin and sequence number, if it carries an L1 info deposit.
    pub l1_origin: Option<(L1Origin, u64)>,
}

/// The embedded database.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens the database file at `path`, creating it (and its tables) if missing.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let db = Database::builder()
            // Enough cache for the hot part of the state of a busy devnet.
            .set_cache_size(512 * 1024 * 1024)
            .create(path)
            .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
        let store = Self { db };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> StoreResult<()> {
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
                }
                Some(v) if v == SCHEMA_VERSION => {}
                Some(found) => {
                    return Err(StoreError::Schema { found, expected: SCHEMA_VERSION });
                }
            }
            tx.open_table(HEADERS)?;
            tx.open_table(BLOCK_NUMBERS)?;
            tx.open_table(TRANSACTIONS)?;
            tx.open_table(TX_LOOKUP)?;
            tx.open_table(RECEIPTS)?;
            tx.open_table(ACCOUNTS)?;
            tx.open_table(STORAGE)?;
            tx.open_table(BYTECODES)?;
            tx.open_table(ACCOUNT_HISTORY)?;
            tx.open_table(STORAGE_HISTORY)?;
            tx.open_table(LOG_ADDRESS_INDEX)?;
            tx.open_table(LOG_TOPIC_INDEX)?;
            tx.open_table(L1_ORIGINS)?;
            tx.open_table(CHANGESETS)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A consistent read-only snapshot of the whole database.
    pub fn reader(&self) -> StoreResult<StoreReader> {
        StoreReader::new(self.db.begin_read()?)
    }

    /// An account's latest state, read without opening a full [`StoreReader`] (the
    /// transaction-admission path calls this for every incoming transaction).
    pub fn latest_account(&self, address: &Address) -> StoreResult<Option<AccountState>> {
        let tx = self.db.begin_read()?;
        let accounts = tx.open_table(ACCOUNTS)?;
        accounts.get(address.as_slice())?.map(|v| AccountRecord::decode(v.value())).transpose()
    }

    /// The number of the last committed block, or `None` for a new database.
    pub fn head_number(&self) -> StoreResult<Option<u64>> {
        self.reader()?.head_number()
    }

    /// Writes a block and everything it changed in one atomic, durable transaction. Block
    /// `0` (genesis) may only be written to an empty database; every other block must follow
    /// the head.
    pub fn commit_block(&self, executed: &ExecutedBlock) -> StoreResult<()> {
        let ExecutedBlock { block, receipts, changes, l1_origin } = executed;
        let number = block.number();
        if receipts.len() != block.transactions.len() || block.senders.len() != receipts.len() {
            return Err(StoreError::Corrupt(format!(
                "block {number}: {} transactions, {} senders, {} receipts",
                block.transactions.len(),
                block.senders.len(),
                receipts.len()
            )));
        }

        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut meta = tx.open_table(META)?;
            let head = meta.get(HEAD_KEY)?.map(|v| v.value());
            let expected = head.map_or(0, |h| h + 1);
            if number != expected {
                return Err(StoreError::NotNext { head: head.unwrap_or(0), got: number });
            }

            let mut buf = Vec::with_capacity(1024);
            block.header.inner().encode(&mut buf);
            tx.open_table(HEADERS)?.insert(number, buf.as_slice())?;
            tx.open_table(BLOCK_NUMBERS)?.insert(block.hash().as_slice(), number)?;

            let mut transactions = tx.open_table(TRANSACTIONS)?;
            let mut lookup = tx.open_table(TX_LOOKUP)?;
            let mut receipts_table = tx.open_table(RECEIPTS)?;
            let mut log_addresses = BTreeSet::new();
            let mut log_topics = BTreeSet::new();
            for (index, ((transaction, sender), receipt)) in
                block.transactions.iter().zip(&block.senders).zip(receipts).enumerate()
            {
                let key = codec::tx_key(number, index as u32);
                buf.clear();
                buf.extend_from_slice(sender.as_slice());
                transaction.encode_2718(&mut buf);
                transactions.insert(key.as_slice(), buf.as_slice())?;
                lookup.insert(transaction.tx_hash().as_slice(), key.as_slice())?;
                buf.clear();
                receipt.encode_2718(&mut buf);
                receipts_table.insert(key.as_slice(), buf.as_slice())?;
                for log in receipt.logs() {
                    log_addresses.insert(log.address);
                    log_topics.extend(log.topics().iter().copied());
                }
            }
            let mut address_index = tx.open_table(LOG_ADDRESS_INDEX)?;
            for address in log_addresses {
                address_index.insert(codec::address_block_key(&address, number).as_slice(), ())?;
            }
            let mut topic_index = tx.open_table(LOG_TOPIC_INDEX)?;
            for topic in log_topics {
                topic_index.insert(codec::topic_block_key(&topic, number).as_slice(), ())?;
            }

            write_state(&tx, number, changes)?;
            tx.open_table(CHANGESETS)?
                .insert(number, codec::encode_changed_keys(changes).as_slice())?;
            if let Some((origin, seq)) = l1_origin {
                tx.open_table(L1_ORIGINS)?
                    .insert(number, codec::encode_l1_origin(origin, *seq).as_slice())?;
            }
            meta.insert(HEAD_KEY, number)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Applies a block's state changes to the latest-state tables and appends them to history.
fn write_state(
    tx: &redb::WriteTransaction,
    number: u64,
    changes: &StateChangeset,
) -> StoreResult<()> {
    let mut accounts = tx.open_table(ACCOUNTS)?;
    let mut storage = tx.open_table(STORAGE)?;
    let mut bytecodes = tx.open_table(BYTECODES)?;
    let mut account_history = tx.open_table(ACCOUNT_HISTORY)?;
    let mut storage_history = tx.open_table(STORAGE_HISTORY)?;

    for (hash, code) in &changes.contracts {
        bytecodes.insert(hash.as_slice(), code.as_ref())?;
    }
    for (address, change) in &changes.accounts {
        let history_key = codec::address_block_key(address, number);
        let address_key = address.as_slice();
        match &change.info {
            Some(info) => {
                let record = AccountRecord::from(*info).encode();
                accounts.insert(address_key, record.as_slice())?;
                account_history.insert(history_key.as_slice(), record.as_slice())?;
            }
            None => {
                accounts.remove(address_key)?;
                account_history.insert(history_key.as_slice(), [].as_slice())?;
            }
        }
        if change.storage_wiped || change.info.is_none() {
            // Only accounts created and destroyed in one transaction (EIP-6780) or re-created
            // over an empty address get here, so the range is small. Each wiped slot gets a
            // zero history entry so that reads at this block see the wipe.
            let (start, end) = codec::storage_prefix_range(address);
            let wiped: Vec<Vec<u8>> = storage
                .extract_from_if(start.as_slice()..end.as_slice(), |_, _| true)?
                .map(|entry| entry.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()?;
            for key in wiped {
                let mut hkey = key;
                hkey.extend_from_slice(&number.to_be_bytes());
                storage_history.insert(hkey.as_slice(), B256::ZERO.as_slice())?;
            }
        }
        for (slot, value) in &change.storage {
            let key = codec::storage_key(address, slot);
            let value_bytes = B256::from(*value);
            if value.is_zero() {
                storage.remove(key.as_slice())?;
            } else {
                storage.insert(key.as_slice(), value_bytes.as_slice())?;
            }
            let hkey = codec::storage_history_key(address, slot, number);
            storage_history.insert(hkey.as_slice(), value_bytes.as_slice())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
