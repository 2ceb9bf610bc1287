//! [`StateTrie`]: the Ethereum world state (account trie + one storage trie per account).

use super::{MerkleTrie, TrieError};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::B256Map};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use rayon::prelude::*;

/// Below this many accounts with storage changes, storage tries are processed sequentially.
const PARALLEL_ACCOUNTS_THRESHOLD: usize = 2;
/// Below this many keys (addresses or slots), keys are hashed on the calling thread.
const PARALLEL_KEYS_THRESHOLD: usize = 1024;

/// `hash` of every item, in order; in parallel for large inputs.
fn hash_all<T: Sync>(items: &[T], hash: impl Fn(&T) -> B256 + Sync + Send) -> Vec<B256> {
    if items.len() >= PARALLEL_KEYS_THRESHOLD {
        items.par_iter().map(hash).collect()
    } else {
        items.iter().map(hash).collect()
    }
}

/// The account fields that are not derived from the trie (the storage root is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    /// Account nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Keccak-256 of the account's code (`KECCAK_EMPTY` for no code).
    pub code_hash: B256,
}

/// The change of one account in a block, as produced by the EVM's state diff.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    /// New account fields; `None` means the account was destroyed or became empty (EIP-161) and
    /// is removed from the trie together with all of its storage (`storage` is then ignored).
    pub info: Option<AccountState>,
    /// Storage was cleared (selfdestruct, or contract created over an existing address) before
    /// `storage` is applied.
    pub storage_wiped: bool,
    /// Changed storage slots `(slot, value)`; a zero value deletes the slot.
    pub storage: Vec<(U256, U256)>,
}

/// Storage proof of one slot (EIP-1186 `storageProof` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageProof {
    /// The requested slot key (unhashed).
    pub key: B256,
    /// The slot's value (zero if absent).
    pub value: U256,
    /// Nodes from the storage root along `keccak(key)`.
    pub proof: Vec<Bytes>,
}

/// Account and storage proofs (EIP-1186 `eth_getProof` content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// The requested address.
    pub address: Address,
    /// The account as committed to by the state root; `None` if absent.
    pub account: Option<TrieAccount>,
    /// Nodes from the state root along `keccak(address)` (an exclusion proof if absent).
    pub account_proof: Vec<Bytes>,
    /// The account's storage root (`EMPTY_ROOT_HASH` if absent or without storage).
    pub storage_hash: B256,
    /// One proof per requested slot, in request order.
    pub storage_proofs: Vec<StorageProof>,
}

/// The world-state trie: an account trie keyed by `keccak(address)` whose leaves are
/// `RLP(TrieAccount)`, plus one storage trie per account with storage, keyed by
/// `keccak(slot)` with leaves `RLP(value)`.
///
/// Mutated only through [`apply`](Self::apply) (one call per block), which always leaves every
/// hash committed, so all read methods are cheap `&self` calls.
#[derive(Clone, Debug)]
pub struct StateTrie {
    accounts: MerkleTrie,
    /// Storage tries of accounts with non-empty storage, by hashed address.
    storage: B256Map<MerkleTrie>,
    root: B256,
}

impl Default for StateTrie {
    fn default() -> Self {
        Self::new()
    }
}

/// An account of a start-up dump: hashed address, fields, `(hashed slot, value)` pairs.
type HashedDumpAccount = (B256, AccountState, Vec<(B256, U256)>);

/// Per-account storage work of one [`StateTrie::apply`] call.
struct StorageWork {
    hashed_address: B256,
    updates: Vec<AccountUpdate>,
    trie: MerkleTrie,
    /// Final account fields after all updates (`None`: remove the account).
    info: Option<AccountState>,
    storage_root: B256,
}

impl StorageWork {
    fn run(&mut self) {
        for update in self.updates.drain(..) {
            if update.info.is_none() || update.storage_wiped {
                self.trie.clear();
            }
            if update.info.is_some() {
                let keys =
                    hash_all(&update.storage, |(slot, _)| keccak256(slot.to_be_bytes::<32>()));
                for (key, (_, value)) in keys.into_iter().zip(update.storage) {
                    if value.is_zero() {
                        self.trie.remove(&key);
                    } else {
                        self.trie.insert(key, encode_storage_value(value));
                    }
                }
            }
            self.info = update.info;
        }
        self.storage_root = self.trie.root();
    }
}

