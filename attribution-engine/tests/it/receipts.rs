//! Receipts end to end, on real parts: anvil with the L2 suite deployed by the production deploy
//! script (see [`crate::chain`]), the OpenLoRA usage ledger in SQLite (written through
//! `openlora_server::ledger`), the receipt store in SQLite, and a tiny run trained, factored and
//! indexed here.
//!
//! Each test has a chain of its own (the suite's state loaded, a Datanet created and the
//! attestor staked); the run is trained once and shared (read-only).

use crate::{
    chain::{Chain, DEPLOYER, address, free_port, key_hex, signer},
    common::{Reap, examples, small_train_config, tiny_model},
};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::{SolCall, SolValue},
};
use attribution_engine::{
    Analyzer, FactorArgs, IndexArgs, Run, Strategy,
    attribution::Totals,
    chain::Chain as EngineChain,
    data::training_sequence,
    model_fingerprint,
    receipts::{
        MerkleTree, ReceiptError, ReceiptStore, Retry, RunSpec, Worker, WorkerConfig,
        http::{ApiState, router},
        receipt_leaf, reward_leaf,
    },
};
use ol_primitives::contracts::{
    attribution_receipts::IAttributionReceipts, datanets::IDatanets,
    model_registry::IModelRegistry, rewards::IRewards, staking::IStaking,
};
use openlora_server::ledger::{InferenceRecord, Ledger};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// Deploys the suite and owns the models.
const OWNER: usize = DEPLOYER;
/// The attestor.
const ATTESTOR: usize = 1;
/// Pays fees into Rewards.
const PAYER: usize = 2;
/// Another model owner.
const OTHER_OWNER: usize = 3;
/// 1 OPEN.
const OPEN: u128 = 1_000_000_000_000_000_000;
/// Fee of each test inference.
const FEE: u128 = OPEN / 1_000;

/// A test's own chain: the suite, one Datanet (id 1) for the models, and the attestor staked
/// as the receipts contract requires.
async fn receipts_chain() -> Chain {
    let chain = Chain::start().await;
    let rules = IDatanets::Rules {
        contributionStake: 0,
        minCuratorStake: 0,
        maxContributionSize: 0,
        allowListed: false,
    };
    let call = IDatanets::createDatanetCall {
        _metadataURI: "ipfs://test".into(),
        _license: "CC-BY-4.0".into(),
        _rules: rules,
    };
    chain.send(OWNER, chain.contract("Datanets"), call.abi_encode(), U256::ZERO).await;
    let params = chain.call(chain.d.receipts, IAttributionReceipts::paramsCall {}).await;
    let stake = IStaking::stakeCall { _role: attribution_engine::chain::ATTESTOR_ROLE };
    let value = U256::from(params.minAttestorStake);
    chain.send(ATTESTOR, chain.d.staking, stake.abi_encode(), value).await;
    chain
}

/// What the receipts tests do on their chain.
impl Chain {
    /// Registers `owner`'s model of `adapter` with `manifest_root`; credits `fees` to it.
    async fn register(&self, owner: usize, adapter: B256, manifest_root: B256, fees: u128) -> B256 {
        let params = IModelRegistry::ModelParams {
            baseModelId: keccak256("tiny"),
            adapterHash: adapter,
            manifestRoot: manifest_root,
            pricePer1kTokens: 1_000,
            split: IModelRegistry::FeeSplit {
                ownerBps: 7_000,
                contributorsBps: 2_000,
                stakersBps: 500,
                protocolBps: 500,
            },
            datanetIds: vec![U256::from(1)],
            metadataURI: "ipfs://model".into(),
        };
        let call = IModelRegistry::registerModelCall { _params: params };
        self.send(owner, self.d.registry, call.abi_encode(), U256::ZERO).await;
        let model = keccak256((address(owner), adapter).abi_encode());
        if fees > 0 {
            let credit = IRewards::creditFeesCall { _modelId: model };
            self.send(PAYER, self.d.rewards, credit.abi_encode(), U256::from(fees)).await;
        }
        model
    }

    async fn batch_count(&self) -> U256 {
        self.call(self.d.receipts, IAttributionReceipts::batchCountCall {}).await
    }

    async fn advance(&self, seconds: u64) {
        self.rpc_raw("evm_increaseTime", (seconds,)).await;
        self.rpc_raw("evm_mine", ()).await;
    }

