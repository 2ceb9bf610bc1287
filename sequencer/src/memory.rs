//! A chain kept entirely in memory and driven by the same execution and sealing functions as
//! the node: what the prover-bridge's `replay` re-executes L1 batches with, and what the
//! throughput benchmark measures as the in-process pipeline. No disk, no RPC.

use crate::{
    chainspec::ChainSpec,
    execution::{BlockAttributes, ExecutionError, FixedTransactions, execute_block, seal_block},
    genesis::{GenesisError, genesis_header, genesis_state_trie},
    primitives::{SealedHeader, Transaction},
    storage::ExecutedBlock,
    trie::StateTrie,
};
use alloy_consensus::transaction::Recovered;
use alloy_primitives::U256;
use revm::{
    bytecode::Bytecode,
    database::{CacheDB, DbAccount},
    database_interface::{DatabaseRef, EmptyDB},
    state::AccountInfo,
};
use std::sync::Arc;

/// The state after the last executed block, with its trie and header.
#[derive(Debug)]
pub struct MemoryChain {
    spec: Arc<ChainSpec>,
    db: CacheDB<EmptyDB>,
    trie: StateTrie,
    head: SealedHeader,
}

impl MemoryChain {
    /// The chain at its genesis.
    pub fn from_genesis(spec: Arc<ChainSpec>) -> Result<Self, GenesisError> {
        let head = genesis_header(&spec.genesis)?;
        let mut db = CacheDB::new(EmptyDB::default());
        for (address, account) in &spec.genesis.alloc {
            let mut info = AccountInfo::from_balance(account.balance);
            info.nonce = account.nonce.unwrap_or_default();
            if let Some(code) = account.code.clone().filter(|c| !c.is_empty()) {
                let code = Bytecode::new_raw_checked(code).map_err(|e| {
                    GenesisError::Invalid(format!("alloc {address}: code does not decode: {e}"))
                })?;
                info = info.with_code(code);
            }
            db.insert_account_info(*address, info);
            for (slot, value) in account.storage.iter().flatten() {
                // The cache never fails to insert storage of an account it holds.
                let _ = db.insert_account_storage(
                    *address,
                    U256::from_be_bytes(slot.0),
                    U256::from_be_bytes(value.0),
                );
            }
        }
        db.cache.block_hashes.insert(U256::ZERO, head.hash());
        let trie = genesis_state_trie(&spec.genesis);
        Ok(Self { spec, db, trie, head })
    }

    /// The last block's header.
    pub fn head(&self) -> &SealedHeader {
        &self.head
    }

    /// The chain spec.
    pub fn spec(&self) -> &Arc<ChainSpec> {
        &self.spec
    }

    /// The state trie of the head.
    pub fn trie(&self) -> &StateTrie {
        &self.trie
    }

    /// Executes and seals the next block from `attributes` and `transactions` (every one must
    /// be valid: this is verification, not building) and makes it the head.
    pub fn execute(
        &mut self,
        attributes: &BlockAttributes,
        transactions: Vec<Recovered<Transaction>>,
    ) -> Result<ExecutedBlock, ExecutionError> {
        let outcome = execute_block(
            &self.spec,
            &self.db,
            &self.head,
            attributes,
            &mut FixedTransactions::new(transactions),
        )?;
        let executed = seal_block(outcome, &mut self.trie);
        self.apply(&executed);
        self.head = executed.block.header.clone();
        Ok(executed)
    }

    /// Writes a block's state changes into the in-memory state.
    fn apply(&mut self, executed: &ExecutedBlock) {
        let changes = &executed.changes;
        for (hash, code) in &changes.contracts {
            if let Ok(code) = Bytecode::new_raw_checked(code.clone()) {
                self.db.cache.contracts.insert(*hash, code);
            }
        }
        for (address, update) in &changes.accounts {
            match update.info {
                Some(account) => {
                    // Code is looked up by hash from the contracts map when needed.
                    let existing = self.db.basic_ref(*address).ok().flatten();
                    let code = existing
                        .filter(|e| e.code_hash == account.code_hash)
                        .and_then(|e| e.code)
                        .or_else(|| self.db.cache.contracts.get(&account.code_hash).cloned());
                    let info = AccountInfo {
                        balance: account.balance,
                        nonce: account.nonce,
                        code_hash: account.code_hash,
                        account_id: None,
                        code,
                    };
                    if update.storage_wiped {
                        let _ = self.db.replace_account_storage(*address, Default::default());
                    }
                    self.db.insert_account_info(*address, info);
                }
                None => {
                    // Gone (EIP-161 or destroyed): not merely empty, so EXTCODEHASH reads 0.
                    self.db.cache.accounts.insert(*address, DbAccount::new_not_existing());
                }
            }
            for (slot, value) in &update.storage {
                let _ = self.db.insert_account_storage(*address, *slot, *value);
            }
        }
        let header = &executed.block.header;
        self.db.cache.block_hashes.insert(U256::from(header.number), header.hash());
    }
}