fn encode_storage_value(value: U256) -> Box<[u8]> {
    alloy_rlp::encode_fixed_size(&value).as_slice().into()
}

fn encode_account(info: &AccountState, storage_root: B256) -> Box<[u8]> {
    alloy_rlp::encode(TrieAccount::new(info.nonce, info.balance, storage_root, info.code_hash))
        .into_boxed_slice()
}

impl StateTrie {
    /// Creates an empty state (root [`EMPTY_ROOT_HASH`]).
    pub fn new() -> Self {
        Self { accounts: MerkleTrie::new(), storage: B256Map::default(), root: EMPTY_ROOT_HASH }
    }

    /// Rebuilds the state from a full dump (e.g. the database at start-up): storage tries are
    /// built from sorted leaves in parallel, then the account trie, then all hashes (in parallel).
    /// Zero storage values are skipped; for duplicate addresses or slots the last entry wins.
    pub fn from_accounts<I, S>(accounts: I) -> Self
    where
        I: IntoIterator<Item = (Address, AccountState, S)>,
        S: IntoIterator<Item = (U256, U256)>,
    {
        let mut items: Vec<HashedDumpAccount> = accounts
            .into_iter()
            .map(|(address, info, storage)| {
                let storage = storage
                    .into_iter()
                    .map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), value))
                    .collect();
                (keccak256(address), info, storage)
            })
            .collect();
        // Stable sort + keep the last of equal keys = "last wins".
        items.sort_by_key(|(hashed, _, _)| *hashed);
        dedup_keep_last(&mut items, |item| item.0);

        let built: Vec<(B256, AccountState, Option<MerkleTrie>)> = items
            .into_par_iter()
            .map(|(hashed, info, mut slots)| {
                slots.sort_by_key(|(key, _)| *key);
                dedup_keep_last(&mut slots, |slot| slot.0);
                let leaves: Vec<(B256, Box<[u8]>)> = slots
                    .into_iter()
                    .filter(|(_, value)| !value.is_zero())
                    .map(|(key, value)| (key, encode_storage_value(value)))
                    .collect();
                let trie = (!leaves.is_empty()).then(|| {
                    let mut trie = MerkleTrie::from_sorted_unchecked(leaves);
                    trie.root();
                    trie
                });
                (hashed, info, trie)
            })
            .collect();

        let mut storage = B256Map::default();
        let mut leaves = Vec::with_capacity(built.len());
        for (hashed, info, trie) in built {
            let storage_root = trie.as_ref().map_or(EMPTY_ROOT_HASH, MerkleTrie::peek_root);
            leaves.push((hashed, encode_account(&info, storage_root)));
            if let Some(trie) = trie {
                storage.insert(hashed, trie);
            }
        }
        let mut accounts = MerkleTrie::from_sorted_unchecked(leaves);
        let root = accounts.root();
        Self { accounts, storage, root }
    }

    /// Applies one block's account changes and returns the new state root.
    ///
    /// Updates are applied in iteration order (an address may appear several times). Storage
    /// tries of different accounts are updated and hashed in parallel; then the account leaves
    /// are rewritten and the account trie rehashed along the modified paths only. Untouched
    /// accounts keep their storage root.
    pub fn apply(&mut self, updates: impl IntoIterator<Item = (Address, AccountUpdate)>) -> B256 {
        // Group by hashed address, preserving first-seen order.
        let mut index: B256Map<usize> = B256Map::default();
        let mut work: Vec<StorageWork> = Vec::new();
        let updates: Vec<(Address, AccountUpdate)> = updates.into_iter().collect();
        let hashed = hash_all(&updates, |(address, _)| keccak256(address));
        for (hashed_address, (_, update)) in hashed.into_iter().zip(updates) {
            let slot = *index.entry(hashed_address).or_insert_with(|| {
                work.push(StorageWork {
                    hashed_address,
                    updates: Vec::new(),
                    trie: MerkleTrie::new(),
                    info: None,
                    storage_root: EMPTY_ROOT_HASH,
                });
                work.len() - 1
            });
            work[slot].updates.push(update);
        }
        for item in &mut work {
            item.trie = self.storage.remove(&item.hashed_address).unwrap_or_default();
        }

        if work.len() >= PARALLEL_ACCOUNTS_THRESHOLD {
            work.par_iter_mut().for_each(StorageWork::run);
        } else {
            work.iter_mut().for_each(StorageWork::run);
        }

        for item in work {
            match &item.info {
                Some(info) => {
                    self.accounts
                        .insert(item.hashed_address, encode_account(info, item.storage_root));
                    if !item.trie.is_empty() {
                        self.storage.insert(item.hashed_address, item.trie);
                    }
                }
                None => {
                    self.accounts.remove(&item.hashed_address);
                }
            }
        }
        self.root = self.accounts.root();
        self.root
    }

    /// The current state root.
    pub fn root(&self) -> B256 {
        self.root
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Storage root of `address` ([`EMPTY_ROOT_HASH`] if absent or without storage).
    pub fn storage_root(&self, address: Address) -> B256 {
        self.storage_root_hashed(&keccak256(address))
    }

    fn storage_root_hashed(&self, hashed_address: &B256) -> B256 {
        self.storage.get(hashed_address).map_or(EMPTY_ROOT_HASH, MerkleTrie::peek_root)
    }

    /// The account of `address` as committed in the trie.
    pub fn account(&self, address: Address) -> Result<Option<TrieAccount>, TrieError> {
        self.account_hashed(&keccak256(address))
    }

    fn account_hashed(&self, hashed_address: &B256) -> Result<Option<TrieAccount>, TrieError> {
        self.accounts
            .get(hashed_address)
            .map(|mut rlp| TrieAccount::decode(&mut rlp))
            .transpose()
            .map_err(|source| TrieError::CorruptLeaf { key: *hashed_address, source })
    }

    /// Value of storage `slot` of `address` (zero if absent).
    pub fn storage(&self, address: Address, slot: U256) -> Result<U256, TrieError> {
        let trie = self.storage.get(&keccak256(address));
        let key = keccak256(slot.to_be_bytes::<32>());
        Self::slot_value(trie, &key)
    }

    fn slot_value(trie: Option<&MerkleTrie>, hashed_slot: &B256) -> Result<U256, TrieError> {
        match trie.and_then(|trie| trie.get(hashed_slot)) {
            None => Ok(U256::ZERO),
            Some(mut rlp) => U256::decode(&mut rlp)
                .map_err(|source| TrieError::CorruptLeaf { key: *hashed_slot, source }),
        }
    }

    /// The account storage trie of `address`, if it has storage.
    pub fn storage_trie(&self, address: Address) -> Option<&MerkleTrie> {
        self.storage.get(&keccak256(address))
    }

    /// The account trie.
    pub fn account_trie(&self) -> &MerkleTrie {
        &self.accounts
    }

    /// EIP-1186 proof of `address` and of its storage `slots` against [`root`](Self::root).
    ///
    /// For an absent account the account proof is an exclusion proof, `storage_hash` is
    /// [`EMPTY_ROOT_HASH`] and every slot has value zero and an empty proof (as for any slot of
    /// an account without storage).
    pub fn account_proof(
        &self,
        address: Address,
        slots: &[B256],
    ) -> Result<AccountProof, TrieError> {
        let hashed_address = keccak256(address);
        let account = self.account_hashed(&hashed_address)?;
        let trie = self.storage.get(&hashed_address);
        let storage_hash = self.storage_root_hashed(&hashed_address);
        let storage_proofs = slots
            .iter()
            .map(|slot| {
                let hashed_slot = keccak256(slot);
                Ok(StorageProof {
                    key: *slot,
                    value: Self::slot_value(trie, &hashed_slot)?,
                    proof: trie.map(|trie| trie.proof(&hashed_slot)).unwrap_or_default(),
                })
            })
            .collect::<Result<_, TrieError>>()?;
        Ok(AccountProof {
            address,
            account,
            account_proof: self.accounts.proof(&hashed_address),
            storage_hash,
            storage_proofs,
        })
    }

    /// Approximate heap footprint in bytes of all tries.
    pub fn memory_usage(&self) -> usize {
        self.accounts.memory_usage()
            + self.storage.values().map(MerkleTrie::memory_usage).sum::<usize>()
            + self.storage.capacity() * (32 + core::mem::size_of::<MerkleTrie>())
    }
}

/// Removes consecutive duplicates (by `key`) of a sorted vector, keeping the last of each run.
fn dedup_keep_last<T, K: PartialEq>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    items.reverse();
    items.dedup_by(|later, earlier| key(later) == key(earlier));
    items.reverse();
}
