//! `kill -9` the bridge (the `ol-bridge` binary) at random moments during the whole flow and
//! restart it: the flow completes with every deposit credited once, every withdrawal paid once,
//! no output posted twice, no batch payload posted twice, and replay agreeing.

use crate::common::{Devnet, key, open, send, wait_until, wallet};
use alloy::{
    primitives::{Address, Bytes, U256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use ol_bridge::{
    replay::{ReplayConfig, replay},
    rpc::{connect, view},
};
use ol_primitives::{
    contracts::{
        l2_to_l1_message_passer::IL2ToL1MessagePasser, open_portal::IOpenPortal,
        output_oracle::IOutputOracle,
    },
    predeploys::L2_TO_L1_MESSAGE_PASSER,
};
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

alloy::sol! {
    function approve(address spender, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
}

fn hex_key(i: u32) -> String {
    format!("0x{}", alloy::hex::encode(key(i).to_bytes()))
}

fn start_bridge(devnet: &Devnet, deployment: &std::path::Path, datadir: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join("ol-kill.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_ol-bridge"))
        .arg("run")
        .args(["--l1-rpc", &devnet.l1_url, "--l2-rpc", &devnet.l2_url()])
        .arg("--deployment")
        .arg(deployment)
        .arg("--datadir")
        .arg(datadir)
        .args([
            "--batcher-key",
            &hex_key(1),
            "--proposer-key",
            &hex_key(2),
            "--relayer-key",
            &hex_key(4),
        ])
        .args([
            "--confirmations",
            "1",
            "--poll-ms",
            "300",
            "--output-max-age-s",
            "2",
            "--max-channel-blocks",
            "5",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Kills the bridge with SIGKILL, checking first that it was still running (a bridge that
/// exited on its own would make the test meaningless).
fn kill(bridge: &mut Child) {
    assert!(
        bridge.try_wait().unwrap().is_none(),
        "the bridge exited on its own: see ol-kill.log in the temp folder"
    );
    bridge.kill().unwrap();
    bridge.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_minus_nine_during_the_flow_loses_and_repeats_nothing() {
    let devnet = Devnet::start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let deployment = dir.path().join("l1.json");
    std::fs::write(&deployment, serde_json::to_string(&devnet.deployment).unwrap()).unwrap();
    let datadir = dir.path().join("bridge");
    let l1 = connect(&devnet.l1_url).unwrap();
    let l2 = connect(&devnet.l2_url()).unwrap();
    let c = devnet.deployment.contracts;
    let l1_sender = wallet(&devnet.l1_url, key(0));
    send(
        &l1_sender,
        c.open_token,
        approveCall { spender: c.open_portal, amount: open(1_000) },
        U256::ZERO,
    )
    .await;

    let users: Vec<PrivateKeySigner> = (0..3).map(|_| PrivateKeySigner::random()).collect();
    let l1_target = Address::repeat_byte(0x2b);
    let mut bridge = start_bridge(&devnet, &deployment, &datadir);
    let mut kills = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut pause = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        Duration::from_millis(400 + rng % 1_800)
    };

    // Deposits, transfers and withdrawals, with the bridge killed and restarted between steps.
    for (i, user) in users.iter().enumerate() {
        let call = IOpenPortal::depositTransactionCall {
            _to: user.address(),
            _mint: open(10 + i as u64),
            _value: open(10 + i as u64),
            _gasLimit: 100_000,
            _isCreation: false,
            _data: Bytes::new(),
        };
        send(&l1_sender, c.open_portal, call, U256::ZERO).await;
        tokio::time::sleep(pause()).await;
        kill(&mut bridge);
        kills += 1;
        bridge = start_bridge(&devnet, &deployment, &datadir);
    }
    for (i, user) in users.iter().enumerate() {
        let expected = open(10 + i as u64);
        wait_until("a deposit on L2", 90, || async {
            l2.get_balance(user.address()).await.unwrap() == expected
        })
        .await;
    }
    for user in users.iter().take(2) {
        let withdrawal = IL2ToL1MessagePasser::initiateWithdrawalCall {
            _target: l1_target,
            _gasLimit: U256::from(100_000),
            _data: Bytes::new(),
        };
        send(&wallet(&devnet.l2_url(), user.clone()), L2_TO_L1_MESSAGE_PASSER, withdrawal, open(1))
            .await;
        tokio::time::sleep(pause()).await;
        kill(&mut bridge);
        kills += 1;
        bridge = start_bridge(&devnet, &deployment, &datadir);
    }
    // Kill a few more times while the withdrawals are proven and finalized.
    for _ in 0..3 {
        tokio::time::sleep(pause()).await;
        kill(&mut bridge);
        kills += 1;
        bridge = start_bridge(&devnet, &deployment, &datadir);
    }
    assert!(kills >= 5);

    // The flow completes: both withdrawals paid exactly once.
    wait_until("both withdrawals on L1", 180, || async {
        view(&l1, c.open_token, balanceOfCall { owner: l1_target }).await.unwrap() == open(2)
    })
    .await;
    let head = l2.get_block_number().await.unwrap();
    wait_until("outputs up to the L2 head", 90, || async {
        view(&l1, c.output_oracle, IOutputOracle::latestBlockNumberCall {}).await.unwrap()
            >= U256::from(head)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kill(&mut bridge);

    // No deposit credited twice (balances exactly as deposited, minus what was spent).
    assert_eq!(l2.get_balance(users[2].address()).await.unwrap(), open(12));
    // No output posted twice: proposals strictly increasing, none deleted.
    let posted = l1
        .get_logs(
            &Filter::new()
                .address(c.output_oracle)
                .event_signature(IOutputOracle::OutputProposed::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap();
    let blocks: Vec<u64> = posted
        .iter()
        .map(|l| {
            IOutputOracle::OutputProposed::decode_log(&l.inner)
                .unwrap()
                .l2BlockNumber
                .saturating_to()
        })
        .collect();
    assert!(blocks.windows(2).all(|w| w[0] < w[1]), "outputs {blocks:?}");
    // Replay agrees, and no batch payload was posted twice (no duplicate frames to skip).
    let report = replay(&ReplayConfig {
        l1_rpc: devnet.l1_url.clone(),
        deployment: devnet.deployment.clone(),
        spec: devnet.spec(),
        compare_rpc: Some(devnet.l2_url()),
        progress: false,
    })
    .await
    .unwrap();
    let repeats: Vec<&String> = report
        .skipped
        .iter()
        .filter(|s| s.contains("Duplicate") || s.contains("again") || s.contains("Finished"))
        .collect();
    assert!(repeats.is_empty(), "batch data posted twice: {repeats:?}");
    assert!(report.blocks >= head);
    devnet.stop().await;
}
