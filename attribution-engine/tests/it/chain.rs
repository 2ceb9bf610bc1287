//! A real chain for the tests that need one: anvil with the L2 suite deployed by the production
//! deploy script (`forge script contracts/script/DeployL2.s.sol`).
//!
//! The suite is deployed once per test binary into a template anvil (on a thread with a runtime
//! of its own); each test loads that state into an anvil of its own ([`Chain::start`]), so tests
//! share no chain state and pay for one deployment. Suites add what they need on top (the
//! receipts tests create a Datanet and stake the attestor), each in its own module.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use attribution_engine::chain::Deployment;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// Private keys of anvil's default accounts (the `test … junk` mnemonic); index 0 deploys the
/// suite.
pub const KEYS: [&str; 5] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
];

/// The deployer of the suite (its admin, resolver and treasury).
pub const DEPLOYER: usize = 0;

/// The signer of key `i`.
pub fn signer(i: usize) -> PrivateKeySigner {
    KEYS[i].parse().unwrap()
}

/// The address of key `i`.
pub fn address(i: usize) -> Address {
    signer(i).address()
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A tool `scripts/bootstrap` installs into `.tools/bin`.
pub fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/bootstrap", path.display());
    path
}

/// A free TCP port on 127.0.0.1 (the kernel picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An HTTP provider without a wallet.
pub fn provider(url: &str) -> DynProvider {
    ProviderBuilder::new().connect_http(url.parse().unwrap()).erased()
}

/// An anvil process, killed (by its PID) when dropped.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
}

impl Anvil {
    /// Starts anvil (Prague, as the sequencer executes) on a free port and waits for it.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(tool("anvil"))
            .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--hardfork", "prague"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "anvil did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The deployed suite as an anvil state, and the l2.json the deploy script wrote.
struct Template {
    state: Bytes,
    l2_json: String,
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();

/// Deploys the suite once per test binary.
fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(build_template())
        })
        .join()
        .expect("deploying the contract suite failed")
    })
}

async fn build_template() -> Template {
    let anvil = Anvil::start();
    let root = repo_root();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let network = format!("attribution-test-{}-{nanos}", std::process::id());
    let broadcast = tempfile::tempdir().unwrap();
    let out = Command::new(tool("forge"))
        .current_dir(&root)
        .env("OL_NETWORK", &network)
        .env("FOUNDRY_BROADCAST", broadcast.path())
        .args(["script", "contracts/script/DeployL2.s.sol", "--broadcast", "--rpc-url"])
        .arg(&anvil.url)
        .args(["--private-key", KEYS[DEPLOYER]])
        .output()
        .expect("forge runs");
    let folder = root.join("deployments").join(&network);
    let json = std::fs::read_to_string(folder.join("l2.json"));
    let _ = std::fs::remove_dir_all(&folder);
    assert!(
        out.status.success(),
        "forge script DeployL2 failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let state: Bytes =
        provider(&anvil.url).raw_request("anvil_dumpState".into(), ()).await.unwrap();
    Template { state, l2_json: json.expect("DeployL2 wrote l2.json") }
}

/// A test's own chain with the suite deployed, and the deployment file commands read.
pub struct Chain {
    /// The node.
    pub anvil: Anvil,
    /// A provider without a wallet.
    pub rpc: DynProvider,
    /// The contracts the receipts pipeline uses.
    pub d: Deployment,
    /// l2.json as the deploy script wrote it.
    pub l2_json: serde_json::Value,
    /// The same, as a file (in a folder the chain owns).
    pub deployment: PathBuf,
    _dir: tempfile::TempDir,
}

impl Chain {
    /// A fresh anvil with the template's state loaded.
    pub async fn start() -> Self {
        let t = template();
        let anvil = Anvil::start();
        let rpc = provider(&anvil.url);
        let loaded: bool =
            rpc.raw_request("anvil_loadState".into(), (t.state.clone(),)).await.unwrap();
        assert!(loaded, "anvil_loadState refused the template");
        let dir = tempfile::tempdir().unwrap();
        let deployment = dir.path().join("l2.json");
        std::fs::write(&deployment, &t.l2_json).unwrap();
        Self {
            anvil,
            rpc,
            d: Deployment::from_json(&t.l2_json).unwrap(),
            l2_json: serde_json::from_str(&t.l2_json).unwrap(),
            deployment,
            _dir: dir,
        }
    }

    /// A contract's address by its l2.json name (`Datanets`, `ModelRegistry`, …).
    pub fn contract(&self, name: &str) -> Address {
        self.l2_json["contracts"][name]
            .as_str()
            .unwrap_or_else(|| panic!("l2.json has no contract {name}"))
            .parse()
            .unwrap()
    }

    /// `eth_call`s `call` on `to`; panics if it reverts.
    pub async fn call<C: SolCall>(&self, to: Address, call: C) -> C::Return {
        let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        C::abi_decode_returns(&self.rpc.call(tx).await.unwrap()).unwrap()
    }

    /// Sends a transaction from key `from` and waits for its receipt; panics if it reverts.
    pub async fn send(&self, from: usize, to: Address, input: Vec<u8>, value: U256) {
        let p = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer(from)))
            .connect_http(self.anvil.url.parse().unwrap());
        let tx = TransactionRequest::default().with_to(to).with_input(input).with_value(value);
        let receipt = p.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "transaction to {to} reverted");
    }

    /// A raw JSON-RPC call whose answer does not matter (anvil's cheat methods).
    pub async fn rpc_raw<P: serde::Serialize + Clone + std::fmt::Debug + Send + Sync + Unpin>(
        &self,
        method: &'static str,
        params: P,
    ) {
        let _: serde_json::Value = self.rpc.raw_request(method.into(), params).await.unwrap();
    }
}