    fn engine_chain(&self) -> EngineChain {
        EngineChain::connect(&self.anvil.url, self.d, signer(ATTESTOR)).unwrap()
    }
}

/// The shared run: trained, factored and indexed once.
struct Fixture {
    _dir: tempfile::TempDir,
    run: PathBuf,
    adapter: B256,
    manifest_root: B256,
    examples: Vec<attribution_engine::data::Example>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        let (model, model_cfg) = tiny_model(&model_dir);
        let tokenizer = tokenizers::Tokenizer::from_file(model_dir.join("tokenizer.json")).unwrap();
        let cfg = small_train_config(2);
        let run_dir = dir.path().join("run");
        let run =
            Run::train(&model, &model_dir, &tokenizer, examples(8), &cfg, &run_dir, false).unwrap();
        let lora = run.load_adapter(&model_cfg).unwrap();
        let fingerprint = model_fingerprint(&model_dir, run.info.adapter_id).unwrap();
        let analyzer = Analyzer::new(run_dir.join("analysis"), &model, &lora, fingerprint);
        let train: Vec<_> = run
            .examples
            .iter()
            .map(|e| training_sequence(&tokenizer, &e.text, cfg.max_len).unwrap())
            .collect();
        let args = FactorArgs { strategy: Strategy::Ekfac, damping_factor: 0.1, batch_size: 16 };
        analyzer.fit_factors("ekfac", &train, &args).unwrap();
        let factors = analyzer.load_factors("ekfac").unwrap();
        let index_args =
            IndexArgs { projection_dim: 64, projection_seed: 1, shard_rows: 16, batch_size: 16 };
        let groups: Vec<_> = run.examples.iter().map(|e| e.group_key()).collect();
        // With the sums at the run's one earlier checkpoint: the worker loads its adapter.
        let rel = run.earlier_checkpoints()[0].clone();
        let (ckpt_id, ckpt) = run.load_checkpoint(&rel, &model_cfg).unwrap();
        let ckpt_factors = analyzer.factors_at(&ckpt, &train, &args).unwrap();
        let sums = analyzer
            .checkpoint_sums(&ckpt, &ckpt_factors, rel, ckpt_id.0, &train, &groups, 16)
            .unwrap();
        let checkpoints = vec![sums];
        analyzer
            .build_index(
                "main",
                "ekfac",
                &factors,
                &train,
                Some(&groups),
                checkpoints,
                run.manifest.root(),
                &index_args,
            )
            .unwrap();
        Fixture {
            run: run_dir,
            adapter: run.info.adapter_id.0,
            manifest_root: run.manifest.root(),
            examples: run.examples.clone(),
            _dir: dir,
        }
    })
}

/// A paid inference quoting training example `i` (first three words as the prompt).
fn quote(i: usize, model: B256, adapter: B256, fee: u128) -> InferenceRecord {
    let f = fixture();
    let words: Vec<&str> = f.examples[i].text.split(' ').collect();
    let (prompt, completion) = (words[..3].join(" "), format!(" {}", words[3..].join(" ")));
    InferenceRecord {
        seq: 0,
        id: B256::random(),
        payer: Some(address(PAYER)),
        server: Some(Address::repeat_byte(0x5e)),
        model_id: (fee > 0).then_some(model),
        adapter,
        tokens_in: 3,
        tokens_out: 9,
        price_per_1k: U256::from(1_000),
        fee: U256::from(fee),
        prompt_hash: keccak256(&prompt),
        output_hash: keccak256(&completion),
        prompt: Some(prompt),
        completion: Some(completion),
        voucher_cumulative: Some(U256::from(fee)),
        created_at: openlora_server::ledger::now_ms(),
    }
}

