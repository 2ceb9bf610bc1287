//! # Receipts
//!
//! Turns the OpenLoRA usage ledger into attribution receipts on chain, and keeps what anyone
//! needs to check one and what contributors need to claim.
//!
//! ```text
//!  usage ledger (openlora_server::ledger, seq order)
//!     │ worker::Worker::step
//!     ├─ reconcile: every batch recorded signed/sent ─▶ receipt? confirmed | failed
//!     │             node lost it? nonce unused ─▶ rebroadcast the same raw tx
//!     ├─ ingest: each inference after the cursor (free ones only move the cursor):
//!     │     adapter ─▶ run folder (RunSpec) ─▶ registry: adapterHash and manifestRoot match?
//!     │     index opened with its shard hashes checked ─▶ attribution::attribute
//!     │     ─▶ Receipt (contract format) ─▶ leaf ─▶ attestor signature
//!     │     receipt row + cursor: one store transaction
//!     └─ post, per model: pending receipts in seq order (as many as the accrued pool covers)
//!           ─▶ receipts tree + cumulative reward tree ─▶ postBatch signed
//!           ─▶ batch, proofs, raw tx stored (status signed) ─▶ broadcast (sent) ─▶ confirmed
//!  http: receipts with proofs, batches, a contributor's receipts and reward proofs
//! ```
//!
//! Formats (see `IAttributionReceipts.sol`): a receipt leaf is
//! `keccak256(bytes.concat(keccak256(abi.encode(Receipt))))`, `attributionHash` is
//! `keccak256(abi.encode(address[] contributors, uint16[] weightsBps))` over the top-k
//! contributors, and a reward leaf is
//! `keccak256(bytes.concat(keccak256(abi.encode(modelId, account, cumulativeAmount))))`.
//! Receipts are signed by the attestor as an EIP-191 message of the 32-byte leaf.
//!
//! Money: a receipt hands out the fee's contributor share (`fee × contributorsBps / 10,000`,
//! the model's fee split) by weight: `share × bps / 10,000` per listed contributor, rounded
//! down. What the top-k leave out (the rest) is not handed out and stays in the model's pool.

pub mod cli;
pub mod http;
pub mod merkle;
pub mod store;
pub mod worker;

use crate::{
    analyzer::AnalyzerError, attribution::AttributeError, context::ContextError, train::TrainError,
};
use alloy::sol_types::SolValue;
use alloy_primitives::{Address, B256, U256, keccak256};
use ol_primitives::contracts::attribution_receipts::IAttributionReceipts;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use merkle::MerkleTree;
pub use store::{BatchRecord, BatchStatus, ReceiptStore, Rejection, StoredReceipt};
pub use worker::{Retry, RunSpec, StepReport, Worker, WorkerConfig};

/// The on-chain receipt (the leaf's preimage).
pub type Receipt = IAttributionReceipts::Receipt;

/// Basis points in a whole.
pub const BPS: u64 = 10_000;

/// A listed contributor of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributorShare {
    /// The contributor.
    pub address: Address,
    /// Its weight in basis points.
    pub bps: u16,
    /// What this receipt hands it, in wei.
    pub amount: U256,
}

/// `keccak256(abi.encode(address[] contributors, uint16[] weightsBps))`.
pub fn attribution_hash(contributors: &[ContributorShare]) -> B256 {
    let addresses: Vec<Address> = contributors.iter().map(|c| c.address).collect();
    let weights: Vec<u16> = contributors.iter().map(|c| c.bps).collect();
    keccak256((addresses, weights).abi_encode_params())
}

/// The receipt's leaf, as `AttributionReceipts.receiptLeaf` computes it.
pub fn receipt_leaf(receipt: &Receipt) -> B256 {
    keccak256(keccak256(receipt.abi_encode()))
}

/// A reward leaf, as `Rewards.rewardLeaf` computes it.
pub fn reward_leaf(model_id: B256, account: Address, cumulative: U256) -> B256 {
    keccak256(keccak256((model_id, account, cumulative).abi_encode_params()))
}

