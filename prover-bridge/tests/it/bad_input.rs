//! Bad input on L1, each skipped or refused per the derivation rules, with replay agreeing with
//! the sequencer: a batch from an unknown sender (refused by the inbox), payloads with an
//! unknown version, a truncated frame and a channel that does not decompress (skipped, with
//! reasons), a channel whose frames land in reverse order (assembled), and a deposit whose L2
//! execution fails (the mint stays, as in OP; replay computes the same state).

use crate::common::{Devnet, key, open, send, wait_until, wallet};
use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B128, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use ol_bridge::{
    blocks::fetch_entry,
    codec::{ChannelOut, Frame, batch_payload},
    replay::{ReplayConfig, replay},
    rpc::{connect, view},
    services::run::Services,
};
use ol_primitives::contracts::{
    batch_inbox::IBatchInbox, open_portal::IOpenPortal, output_oracle::IOutputOracle,
};
use std::time::Duration;

alloy::sol! {
    function approve(address spender, uint256 amount) returns (bool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_batches_and_deposits_are_skipped_and_replay_agrees() {
    let devnet = Devnet::start(3).await;
    let bridge_dir = tempfile::tempdir().unwrap();
    let mut config = devnet.bridge_config(bridge_dir.path());
    config.relayer_key = None;
    let mut services = Services::new(&config).unwrap();
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    let c = devnet.deployment.contracts;

    // A deposit whose L2 call fails: init code that hits INVALID. The mint stays with the
    // depositor; the creation does not happen.
    let depositor = wallet(&devnet.l1_url, key(0));
    send(
        &depositor,
        c.open_token,
        approveCall { spender: c.open_portal, amount: open(5) },
        U256::ZERO,
    )
    .await;
    let failing = IOpenPortal::depositTransactionCall {
        _to: Address::ZERO,
        _mint: open(5),
        _value: U256::ZERO,
        _gasLimit: 100_000,
        _isCreation: true,
        _data: Bytes::from_static(&[0xfe]),
    };
    send(&depositor, c.open_portal, failing, U256::ZERO).await;
    let l2_before = l2.get_balance(key(0).address()).await.unwrap();
    wait_until("the failing deposit's mint on L2", 60, || async {
        services.deposits.poll().await.ok();
        l2.get_balance(key(0).address()).await.unwrap() == l2_before + open(5)
    })
    .await;

    // A batch from someone else than the batcher: the inbox refuses it.
    let stranger = wallet(&devnet.l1_url, key(7));
    let call = IBatchInbox::submitBatchCall { _data: Bytes::from_static(&[0, 1, 2]) };
    let request = TransactionRequest::default()
        .with_to(c.batch_inbox)
        .with_input(Bytes::from(call.abi_encode()));
    assert!(stranger.call(request).await.is_err(), "the inbox must refuse a stranger's batch");

    // Junk from the batcher key itself: an unknown version, a truncated frame, and a channel
    // that is not zstd.
    let batcher = wallet(&devnet.l1_url, key(1));
    let not_zstd = Frame::new(B128::repeat_byte(9), 0, vec![1u8; 64], true).unwrap();
    for junk in [
        vec![0x01, 0xde, 0xad],
        vec![0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        batch_payload(&[not_zstd]).to_vec(),
    ] {
        send(
            &batcher,
            c.batch_inbox,
            IBatchInbox::submitBatchCall { _data: junk.into() },
            U256::ZERO,
        )
        .await;
    }

    // The first L2 blocks as one channel cut into small frames, posted last frame first.
    let l2_head = l2.get_block_number().await.unwrap();
    let mut channel = ChannelOut::random();
    for number in 1..=l2_head {
        channel.add_block(&fetch_entry(&l2, number).await.unwrap()).unwrap();
    }
    channel.close().unwrap();
    let frames = channel.frames(200).unwrap();
    assert!(frames.len() >= 2, "several frames");
    for frame in frames.iter().rev() {
        send(
            &batcher,
            c.batch_inbox,
            IBatchInbox::submitBatchCall { _data: batch_payload(std::slice::from_ref(frame)) },
            U256::ZERO,
        )
        .await;
    }

    // The honest bridge carries on (its own batches repeat blocks 1..=head: skipped as
    // already derived) and posts outputs up to the head.
    let head = l2.get_block_number().await.unwrap();
    for _ in 0..200 {
        services.round().await;
        if view(&l1, c.output_oracle, IOutputOracle::latestBlockNumberCall {}).await.unwrap()
            >= U256::from(head)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let report = replay(&ReplayConfig {
        l1_rpc: devnet.l1_url.clone(),
        deployment: devnet.deployment.clone(),
        spec: devnet.spec(),
        compare_rpc: Some(devnet.l2_url()),
        progress: false,
    })
    .await
    .unwrap();
    let skipped = report.skipped.join("\n");
    for expected in
        ["unknown payload version", "truncated frame", "not a zstd frame", "already derived"]
    {
        assert!(skipped.contains(expected), "no {expected:?} in what replay skipped:\n{skipped}");
    }
    assert!(report.blocks >= head);
    devnet.stop().await;
}