/// A ledger, a store and a worker in `dir` over `runs`.
async fn worker(chain: &Chain, dir: &Path, runs: Vec<RunSpec>, confirm: Duration) -> Worker {
    let ledger = Ledger::open(dir.join("ledger.db").to_str().unwrap()).await.unwrap();
    let store = ReceiptStore::open(dir.join("receipts.db").to_str().unwrap()).await.unwrap();
    let config = WorkerConfig {
        runs,
        top_k: 8,
        confirm_timeout: confirm,
        poll: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    Worker::new(ledger, store, chain.engine_chain(), config).unwrap()
}

fn spec(dir: &Path) -> Vec<RunSpec> {
    vec![RunSpec { dir: dir.to_owned(), index: "main".into() }]
}

async fn ledger(dir: &Path) -> Ledger {
    Ledger::open(dir.join("ledger.db").to_str().unwrap()).await.unwrap()
}

fn on_chain(r: &attribution_engine::receipts::Receipt) -> IAttributionReceipts::Receipt {
    r.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_inferences_become_a_verifiable_batch_that_contributors_claim() {
    let f = fixture();
    let chain = receipts_chain().await;
    let model = chain.register(OWNER, f.adapter, f.manifest_root, OPEN).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut w = worker(&chain, tmp.path(), spec(&f.run), Duration::from_secs(20)).await;
    let l = ledger(tmp.path()).await;
    // Quotes of three contributors' examples (8 each, in order), and one free inference.
    let quoted = [1usize, 9, 25];
    let mut ids = vec![];
    for &i in &quoted {
        let r = quote(i, model, f.adapter, FEE);
        ids.push(r.id);
        l.record_inference(&r, None).await.unwrap();
    }
    l.record_inference(&quote(2, model, f.adapter, 0), None).await.unwrap();

    let report = w.step().await.unwrap();
    assert_eq!((report.receipts, report.free), (3, 1), "{report:?}");
    assert_eq!(report.confirmed, vec![1]);
    assert_eq!(chain.batch_count().await, U256::from(1));

    let store = w.store().clone();
    let batch = chain
        .call(chain.d.receipts, IAttributionReceipts::getBatchCall { _batchId: U256::from(1) })
        .await;
    assert_eq!(batch.modelId, model);
    assert_eq!(batch.attestor, address(ATTESTOR));
    let mut total = U256::ZERO;
    for (&id, &i) in ids.iter().zip(&quoted) {
        let r = store.receipt(id).await.unwrap().expect("stored");
        let proof = r.proof.clone().expect("batched");
        // Anyone can check it: the contract's leaf, and verifyReceipt against batch 1.
        let leaf = chain
            .call(
                chain.d.receipts,
                IAttributionReceipts::receiptLeafCall { _receipt: on_chain(&r.receipt) },
            )
            .await;
        assert_eq!(leaf, receipt_leaf(&r.receipt));
        let ok = chain
            .call(
                chain.d.receipts,
                IAttributionReceipts::verifyReceiptCall {
                    _batchId: U256::from(1),
                    _receipt: on_chain(&r.receipt),
                    _proof: proof.clone(),
                },
            )
            .await;
        assert!(ok, "receipt of inference {id} verifies on chain");
        // A tampered receipt does not.
        let mut bad = on_chain(&r.receipt);
        bad.fee += U256::from(1);
        let no = chain
            .call(
                chain.d.receipts,
                IAttributionReceipts::verifyReceiptCall {
                    _batchId: U256::from(1),
                    _receipt: bad,
                    _proof: proof,
                },
            )
            .await;
        assert!(!no);
        // Signed by the attestor; the quoted example's contributor comes first.
        let sig = alloy::primitives::Signature::try_from(r.signature.as_ref()).unwrap();
        assert_eq!(sig.recover_address_from_msg(r.leaf.as_slice()).unwrap(), address(ATTESTOR));
        assert_eq!(r.contributors[0].address, f.examples[i].contributor, "{:?}", r.attribution);
        assert_eq!(r.attribution.totals, Totals::CheckpointGroupSums);
        assert_eq!(r.receipt.fee, U256::from(FEE));
        assert_eq!(r.contributor_pool, U256::from(FEE / 5));
        assert!(r.attribution.datanets.top.iter().any(|s| s.id == f.examples[i].datanet));
        total += r.contributors.iter().map(|c| c.amount).sum::<U256>();
    }
    assert_eq!(U256::from(batch.amount), total);

    // A second step finds nothing to do.
    let again = w.step().await.unwrap();
    assert!(again.posted.is_empty() && again.receipts == 0, "{again:?}");
    assert_eq!(chain.batch_count().await, U256::from(1));

    // The API serves the receipt with its proof, and a contributor's claim.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = ApiState { store: store.clone(), attestor: address(ATTESTOR), deployment: chain.d };
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let http = reqwest::Client::new();
    let body: serde_json::Value =
        http.get(format!("{url}/receipts/{}", ids[0])).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["batch"]["batchId"], 1);
    assert_eq!(body["batch"]["status"], "confirmed");
    assert_eq!(body["receipt"]["inferenceId"], ids[0].to_string());
    assert!(body["proof"].is_array());
    let missing =
        http.get(format!("{url}/receipts/{}", B256::repeat_byte(7))).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let bad = http.get(format!("{url}/receipts/nope")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let by_root: serde_json::Value = http
        .get(format!("{url}/batches/{}", batch.receiptsRoot))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_root["receipts"].as_array().unwrap().len(), 3);

    // After the challenge window the batch is final and a contributor claims with the served
    // leaf and proof.
    let contributor = f.examples[quoted[0]].contributor;
    let rewards: serde_json::Value = http
        .get(format!("{url}/contributors/{contributor}/rewards"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claim = &rewards["claims"][0];
    let cumulative: U256 = claim["cumulative"].as_str().unwrap().parse().unwrap();
    let proof: Vec<B256> = serde_json::from_value(claim["proof"].clone()).unwrap();
    assert!(!cumulative.is_zero());
    assert!(MerkleTree::verify(
        &proof,
        batch.rewardsRoot,
        reward_leaf(model, contributor, cumulative)
    ));
    chain.advance(120).await;
    chain
        .send(
            PAYER,
            chain.d.receipts,
            IAttributionReceipts::finalizeBatchCall { _batchId: U256::from(1) }.abi_encode(),
            U256::ZERO,
        )
        .await;
    chain.rpc_raw("anvil_impersonateAccount", (contributor,)).await;
    chain.rpc_raw("anvil_setBalance", (contributor, U256::from(OPEN))).await;
    let before = chain.rpc.get_balance(contributor).await.unwrap();
    let claim = IRewards::claimCall {
        _batchId: U256::from(1),
        _cumulativeAmount: cumulative,
        _proof: proof,
    };
    let tx = TransactionRequest::default()
        .with_from(contributor)
        .with_to(chain.d.rewards)
        .with_input(claim.abi_encode());
    let receipt = chain.rpc.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "the claim succeeds");
    let gas = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(chain.rpc.get_balance(contributor).await.unwrap() + gas, before + cumulative);
    let claimed = chain
        .call(chain.d.rewards, IRewards::claimedOfCall { _modelId: model, _account: contributor })
        .await;
    assert_eq!(claimed, cumulative);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_sign_and_confirm_posts_one_batch_and_skips_nothing() {
    let f = fixture();
    let chain = receipts_chain().await;
    let model = chain.register(OWNER, f.adapter, f.manifest_root, OPEN).await;
    let tmp = tempfile::tempdir().unwrap();
    let l = ledger(tmp.path()).await;
    let mut ids = vec![];
    for i in [3usize, 12] {
        let r = quote(i, model, f.adapter, FEE);
        ids.push(r.id);
        l.record_inference(&r, None).await.unwrap();
    }
    // The node stops mining: the worker signs, records and broadcasts, but sees no receipt.
    chain.rpc_raw("evm_setAutomine", (false,)).await;
    let mut first = worker(&chain, tmp.path(), spec(&f.run), Duration::from_millis(500)).await;
    let report = first.step().await.unwrap();
    assert_eq!(report.posted.len(), 1, "{report:?}");
    assert_eq!(report.unconfirmed, 1);
    let signed_tx = report.posted[0].1;
    first.store().close().await;
    drop(first);
    // The node loses its pool (as a restarted node would); a third inference arrives.
    chain.rpc_raw("anvil_dropAllTransactions", ()).await;
    chain.rpc_raw("evm_setAutomine", (true,)).await;
    let late = quote(20, model, f.adapter, FEE);
    l.record_inference(&late, None).await.unwrap();
    assert_eq!(chain.batch_count().await, U256::ZERO);

    // Restarted: the same bytes are rebroadcast, one batch lands, the late one waits its turn.
    let mut second = worker(&chain, tmp.path(), spec(&f.run), Duration::from_secs(20)).await;
    let report = second.step().await.unwrap();
    assert_eq!(report.rebroadcast, vec![signed_tx], "{report:?}");
    assert_eq!(report.confirmed, vec![1]);
    assert!(report.posted.is_empty());
    assert_eq!(report.receipts, 1);
    assert_eq!(chain.batch_count().await, U256::from(1));
    let mined = chain.rpc.get_transaction_receipt(signed_tx).await.unwrap().expect("mined");
    assert!(mined.status());
    let store = second.store().clone();
    for id in &ids {
        assert!(store.receipt(*id).await.unwrap().unwrap().proof.is_some());
    }
    assert!(store.receipt(late.id).await.unwrap().unwrap().batch_seq.is_none());
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.receipts, counts.pending, counts.batches), (3, 1, 1));

    // Once the window closes the next batch carries the late one; nothing was posted twice.
    chain.advance(120).await;
    let report = second.step().await.unwrap();
    assert_eq!(report.confirmed, vec![2], "{report:?}");
    assert_eq!(chain.batch_count().await, U256::from(2));
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.receipts, counts.pending, counts.batches), (3, 0, 2));
    let b2 = chain
        .call(chain.d.receipts, IAttributionReceipts::getBatchCall { _batchId: U256::from(2) })
        .await;
    let b1 = chain
        .call(chain.d.receipts, IAttributionReceipts::getBatchCall { _batchId: U256::from(1) })
        .await;
    assert_eq!(b1.status, 4, "posting batch 2 finalized batch 1");
    assert_eq!(b2.cumulativeAmount, b1.cumulativeAmount + b2.amount);
}

