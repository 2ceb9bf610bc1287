//! A devnet for one test: anvil (L1, 1-second blocks) with the L1 suite deployed, a dev
//! sequencer (L2, admin methods on), and the bridge's configuration for them.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use ol_bridge::{deployments::L1Deployment, services::run::BridgeConfig};
use ol_sequencer::{SequencerConfig, SequencerHandle};
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

/// One OPEN.
pub fn open(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// Dev account `i` (anvil's accounts and the L2 dev genesis are the same mnemonic).
pub use ol_testkit::dev_signer as key;

pub use ol_testkit::{free_port, tool, wallet};

/// Waits until `ready` holds, polling every 200 ms, for at most `secs`.
pub async fn wait_until<F, Fut>(what: &str, secs: u64, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends `call` to `to` and waits for a successful receipt.
pub async fn send<C: SolCall>(p: &DynProvider, to: Address, call: C, value: U256) {
    let request = TransactionRequest::default()
        .with_to(to)
        .with_input(Bytes::from(call.abi_encode()))
        .with_value(value);
    let receipt = p.send_transaction(request).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "{} reverted", C::SIGNATURE);
}

/// The devnet.
pub struct Devnet {
    anvil: Child,
    pub l1_url: String,
    pub deployment: L1Deployment,
    sequencer: Option<SequencerHandle>,
    _dir: tempfile::TempDir,
}

impl Devnet {
    /// Starts anvil, deploys the L1 suite (finalization period `finalization` s), starts the
    /// sequencer.
    pub async fn start(finalization: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let anvil = Command::new(tool("anvil"))
            .args(["--port", &port.to_string(), "--block-time", "1", "--hardfork", "prague"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let l1_url = format!("http://127.0.0.1:{port}");
        let probe = ProviderBuilder::new().connect_http(l1_url.parse().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe.get_block_number().await.is_err() {
            assert!(Instant::now() < deadline, "anvil did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let json = ol_testkit::deploy_l1(&l1_url, "bridge-test", finalization);
        let deployment: L1Deployment = serde_json::from_str(&json).unwrap();

        let mut config =
            SequencerConfig { datadir: dir.path().join("l2"), dev: true, ..Default::default() };
        config.rpc.http_port = 0;
        config.rpc.admin = true;
        config.block.time_ms = 200;
        let sequencer = ol_sequencer::spawn(config).await.unwrap();
        Self { anvil, l1_url, deployment, sequencer: Some(sequencer), _dir: dir }
    }

    pub fn l2_url(&self) -> String {
        self.sequencer().http_url()
    }

    /// The bridge's configuration: anvil accounts 1 (batcher), 2 (proposer), 4 (relayer).
    pub fn bridge_config(&self, datadir: &Path) -> BridgeConfig {
        BridgeConfig {
            l1_rpc: self.l1_url.clone(),
            l2_rpc: self.l2_url(),
            deployment: self.deployment.clone(),
            datadir: datadir.to_path_buf(),
            batcher_key: key(1),
            proposer_key: key(2),
            relayer_key: Some(key(4)),
            confirmations: 1,
            poll_interval: Duration::from_millis(300),
            output_interval: 10,
            output_max_age: Duration::from_secs(2),
            max_channel_blocks: 50,
            resubmit_after: Duration::from_secs(30),
        }
    }

    /// The L2 chain spec (for replay).
    pub fn spec(&self) -> Arc<ol_sequencer::chainspec::ChainSpec> {
        Arc::clone(self.sequencer().node().spec())
    }

    pub async fn stop(mut self) {
        if let Some(sequencer) = self.sequencer.take() {
            sequencer.stop().await;
        }
    }

    fn sequencer(&self) -> &SequencerHandle {
        self.sequencer.as_ref().expect("the sequencer runs until stop")
    }
}

impl Drop for Devnet {
    /// Also on a failed assertion: no anvil is left behind.
    fn drop(&mut self) {
        let _ = self.anvil.kill();
        let _ = self.anvil.wait();
    }
}
