//! The receipts worker: ledger → attribution → signed receipts → batches on chain. See the
//! [module docs](super) for the flow; [`Worker::step`] is one round of it, [`Worker::run`]
//! repeats it.
//!
//! Idempotent across restarts:
//! - a receipt and the ledger cursor move in one store transaction, so an inference is handled
//!   once, and the cursor never passes an inference that failed (the step stops there);
//! - batch content is a function of the store (pending receipts of a model in ledger order);
//! - a batch's signed transaction is stored before it is broadcast, and no new batch is signed
//!   while one is unconfirmed: after a crash the next step finds it, confirms it from its
//!   receipt, or rebroadcasts the very same bytes (same hash, same nonce). Only when its nonce
//!   was used by another transaction (and it has no receipt) is it failed and its receipts
//!   batched again.

use super::{
    BPS, ContributorShare, MerkleTree, Receipt, ReceiptError, ReceiptResult, attribution_hash,
    receipt_leaf, reward_leaf,
    store::{
        BatchRecord, BatchStatus, NewBatch, ReceiptStore, Rejection, RewardEntry, StoredReceipt,
    },
};
use crate::{
    chain::{BATCH_PENDING, Chain, describe_revert, is_already_known, rpc},
    context::Context,
    index::GradientIndex,
    train::Run,
};
use alloy::{
    eips::Encodable2718,
    network::{NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    signers::Signer,
    sol_types::{SolCall, SolEvent},
};
use ol_primitives::contracts::attribution_receipts::IAttributionReceipts;
use openlora_server::ledger::{InferenceQuery, InferenceRecord, Ledger, now_ms};
use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    str::FromStr,
    time::{Duration, Instant},
};
use tracing::{debug, info, warn};

/// A run folder and the name of its gradient index: `PATH` or `PATH#INDEX` (index `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The run folder (`attribution-engine train` output, with `analysis/index_<name>`).
    pub dir: PathBuf,
    /// The index name.
    pub index: String,
}

impl FromStr for RunSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (dir, index) = match s.rsplit_once('#') {
            Some((dir, index)) if !index.is_empty() => (dir, index),
            Some(_) => return Err(format!("{s:?}: empty index name after '#'")),
            None => (s, "main"),
        };
        if dir.is_empty() {
            return Err("empty run folder".into());
        }
        Ok(Self { dir: dir.into(), index: index.into() })
    }
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The runs whose adapters are attributed.
    pub runs: Vec<RunSpec>,
    /// The base model folder (default: the one each run recorded).
    pub model_dir: Option<PathBuf>,
    /// Contributors listed per receipt.
    pub top_k: usize,
    /// Receipts per batch at most.
    pub max_batch: usize,
    /// Ledger rows read per query.
    pub page: u32,
    /// How long a step waits for a batch transaction's receipt.
    pub confirm_timeout: Duration,
    /// How often it polls for one.
    pub poll: Duration,
    /// Gas limit = estimate × (100 + this) / 100.
    pub gas_margin_percent: u64,
    /// Published batches' base URL (`dataURI` = `<base>/batches/<receipts root>`).
    pub public_url: String,
    /// Time between steps in [`Worker::run`].
    pub interval: Duration,
    /// Pass over paid inferences of adapters that no configured run trained (moving the cursor,
    /// as for free ones) instead of stopping at them with [`ReceiptError::UnknownAdapter`]: for
    /// a ledger whose server also sells adapters this worker does not attribute.
    pub skip_unknown_adapters: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            runs: vec![],
            model_dir: None,
            top_k: 16,
            max_batch: 256,
            page: 100,
            confirm_timeout: Duration::from_secs(60),
            poll: Duration::from_millis(200),
            gas_margin_percent: 25,
            public_url: "http://127.0.0.1:8100".into(),
            interval: Duration::from_secs(5),
            skip_unknown_adapters: false,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Receipts made.
    pub receipts: usize,
    /// Free inferences passed over.
    pub free: usize,
    /// Paid inferences of other adapters passed over ([`WorkerConfig::skip_unknown_adapters`]).
    pub other_adapters: usize,
    /// Paid inferences rejected: their ledger rows cannot be attributed
    /// ([`ReceiptError::rejects_inference`]); kept in the store with the reason.
    pub rejected: usize,
    /// Batches signed and broadcast: (model, tx hash).
    pub posted: Vec<(B256, B256)>,
    /// Batches confirmed: contract batch ids.
    pub confirmed: Vec<u64>,
    /// Transactions rebroadcast unchanged.
    pub rebroadcast: Vec<B256>,
    /// Batches failed (store seq, why).
    pub failed: Vec<(i64, String)>,
    /// Batch transactions still unconfirmed after the step.
    pub unconfirmed: usize,
    /// Models that wait (why).
    pub waiting: Vec<(B256, String)>,
}

