//! Real parts for the workspace's tests (a dev-dependency only): the tools `scripts/bootstrap`
//! installs into `.tools/bin`, the dev accounts (anvil's `test … junk` mnemonic, which the L2
//! dev genesis funds too), anvil processes killed by their PID when dropped, and the L2
//! contract suite deployed by the production deploy script
//! (`forge script contracts/script/DeployL2.s.sol`).
//!
//! Suites that need the L2 suite deploy it once per test binary into a template anvil, dump
//! its state ([`dump_state`]) and load it into an anvil of each test's own ([`load_state`]):
//! tests run in parallel, share no chain state, and pay for one deployment.

// Test support: a failure here is the calling test's failure, with the panic's location.
#![allow(clippy::unwrap_used)]

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::{MnemonicBuilder, PrivateKeySigner},
};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The dev mnemonic: anvil's default accounts and the L2 dev genesis.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The repository (this crate's parent folder; `OL_REPO_ROOT` overrides it).
pub fn repo_root() -> PathBuf {
    if let Ok(root) = std::env::var("OL_REPO_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit/ has a parent").to_path_buf()
}

/// A tool `scripts/bootstrap` installs into `.tools/bin` (anvil, forge, cast).
pub fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/bootstrap (scripts/test does)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (the kernel picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Dev account `i`'s signer.
pub fn dev_signer(i: u32) -> PrivateKeySigner {
    MnemonicBuilder::english()
        .phrase(DEV_MNEMONIC)
        .index(i)
        .expect("a valid derivation index")
        .build()
        .expect("the dev mnemonic derives")
}

/// Dev account `i`'s private key, `0x`-hex (for `--private-key` flags).
pub fn dev_key_hex(i: u32) -> String {
    format!("0x{}", alloy::hex::encode(dev_signer(i).to_bytes()))
}

/// Dev account `i`'s address.
pub fn dev_address(i: u32) -> Address {
    dev_signer(i).address()
}

/// An HTTP provider without a wallet.
pub fn provider(url: &str) -> DynProvider {
    ProviderBuilder::new().connect_http(url.parse().expect("a URL")).erased()
}

/// An HTTP provider signing as `signer`.
pub fn wallet(url: &str, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url.parse().expect("a URL"))
        .erased()
}

/// Sends a transaction from dev account `from` and waits for its receipt; panics if it
/// reverts.
pub async fn send(
    url: &str,
    from: u32,
    to: Address,
    input: Bytes,
    value: U256,
) -> TransactionReceipt {
    let tx = TransactionRequest::default().with_to(to).with_input(input).with_value(value);
    let receipt = wallet(url, dev_signer(from))
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "transaction to {to} reverted");
    receipt
}

/// An anvil process on a free port, killed (by its PID) when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its HTTP URL.
    pub url: String,
}

impl Anvil {
    /// Starts anvil at Prague (the fork the sequencer executes) and waits for its port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts anvil at Prague with more flags (`--block-time 1`, …) and waits for its port.
    pub fn start_with(args: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(tool("anvil"))
            .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--hardfork", "prague"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let anvil = Self { child, port, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "anvil did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        anvil
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a deployment may take before the test fails (instead of hanging).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);

/// Deploys the L2 suite into the chain at `url` with the production script, as dev account 0
/// (admin, resolver and treasury), and answers the `l2.json` it wrote. `label` names the
/// throwaway deployment folder, which is removed.
pub fn deploy_l2(url: &str, label: &str) -> String {
    run_deploy_script("DeployL2", "l2.json", url, label, &[])
}

/// Deploys the L1 suite (portal, output oracle, batch inbox; finalization period
/// `finalization_secs`) into the chain at `url` as dev account 0, and answers the `l1.json` it
/// wrote. `label` names the throwaway deployment folder, which is removed.
pub fn deploy_l1(url: &str, label: &str, finalization_secs: u64) -> String {
    let env = [("OL_FINALIZATION_PERIOD_SECONDS", finalization_secs.to_string())];
    run_deploy_script("DeployL1", "l1.json", url, label, &env)
}

/// Runs `contracts/script/{script}.s.sol` with `--broadcast` against `url` as dev account 0 and
/// answers the `file` it wrote in its deployment folder. Transactions go one at a time
/// (`--slow`): forge's concurrent broadcast once left a nonce gap in anvil's pool and waited
/// forever; and a script that does not finish in [`DEPLOY_TIMEOUT`] is killed and the test
/// fails with forge's output.
fn run_deploy_script(
    script: &str,
    file: &str,
    url: &str,
    label: &str,
    env: &[(&str, String)],
) -> String {
    let root = repo_root();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let network = format!("{label}-{}-{nanos}", std::process::id());
    let broadcast = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new(tool("forge"))
        .current_dir(&root)
        .env("OL_NETWORK", &network)
        // Transaction logs to a temporary folder, not the repository's cache.
        .env("FOUNDRY_BROADCAST", broadcast.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["script", &format!("contracts/script/{script}.s.sol"), "--broadcast", "--slow"])
        .args(["--rpc-url", url, "--private-key", &dev_key_hex(0)])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("forge runs");
    let deadline = Instant::now() + DEPLOY_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let folder = root.join("deployments").join(&network);
    let json = std::fs::read_to_string(folder.join(file));
    let _ = std::fs::remove_dir_all(&folder);
    let logs = || {
        format!(
            "{}\n{}",
            std::fs::read_to_string(&out_path).unwrap_or_default(),
            std::fs::read_to_string(&err_path).unwrap_or_default()
        )
    };
    match status {
        None => panic!(
            "forge script {script} did not finish in {} s (killed):\n{}",
            DEPLOY_TIMEOUT.as_secs(),
            logs()
        ),
        Some(s) if !s.success() => panic!("forge script {script} failed:\n{}", logs()),
        Some(_) => json.unwrap_or_else(|e| panic!("{script} wrote no {file}: {e}")),
    }
}

/// The chain's state (`anvil_dumpState`).
pub async fn dump_state(url: &str) -> Bytes {
    provider(url).raw_request("anvil_dumpState".into(), ()).await.unwrap()
}

/// Loads a dumped state (`anvil_loadState`).
pub async fn load_state(url: &str, state: &Bytes) {
    let loaded: bool =
        provider(url).raw_request("anvil_loadState".into(), (state.clone(),)).await.unwrap();
    assert!(loaded, "anvil_loadState refused the state");
}

/// Runs `fut` to completion on a thread of its own with its own runtime: for templates built
/// once (in a `OnceLock`) from inside a test's runtime.
pub fn block_on_own_thread<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(fut)
    })
    .join()
    .expect("the template thread panicked")
}
