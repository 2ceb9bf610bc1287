//! The rollup end to end: deposit on L1 → balance on L2; L2 transactions; batches in the inbox;
//! output roots posted; a withdrawal proven and finalized on L1 by the relayer; and replay from
//! L1 alone reproducing every root. Then the tamper cases: a wrong output root (caught by replay,
//! deleted by the guardian, a withdrawal proven against it never finalizes) and a batch altered
//! on its way (caught by replay at the right block).

use crate::common::{Devnet, key, open, send, wait_until, wallet};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use ol_bridge::{
    codec::BlockEntry,
    output_root::OutputRoot,
    replay::{ReplayConfig, ReplayError, replay},
    rpc::{connect, view},
    services::run::Services,
};
use ol_primitives::{
    contracts::{
        l2_to_l1_message_passer::IL2ToL1MessagePasser,
        open_portal::{IOpenPortal, Types},
        output_oracle::IOutputOracle,
    },
    predeploys::L2_TO_L1_MESSAGE_PASSER,
};
use std::time::Duration;
use tokio::sync::watch;

alloy::sol! {
    function approve(address spender, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
}

fn replay_config(devnet: &Devnet, compare: bool) -> ReplayConfig {
    ReplayConfig {
        l1_rpc: devnet.l1_url.clone(),
        deployment: devnet.deployment.clone(),
        spec: devnet.spec(),
        compare_rpc: compare.then(|| devnet.l2_url()),
        progress: false,
    }
}

/// Deposits `amount` OPEN from L1 account 0 to `to` on L2.
async fn deposit(devnet: &Devnet, to: Address, amount: U256) {
    let l1 = wallet(&devnet.l1_url, key(0));
    let c = devnet.deployment.contracts;
    send(&l1, c.open_token, approveCall { spender: c.open_portal, amount }, U256::ZERO).await;
    let call = IOpenPortal::depositTransactionCall {
        _to: to,
        _mint: amount,
        _value: amount,
        _gasLimit: 100_000,
        _isCreation: false,
        _data: Bytes::new(),
    };
    send(&l1, c.open_portal, call, U256::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deposit_transact_batch_propose_withdraw_and_replay() {
    let devnet = Devnet::start(3).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let services = Services::new(&devnet.bridge_config(bridge_dir.path())).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(services.run(Duration::from_millis(300), stop_rx));
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();

    // Deposit: 100 OPEN locked on L1 appear on L2.
    let user = PrivateKeySigner::random();
    deposit(&devnet, user.address(), open(100)).await;
    wait_until("the deposit on L2", 60, || async {
        l2.get_balance(user.address()).await.unwrap() == open(100)
    })
    .await;

    // L2 transactions, then a withdrawal of 10 OPEN to an L1 address.
    let l2_user = wallet(&devnet.l2_url(), user.clone());
    let friend = Address::repeat_byte(0xf1);
    l2_user
        .send_transaction(TransactionRequest::default().with_to(friend).with_value(open(1)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let l1_target = Address::repeat_byte(0x1a);
    let withdrawal = IL2ToL1MessagePasser::initiateWithdrawalCall {
        _target: l1_target,
        _gasLimit: U256::from(100_000),
        _data: Bytes::new(),
    };
    send(&l2_user, L2_TO_L1_MESSAGE_PASSER, withdrawal, open(10)).await;

    // The relayer proves it against a posted output root and finalizes it after the period.
    let token = devnet.deployment.contracts.open_token;
    wait_until("the withdrawal on L1", 120, || async {
        view(&l1, token, balanceOfCall { owner: l1_target }).await.unwrap() == open(10)
    })
    .await;

    // Batches and outputs catch up with the L2 head; then stop and replay.
    let head = l2.get_block_number().await.unwrap();
    let oracle = devnet.deployment.contracts.output_oracle;
    wait_until("an output root at the head", 60, || async {
        view(&l1, oracle, IOutputOracle::latestBlockNumberCall {}).await.unwrap()
            >= U256::from(head)
    })
    .await;
    stop.send(true).unwrap();
    task.await.unwrap();

    let report = replay(&replay_config(&devnet, true)).await.unwrap();
    assert!(report.blocks >= head, "replayed {} blocks of {head}", report.blocks);
    // The auditor's command: a verdict and exit 0.
    let deployment = bridge_dir.path().join("l1.json");
    std::fs::write(&deployment, serde_json::to_string(&devnet.deployment).unwrap()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ol-bridge"))
        .args([
            "replay",
            "--quiet",
            "--dev",
            "--l1-rpc",
            &devnet.l1_url,
            "--compare-rpc",
            &devnet.l2_url(),
        ])
        .arg("--deployment")
        .arg(&deployment)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("replay OK"), "{stdout}");
    assert!(report.outputs_checked >= 1);
    assert!(report.transactions >= 3);
    let l2_head = l2
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(report.head.0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l2_head.header.hash, report.head.1, "replay's head is the sequencer's");
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_output_root_is_caught_deleted_and_cannot_pay_a_withdrawal() {
    // A minute's finalization period: the guardian has time to act; then L1 time jumps past it.
    let devnet = Devnet::start(60).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let mut config = devnet.bridge_config(bridge_dir.path());
    config.relayer_key = None;
    let mut services = Services::new(&config).unwrap();
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    let c = devnet.deployment.contracts;

    // Some L2 blocks, batched and proposed honestly.
    let l2_dev = wallet(&devnet.l2_url(), key(5));
    for _ in 0..2 {
        l2_dev
            .send_transaction(
                TransactionRequest::default()
                    .with_to(Address::repeat_byte(7))
                    .with_value(U256::from(1)),
            )
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let head = l2.get_block_number().await.unwrap();
    for _ in 0..100 {
        services.round().await;
        if view(&l1, c.output_oracle, IOutputOracle::latestBlockNumberCall {}).await.unwrap()
            >= U256::from(head)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    replay(&replay_config(&devnet, false)).await.unwrap();

    // A dishonest proposer posts an output whose message passer root holds a withdrawal that
    // never happened, for the next L2 block, and proves that withdrawal.
    let thief = Address::repeat_byte(0x7e);
    let fake = Types::WithdrawalTransaction {
        nonce: U256::from(1u64) << 240,
        sender: Address::repeat_byte(0x5e),
        target: thief,
        value: open(1_000),
        gasLimit: U256::from(100_000),
        data: Bytes::new(),
    };
    let fake_hash = keccak256(fake.abi_encode_params());
    let slot = keccak256((fake_hash, U256::ZERO).abi_encode());
    let (fake_storage_root, fake_proof) =
        single_leaf_trie(keccak256(slot), alloy_rlp::encode(U256::from(1)));
    let fake_output =
        OutputRoot::v0(B256::repeat_byte(0xaa), fake_storage_root, B256::repeat_byte(0xbb));
    l2_dev
        .send_transaction(
            TransactionRequest::default()
                .with_to(Address::repeat_byte(7))
                .with_value(U256::from(1)),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let wrong_block = l2.get_block_number().await.unwrap();
    let proposer = wallet(&devnet.l1_url, key(2));
    let l1_number = l1.get_block_number().await.unwrap() - 1;
    send(
        &proposer,
        c.output_oracle,
        IOutputOracle::proposeL2OutputCall {
            _outputRoot: fake_output.hash(),
            _l2BlockNumber: U256::from(wrong_block),
            _l1BlockHash: B256::ZERO,
            _l1BlockNumber: U256::from(l1_number),
        },
        U256::ZERO,
    )
    .await;
    let wrong_index: U256 =
        view(&l1, c.output_oracle, IOutputOracle::nextOutputIndexCall {}).await.unwrap()
            - U256::from(1);
    let attacker = wallet(&devnet.l1_url, key(6));
    send(
        &attacker,
        c.open_portal,
        IOpenPortal::proveWithdrawalTransactionCall {
            _tx: fake.clone(),
            _l2OutputIndex: wrong_index,
            _outputRootProof: Types::OutputRootProof {
                version: fake_output.version,
                stateRoot: fake_output.state_root,
                messagePasserStorageRoot: fake_output.message_passer_storage_root,
                latestBlockhash: fake_output.block_hash,
            },
            _withdrawalProof: fake_proof,
        },
        U256::ZERO,
    )
    .await;

    // The batcher lands the block; replay names it and both roots.
    for _ in 0..100 {
        services.batcher.poll().await.unwrap();
        if services.batcher.safe_head().unwrap() >= wrong_block {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    match replay(&replay_config(&devnet, false)).await {
        Err(ReplayError::Mismatch { block, what: "output root", expected, .. }) => {
            assert_eq!(block, wrong_block);
            assert_eq!(expected, fake_output.hash());
        }
        other => panic!("replay must catch the wrong output root, got {other:?}"),
    }

    // The guardian deletes it; the proven fake withdrawal never finalizes, even after the period.
    let guardian = wallet(&devnet.l1_url, key(3));
    send(
        &guardian,
        c.output_oracle,
        IOutputOracle::deleteL2OutputsCall { _l2OutputIndex: wrong_index },
        U256::ZERO,
    )
    .await;
    let _: serde_json::Value = l1.raw_request("evm_increaseTime".into(), (120,)).await.unwrap();
    let _: serde_json::Value = l1.raw_request("evm_mine".into(), ()).await.unwrap();
    let finalize = IOpenPortal::finalizeWithdrawalTransactionCall { _tx: fake };
    let request = TransactionRequest::default()
        .with_to(c.open_portal)
        .with_input(Bytes::from(finalize.abi_encode()));
    assert!(
        attacker.call(request).await.is_err(),
        "a withdrawal proven against a deleted output must not finalize"
    );
    assert_eq!(view(&l1, c.open_token, balanceOfCall { owner: thief }).await.unwrap(), U256::ZERO);

    // The honest proposer posts the block again; replay agrees with everything.
    for _ in 0..100 {
        services.round().await;
        if view(&l1, c.output_oracle, IOutputOracle::latestBlockNumberCall {}).await.unwrap()
            >= U256::from(wrong_block)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let report = replay(&replay_config(&devnet, true)).await.unwrap();
    assert_eq!(report.outputs_deleted, 1);
    assert!(report.outputs_checked >= 2);
    devnet.stop().await;
}

/// Drops every block's last transaction (a batch altered on its way to L1).
fn drop_last_transaction(entry: &mut BlockEntry) {
    if entry.transactions.len() > 1 {
        entry.transactions.pop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_altered_batch_is_caught_at_its_block() {
    let devnet = Devnet::start(4).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let mut config = devnet.bridge_config(bridge_dir.path());
    config.relayer_key = None;
    let mut services = Services::new(&config).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    // Honest blocks first (an L1 origin, no user transactions to drop).
    for _ in 0..30 {
        services.round().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let l2_dev = wallet(&devnet.l2_url(), key(5));
    l2_dev
        .send_transaction(
            TransactionRequest::default()
                .with_to(Address::repeat_byte(7))
                .with_value(U256::from(1)),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let altered_block = l2.get_block_number().await.unwrap();
    services.batcher.tamper = Some(drop_last_transaction);
    for _ in 0..100 {
        services.batcher.poll().await.unwrap();
        if services.batcher.safe_head().unwrap() >= altered_block {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    match replay(&replay_config(&devnet, false)).await {
        Err(ReplayError::Mismatch { block, what: "state root", .. }) => {
            assert_eq!(block, altered_block)
        }
        other => {
            panic!("replay must catch the altered batch at block {altered_block}, got {other:?}")
        }
    }
    devnet.stop().await;
}

/// A storage trie with one leaf: its root and the proof of that leaf (the single leaf node).
fn single_leaf_trie(hashed_key: B256, value: Vec<u8>) -> (B256, Vec<Bytes>) {
    use alloy_trie::{HashBuilder, Nibbles, proof::ProofRetainer};
    let path = Nibbles::unpack(hashed_key);
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![path]));
    builder.add_leaf(path, &value);
    let root = builder.root();
    let proof =
        builder.take_proof_nodes().into_nodes_sorted().into_iter().map(|(_, node)| node).collect();
    (root, proof)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_l1_reorg_above_the_confirmation_depth_never_reaches_the_l2() {
    let devnet = Devnet::start(3).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let mut config = devnet.bridge_config(bridge_dir.path());
    config.confirmations = 6;
    config.relayer_key = None;
    let services = Services::new(&config).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(services.run(Duration::from_millis(300), stop_rx));
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    let user = Address::repeat_byte(0x99);

    // A deposit lands on L1, then L1 reorganises it away before it is 6 blocks deep.
    let snapshot: U256 = l1.raw_request("evm_snapshot".into(), ()).await.unwrap();
    deposit(&devnet, user, open(7)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reverted: bool = l1.raw_request("evm_revert".into(), (snapshot,)).await.unwrap();
    assert!(reverted);
    // The chain that wins holds another deposit.
    deposit(&devnet, user, open(3)).await;
    wait_until("the surviving deposit on L2", 90, || async {
        l2.get_balance(user).await.unwrap() == open(3)
    })
    .await;
    // It stays that way: the reorganised deposit never arrives.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(l2.get_balance(user).await.unwrap(), open(3));
    stop.send(true).unwrap();
    task.await.unwrap();
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_batch_transaction_is_broadcast_again_not_posted_twice() {
    let devnet = Devnet::start(3).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let mut config = devnet.bridge_config(bridge_dir.path());
    config.relayer_key = None;
    let services = Services::new(&config).unwrap();
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    wallet(&devnet.l2_url(), key(5))
        .send_transaction(
            TransactionRequest::default()
                .with_to(Address::repeat_byte(7))
                .with_value(U256::from(1)),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let head = l2.get_block_number().await.unwrap();

    // L1 stops mining; the batcher signs and sends its payload; L1's pool loses it.
    let _: serde_json::Value = l1.raw_request("evm_setIntervalMining".into(), (0,)).await.unwrap();
    services.batcher.poll().await.unwrap();
    let state = services.batcher.state().unwrap();
    let sent =
        state.inflight.as_ref().and_then(|f| f.payloads[0].tx).expect("a signed batch transaction");
    let _: serde_json::Value =
        l1.raw_request("anvil_dropAllTransactions".into(), ()).await.unwrap();
    assert!(l1.get_transaction_by_hash(sent).await.unwrap().is_none(), "L1 dropped it");

    // Mining resumes: the batcher notices the missing transaction and broadcasts the same one.
    let _: serde_json::Value = l1.raw_request("evm_setIntervalMining".into(), (1,)).await.unwrap();
    for _ in 0..60 {
        services.batcher.poll().await.unwrap();
        if services.batcher.safe_head().unwrap() >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(services.batcher.safe_head().unwrap() >= head, "the batch landed");
    let receipt = l1
        .get_transaction_receipt(sent)
        .await
        .unwrap()
        .expect("the very transaction that was dropped");
    assert!(receipt.status());
    let posted = l1
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(devnet.deployment.contracts.batch_inbox)
                .event_signature(<ol_primitives::contracts::batch_inbox::IBatchInbox::BatchSubmitted as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(posted.len(), 1, "posted once");
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_batch_transaction_is_replaced_with_higher_fees() {
    let devnet = Devnet::start(3).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let mut config = devnet.bridge_config(bridge_dir.path());
    config.relayer_key = None;
    config.resubmit_after = Duration::from_secs(1);
    let services = Services::new(&config).unwrap();
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    wallet(&devnet.l2_url(), key(5))
        .send_transaction(
            TransactionRequest::default()
                .with_to(Address::repeat_byte(7))
                .with_value(U256::from(1)),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let head = l2.get_block_number().await.unwrap();

    // L1 stops mining: the batch transaction stays pending past `resubmit_after`.
    let _: serde_json::Value = l1.raw_request("evm_setIntervalMining".into(), (0,)).await.unwrap();
    services.batcher.poll().await.unwrap();
    let first = services.batcher.state().unwrap().inflight.unwrap().payloads[0].tx.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    services.batcher.poll().await.unwrap();
    let second = services.batcher.state().unwrap().inflight.unwrap().payloads[0].tx.unwrap();
    assert_ne!(first, second, "the stuck transaction was replaced");
    let (old, new) = (
        l1.get_transaction_by_hash(first).await.unwrap(),
        l1.get_transaction_by_hash(second).await.unwrap().expect("the replacement is in L1's pool"),
    );
    use alloy::consensus::Transaction as _;
    if let Some(old) = old {
        assert_eq!(old.nonce(), new.nonce(), "same nonce");
        assert!(new.max_fee_per_gas() > old.max_fee_per_gas(), "higher fee");
    }

    // Mining resumes: the replacement lands, the original never does, one payload on L1.
    let _: serde_json::Value = l1.raw_request("evm_setIntervalMining".into(), (1,)).await.unwrap();
    for _ in 0..60 {
        services.batcher.poll().await.unwrap();
        if services.batcher.safe_head().unwrap() >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(services.batcher.safe_head().unwrap() >= head, "the batch landed");
    assert!(
        l1.get_transaction_receipt(first).await.unwrap().is_none(),
        "the replaced one never lands"
    );
    let posted = l1
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(devnet.deployment.contracts.batch_inbox)
                .event_signature(<ol_primitives::contracts::batch_inbox::IBatchInbox::BatchSubmitted as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(posted.len(), 1, "one payload, posted once");
    devnet.stop().await;
}