/// A run opened for attribution.
#[derive(Debug)]
struct Opened {
    ctx: Context,
    index: GradientIndex,
    /// The adapters of the earlier checkpoints the index keeps group sums for.
    checkpoints: Vec<crate::lora::TrainableLora>,
}

/// What [`Worker::retry_rejection`] did.
#[derive(Debug)]
pub enum Retry {
    /// Attributed: the receipt, stored, waiting for its batch.
    Receipt(Box<StoredReceipt>),
    /// Still rejected, for this reason.
    StillRejected(String),
}

/// The worker.
#[derive(Debug)]
pub struct Worker {
    ledger: Ledger,
    store: ReceiptStore,
    chain: Chain,
    config: WorkerConfig,
    /// adapter → run spec and its folder as read.
    runs: HashMap<B256, (RunSpec, Run)>,
    /// Runs opened so far (model, tokenizer, adapter, index with shard hashes checked).
    opened: HashMap<B256, Opened>,
}

impl Worker {
    /// Reads every configured run's folder (not the model yet).
    pub fn new(
        ledger: Ledger,
        store: ReceiptStore,
        chain: Chain,
        config: WorkerConfig,
    ) -> ReceiptResult<Self> {
        let mut runs: HashMap<B256, (RunSpec, Run)> = HashMap::new();
        for spec in &config.runs {
            let run = Run::open(&spec.dir)
                .map_err(|source| ReceiptError::Run { run: spec.dir.clone(), source })?;
            let adapter = run.info.adapter_id.0;
            if let Some((first, _)) = runs.get(&adapter) {
                return Err(ReceiptError::DuplicateAdapter {
                    adapter,
                    first: first.dir.clone(),
                    second: spec.dir.clone(),
                });
            }
            info!(%adapter, run = %spec.dir.display(), index = %spec.index, "run configured");
            runs.insert(adapter, (spec.clone(), run));
        }
        Ok(Self { ledger, store, chain, config, runs, opened: HashMap::new() })
    }

