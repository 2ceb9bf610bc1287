//! The Datanet store and training runs on chain: contributions registered in `Datanets`, their
//! curation mirrored, and a run's adapter registered in `ModelRegistry` with its manifest root.
//!
//! What `Datanets.sol` expects decides who sends what:
//!
//! ```text
//! createDatanet(uri, license, rules)        anyone; the sender owns it   (--key, with --create)
//! setCurator(id, curator, true)             the owner                    (--key, once, if needed)
//! contribute(id, hash, size, uri) {stake}   the contributor (msg.sender) (--contributor-key)
//! approve(cid, weight) / reject(cid, why)   a curator, not the contributor (--key)
//! registerModel(params)                     the model owner              (--key)
//! ```
//!
//! Everything is read from the chain first and only what is missing is sent, so a rerun sends
//! nothing. A store Datanet's on-chain id is remembered per chain in
//! `<store>/chain/<chain id>-<Datanets address>.json`. `createDatanet`, the one call a rerun
//! cannot recognise on chain, is signed and recorded (`….creating-<keccak(name)>.json`) before
//! it is broadcast: a rerun after a crash finishes that same transaction (waits for it,
//! rebroadcasts it, or drops it if its nonce went to another) instead of creating a second
//! Datanet.

use crate::{
    chain::{Chain, Deployment, describe_revert, is_already_known, rpc},
    datanet::{Contribution, DatanetStore, Status, StoreError},
    receipts::ReceiptError,
    train::{Run, TrainError},
};
use alloy::{
    eips::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
    transports::{RpcError, TransportErrorKind},
};
use ol_primitives::contracts::{datanets::IDatanets, model_registry::IModelRegistry};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::{Path, PathBuf},
};
use tracing::{info, warn};

/// Errors of on-chain registration.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// Reading the chain or the deployment failed.
    #[error(transparent)]
    Chain(#[from] ReceiptError),
    /// The content store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run folder is unreadable or inconsistent.
    #[error(transparent)]
    Run(#[from] TrainError),
    /// A transaction was refused or reverted.
    #[error("{what}: {reason}")]
    Transaction {
        /// What it was for.
        what: String,
        /// The node's answer (a decoded contract error where possible).
        reason: String,
    },
    /// No Datanet with this id on chain.
    #[error("Datanet {0} does not exist on chain")]
    UnknownDatanet(U256),
    /// The store Datanet is already mapped to another id on this chain.
    #[error("store Datanet {name} is on-chain Datanet {mapped} on this chain, not {given}")]
    MappingConflict {
        /// The store Datanet.
        name: String,
        /// The id remembered.
        mapped: U256,
        /// The id given.
        given: U256,
    },
    /// The store Datanet has no on-chain id on this chain.
    #[error("store Datanet {0:?} has no on-chain id on this chain (give --datanet-id or --create)")]
    Unmapped(String),
    /// A local file could not be read or written.
    #[error("cannot access {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The adapter file is not the one the run recorded.
    #[error("{path} hashes to {found}, but run.json records adapter {recorded}")]
    AdapterMismatch {
        /// The adapter file.
        path: PathBuf,
        /// Its keccak256.
        found: B256,
        /// The run's adapter id.
        recorded: B256,
    },
    /// The model is registered with other terms than the run's.
    #[error("model {model_id} is registered with {field} {on_chain}, but the run gives {local}")]
    ModelMismatch {
        /// The model id.
        model_id: B256,
        /// Which field differs.
        field: &'static str,
        /// On chain.
        on_chain: String,
        /// Locally.
        local: String,
    },
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias.
pub type RegistrationResult<T> = Result<T, RegistrationError>;

fn describe(e: &RpcError<TransportErrorKind>) -> String {
    use IDatanets::IDatanetsErrors as D;
    use IModelRegistry::IModelRegistryErrors as M;
    if let Some(payload) = e.as_error_resp() {
        if let Some(d) = payload.as_decoded_interface_error::<D>() {
            return format!("reverted: {d:?}");
        }
        if let Some(m) = payload.as_decoded_interface_error::<M>() {
            return format!("reverted: {m:?}");
        }
    }
    e.to_string()
}

/// Which on-chain Datanet a store Datanet is.
#[derive(Debug, Clone)]
pub enum DatanetTarget {
    /// The id remembered for this chain.
    Mapped,
    /// This id (checked to exist; remembered).
    Id(U256),
    /// The remembered id, or a new Datanet owned by the key (remembered).
    Create {
        /// Its metadata URI.
        metadata_uri: String,
        /// Its license.
        license: String,
        /// Its rules.
        rules: IDatanets::Rules,
    },
}

/// A `createDatanet` transaction signed and recorded before its broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCreate {
    /// Its hash.
    pub tx_hash: B256,
    /// The key's nonce it uses.
    pub nonce: u64,
    /// The signed transaction (EIP-2718).
    pub raw_tx: Bytes,
}

/// How long a recorded `createDatanet` is waited for before the command gives up (a rerun
/// picks it up again).
const CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// What happened to one store contribution.
#[derive(Debug, Clone, Serialize)]
pub struct ContributionOutcome {
    /// Content hash.
    pub hash: B256,
    /// Contributor.
    pub contributor: Address,
    /// Its status in the store.
    pub store_status: Status,
    /// Its on-chain contribution id, once registered.
    pub contribution_id: Option<U256>,
    /// Its on-chain status after this run (`none`, `pending`, `approved`).
    pub chain_status: &'static str,
    /// Transactions sent for it in this run (`contribute`, `approve`, `reject`).
    pub sent: Vec<&'static str>,
    /// Why it is not (fully) mirrored, if it is not.
    pub blocked: Option<String>,
}

/// What `register_datanet` did.
#[derive(Debug, Clone, Serialize)]
pub struct DatanetReport {
    /// The store Datanet.
    pub datanet: String,
    /// Its on-chain id.
    pub datanet_id: U256,
    /// Whether this run created it.
    pub created: bool,
    /// Transactions sent in all.
    pub transactions: usize,
    /// Per contribution, by hash.
    pub contributions: Vec<ContributionOutcome>,
}

impl DatanetReport {
    /// Contributions left unmirrored.
    pub fn blocked(&self) -> usize {
        self.contributions.iter().filter(|c| c.blocked.is_some()).count()
    }
}

/// What a model registration asks for (besides the run's adapter and manifest).
#[derive(Debug, Clone)]
pub struct ModelTerms {
    /// The base model's id.
    pub base_model_id: B256,
    /// Price per 1k tokens, in wei.
    pub price_per_1k_tokens: u128,
    /// Owner, contributors, stakers, protocol, in basis points.
    pub split: [u16; 4],
    /// On-chain Datanet ids (sorted and deduplicated here).
    pub datanet_ids: Vec<U256>,
    /// Metadata URI.
    pub metadata_uri: String,
}

/// What `register_model` did.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// `keccak256(abi.encode(owner, adapterHash))`.
    pub model_id: B256,
    /// The owner (the key's address).
    pub owner: Address,
    /// The adapter hash.
    pub adapter_hash: B256,
    /// The manifest root (as read back from the registry).
    pub manifest_root: B256,
    /// The Datanets.
    pub datanet_ids: Vec<U256>,
    /// Whether this run registered it (false: it was there, and matches).
    pub registered: bool,
}

