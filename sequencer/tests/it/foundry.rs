//! Foundry against the sequencer, unchanged: `cast send`/`call`/`receipt`, and
//! `forge script --broadcast` deploying the L2 contract suite.

use crate::common::{dev_sequencer, dev_signer, root, tool};
use alloy::primitives::hex;
use serde_json::Value;
use std::process::{Command, Output};

const BOB: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn run(cmd: &mut Command) -> String {
    let Output { status, stdout, stderr } = cmd.current_dir(root()).output().unwrap();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(status.success(), "{cmd:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn cast_and_forge_script_work_unchanged() {
    let (seq, _dir) = dev_sequencer().await;
    let url = seq.http_url();
    let key = format!("0x{}", hex::encode(dev_signer(0).to_bytes()));
    let cast = tool("cast");
    let forge = tool("forge");

    let result = tokio::task::spawn_blocking(move || {
        // cast send → receipt → balance.
        let sent: Value = serde_json::from_str(&run(Command::new(&cast).args([
            "send",
            "--json",
            "--private-key",
            &key,
            BOB,
            "--value",
            "1ether",
            "--rpc-url",
            &url,
        ])))
        .unwrap();
        assert_eq!(sent["status"], "0x1", "{sent}");
        let hash = sent["transactionHash"].as_str().unwrap().to_owned();
        let receipt: Value = serde_json::from_str(&run(Command::new(&cast).args([
            "receipt",
            "--json",
            &hash,
            "--rpc-url",
            &url,
        ])))
        .unwrap();
        assert_eq!(receipt["transactionHash"], hash.as_str());
        assert_eq!(receipt["gasUsed"], "0x5208");
        let balance = run(Command::new(&cast).args(["balance", BOB, "--ether", "--rpc-url", &url]));
        assert_eq!(balance.trim(), "10001.000000000000000000");

        // forge script deploys the L2 suite and writes its addresses.
        let network = format!("it-{}", std::process::id());
        run(Command::new(&forge)
            .args(["script", "contracts/script/DeployL2.s.sol", "--broadcast", "--rpc-url", &url])
            .args(["--private-key", &key])
            .env("OL_NETWORK", &network));
        let json_path = root().join("deployments").join(&network).join("l2.json");
        let deployment: Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(json_path.parent().unwrap());
        let contracts = deployment["contracts"].as_object().unwrap();
        assert!(contracts.len() >= 7, "{deployment}");
        for (name, address) in contracts {
            let code = run(Command::new(&cast).args([
                "code",
                address.as_str().unwrap(),
                "--rpc-url",
                &url,
            ]));
            assert!(code.trim().len() > 2, "{name} has no code");
        }
        // cast call on a deployed contract.
        let wopen = contracts["WrappedOpen"].as_str().unwrap();
        let symbol =
            run(Command::new(&cast).args(["call", wopen, "symbol()(string)", "--rpc-url", &url]));
        assert_eq!(symbol.trim(), "\"WOPEN\"");
    })
    .await;
    seq.stop().await;
    result.unwrap();
}