    /// The store.
    pub fn store(&self) -> &ReceiptStore {
        &self.store
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Steps every `interval` until `shutdown` resolves. A failed step is logged and retried
    /// (its cause, a bad run or an RPC outage, is the operator's to fix; nothing is skipped).
    ///
    /// A step in progress when `shutdown` resolves is abandoned at its next await point (it may
    /// be waiting up to `confirm_timeout` for a batch): what it recorded is consistent, as after
    /// a crash, which steps are built to resume from (see the module docs).
    pub async fn run(&mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    info!("stopping during a step; the next start resumes it");
                    return;
                }
                r = self.step() => match r {
                    Ok(r) => debug!(?r, "receipts step"),
                    Err(e) => warn!(error = %e, "receipts step failed; retrying"),
                },
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.config.interval) => {}
            }
        }
    }

    /// One round: settle unconfirmed batches, attribute new paid inferences, post what is due.
    pub async fn step(&mut self) -> ReceiptResult<StepReport> {
        let mut report = StepReport::default();
        self.confirm_pending(&mut report).await?;
        self.ingest(&mut report).await?;
        if report.unconfirmed == 0 {
            for model in self.store.models_with_pending().await? {
                if let Some(batch) = self.post(model, &mut report).await? {
                    self.confirm_pending(&mut report).await?;
                    if report.unconfirmed > 0 {
                        info!(batch = batch.seq, tx = %batch.tx_hash, "batch not mined yet; later steps settle it");
                        break;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Attributes one inference of the ledger (no receipt stored, nothing posted).
    pub async fn attribute_inference(&mut self, id: B256) -> ReceiptResult<StoredReceipt> {
        let record = self.ledger.inference(id).await?.ok_or(ReceiptError::InferenceNotFound(id))?;
        self.make_receipt(&record).await
    }

    /// Attributes a rejected inference again, after its cause was mended (a model registered
    /// late, say): its receipt replaces the rejection and waits for the next batch of its
    /// model; if it is still unattributable, the rejection keeps the new reason. Any other
    /// failure changes nothing.
    pub async fn retry_rejection(&mut self, id: B256) -> ReceiptResult<Retry> {
        self.store.rejection(id).await?.ok_or(ReceiptError::NotRejected(id))?;
        let record = self.ledger.inference(id).await?.ok_or(ReceiptError::InferenceNotFound(id))?;
        match self.make_receipt(&record).await {
            Ok(receipt) => {
                self.store.replace_rejection(&receipt).await?;
                info!(inference = %id, model = %receipt.receipt.modelId, "rejected inference attributed on retry");
                Ok(Retry::Receipt(Box::new(receipt)))
            }
            Err(e) if e.rejects_inference() => {
                let reason = e.to_string();
                self.store.update_rejection_reason(id, &reason).await?;
                Ok(Retry::StillRejected(reason))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the ledger after the cursor; a receipt per paid inference.
    async fn ingest(&mut self, report: &mut StepReport) -> ReceiptResult<()> {
        loop {
            let after_seq = self.store.cursor().await?;
            let query = InferenceQuery { after_seq, limit: self.config.page, ..Default::default() };
            let page = self.ledger.list_inferences(&query).await?;
            if page.is_empty() {
                return Ok(());
            }
            for record in page {
                if record.fee.is_zero() || record.model_id.is_none() {
                    self.store.advance_cursor(record.seq).await?;
                    report.free += 1;
                    continue;
                }
                if self.config.skip_unknown_adapters && !self.runs.contains_key(&record.adapter) {
                    self.store.advance_cursor(record.seq).await?;
                    debug!(inference = %record.id, adapter = %record.adapter, "no run trained this adapter; passed over");
                    report.other_adapters += 1;
                    continue;
                }
                let receipt = match self.make_receipt(&record).await {
                    Ok(receipt) => receipt,
                    Err(e) if e.rejects_inference() => {
                        warn!(inference = %record.id, seq = record.seq, fee = %record.fee, error = %e, "paid inference rejected: no receipt");
                        let rejection = Rejection {
                            inference_id: record.id,
                            ledger_seq: record.seq,
                            model_id: record.model_id.unwrap_or_default(),
                            adapter: record.adapter,
                            fee: record.fee,
                            reason: e.to_string(),
                            created_at: now_ms(),
                        };
                        self.store.insert_rejection(&rejection).await?;
                        report.rejected += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                self.store.insert_receipt(&receipt).await?;
                info!(inference = %record.id, model = %receipt.receipt.modelId, fee = %record.fee, contributors = receipt.contributors.len(), "receipt signed");
                report.receipts += 1;
            }
        }
    }

    /// Checks an inference against its run and the registry, attributes it and signs the
    /// receipt.
    async fn make_receipt(&mut self, record: &InferenceRecord) -> ReceiptResult<StoredReceipt> {
        let inference = record.id;
        let (spec, run) = self
            .runs
            .get(&record.adapter)
            .ok_or(ReceiptError::UnknownAdapter { inference, adapter: record.adapter })?;
        let (run_dir, run_root) = (spec.dir.clone(), run.manifest.root());
        let model = record.model_id.unwrap_or_default();
        let mut contributors_bps = 0u16;
        if record.model_id.is_some() {
            let terms = self
                .chain
                .model(model)
                .await?
                .ok_or(ReceiptError::UnknownModel { inference, model })?;
            if terms.adapter_hash != record.adapter {
                return Err(ReceiptError::AdapterMismatch {
                    inference,
                    registered: terms.adapter_hash,
                    served: record.adapter,
                });
            }
            if terms.manifest_root != run_root {
                return Err(ReceiptError::ManifestMismatch {
                    model,
                    chain: terms.manifest_root,
                    local: run_root,
                    run: run_dir,
                });
            }
            contributors_bps = terms.contributors_bps;
        }
        let text = |t: &Option<String>, hash: B256, which: &'static str| {
            let t = t.as_deref().ok_or(ReceiptError::MissingText { inference, which })?;
            if keccak256(t.as_bytes()) != hash {
                return Err(ReceiptError::TextMismatch { inference, which });
            }
            Ok(t.to_owned())
        };
        let prompt = text(&record.prompt, record.prompt_hash, "prompt")?;
        let completion = text(&record.completion, record.output_hash, "completion")?;

        let top_k = self.config.top_k;
        let attribution = {
            let opened = self.open(record.adapter)?;
            let ctx = &opened.ctx;
            let analyzer = ctx.analyzer(false);
            let max_len = ctx.run.info.config.max_len.max(ctx.cfg.max_position_embeddings);
            crate::attribution::attribute(
                &analyzer,
                &opened.index,
                &opened.checkpoints,
                &ctx.run.examples,
                &ctx.tokenizer,
                &prompt,
                &completion,
                max_len,
                top_k,
            )
            .map_err(|e| ReceiptError::Attribute { inference, source: Box::new(e) })?
        };

        let pool = record.fee * U256::from(contributors_bps) / U256::from(BPS);
        let contributors: Vec<ContributorShare> = attribution
            .contributors
            .top
            .iter()
            .map(|s| ContributorShare {
                address: s.id,
                bps: s.bps,
                amount: pool * U256::from(s.bps) / U256::from(BPS),
            })
            .collect();
        let receipt = Receipt {
            inferenceId: inference,
            modelId: model,
            adapterHash: record.adapter,
            outputHash: record.output_hash,
            indexRoot: attribution.index_root,
            methodVersion: attribution.method_version,
            fee: record.fee,
            attributionHash: attribution_hash(&contributors),
        };
        let leaf = receipt_leaf(&receipt);
        let signature = self
            .chain
            .signer
            .sign_message(leaf.as_slice())
            .await
            .map_err(|e| ReceiptError::Signing(e.to_string()))?;
        Ok(StoredReceipt {
            ledger_seq: record.seq,
            receipt,
            contributor_pool: pool,
            contributors,
            attribution,
            leaf,
            signature: signature.as_bytes().to_vec().into(),
            batch_seq: None,
            proof: None,
            created_at: now_ms(),
        })
    }

    /// The run of `adapter`, opened (once) with its index's shard hashes checked.
    fn open(&mut self, adapter: B256) -> ReceiptResult<&Opened> {
        if !self.opened.contains_key(&adapter) {
            let Some((spec, run)) = self.runs.get(&adapter) else {
                return Err(ReceiptError::UnknownAdapter { inference: B256::ZERO, adapter });
            };
            let ctx = Context::open(&spec.dir, self.config.model_dir.as_deref()).map_err(|e| {
                ReceiptError::Context { run: spec.dir.clone(), source: Box::new(e) }
            })?;
            let index = ctx.analyzer(false).open_index(&spec.index, true).map_err(|e| {
                ReceiptError::Index {
                    run: spec.dir.clone(),
                    index: spec.index.clone(),
                    source: Box::new(e),
                }
            })?;
            let index_manifest = index.header().params.manifest_root;
            if index_manifest != run.manifest.root() {
                return Err(ReceiptError::IndexManifest {
                    run: spec.dir.clone(),
                    index: spec.index.clone(),
                    index_manifest,
                    run_manifest: run.manifest.root(),
                });
            }
            let checkpoints = ctx.index_checkpoints(&index).map_err(|e| ReceiptError::Context {
                run: spec.dir.clone(),
                source: Box::new(e),
            })?;
            info!(%adapter, run = %spec.dir.display(), rows = index.len(), root = %index.root(), checkpoints = checkpoints.len(), "run opened");
            self.opened.insert(adapter, Opened { ctx, index, checkpoints });
        }
        self.opened
            .get(&adapter)
            .ok_or(ReceiptError::UnknownAdapter { inference: B256::ZERO, adapter })
    }

    /// Builds, signs, records and broadcasts the next batch of `model`, if one is due.
    async fn post(
        &self,
        model: B256,
        report: &mut StepReport,
    ) -> ReceiptResult<Option<BatchRecord>> {
        let chain = &self.chain;
        let stream = chain.stream(model).await?;
        if stream.openBatchId != 0 {
            let open = chain.batch(stream.openBatchId).await?;
            let now = chain.latest_timestamp().await?;
            if open.status != BATCH_PENDING || now < open.challengeDeadline {
                let why = format!(
                    "batch {} is open ({:?}) until {}",
                    stream.openBatchId, open.status, open.challengeDeadline
                );
                debug!(%model, %why, "model waits");
                report.waiting.push((model, why));
                return Ok(None);
            }
        }
        let previous = self.store.latest_batch(model).await?;
        let (prev_total, mut cumulative) = match &previous {
            Some(b) => (
                b.cumulative,
                self.store
                    .rewards(b.seq)
                    .await?
                    .into_iter()
                    .map(|e| (e.account, e.cumulative))
                    .collect::<BTreeMap<Address, U256>>(),
            ),
            None => (U256::ZERO, BTreeMap::new()),
        };
        let accrued = chain.contributor_accrued(model).await?;
        let mut taken = Vec::new();
        let mut amount = U256::ZERO;
        for r in self.store.pending_receipts(model).await? {
            let a: U256 = r.contributors.iter().map(|c| c.amount).sum();
            if taken.len() >= self.config.max_batch || prev_total + amount + a > accrued {
                break;
            }
            amount += a;
            taken.push(r);
        }
        if amount.is_zero() {
            let why = format!(
                "nothing to hand out within the accrued pool ({accrued} accrued, {prev_total} handed out)"
            );
            debug!(%model, %why, "model waits");
            report.waiting.push((model, why));
            return Ok(None);
        }
        for r in &taken {
            for c in &r.contributors {
                *cumulative.entry(c.address).or_default() += c.amount;
            }
        }
        let receipts_tree = MerkleTree::new(taken.iter().map(|r| r.leaf).collect())
            .ok_or_else(|| ReceiptError::Chain("empty batch".into()))?;
        let accounts: Vec<(Address, U256)> = cumulative.into_iter().collect();
        let rewards_tree =
            MerkleTree::new(accounts.iter().map(|(a, c)| reward_leaf(model, *a, *c)).collect())
                .ok_or_else(|| ReceiptError::Chain("empty reward tree".into()))?;
        let receipts_root = receipts_tree.root();
        let rewards_root = rewards_tree.root();
        let count = u32::try_from(taken.len()).unwrap_or(u32::MAX);
        let data_uri =
            format!("{}/batches/{receipts_root:#x}", self.config.public_url.trim_end_matches('/'));
        let call = IAttributionReceipts::postBatchCall {
            _modelId: model,
            _receiptsRoot: receipts_root,
            _rewardsRoot: rewards_root,
            _amount: amount,
            _receiptCount: count,
            _dataURI: data_uri.clone(),
        };

        chain.check_stake().await?;
        let provider = &chain.provider;
        let attestor = chain.attestor();
        let base = TransactionRequest::default()
            .with_from(attestor)
            .with_to(chain.deployment.receipts)
            .with_input(call.abi_encode());
        // Simulate first: a batch the contract refuses is an error to report, not gas to burn.
        if let Err(e) = provider.call(base.clone()).await {
            return Err(ReceiptError::Chain(format!(
                "postBatch for model {model} would revert: {}",
                describe_revert(&e)
            )));
        }
        let gas = provider.estimate_gas(base.clone()).await.map_err(rpc)?;
        let gas = gas.saturating_mul(100 + self.config.gas_margin_percent) / 100;
        let fees = provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let nonce = provider.get_transaction_count(attestor).pending().await.map_err(rpc)?;
        let tx = base
            .with_chain_id(chain.deployment.chain_id)
            .with_nonce(nonce)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = NetworkTransactionBuilder::build(tx, &chain.wallet)
            .await
            .map_err(|e| ReceiptError::Signing(e.to_string()))?;
        let tx_hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        let now = now_ms();
        let mut batch = BatchRecord {
            seq: 0,
            model_id: model,
            receipts_root,
            rewards_root,
            amount,
            cumulative: prev_total + amount,
            receipt_count: count,
            data_uri,
            tx_hash,
            nonce,
            raw_tx: raw.clone().into(),
            status: BatchStatus::Signed,
            chain_batch_id: None,
            block_number: None,
            detail: None,
            created_at: now,
            updated_at: now,
        };
        let new = NewBatch {
            batch: batch.clone(),
            receipts: taken
                .iter()
                .enumerate()
                .map(|(i, r)| (r.receipt.inferenceId, receipts_tree.proof(i).unwrap_or_default()))
                .collect(),
            rewards: accounts
                .iter()
                .enumerate()
                .map(|(i, (account, c))| RewardEntry {
                    batch_seq: 0,
                    model_id: model,
                    account: *account,
                    cumulative: *c,
                    proof: rewards_tree.proof(i).unwrap_or_default(),
                })
                .collect(),
        };
        // Recorded before it can reach the chain: a crash after this line is reconciled.
        batch.seq = self.store.insert_batch(&new).await?;
        match provider.send_raw_transaction(&raw).await {
            Ok(_) => self.store.mark_sent(batch.seq).await?,
            Err(e) if is_already_known(&e) => self.store.mark_sent(batch.seq).await?,
            Err(e) => {
                warn!(batch = batch.seq, tx = %tx_hash, error = %e, "broadcast failed; retried next step");
            }
        }
        info!(%model, batch = batch.seq, receipts = count, %amount, tx = %tx_hash, nonce, "batch posted");
        report.posted.push((model, tx_hash));
        Ok(Some(batch))
    }

    /// Reconciles unconfirmed batches until none is left or `confirm_timeout` passes.
    async fn confirm_pending(&self, report: &mut StepReport) -> ReceiptResult<()> {
        let start = Instant::now();
        loop {
            report.unconfirmed = self.reconcile(report).await?;
            if report.unconfirmed == 0 || start.elapsed() >= self.config.confirm_timeout {
                return Ok(());
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    /// Settles every batch recorded as signed or sent; answers how many are still in flight.
    async fn reconcile(&self, report: &mut StepReport) -> ReceiptResult<usize> {
        let provider = &self.chain.provider;
        let attestor = self.chain.attestor();
        let mut in_flight = 0;
        for b in self.store.unconfirmed_batches().await? {
            if self.settle_if_mined(&b, report).await? {
                continue;
            }
            if provider.get_transaction_by_hash(b.tx_hash).await.map_err(rpc)?.is_some() {
                if b.status == BatchStatus::Signed {
                    self.store.mark_sent(b.seq).await?;
                }
                in_flight += 1;
                continue;
            }
            // The node does not know it: dropped from its pool, node restarted, or never sent
            // because we stopped between recording and broadcasting.
            let mined_nonce =
                provider.get_transaction_count(attestor).latest().await.map_err(rpc)?;
            if mined_nonce > b.nonce {
                // Mined in between? Then its receipt is there now.
                if self.settle_if_mined(&b, report).await? {
                    continue;
                }
                let why = "its nonce was used by another transaction";
                warn!(batch = b.seq, tx = %b.tx_hash, why, "batch dropped; its receipts go back to pending");
                self.store.mark_failed(b.seq, why).await?;
                report.failed.push((b.seq, why.into()));
                continue;
            }
            match provider.send_raw_transaction(&b.raw_tx).await {
                Ok(_) => {
                    info!(batch = b.seq, tx = %b.tx_hash, "batch rebroadcast unchanged");
                    self.store.mark_sent(b.seq).await?;
                    report.rebroadcast.push(b.tx_hash);
                    in_flight += 1;
                }
                Err(e) if is_already_known(&e) => in_flight += 1,
                Err(e) => {
                    warn!(batch = b.seq, tx = %b.tx_hash, error = %e, "rebroadcast refused; retried next step");
                    in_flight += 1;
                }
            }
        }
        Ok(in_flight)
    }

    /// Confirms or fails a batch whose transaction has a receipt; `false` if it has none.
    async fn settle_if_mined(
        &self,
        b: &BatchRecord,
        report: &mut StepReport,
    ) -> ReceiptResult<bool> {
        let Some(receipt) =
            self.chain.provider.get_transaction_receipt(b.tx_hash).await.map_err(rpc)?
        else {
            return Ok(false);
        };
        let block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            let why = format!("reverted in block {block}");
            warn!(batch = b.seq, tx = %b.tx_hash, %why, "batch failed; its receipts go back to pending");
            self.store.mark_failed(b.seq, &why).await?;
            report.failed.push((b.seq, why));
            return Ok(true);
        }
        let id = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == self.chain.deployment.receipts)
            .find_map(|l| IAttributionReceipts::BatchPosted::decode_log(&l.inner).ok())
            .map(|e| e.data.batchId)
            .ok_or_else(|| {
                ReceiptError::Chain(format!("transaction {} has no BatchPosted event", b.tx_hash))
            })?;
        let id = u64::try_from(id).unwrap_or(u64::MAX);
        self.store.mark_confirmed(b.seq, id, block).await?;
        info!(batch = b.seq, chain_batch = id, block, tx = %b.tx_hash, "batch confirmed");
        report.confirmed.push(id);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_specs_parse() {
        assert_eq!(
            "runs/a".parse::<RunSpec>().unwrap(),
            RunSpec { dir: "runs/a".into(), index: "main".into() }
        );
        assert_eq!("runs/a#x".parse::<RunSpec>().unwrap().index, "x");
        assert!("runs/a#".parse::<RunSpec>().is_err());
        assert!("".parse::<RunSpec>().is_err());
    }
}