/// What `register_datanet` carries from one contribution to the next.
struct DatanetContext<'a> {
    id: U256,
    datanet: IDatanets::Datanet,
    keys: HashMap<Address, &'a PrivateKeySigner>,
    weight: u64,
    is_curator: bool,
    transactions: usize,
}

/// The L2 contracts with the key that creates Datanets, curates and registers models.
#[derive(Debug)]
pub struct Registrar {
    chain: Chain,
    rpc_url: String,
    datanets: Address,
}

impl Registrar {
    /// Connects; the Datanets address is the one the ModelRegistry is bound to.
    pub async fn connect(
        rpc_url: &str,
        deployment: Deployment,
        key: PrivateKeySigner,
    ) -> RegistrationResult<Self> {
        let chain = Chain::connect(rpc_url, deployment, key)?;
        let chain_id = chain.provider.get_chain_id().await.map_err(crate::chain::rpc)?;
        if chain_id != deployment.chain_id {
            return Err(RegistrationError::Invalid(format!(
                "{rpc_url} is chain {chain_id}, the deployment is for chain {}",
                deployment.chain_id
            )));
        }
        let datanets = chain.call(deployment.registry, IModelRegistry::datanetsCall {}).await?;
        Ok(Self { chain, rpc_url: rpc_url.to_owned(), datanets })
    }

    /// The Datanets contract.
    pub fn datanets_address(&self) -> Address {
        self.datanets
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        self.chain.signer.address()
    }

