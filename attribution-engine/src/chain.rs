//! The L2 as the receipts pipeline sees it: the contracts of `deployments/<network>/l2.json`
//! (as `DeployL2.s.sol` writes it), `eth_call`s through the `ol-primitives` bindings, and the
//! attestor's wallet.

use crate::receipts::{ReceiptError, ReceiptResult};
use alloy::{
    eips::BlockId,
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
    transports::{RpcError, TransportErrorKind},
};
use ol_primitives::contracts::{
    attribution_receipts::IAttributionReceipts, model_registry::IModelRegistry, rewards::IRewards,
    staking::IStaking,
};
use serde::Deserialize;
use std::path::Path;

/// The contracts the receipts pipeline uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The L2 chain id.
    pub chain_id: u64,
    /// AttributionReceipts.
    pub receipts: Address,
    /// ModelRegistry.
    pub registry: Address,
    /// Rewards.
    pub rewards: Address,
    /// Staking.
    pub staking: Address,
}

impl Deployment {
    /// Parses `l2.json`.
    pub fn from_json(json: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Contracts {
            attribution_receipts: Address,
            model_registry: Address,
            rewards: Address,
            staking: Address,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct L2 {
            chain_id: u64,
            contracts: Contracts,
        }
        let l2: L2 = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Ok(Self {
            chain_id: l2.chain_id,
            receipts: l2.contracts.attribution_receipts,
            registry: l2.contracts.model_registry,
            rewards: l2.contracts.rewards,
            staking: l2.contracts.staking,
        })
    }

    /// Reads `l2.json` from a file.
    pub fn load(path: &Path) -> ReceiptResult<Self> {
        let bad = |reason: String| ReceiptError::Deployment { path: path.to_owned(), reason };
        let json = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::from_json(&json).map_err(bad)
    }
}

/// `IStaking.Role.Attestor`.
pub const ATTESTOR_ROLE: u8 = 1;

/// `IAttributionReceipts.BatchStatus.Pending`.
pub const BATCH_PENDING: u8 = 1;

/// What receipts need of a registered model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelTerms {
    /// keccak256 of the adapter file.
    pub adapter_hash: B256,
    /// The training manifest's root.
    pub manifest_root: B256,
    /// The contributors' share of each fee, in basis points.
    pub contributors_bps: u16,
}

/// The L2 with the attestor's wallet.
#[derive(Debug, Clone)]
pub struct Chain {
    /// A provider (reads; the wallet signs separately so raw transactions can be stored).
    pub provider: DynProvider,
    /// The attestor's wallet.
    pub wallet: EthereumWallet,
    /// The attestor's key (signs receipts).
    pub signer: PrivateKeySigner,
    /// The contracts.
    pub deployment: Deployment,
}

impl Chain {
    /// Connects to `rpc_url` (HTTP).
    pub fn connect(
        rpc_url: &str,
        deployment: Deployment,
        signer: PrivateKeySigner,
    ) -> ReceiptResult<Self> {
        let url = rpc_url
            .parse()
            .map_err(|e| ReceiptError::Chain(format!("RPC URL {rpc_url:?}: {e}")))?;
        let provider = ProviderBuilder::new().connect_http(url).erased();
        Ok(Self { provider, wallet: EthereumWallet::from(signer.clone()), signer, deployment })
    }

    /// The attestor's address.
    pub fn attestor(&self) -> Address {
        self.signer.address()
    }

    /// `eth_call` on the latest mined block.
    pub async fn call<C: SolCall>(&self, to: Address, call: C) -> ReceiptResult<C::Return> {
        let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        let out = self
            .provider
            .call(tx)
            .block(BlockId::latest())
            .await
            .map_err(|e| ReceiptError::Chain(format!("{} on {to}: {e}", C::SIGNATURE)))?;
        C::abi_decode_returns(&out).map_err(|e| {
            ReceiptError::Chain(format!("{} on {to}: bad return data: {e}", C::SIGNATURE))
        })
    }

    /// A registered model's terms, `None` if the id is unknown.
    pub async fn model(&self, model_id: B256) -> ReceiptResult<Option<ModelTerms>> {
        let registry = self.deployment.registry;
        if !self.call(registry, IModelRegistry::existsCall { _modelId: model_id }).await? {
            return Ok(None);
        }
        let m = self.call(registry, IModelRegistry::getModelCall { _modelId: model_id }).await?;
        let split =
            self.call(registry, IModelRegistry::feeTermsCall { _modelId: model_id }).await?.split_;
        Ok(Some(ModelTerms {
            adapter_hash: m.adapterHash,
            manifest_root: m.manifestRoot,
            contributors_bps: split.contributorsBps,
        }))
    }

    /// The number of batches posted (all attestors, all models).
    pub async fn batch_count(&self) -> ReceiptResult<U256> {
        self.call(self.deployment.receipts, IAttributionReceipts::batchCountCall {}).await
    }

    /// The model's batch stream.
    pub async fn stream(&self, model_id: B256) -> ReceiptResult<IAttributionReceipts::Stream> {
        self.call(
            self.deployment.receipts,
            IAttributionReceipts::getStreamCall { _modelId: model_id },
        )
        .await
    }

    /// A batch.
    pub async fn batch(&self, id: u64) -> ReceiptResult<IAttributionReceipts::Batch> {
        self.call(
            self.deployment.receipts,
            IAttributionReceipts::getBatchCall { _batchId: U256::from(id) },
        )
        .await
    }

    /// The model's accrued contributor fees in Rewards.
    pub async fn contributor_accrued(&self, model_id: B256) -> ReceiptResult<U256> {
        self.call(self.deployment.rewards, IRewards::contributorAccruedCall { _modelId: model_id })
            .await
    }

    /// Checks that the attestor holds the contract's minimum bonded stake.
    pub async fn check_stake(&self) -> ReceiptResult<()> {
        let params =
            self.call(self.deployment.receipts, IAttributionReceipts::paramsCall {}).await?;
        let bonded = self
            .call(
                self.deployment.staking,
                IStaking::bondedOfCall { _account: self.attestor(), _role: ATTESTOR_ROLE },
            )
            .await?;
        let required = U256::from(params.minAttestorStake);
        if bonded < required {
            return Err(ReceiptError::InsufficientStake {
                attestor: self.attestor(),
                bonded,
                required,
            });
        }
        Ok(())
    }

    /// The latest block's timestamp.
    pub async fn latest_timestamp(&self) -> ReceiptResult<u64> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(rpc)?
            .ok_or_else(|| ReceiptError::Chain("no latest block".into()))?;
        Ok(block.header.timestamp)
    }
}

/// An RPC error as a [`ReceiptError`].
pub fn rpc(e: RpcError<TransportErrorKind>) -> ReceiptError {
    ReceiptError::Chain(e.to_string())
}

/// Whether a broadcast error says the node already has the transaction.
pub fn is_already_known(e: &RpcError<TransportErrorKind>) -> bool {
    let s = e.to_string().to_lowercase();
    s.contains("already known") || s.contains("already imported") || s.contains("known transaction")
}

/// The receipts contract's revert reason, decoded when it is one of its errors.
pub fn describe_revert(e: &RpcError<TransportErrorKind>) -> String {
    use IAttributionReceipts::IAttributionReceiptsErrors as E;
    match e.as_error_resp().and_then(|p| p.as_decoded_interface_error::<E>()) {
        Some(decoded) => format!("{decoded:?}"),
        None => e.to_string(),
    }
}
