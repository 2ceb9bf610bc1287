//! Block execution and sealing: **the** state-transition function of the chain.
//!
//! The sequencer builds blocks with it and the prover-bridge's `replay` re-executes blocks
//! read from L1 with it; it is the same code, so a replayed block can only differ if its
//! inputs do. Execution runs alloy-op-evm's [`OpBlockExecutor`] (op-revm, as op-reth does) over
//! any revm [`DatabaseRef`]; sealing derives every root of the header.
//!
//! ```text
//!   BlockAttributes ─┐
//!   parent header ───┼─▶ execute_block ──▶ ExecutionOutcome ──▶ seal_block ──▶ ExecutedBlock
//!   transactions ────┘   (OpBlockExecutor                     (state root from the trie,
//!   (TransactionSource)   over State<DB>)                      tx/receipt roots, bloom)
//! ```

use crate::{
    chainspec::ChainSpec,
    primitives::{Receipt, SealedBlock, Transaction},
    storage::{ExecutedBlock, StateChangeset},
    trie::{AccountState, AccountUpdate, StateTrie},
};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, TxReceipt,
    proofs::{calculate_receipt_root, calculate_transaction_root},
    transaction::Recovered,
};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_evm::{
    EvmFactory,
    block::{BlockExecutionError, BlockExecutor, BlockValidationError},
};
use alloy_op_evm::{
    OpBlockExecutionCtx, OpBlockExecutor, OpEvmFactory, OpTx, block::OpAlloyReceiptBuilder,
    evm_env_for_op_block,
};
use alloy_primitives::{Address, B256, Bloom, Bytes, Sealed, U256};
use ol_primitives::predeploys::L2_TO_L1_MESSAGE_PASSER;
use revm::{
    database::{State, states::bundle_state::BundleRetention},
    database_interface::{DBErrorMarker, DatabaseRef},
};

/// What a block is built from besides its transactions and parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAttributes {
    /// Seconds since the epoch; at least the parent's.
    pub timestamp: u64,
    /// Receives priority fees (the sequencer's fee recipient).
    pub beneficiary: Address,
    /// The block gas limit.
    pub gas_limit: u64,
    /// `PREVRANDAO` (the header's `mixHash`).
    pub prev_randao: B256,
    /// The EIP-4788 parent beacon block root (the L1 origin's, once the bridge provides it).
    pub parent_beacon_block_root: B256,
    /// Free-form header data (at most 32 bytes).
    pub extra_data: Bytes,
}

/// Why a transaction was left out of a block being built (or, in a block being verified, why
/// the block is invalid).
#[derive(Debug, thiserror::Error)]
pub enum TxRejection {
    /// revm refused the transaction (nonce, funds, fee, gas limit, ...).
    #[error("{0}")]
    Invalid(String),
    /// The transaction's gas limit exceeds what is left in the block.
    #[error("gas limit {gas_limit} exceeds the {available} gas left in the block")]
    BlockFull {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// Gas still available in the block.
        available: u64,
    },
}

/// Errors that stop a block from being executed at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    /// In a block under verification, a transaction is invalid.
    #[error("transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTransaction {
        /// Its position in the block.
        index: usize,
        /// Its hash.
        hash: B256,
        /// Why.
        reason: TxRejection,
    },
    /// The state could not be read, or another internal failure.
    #[error("block execution failed: {0}")]
    Internal(String),
}

/// Supplies the transactions of a block and learns what became of each.
pub trait TransactionSource {
    /// The next transaction to try, or `None` when the block is complete.
    fn next_transaction(&mut self) -> Option<Recovered<Transaction>>;

    /// Called when `tx` (the last one handed out) could not be included. Return `true` to go
    /// on building (a block builder skips it), `false` to fail the block (verification).
    fn on_rejected(&mut self, tx: &Recovered<Transaction>, reason: &TxRejection) -> bool;
}

/// A fixed list of transactions that must all be valid: what verification and replay use.
#[derive(Debug)]
pub struct FixedTransactions {
    txs: std::vec::IntoIter<Recovered<Transaction>>,
}

impl FixedTransactions {
    /// Wraps transactions with their recovered senders, in block order.
    pub fn new(txs: Vec<Recovered<Transaction>>) -> Self {
        Self { txs: txs.into_iter() }
    }
}

impl TransactionSource for FixedTransactions {
    fn next_transaction(&mut self) -> Option<Recovered<Transaction>> {
        self.txs.next()
    }

    fn on_rejected(&mut self, _: &Recovered<Transaction>, _: &TxRejection) -> bool {
        false
    }
}

/// What executing a block's transactions produced, before sealing.
#[derive(Debug, Clone)]
pub struct ExecutionOutcome {
    /// The header fields known before execution (roots and gas used still unset).
    pub header: Header,
    /// The included transactions, in order.
    pub transactions: Vec<Transaction>,
    /// Their senders.
    pub senders: Vec<Address>,
    /// One receipt per included transaction.
    pub receipts: Vec<Receipt>,
    /// Total gas used.
    pub gas_used: u64,
    /// The state changes, sorted by address and slot.
    pub changes: StateChangeset,
}