    async fn send<C: SolCall>(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        call: C,
        value: U256,
        what: String,
    ) -> RegistrationResult<TransactionReceipt> {
        let url = self
            .rpc_url
            .parse()
            .map_err(|e| RegistrationError::Invalid(format!("RPC URL {:?}: {e}", self.rpc_url)))?;
        let provider =
            ProviderBuilder::new().wallet(EthereumWallet::from(from.clone())).connect_http(url);
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(call.abi_encode())
            .with_value(value);
        let failed = |reason: String| RegistrationError::Transaction { what: what.clone(), reason };
        let pending = provider.send_transaction(tx).await.map_err(|e| failed(describe(&e)))?;
        let receipt = pending.get_receipt().await.map_err(|e| failed(e.to_string()))?;
        if !receipt.status() {
            return Err(failed(format!("reverted in {}", receipt.transaction_hash)));
        }
        info!(%what, from = %from.address(), tx = %receipt.transaction_hash, "sent");
        Ok(receipt)
    }

    fn mapping_path(&self, store: &DatanetStore) -> PathBuf {
        store
            .dir()
            .join("chain")
            .join(format!("{}-{:x}.json", self.chain.deployment.chain_id, self.datanets))
    }

    /// The on-chain ids remembered for this chain, by store Datanet.
    pub fn mapping(&self, store: &DatanetStore) -> RegistrationResult<BTreeMap<String, U256>> {
        Ok(read_json(&self.mapping_path(store))?.unwrap_or_default())
    }

    fn remember(&self, store: &DatanetStore, name: &str, id: U256) -> RegistrationResult<()> {
        let mut map = self.mapping(store)?;
        if map.get(name) == Some(&id) {
            return Ok(());
        }
        map.insert(name.to_owned(), id);
        write_json_synced(&self.mapping_path(store), &map)
    }

    fn create_record_path(&self, store: &DatanetStore, name: &str) -> PathBuf {
        let mapping = self.mapping_path(store);
        let stem =
            mapping.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        mapping.with_file_name(format!("{stem}.creating-{:x}.json", keccak256(name)))
    }

    fn read_create_record(
        &self,
        store: &DatanetStore,
        name: &str,
    ) -> RegistrationResult<Option<RecordedCreate>> {
        read_json(&self.create_record_path(store, name))
    }