/// Flips bytes in the middle of the first shard of a copy of the run.
fn corrupt_copy(run: &Path, into: &Path) -> PathBuf {
    let dst = into.join("run-copy");
    copy_dir(run, &dst);
    let shard = dst.join("analysis/index_main/shard-00000.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0xff;
    }
    std::fs::write(&shard, bytes).unwrap();
    dst
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_a_clear_error_and_nothing_is_posted() {
    let f = fixture();
    let chain = receipts_chain().await;
    let model = chain.register(OWNER, f.adapter, f.manifest_root, OPEN).await;
    // The same adapter registered by another owner with a manifest that is not the run's.
    let foreign = chain.register(OTHER_OWNER, f.adapter, keccak256("another manifest"), OPEN).await;
    let root = tempfile::tempdir().unwrap();

    type Check = fn(&ReceiptError) -> bool;
    let unknown_adapter = B256::repeat_byte(0xaa);
    let cases: Vec<(&str, InferenceRecord, bool, Check)> = vec![
        ("unknown adapter", quote(1, model, unknown_adapter, FEE), false, |e| {
            matches!(e, ReceiptError::UnknownAdapter { .. })
        }),
        ("manifest root not the chain's", quote(1, foreign, f.adapter, FEE), false, |e| {
            matches!(e, ReceiptError::ManifestMismatch { .. })
        }),
        ("corrupt index shard", quote(1, model, f.adapter, FEE), true, |e| {
            matches!(
                e,
                ReceiptError::Index { source, .. } if matches!(
                    **source,
                    attribution_engine::AnalyzerError::Index(
                        attribution_engine::IndexError::CorruptShard { .. }
                    )
                )
            )
        }),
    ];
    for (name, record, corrupt, check) in cases {
        let dir = root.path().join(name.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let run = if corrupt { corrupt_copy(&f.run, &dir) } else { f.run.clone() };
        let mut w = worker(&chain, &dir, spec(&run), Duration::from_secs(5)).await;
        ledger(&dir).await.record_inference(&record, None).await.unwrap();
        let before = w.store().counts().await.unwrap();
        let err = w.step().await.expect_err(name);
        eprintln!("{name}: {err}");
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert!(!err.rejects_inference(), "{name}: a fault of the setup, not of the row");
        // A second try fails the same way: the cursor did not move past the inference.
        let again = w.step().await.expect_err(name);
        assert_eq!(again.to_string(), err.to_string());
        assert_eq!(w.store().counts().await.unwrap(), before, "{name}: the store is unchanged");
        assert_eq!(chain.batch_count().await, U256::ZERO, "{name}: nothing posted");
    }

    // An inference that is not in the ledger.
    let dir = root.path().join("missing");
    std::fs::create_dir_all(&dir).unwrap();
    let mut w = worker(&chain, &dir, spec(&f.run), Duration::from_secs(5)).await;
    let id = B256::repeat_byte(0x42);
    let err = w.attribute_inference(id).await.unwrap_err();
    assert!(matches!(err, ReceiptError::InferenceNotFound(x) if x == id), "{err}");
    assert_eq!(w.store().counts().await.unwrap().receipts, 0);
    assert_eq!(chain.batch_count().await, U256::ZERO);
}

/// Ledger rows that cannot be attributed (a text missing or not matching its hash, an empty
/// completion, a model not registered, an adapter not the model's) are rejected with the reason, each once, nothing
/// posted for them, and the paid inference after them still gets its receipt and batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattributable_rows_are_rejected_and_the_rows_after_them_still_paid() {
    let f = fixture();
    let chain = receipts_chain().await;
    let model = chain.register(OWNER, f.adapter, f.manifest_root, OPEN).await;
    let other_adapter = B256::repeat_byte(0xcc);
    let other_model = chain.register(OTHER_OWNER, other_adapter, f.manifest_root, OPEN).await;
    let tmp = tempfile::tempdir().unwrap();
    let l = ledger(tmp.path()).await;

    let mut no_prompt = quote(4, model, f.adapter, FEE);
    no_prompt.prompt = None;
    let mut altered = quote(5, model, f.adapter, FEE);
    altered.completion = altered.completion.map(|c| c + " and more");
    let not_the_models_adapter = quote(6, other_model, f.adapter, FEE);
    let unregistered = quote(7, B256::repeat_byte(0x77), f.adapter, FEE);
    // A model id the registry gives (keccak of owner and adapter), registered only later.
    let late_model = keccak256((address(OTHER_OWNER), f.adapter).abi_encode());
    let registered_late = quote(8, late_model, f.adapter, FEE);
    // The answer stopped at once: paid (the prompt's tokens), nothing to attribute.
    let mut stopped_at_once = quote(3, model, f.adapter, FEE);
    stopped_at_once.completion = Some(String::new());
    stopped_at_once.output_hash = keccak256("");
    let good = quote(10, model, f.adapter, FEE);
    type Check = fn(&ReceiptError) -> bool;
    let bad: Vec<(&InferenceRecord, &str, Check)> = vec![
        (&no_prompt, "no prompt text", |e| {
            matches!(e, ReceiptError::MissingText { which: "prompt", .. })
        }),
        (&altered, "completion text does not hash", |e| {
            matches!(e, ReceiptError::TextMismatch { which: "completion", .. })
        }),
        (&not_the_models_adapter, "registers adapter", |e| {
            matches!(e, ReceiptError::AdapterMismatch { .. })
        }),
        (&unregistered, "is not registered", |e| matches!(e, ReceiptError::UnknownModel { .. })),
        (&registered_late, "is not registered", |e| matches!(e, ReceiptError::UnknownModel { .. })),
        (&stopped_at_once, "the completion has no tokens", |e| {
            matches!(e, ReceiptError::Attribute { .. })
        }),
    ];
    for (record, _, _) in &bad {
        l.record_inference(record, None).await.unwrap();
    }
    l.record_inference(&good, None).await.unwrap();

    let mut w = worker(&chain, tmp.path(), spec(&f.run), Duration::from_secs(20)).await;
    // Each bad row on its own fails with its clear error.
    for (record, _, check) in &bad {
        let err = w.attribute_inference(record.id).await.unwrap_err();
        assert!(check(&err) && err.rejects_inference(), "{err:?}");
    }
    let report = w.step().await.unwrap();
    assert_eq!((report.rejected, report.receipts), (6, 1), "{report:?}");
    assert_eq!(report.confirmed, vec![1]);
    let store = w.store();
    for (record, says, _) in &bad {
        let r = store.rejection(record.id).await.unwrap().expect("rejection kept");
        assert!(r.reason.contains(says), "{}: {}", says, r.reason);
        assert_eq!((r.fee, r.adapter), (U256::from(FEE), record.adapter));
        assert!(store.receipt(record.id).await.unwrap().is_none());
    }
    assert!(store.rejection(good.id).await.unwrap().is_none());
    let receipts = store.batch_receipts(1).await.unwrap();
    assert_eq!(receipts.iter().map(|r| r.receipt.inferenceId).collect::<Vec<_>>(), vec![good.id]);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.rejected, counts.receipts, counts.cursor), (6, 1, 7));
    assert_eq!(chain.batch_count().await, U256::from(1));
    // Idempotent: a second step finds nothing new and posts nothing.
    let again = w.step().await.unwrap();
    assert_eq!((again.rejected, again.receipts), (0, 0), "{again:?}");
    assert_eq!(w.store().counts().await.unwrap(), counts);
    assert_eq!(chain.batch_count().await, U256::from(1));

    // The API lists the rejections in ledger order, with their reasons, a page at a time.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state =
        ApiState { store: w.store().clone(), attestor: address(ATTESTOR), deployment: chain.d };
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let http = reqwest::Client::new();
    let list = |query: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move { http.get(format!("{url}/rejections{query}")).send().await.unwrap() }
    };
    let all: Vec<serde_json::Value> = list("").await.json().await.unwrap();
    let ids: Vec<String> =
        all.iter().map(|r| r["inference_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, bad.iter().map(|(r, _, _)| r.id.to_string()).collect::<Vec<_>>());
    assert!(all[3]["reason"].as_str().unwrap().contains("is not registered"), "{:?}", all[3]);
    let page: Vec<serde_json::Value> = list("?after=2&limit=2").await.json().await.unwrap();
    assert_eq!(page.iter().map(|r| r["ledger_seq"].as_i64().unwrap()).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(list("?limit=0").await.status(), 400);
    assert_eq!(list("?after=x").await.status(), 400);

    // Retries. Still unattributable: the rejection stays (with the new reason); never rejected:
    // refused; nothing changes.
    let still = w.retry_rejection(unregistered.id).await.unwrap();
    assert!(
        matches!(&still, Retry::StillRejected(r) if r.contains("is not registered")),
        "{still:?}"
    );
    assert!(matches!(w.retry_rejection(good.id).await, Err(ReceiptError::NotRejected(_))));
    assert_eq!(w.store().counts().await.unwrap(), counts);
    // Mended (the model is registered now): the receipt replaces the rejection, the cursor
    // stays, and the next step posts it in a batch of its own.
    assert_eq!(chain.register(OTHER_OWNER, f.adapter, f.manifest_root, OPEN).await, late_model);
    let retried = w.retry_rejection(registered_late.id).await.unwrap();
    let Retry::Receipt(receipt) = retried else { panic!("{retried:?}") };
    assert_eq!(receipt.receipt.modelId, late_model);
    assert!(w.store().rejection(registered_late.id).await.unwrap().is_none());
    let mended = w.store().counts().await.unwrap();
    assert_eq!((mended.rejected, mended.receipts, mended.cursor), (5, 2, 7));
    let left: Vec<serde_json::Value> = list("").await.json().await.unwrap();
    assert_eq!(left.len(), 5);
    assert!(left.iter().all(|r| r["inference_id"] != registered_late.id.to_string()));
    let posted = w.step().await.unwrap();
    assert_eq!((posted.receipts, posted.confirmed.clone()), (0, vec![2]), "{posted:?}");
    let batch: Vec<B256> =
        w.store().batch_receipts(2).await.unwrap().iter().map(|r| r.receipt.inferenceId).collect();
    assert_eq!(batch, vec![registered_late.id]);
    assert!(matches!(
        w.retry_rejection(registered_late.id).await,
        Err(ReceiptError::NotRejected(_))
    ));
    assert_eq!(chain.batch_count().await, U256::from(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_adapters_stop_the_worker_unless_it_passes_over_them() {
    let f = fixture();
    let chain = receipts_chain().await;
    let model = chain.register(OWNER, f.adapter, f.manifest_root, OPEN).await;
    // A paid inference of an adapter no run trained (the server sells it too), then one of ours.
    let other_adapter = B256::repeat_byte(0xbb);
    let other_model = chain.register(OWNER, other_adapter, keccak256("no manifest"), 0).await;
    let tmp = tempfile::tempdir().unwrap();
    let l = ledger(tmp.path()).await;
    let other = quote(5, other_model, other_adapter, FEE);
    l.record_inference(&other, None).await.unwrap();
    let ours = quote(10, model, f.adapter, FEE);
    l.record_inference(&ours, None).await.unwrap();

    // By default the worker stops there (nothing skipped silently).
    let mut strict = worker(&chain, tmp.path(), spec(&f.run), Duration::from_secs(20)).await;
    let err = strict.step().await.unwrap_err();
    assert!(
        matches!(err, ReceiptError::UnknownAdapter { adapter, .. } if adapter == other_adapter)
    );
    assert_eq!(strict.store().counts().await.unwrap().cursor, 0);
    strict.store().close().await;
    drop(strict);

    // Asked to, it passes over it and attributes ours.
    let ledger = Ledger::open(tmp.path().join("ledger.db").to_str().unwrap()).await.unwrap();
    let store = ReceiptStore::open(tmp.path().join("receipts.db").to_str().unwrap()).await.unwrap();
    let config = WorkerConfig {
        runs: spec(&f.run),
        top_k: 8,
        confirm_timeout: Duration::from_secs(20),
        poll: Duration::from_millis(50),
        skip_unknown_adapters: true,
        ..WorkerConfig::default()
    };
    let mut lenient = Worker::new(ledger, store, chain.engine_chain(), config).unwrap();
    let report = lenient.step().await.unwrap();
    assert_eq!((report.other_adapters, report.receipts), (1, 1), "{report:?}");
    assert_eq!(report.confirmed, vec![1]);
    let store = lenient.store();
    assert!(store.receipt(other.id).await.unwrap().is_none());
    assert!(store.receipt(ours.id).await.unwrap().unwrap().proof.is_some());
    assert_eq!(store.counts().await.unwrap().cursor, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_run_serves_a_batched_receipt_and_stops_on_sigterm() {
    let f = fixture();
    let chain = receipts_chain().await;
    let model = chain.register(OWNER, f.adapter, f.manifest_root, OPEN).await;
    let tmp = tempfile::tempdir().unwrap();
    let l = ledger(tmp.path()).await;
    let port = free_port();
    let log = tmp.path().join("receipts.log");
    // `attribution-engine receipts <args>` over this test's ledger, store, chain and run.
    let receipts_command = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_attribution-engine"));
        cmd.arg("receipts")
            .args(args)
            .arg("--ledger")
            .arg(tmp.path().join("ledger.db"))
            .arg("--store")
            .arg(tmp.path().join("receipts.db"))
            .args(["--l2-rpc", &chain.anvil.url, "--deployment"])
            .arg(&chain.deployment)
            .arg("--run")
            .arg(&f.run)
            .env("OL_ATTESTOR_KEY", key_hex(ATTESTOR));
        cmd
    };
    let child = receipts_command(&["run"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--interval-secs", "1"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = Reap(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/health")).send().await.is_err() {
        assert!(child.0.try_wait().unwrap().is_none(), "receipts run exited during start-up");
        assert!(Instant::now() < deadline, "the receipts API did not answer within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A paid inference lands in the ledger: the running worker signs its receipt and batches it.
    let r = quote(17, model, f.adapter, FEE);
    l.record_inference(&r, None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let resp = http.get(format!("{url}/receipts/{}", r.id)).send().await.unwrap();
        if resp.status() == 200 {
            let body: serde_json::Value = resp.json().await.unwrap();
            if body["batch"]["status"] == "confirmed" {
                break body;
            }
        }
        assert!(Instant::now() < deadline, "no confirmed receipt within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["attestor"], serde_json::json!(address(ATTESTOR)));
    assert_eq!(chain.batch_count().await, U256::from(1));

    // SIGTERM: the API and the worker stop, and the process exits 0.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "receipts run did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "receipts run exited with {status}:\n{log}");
    assert!(log.contains("receipts worker stopped"), "{log}");
    assert!(http.get(format!("{url}/health")).send().await.is_err(), "still listening");

    // `receipts run --once` rejects an inference of a model registered only later; `receipts
    // retry` keeps it rejected until the model is registered, then stores its receipt (the
    // next run batches it); a second retry finds no rejection and exits non-zero.
    let late_model = keccak256((address(OTHER_OWNER), f.adapter).abi_encode());
    let late = quote(18, late_model, f.adapter, FEE);
    l.record_inference(&late, None).await.unwrap();
    let receipts = |args: &[&str]| {
        let out = receipts_command(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let id = late.id.to_string();
    assert!(receipts(&["run", "--once"]).0);
    let (ok, out) = receipts(&["retry", "--inference", &id]);
    assert!(
        ok && out.contains("\"outcome\":\"rejected\"") && out.contains("is not registered"),
        "{out}"
    );
    assert_eq!(chain.register(OTHER_OWNER, f.adapter, f.manifest_root, OPEN).await, late_model);
    let (ok, out) = receipts(&["retry", "--inference", &id]);
    assert!(ok && out.contains("\"outcome\":\"receipt\""), "{out}");
    let (ok, out) = receipts(&["retry", "--inference", &id]);
    assert!(!ok && out.contains("no rejection to retry"), "{out}");
    assert!(receipts(&["run", "--once"]).0);
    assert_eq!(chain.batch_count().await, U256::from(2));
}