/// Errors of the receipts pipeline. Each names the inference, adapter or model concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The usage ledger failed.
    #[error(transparent)]
    Ledger(#[from] openlora_server::ledger::LedgerError),
    /// The receipt store failed.
    #[error("receipt store: {0}")]
    Store(#[from] sqlx::Error),
    /// The receipt store's migrations failed.
    #[error("receipt store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store URL names no supported database.
    #[error("unsupported store URL {0:?}: give a file path, a sqlite: URL or a postgres:// URL")]
    UnsupportedUrl(String),
    /// A stored value does not parse.
    #[error("receipt store holds an invalid {column} in {table}: {value:?}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The value.
        value: String,
    },
    /// No inference with this id in the usage ledger.
    #[error("inference {0} is not in the usage ledger")]
    InferenceNotFound(B256),
    /// A retry of an inference that was not rejected (it has a receipt, or was never read).
    #[error("inference {0} has no rejection to retry")]
    NotRejected(B256),
    /// The inference's adapter is not one of the configured runs.
    #[error("inference {inference}: adapter {adapter} is unknown (no configured run trained it)")]
    UnknownAdapter {
        /// The inference.
        inference: B256,
        /// The adapter it was served with.
        adapter: B256,
    },
    /// The inference names no model registered on chain.
    #[error("inference {inference}: model {model} is not registered")]
    UnknownModel {
        /// The inference.
        inference: B256,
        /// The model.
        model: B256,
    },
    /// The registry holds another adapter for the model than the one served.
    #[error(
        "inference {inference}: its model registers adapter {registered}, but {served} was served"
    )]
    AdapterMismatch {
        /// The inference.
        inference: B256,
        /// The registry's adapter hash.
        registered: B256,
        /// The adapter in the ledger.
        served: B256,
    },
    /// The run's manifest is not the one the model registered.
    #[error(
        "model {model}: manifest root on chain is {chain}, but run {run} has {local}; refusing to attribute"
    )]
    ManifestMismatch {
        /// The model.
        model: B256,
        /// The registered manifest root.
        chain: B256,
        /// The run's manifest root.
        local: B256,
        /// The run folder.
        run: PathBuf,
    },
    /// The gradient index does not belong to the run's manifest.
    #[error(
        "run {run}: index {index} was built for manifest {index_manifest}, the run has {run_manifest}"
    )]
    IndexManifest {
        /// The run folder.
        run: PathBuf,
        /// The index name.
        index: String,
        /// The index's manifest root.
        index_manifest: B256,
        /// The run's.
        run_manifest: B256,
    },
    /// A run folder could not be read.
    #[error("run {run}: {source}")]
    Run {
        /// The run folder.
        run: PathBuf,
        /// Why.
        #[source]
        source: TrainError,
    },
    /// A run could not be opened for attribution.
    #[error("run {run}: {source}")]
    Context {
        /// The run folder.
        run: PathBuf,
        /// Why.
        #[source]
        source: Box<ContextError>,
    },
    /// The gradient index could not be opened (missing, foreign, or a shard is corrupt).
    #[error("run {run}: index {index}: {source}")]
    Index {
        /// The run folder.
        run: PathBuf,
        /// The index name.
        index: String,
        /// Why.
        #[source]
        source: Box<AnalyzerError>,
    },
    /// Two configured runs trained the same adapter.
    #[error("runs {first} and {second} both hold adapter {adapter}")]
    DuplicateAdapter {
        /// The adapter.
        adapter: B256,
        /// One run.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The ledger row lacks the prompt or output text.
    #[error(
        "inference {inference}: the ledger has no {which} text (a token-id prompt, or recorded before texts were kept)"
    )]
    MissingText {
        /// The inference.
        inference: B256,
        /// `prompt` or `completion`.
        which: &'static str,
    },
    /// A ledger text does not hash to the hash recorded with it.
    #[error("inference {inference}: the ledger's {which} text does not hash to its recorded hash")]
    TextMismatch {
        /// The inference.
        inference: B256,
        /// `prompt` or `completion`.
        which: &'static str,
    },
    /// Attribution failed.
    #[error("inference {inference}: {source}")]
    Attribute {
        /// The inference.
        inference: B256,
        /// Why.
        #[source]
        source: Box<AttributeError>,
    },
    /// A chain read or send failed.
    #[error("chain: {0}")]
    Chain(String),
    /// The deployment file is unreadable.
    #[error("deployment {path}: {reason}")]
    Deployment {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
    /// The attestor's stake is below the contract's minimum.
    #[error("attestor {attestor} has {bonded} bonded, the receipts contract requires {required}")]
    InsufficientStake {
        /// The attestor.
        attestor: Address,
        /// Its bonded attestor stake.
        bonded: U256,
        /// The minimum.
        required: U256,
    },
}

impl ReceiptError {
    /// Whether the error lies in one inference's ledger row itself (a text missing or not
    /// matching its hash, texts with nothing to score — an empty completion, say, when the
    /// answer stopped at once —, a model that is not registered, an adapter that is not the
    /// model's), so that the worker records the inference as rejected and goes on. Every other
    /// error (the chain, the stores, a run, an index or the configuration) stops the worker at
    /// that row until it is mended, so that nothing is passed over for a passing fault.
    pub fn rejects_inference(&self) -> bool {
        match self {
            Self::UnknownModel { .. }
            | Self::AdapterMismatch { .. }
            | Self::MissingText { .. }
            | Self::TextMismatch { .. } => true,
            Self::Attribute { source, .. } => matches!(**source, AttributeError::Data(_)),
            _ => false,
        }
    }
}

/// Result of the receipts pipeline.
pub type ReceiptResult<T> = Result<T, ReceiptError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_follow_the_contract_formats() {
        let r = Receipt {
            inferenceId: B256::repeat_byte(1),
            modelId: B256::repeat_byte(2),
            adapterHash: B256::repeat_byte(3),
            outputHash: B256::repeat_byte(4),
            indexRoot: B256::repeat_byte(5),
            methodVersion: 3,
            fee: U256::from(7),
            attributionHash: B256::repeat_byte(6),
        };
        // Eight static words.
        assert_eq!(r.abi_encode().len(), 8 * 32);
        assert_eq!(receipt_leaf(&r), keccak256(keccak256(r.abi_encode())));
        let c = [ContributorShare {
            address: Address::repeat_byte(9),
            bps: 10_000,
            amount: U256::ZERO,
        }];
        // Two dynamic arrays: two offsets, then each length and element.
        let encoded = (vec![Address::repeat_byte(9)], vec![10_000u16]).abi_encode_params();
        assert_eq!(encoded.len(), 6 * 32);
        assert_eq!(attribution_hash(&c), keccak256(encoded));
        let l = reward_leaf(B256::ZERO, Address::ZERO, U256::from(1));
        assert_eq!(
            l,
            keccak256(keccak256([[0u8; 32], [0u8; 32], U256::from(1).to_be_bytes()].concat()))
        );
    }
}