    fn forget_create_record(&self, store: &DatanetStore, name: &str) -> RegistrationResult<()> {
        let path = self.create_record_path(store, name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(RegistrationError::Io { path, reason: e.to_string() })
            }
            _ => Ok(()),
        }
    }

    /// Signs `createDatanet` for store Datanet `name` and records it (synced to disk) without
    /// broadcasting it: the first half of creating; [`Registrar::resolve_datanet`] broadcasts
    /// a recorded transaction and waits for it, also in a later run.
    pub async fn record_create(
        &self,
        store: &DatanetStore,
        name: &str,
        call: IDatanets::createDatanetCall,
    ) -> RegistrationResult<RecordedCreate> {
        let what = format!("createDatanet for {name}");
        let provider = &self.chain.provider;
        let from = self.address();
        let base = TransactionRequest::default()
            .with_from(from)
            .with_to(self.datanets)
            .with_input(call.abi_encode());
        if let Err(e) = provider.call(base.clone()).await {
            return Err(RegistrationError::Transaction { what, reason: describe_revert(&e) });
        }
        let gas = provider.estimate_gas(base.clone()).await.map_err(rpc)?;
        let fees = provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let nonce = provider.get_transaction_count(from).pending().await.map_err(rpc)?;
        let tx = base
            .with_chain_id(self.chain.deployment.chain_id)
            .with_nonce(nonce)
            .with_gas_limit(gas.saturating_mul(120) / 100)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = NetworkTransactionBuilder::build(tx, &self.chain.wallet)
            .await
            .map_err(|e| RegistrationError::Transaction { what, reason: e.to_string() })?;
        let record = RecordedCreate {
            tx_hash: *envelope.tx_hash(),
            nonce,
            raw_tx: envelope.encoded_2718().into(),
        };
        write_json_synced(&self.create_record_path(store, name), &record)?;
        info!(datanet = name, tx = %record.tx_hash, nonce, "createDatanet recorded");
        Ok(record)
    }

    /// Brings a recorded `createDatanet` to the chain and answers the Datanet it created, or
    /// `None` when its nonce went to another transaction (it can never be mined).
    async fn finish_create(
        &self,
        name: &str,
        record: &RecordedCreate,
    ) -> RegistrationResult<Option<U256>> {
        let what = format!("createDatanet for {name}");
        let provider = &self.chain.provider;
        let deadline = std::time::Instant::now() + CREATE_TIMEOUT;
        let mut broadcast = false;
        loop {
            if let Some(receipt) =
                provider.get_transaction_receipt(record.tx_hash).await.map_err(rpc)?
            {
                if !receipt.status() {
                    return Err(RegistrationError::Transaction {
                        what,
                        reason: format!("reverted in {}", record.tx_hash),
                    });
                }
                let event =
                    receipt.decoded_log::<IDatanets::DatanetCreated>().ok_or_else(|| {
                        RegistrationError::Transaction {
                            what: what.clone(),
                            reason: "no DatanetCreated event in the receipt".into(),
                        }
                    })?;
                info!(datanet = name, id = %event.data.datanetId, tx = %record.tx_hash, "created");
                return Ok(Some(event.data.datanetId));
            }
            if !broadcast {
                let known =
                    provider.get_transaction_by_hash(record.tx_hash).await.map_err(rpc)?.is_some();
                if !known {
                    let mined = provider
                        .get_transaction_count(self.address())
                        .latest()
                        .await
                        .map_err(rpc)?;
                    if mined > record.nonce {
                        // Mined meanwhile, or the nonce went to another transaction.
                        if provider
                            .get_transaction_receipt(record.tx_hash)
                            .await
                            .map_err(rpc)?
                            .is_some()
                        {
                            continue;
                        }
                        warn!(datanet = name, tx = %record.tx_hash, "recorded createDatanet can no longer be mined; its nonce was used");
                        return Ok(None);
                    }
                    match provider.send_raw_transaction(&record.raw_tx).await {
                        Ok(_) => {}
                        Err(e) if is_already_known(&e) => {}
                        Err(e) => {
                            return Err(RegistrationError::Transaction {
                                what,
                                reason: describe(&e),
                            });
                        }
                    }
                }
                broadcast = true;
            }
            if std::time::Instant::now() >= deadline {
                return Err(RegistrationError::Transaction {
                    what,
                    reason: format!(
                        "{} not mined after {} s; it stays recorded and a rerun waits for it again",
                        record.tx_hash,
                        CREATE_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// The on-chain id of store Datanet `name`, creating the Datanet if asked (or finishing a
    /// creation an earlier run recorded); answers whether it was created now.
    pub async fn resolve_datanet(
        &self,
        store: &DatanetStore,
        name: &str,
        target: &DatanetTarget,
    ) -> RegistrationResult<(U256, bool)> {
        let mapped = self.mapping(store)?.get(name).copied();
        let (id, created) = match (target, mapped) {
            (DatanetTarget::Id(given), Some(mapped)) if *given != mapped => {
                return Err(RegistrationError::MappingConflict {
                    name: name.to_owned(),
                    mapped,
                    given: *given,
                });
            }
            (DatanetTarget::Id(given), _) => (*given, false),
            (_, Some(mapped)) => (mapped, false),
            (DatanetTarget::Mapped, None) => {
                return Err(RegistrationError::Unmapped(name.to_owned()));
            }
            (DatanetTarget::Create { metadata_uri, license, rules }, None) => {
                let earlier = match self.read_create_record(store, name)? {
                    Some(record) => self.finish_create(name, &record).await?,
                    None => None,
                };
                let id = match earlier {
                    Some(id) => id,
                    None => {
                        let call = IDatanets::createDatanetCall {
                            _metadataURI: metadata_uri.clone(),
                            _license: license.clone(),
                            _rules: rules.clone(),
                        };
                        let record = self.record_create(store, name, call).await?;
                        self.finish_create(name, &record).await?.ok_or_else(|| {
                            RegistrationError::Transaction {
                                what: format!("createDatanet for {name}"),
                                reason: "its nonce was taken by another transaction of this key \
                                         meanwhile; run again"
                                    .into(),
                            }
                        })?
                    }
                };
                (id, true)
            }
        };
        let exists =
            self.chain.call(self.datanets, IDatanets::existsCall { _datanetId: id }).await?;
        if !exists {
            return Err(RegistrationError::UnknownDatanet(id));
        }
        self.remember(store, name, id)?;
        self.forget_create_record(store, name)?;
        Ok((id, created))
    }

    /// Registers store Datanet `name`'s contributions under on-chain Datanet `id` and mirrors
    /// their curation: pending and approved ones are contributed by their contributor's key
    /// (`contributors`), approvals (`weight` each) and rejections are sent by the key, which
    /// must be (or, as the owner, becomes) a curator. A contribution the store rejected before
    /// it reached the chain is not registered. Nothing already on chain is sent again.
    pub async fn register_datanet(
        &self,
        store: &DatanetStore,
        name: &str,
        id: U256,
        created: bool,
        contributors: &[PrivateKeySigner],
        weight: u64,
    ) -> RegistrationResult<DatanetReport> {
        if weight == 0 {
            return Err(RegistrationError::Invalid("the approval weight must be positive".into()));
        }
        let datanet =
            self.chain.call(self.datanets, IDatanets::getDatanetCall { _datanetId: id }).await?;
        let is_curator = self
            .chain
            .call(
                self.datanets,
                IDatanets::isCuratorCall { _datanetId: id, _account: self.address() },
            )
            .await?;
        let mut ctx = DatanetContext {
            id,
            datanet,
            keys: contributors.iter().map(|s| (s.address(), s)).collect(),
            weight,
            is_curator,
            transactions: usize::from(created),
        };
        let mut contributions = Vec::new();
        for record in store.list(name)? {
            let out = self.register_one(&mut ctx, &record).await?;
            if let Some(reason) = &out.blocked {
                warn!(hash = %out.hash, %reason, "contribution not mirrored on chain");
            }
            contributions.push(out);
        }
        Ok(DatanetReport {
            datanet: name.to_owned(),
            datanet_id: id,
            created,
            transactions: ctx.transactions,
            contributions,
        })
    }

    /// Why a store contribution cannot be contributed now, if it cannot.
    async fn contribute_blocker(
        &self,
        ctx: &DatanetContext<'_>,
        record: &Contribution,
    ) -> RegistrationResult<Option<String>> {
        let max = ctx.datanet.rules.maxContributionSize;
        let size = record.bytes as u64;
        if max != 0 && size > max {
            return Ok(Some(format!("{size} bytes, over the Datanet's limit of {max}")));
        }
        if ctx.datanet.rules.allowListed {
            let call =
                IDatanets::isAllowedCall { _datanetId: ctx.id, _account: record.contributor };
            if !self.chain.call(self.datanets, call).await? {
                return Ok(Some("the contributor is not on the Datanet's allow list".into()));
            }
        }
        if !ctx.keys.contains_key(&record.contributor) {
            return Ok(Some(NO_KEY.into()));
        }
        Ok(None)
    }

    /// Brings one store contribution on chain as far as it can go.
    async fn register_one(
        &self,
        ctx: &mut DatanetContext<'_>,
        record: &Contribution,
    ) -> RegistrationResult<ContributionOutcome> {
        let mut out = ContributionOutcome {
            hash: record.hash,
            contributor: record.contributor,
            store_status: record.status,
            contribution_id: None,
            chain_status: "none",
            sent: vec![],
            blocked: None,
        };
        let of_content = IDatanets::contributionOfContentCall { _contentHash: record.hash };
        let existing = self.chain.call(self.datanets, of_content.clone()).await?;
        let (cid, status) = if existing != U256::ZERO {
            let call = IDatanets::getContributionCall { _contributionId: existing };
            let c = self.chain.call(self.datanets, call).await?;
            out.contribution_id = Some(existing);
            out.chain_status = status_name(c.status);
            if c.contributor != record.contributor || U256::from(c.datanetId) != ctx.id {
                out.blocked = Some(format!(
                    "the hash is contribution {existing} of {} in Datanet {} on chain",
                    c.contributor, c.datanetId
                ));
                return Ok(out);
            }
            (existing, c.status)
        } else {
            if record.status == Status::Rejected {
                // Rejected before it reached the chain: nothing to mirror.
                return Ok(out);
            }
            if let Some(reason) = self.contribute_blocker(ctx, record).await? {
                out.blocked = Some(reason);
                return Ok(out);
            }
            let call = IDatanets::contributeCall {
                _datanetId: ctx.id,
                _contentHash: record.hash,
                _size: record.bytes as u64,
                _metadataURI: String::new(),
            };
            let stake = U256::from(ctx.datanet.rules.contributionStake);
            let what = format!("contribute {}", record.hash);
            self.send(ctx.keys[&record.contributor], self.datanets, call, stake, what).await?;
            ctx.transactions += 1;
            out.sent.push("contribute");
            (self.chain.call(self.datanets, of_content).await?, PENDING)
        };
        out.contribution_id = Some(cid);
        out.chain_status = status_name(status);
        let approve = match (record.status, status) {
            (Status::Approved, PENDING) => true,
            (Status::Rejected, PENDING) => false,
            (Status::Rejected, APPROVED) => {
                out.blocked = Some("approved on chain (final), rejected in the store".into());
                return Ok(out);
            }
            _ => return Ok(out),
        };
        let curator = self.address();
        if record.contributor == curator {
            out.blocked =
                Some("the key is the contributor; a curator cannot judge their own".into());
            return Ok(out);
        }
        if !ctx.is_curator {
            if ctx.datanet.owner != curator {
                out.blocked = Some(format!(
                    "{curator} is not a curator of Datanet {} (its owner {} appoints them)",
                    ctx.id, ctx.datanet.owner
                ));
                return Ok(out);
            }
            let call =
                IDatanets::setCuratorCall { _datanetId: ctx.id, _curator: curator, _enabled: true };
            let what = format!("setCurator {curator} on Datanet {}", ctx.id);
            self.send(&self.chain.signer, self.datanets, call, U256::ZERO, what).await?;
            ctx.transactions += 1;
            ctx.is_curator = true;
        }
        if approve {
            let call = IDatanets::approveCall { _contributionId: cid, _weight: ctx.weight };
            let what = format!("approve {cid}");
            self.send(&self.chain.signer, self.datanets, call, U256::ZERO, what).await?;
            out.sent.push("approve");
            out.chain_status = "approved";
        } else {
            let call = IDatanets::rejectCall {
                _contributionId: cid,
                _reason: "rejected by the Datanet's curator".into(),
            };
            let what = format!("reject {cid}");
            self.send(&self.chain.signer, self.datanets, call, U256::ZERO, what).await?;
            out.sent.push("reject");
            out.chain_status = "rejected";
        }
        ctx.transactions += 1;
        Ok(out)
    }

    /// The on-chain ids of the store Datanets a run trained on (all must be mapped).
    pub fn run_datanet_ids(
        &self,
        store: &DatanetStore,
        run: &Run,
    ) -> RegistrationResult<Vec<U256>> {
        let map = self.mapping(store)?;
        let names: BTreeSet<&str> = run.examples.iter().map(|e| e.datanet.as_str()).collect();
        names
            .into_iter()
            .map(|n| map.get(n).copied().ok_or_else(|| RegistrationError::Unmapped(n.to_owned())))
            .collect()
    }

    /// Registers the run's adapter (the key owns it) with its manifest root, or checks that
    /// the registration there matches.
    pub async fn register_model(
        &self,
        run: &Run,
        terms: &ModelTerms,
    ) -> RegistrationResult<ModelReport> {
        let adapter_hash = adapter_hash(run)?;
        let manifest_root = run.manifest.root();
        let mut datanet_ids = terms.datanet_ids.clone();
        datanet_ids.sort();
        datanet_ids.dedup();
        let owner = self.address();
        let model_id = keccak256((owner, adapter_hash).abi_encode());
        let registry = self.chain.deployment.registry;
        let exists =
            self.chain.call(registry, IModelRegistry::existsCall { _modelId: model_id }).await?;
        let registered = !exists;
        if !exists {
            let params = IModelRegistry::ModelParams {
                baseModelId: terms.base_model_id,
                adapterHash: adapter_hash,
                manifestRoot: manifest_root,
                pricePer1kTokens: terms.price_per_1k_tokens,
                split: IModelRegistry::FeeSplit {
                    ownerBps: terms.split[0],
                    contributorsBps: terms.split[1],
                    stakersBps: terms.split[2],
                    protocolBps: terms.split[3],
                },
                datanetIds: datanet_ids.clone(),
                metadataURI: terms.metadata_uri.clone(),
            };
            self.send(
                &self.chain.signer,
                registry,
                IModelRegistry::registerModelCall { _params: params },
                U256::ZERO,
                format!("registerModel {adapter_hash}"),
            )
            .await?;
        }
        let m =
            self.chain.call(registry, IModelRegistry::getModelCall { _modelId: model_id }).await?;
        let mismatch = |field, on_chain: String, local: String| RegistrationError::ModelMismatch {
            model_id,
            field,
            on_chain,
            local,
        };
        if m.adapterHash != adapter_hash {
            return Err(mismatch(
                "adapter hash",
                m.adapterHash.to_string(),
                adapter_hash.to_string(),
            ));
        }
        if m.manifestRoot != manifest_root {
            return Err(mismatch(
                "manifest root",
                m.manifestRoot.to_string(),
                manifest_root.to_string(),
            ));
        }
        if m.datanetIds != datanet_ids {
            return Err(mismatch(
                "Datanets",
                format!("{:?}", m.datanetIds),
                format!("{datanet_ids:?}"),
            ));
        }
        if m.baseModelId != terms.base_model_id {
            return Err(mismatch(
                "base model id",
                m.baseModelId.to_string(),
                terms.base_model_id.to_string(),
            ));
        }
        Ok(ModelReport {
            model_id,
            owner,
            adapter_hash,
            manifest_root: m.manifestRoot,
            datanet_ids,
            registered,
        })
    }
}

/// Why a contribution without its contributor's key is not sent.
const NO_KEY: &str = "no --contributor-key for the contributor (contribute() must come from them)";

/// `IDatanets.ContributionStatus` values (the bindings carry enums as `uint8`).
const PENDING: u8 = 1;
/// `ContributionStatus.Approved`.
const APPROVED: u8 = 2;
/// `ContributionStatus.Rejected`.
const REJECTED: u8 = 3;
/// `ContributionStatus.Withdrawn`.
const WITHDRAWN: u8 = 4;

/// A JSON file, `None` if it does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> RegistrationResult<Option<T>> {
    let err = |reason: String| RegistrationError::Io { path: path.to_owned(), reason };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes `value` as JSON to a temporary file, syncs it and renames it over `path`: a crash
/// leaves the old file or the new one, never half of one.
fn write_json_synced<T: Serialize>(path: &Path, value: &T) -> RegistrationResult<()> {
    use std::io::Write;
    let io =
        |e: std::io::Error| RegistrationError::Io { path: path.to_owned(), reason: e.to_string() };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let json =
        serde_json::to_vec_pretty(value).map_err(|e| RegistrationError::Invalid(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&json).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn status_name(s: u8) -> &'static str {
    match s {
        PENDING => "pending",
        APPROVED => "approved",
        REJECTED => "rejected",
        WITHDRAWN => "withdrawn",
        _ => "none",
    }
}

/// keccak256 of the run's adapter weights, checked against `run.json`.
pub fn adapter_hash(run: &Run) -> RegistrationResult<B256> {
    let path = run.adapter_dir().join(openlora_server::adapter::ADAPTER_WEIGHTS);
    let bytes = std::fs::read(&path)
        .map_err(|e| RegistrationError::Io { path: path.clone(), reason: e.to_string() })?;
    let found = keccak256(&bytes);
    if found != run.info.adapter_id.0 {
        return Err(RegistrationError::AdapterMismatch {
            path,
            found,
            recorded: run.info.adapter_id.0,
        });
    }
    Ok(found)
}

/// Reads a private key (hex).
pub fn parse_key(hex: &str) -> RegistrationResult<PrivateKeySigner> {
    hex.trim()
        .parse()
        .map_err(|_| RegistrationError::Invalid("a key is not a 32-byte hex private key".into()))
}

/// Reads `l2.json`.
fn load_deployment(path: &Path) -> RegistrationResult<Deployment> {
    Ok(Deployment::load(path)?)
}

pub mod cli {
    //! `attribution-engine datanet register` and `attribution-engine register-model`.

    use super::*;
    use clap::Args;

    /// `datanet register`.
    #[derive(Debug, Args)]
    pub struct RegisterArgs {
        /// The store folder.
        #[arg(long)]
        pub store: PathBuf,
        /// The store Datanet.
        #[arg(long)]
        pub datanet: String,
        /// The L2 JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:9545")]
        pub l2_rpc: String,
        /// deployments/<network>/l2.json.
        #[arg(long, default_value = "deployments/devnet/l2.json")]
        pub deployment: PathBuf,
        /// The curator's (and, with --create, the Datanet owner's) private key.
        #[arg(long, env = "OL_CURATOR_KEY", hide_env_values = true)]
        pub key: String,
        /// Contributors' private keys (contribute() must come from the contributor; repeatable).
        #[arg(
            long = "contributor-key",
            env = "OL_CONTRIBUTOR_KEYS",
            value_delimiter = ',',
            hide_env_values = true
        )]
        pub contributor_keys: Vec<String>,
        /// The on-chain Datanet id (otherwise the one remembered for this chain).
        #[arg(long, conflicts_with = "create")]
        pub datanet_id: Option<u64>,
        /// Create the Datanet on chain unless one is remembered for this chain.
        #[arg(long)]
        pub create: bool,
        /// With --create: its metadata URI.
        #[arg(long, default_value = "")]
        pub metadata_uri: String,
        /// With --create: its license.
        #[arg(long, default_value = "CC-BY-4.0")]
        pub license: String,
        /// With --create: the stake (wei) each contribution carries.
        #[arg(long, default_value_t = 0)]
        pub contribution_stake: u128,
        /// With --create: the curator stake (wei) curators must hold.
        #[arg(long, default_value_t = 0)]
        pub min_curator_stake: u128,
        /// With --create: the largest contribution in bytes (0: no limit).
        #[arg(long, default_value_t = 0)]
        pub max_contribution_size: u64,
        /// With --create: only allow-listed accounts may contribute.
        #[arg(long)]
        pub allow_listed: bool,
        /// Ownership weight of each approval.
        #[arg(long, default_value_t = 1)]
        pub weight: u64,
    }

    /// `register-model`.
    #[derive(Debug, Args)]
    pub struct RegisterModelArgs {
        /// The run folder.
        #[arg(long)]
        pub run: PathBuf,
        /// The L2 JSON-RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:9545")]
        pub l2_rpc: String,
        /// deployments/<network>/l2.json.
        #[arg(long, default_value = "deployments/devnet/l2.json")]
        pub deployment: PathBuf,
        /// The model owner's private key.
        #[arg(long, env = "OL_MODEL_OWNER_KEY", hide_env_values = true)]
        pub key: String,
        /// On-chain Datanet ids the run trained on (repeatable) ...
        #[arg(long = "datanet-id", required_unless_present = "store", conflicts_with = "store")]
        pub datanet_ids: Vec<u64>,
        /// ... or the store whose remembered ids map the run's Datanets.
        #[arg(long)]
        pub store: Option<PathBuf>,
        /// The base model id (default: keccak256 of the run's base model name).
        #[arg(long)]
        pub base_model_id: Option<B256>,
        /// Price per 1k tokens, in wei.
        #[arg(long, default_value_t = 0)]
        pub price_per_1k_tokens: u128,
        /// Fee split in basis points: owner,contributors,stakers,protocol (sum 10000).
        #[arg(
            long,
            value_delimiter = ',',
            num_args = 4,
            default_values_t = [7000u16, 2000, 500, 500]
        )]
        pub split: Vec<u16>,
        /// Metadata URI.
        #[arg(long, default_value = "")]
        pub metadata_uri: String,
    }

    fn runtime() -> RegistrationResult<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RegistrationError::Invalid(format!("runtime: {e}")))
    }

    /// Runs `datanet register`; answers the report (printed by the caller).
    pub fn register(a: RegisterArgs) -> RegistrationResult<DatanetReport> {
        let store = DatanetStore::open(&a.store)?;
        let key = parse_key(&a.key)?;
        let contributors =
            a.contributor_keys.iter().map(|k| parse_key(k)).collect::<Result<Vec<_>, _>>()?;
        let target = match (a.datanet_id, a.create) {
            (Some(id), _) => DatanetTarget::Id(U256::from(id)),
            (None, true) => DatanetTarget::Create {
                metadata_uri: a.metadata_uri,
                license: a.license,
                rules: IDatanets::Rules {
                    contributionStake: a.contribution_stake,
                    minCuratorStake: a.min_curator_stake,
                    maxContributionSize: a.max_contribution_size,
                    allowListed: a.allow_listed,
                },
            },
            (None, false) => DatanetTarget::Mapped,
        };
        let deployment = load_deployment(&a.deployment)?;
        runtime()?.block_on(async {
            let r = Registrar::connect(&a.l2_rpc, deployment, key).await?;
            let (id, created) = r.resolve_datanet(&store, &a.datanet, &target).await?;
            r.register_datanet(&store, &a.datanet, id, created, &contributors, a.weight).await
        })
    }

    /// Runs `register-model`.
    pub fn register_model(a: RegisterModelArgs) -> RegistrationResult<ModelReport> {
        let run = Run::open(&a.run)?;
        let key = parse_key(&a.key)?;
        let split: [u16; 4] = a
            .split
            .as_slice()
            .try_into()
            .map_err(|_| RegistrationError::Invalid("--split takes four numbers".into()))?;
        let base_model_id = match (a.base_model_id, &run.info.base_model) {
            (Some(id), _) => id,
            (None, Some(name)) => keccak256(name.as_bytes()),
            (None, None) => {
                return Err(RegistrationError::Invalid(
                    "the run records no base model name: pass --base-model-id".into(),
                ));
            }
        };
        let deployment = load_deployment(&a.deployment)?;
        runtime()?.block_on(async {
            let r = Registrar::connect(&a.l2_rpc, deployment, key).await?;
            let datanet_ids = match &a.store {
                Some(dir) => r.run_datanet_ids(&DatanetStore::open(dir)?, &run)?,
                None => a.datanet_ids.iter().map(|&i| U256::from(i)).collect(),
            };
            let terms = ModelTerms {
                base_model_id,
                price_per_1k_tokens: a.price_per_1k_tokens,
                split,
                datanet_ids,
                metadata_uri: a.metadata_uri.clone(),
            };
            r.register_model(&run, &terms).await
        })
    }
}