/// The header of the block after `parent` with `attributes`, before execution.
pub fn next_header(
    spec: &ChainSpec,
    parent: &Sealed<Header>,
    attributes: &BlockAttributes,
) -> Header {
    Header {
        parent_hash: parent.hash(),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: attributes.beneficiary,
        difficulty: U256::ZERO,
        number: parent.number + 1,
        gas_limit: attributes.gas_limit,
        timestamp: attributes.timestamp,
        extra_data: attributes.extra_data.clone(),
        mix_hash: attributes.prev_randao,
        base_fee_per_gas: Some(spec.next_base_fee(parent)),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(attributes.parent_beacon_block_root),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// Executes the transactions `source` supplies on top of `db` (the parent's state) and
/// returns the receipts and state changes.
pub fn execute_block<DB, S>(
    spec: &ChainSpec,
    db: DB,
    parent: &Sealed<Header>,
    attributes: &BlockAttributes,
    source: &mut S,
) -> Result<ExecutionOutcome, ExecutionError>
where
    DB: DatabaseRef + std::fmt::Debug,
    DB::Error: DBErrorMarker + Send + Sync + 'static,
    S: TransactionSource + ?Sized,
{
    let header = next_header(spec, parent, attributes);
    let mut state = State::builder().with_database_ref(db).with_bundle_update().build();
    let evm_env = evm_env_for_op_block(&header, &spec.hardforks, spec.chain_id);
    let evm = OpEvmFactory::<OpTx>::default().create_evm(&mut state, evm_env);
    let ctx = OpBlockExecutionCtx {
        parent_hash: parent.hash(),
        parent_beacon_block_root: Some(attributes.parent_beacon_block_root),
        extra_data: attributes.extra_data.clone(),
    };
    let mut executor =
        OpBlockExecutor::new(evm, ctx, &spec.hardforks, OpAlloyReceiptBuilder::default());
    executor.apply_pre_execution_changes().map_err(internal)?;

    let mut transactions = Vec::new();
    let mut senders = Vec::new();
    while let Some(tx) = source.next_transaction() {
        match executor.execute_transaction(&tx) {
            Ok(_) => {
                senders.push(tx.signer());
                transactions.push(tx.into_inner());
            }
            Err(err) => {
                let reason = match err {
                    BlockExecutionError::Validation(BlockValidationError::InvalidTx {
                        error,
                        ..
                    }) => TxRejection::Invalid(error.to_string()),
                    BlockExecutionError::Validation(
                        BlockValidationError::TransactionGasLimitMoreThanAvailableBlockGas {
                            transaction_gas_limit,
                            block_available_gas,
                        },
                    ) => TxRejection::BlockFull {
                        gas_limit: transaction_gas_limit,
                        available: block_available_gas,
                    },
                    other => return Err(internal(other)),
                };
                if !source.on_rejected(&tx, &reason) {
                    return Err(ExecutionError::InvalidTransaction {
                        index: transactions.len(),
                        hash: tx.inner().tx_hash(),
                        reason,
                    });
                }
            }
        }
    }
    let (_evm, result) = executor.finish().map_err(internal)?;
    state.merge_transitions(BundleRetention::PlainState);
    let changes = changeset_from_bundle(state.take_bundle());
    Ok(ExecutionOutcome {
        header,
        transactions,
        senders,
        gas_used: result.gas_used,
        receipts: result.receipts,
        changes,
    })
}

fn internal(err: impl std::fmt::Display) -> ExecutionError {
    ExecutionError::Internal(err.to_string())
}

/// Turns revm's bundle into the sorted changeset the store and the trie consume.
fn changeset_from_bundle(bundle: revm::database::BundleState) -> StateChangeset {
    let mut accounts: Vec<(Address, AccountUpdate)> = bundle
        .state
        .into_iter()
        .filter(|(_, account)| {
            account.info != account.original_info
                || account.was_destroyed()
                || account.storage.values().any(|slot| slot.is_changed())
        })
        .map(|(address, account)| {
            let storage_wiped = account.was_destroyed();
            let info = account.info.filter(|info| !info.is_empty()).map(|info| AccountState {
                nonce: info.nonce,
                balance: info.balance,
                code_hash: info.code_hash,
            });
            let mut storage: Vec<(U256, U256)> = account
                .storage
                .into_iter()
                .filter(|(_, slot)| slot.is_changed() || storage_wiped)
                .map(|(key, slot)| (key, slot.present_value))
                .collect();
            storage.sort_unstable_by_key(|(key, _)| *key);
            (address, AccountUpdate { info, storage_wiped, storage })
        })
        .collect();
    accounts.sort_unstable_by_key(|(address, _)| *address);
    let mut contracts: Vec<(B256, Bytes)> =
        bundle.contracts.into_iter().map(|(hash, code)| (hash, code.original_bytes())).collect();
    contracts.sort_unstable_by_key(|(hash, _)| *hash);
    StateChangeset { accounts, contracts }
}

/// Completes a block: applies its changes to `trie` (which must hold the parent's state),
/// and fills in the state root, transactions root, receipts root, logs bloom, gas used and
/// the message passer's storage root: from Isthmus on, the header's `withdrawalsRoot` holds
/// it, so a withdrawal can be proven against an output root without the whole state.
pub fn seal_block(outcome: ExecutionOutcome, trie: &mut StateTrie) -> ExecutedBlock {
    let ExecutionOutcome { mut header, transactions, senders, receipts, gas_used, changes } =
        outcome;
    header.state_root = trie.apply(changes.accounts.iter().cloned());
    header.withdrawals_root = Some(trie.storage_root(L2_TO_L1_MESSAGE_PASSER));
    header.transactions_root = calculate_transaction_root(&transactions);
    header.receipts_root = calculate_receipt_root(&receipts);
    header.logs_bloom = receipts.iter().fold(Bloom::ZERO, |mut bloom, receipt| {
        bloom.accrue_bloom(&receipt.bloom());
        bloom
    });
    header.gas_used = gas_used;
    ExecutedBlock {
        block: SealedBlock { header: Sealed::new(header), transactions, senders },
        receipts,
        changes,
        l1_origin: None,
    }
}
