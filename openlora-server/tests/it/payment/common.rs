//! Real parts for the tests: anvil with the L2 contract suite deployed by the production deploy
//! script (`forge script contracts/script/DeployL2.s.sol`), accounts from anvil's test
//! mnemonic, a file-backed SQLite ledger.
//!
//! The suite is deployed once per test binary into a template anvil, whose state
//! (`anvil_dumpState`) every test loads into an anvil of its own (`anvil_loadState`): tests run
//! in parallel, each on its own chain, and each anvil is killed by its PID when the test ends.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use ol_primitives::contracts::{
    datanets::IDatanets, inference_escrow::IInferenceEscrow, model_registry::IModelRegistry,
};
use openlora_server::{
    ledger::{ChannelKey, Ledger},
    payment::{ChainConfig, SignedVoucher, voucher::voucher, voucher_domain},
};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// Private keys of anvil's default accounts (the `test … junk` mnemonic).
const KEYS: [&str; 6] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// Account roles in the tests.
pub const DEPLOYER: usize = 0;
/// The model owner.
pub const OWNER: usize = 0;
/// The inference server.
pub const SERVER: usize = 1;
/// A payer.
pub const PAYER: usize = 2;
/// Another payer.
pub const PAYER_B: usize = 3;
/// Someone else.
pub const STRANGER: usize = 4;

/// 1 OPEN in wei.
pub const OPEN: u128 = 1_000_000_000_000_000_000;

/// An anvil account's key.
pub fn signer(index: usize) -> PrivateKeySigner {
    KEYS[index].parse().unwrap()
}

/// An anvil account's address.
pub fn address(index: usize) -> Address {
    signer(index).address()
}

/// The repository (the crate's parent folder; `OL_REPO_ROOT` overrides it).
pub fn repo_root() -> PathBuf {
    if let Ok(root) = std::env::var("OL_REPO_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A tool `scripts/bootstrap` installs.
pub fn tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/bootstrap", path.display());
    path
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An anvil process, killed (by its PID) when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its HTTP URL.
    pub url: String,
}

impl Anvil {
    /// Starts anvil on a free port and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(tool("anvil"))
            .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--hardfork", "prague"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let anvil = Self { child, url: format!("http://127.0.0.1:{port}") };
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

/// The deployed suite, as a state every test's anvil loads.
#[derive(Debug)]
struct Template {
    state: Bytes,
    config: ChainConfig,
    rewards: Address,
    datanet: U256,
}

static TEMPLATE: OnceLock<Template> = OnceLock::new();

/// Deploys the suite once (in a thread of its own with its own runtime, since tests call this
/// from inside theirs).
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
    let network = format!("openlora-server-test-{}-{nanos}", std::process::id());
    let broadcast = tempfile::tempdir().unwrap();
    let out = Command::new(tool("forge"))
        .current_dir(&root)
        .env("OL_NETWORK", &network)
        // Transaction logs to a temporary folder, not the repository's cache.
        .env("FOUNDRY_BROADCAST", broadcast.path())
        .args([
            "script",
            "contracts/script/DeployL2.s.sol",
            "--broadcast",
            "--rpc-url",
            &anvil.url,
            "--private-key",
            KEYS[DEPLOYER],
        ])
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
    let json = json.expect("DeployL2 wrote l2.json");
    let config = ChainConfig::from_deployment_json(&json).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rewards: Address = value["contracts"]["Rewards"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        value["voucherDomain"]["voucherTypehash"].as_str().unwrap().parse::<B256>().unwrap(),
        openlora_server::payment::voucher::VOUCHER_TYPEHASH
    );

    // One Datanet (id 1) for the models the tests register.
    let datanets: Address = value["contracts"]["Datanets"].as_str().unwrap().parse().unwrap();
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
    send_with(&anvil.url, DEPLOYER, datanets, call.abi_encode().into(), U256::ZERO).await;
    let state: Bytes =
        read_provider(&anvil.url).raw_request("anvil_dumpState".into(), ()).await.unwrap();
    Template { state, config, rewards, datanet: U256::from(1) }
}

/// A provider without a wallet.
pub fn read_provider(url: &str) -> DynProvider {
    ProviderBuilder::new().connect_http(url.parse().unwrap()).erased()
}

/// Sends a transaction from an anvil account and waits for its successful receipt.
async fn send_with(
    url: &str,
    from: usize,
    to: Address,
    input: Bytes,
    value: U256,
) -> TransactionReceipt {
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer(from)))
        .connect_http(url.parse().unwrap());
    let tx = TransactionRequest::default().with_to(to).with_input(input).with_value(value);
    let receipt = provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "transaction to {to} reverted");
    receipt
}

/// A chain of the test's own with the suite deployed.
#[derive(Debug)]
pub struct Chain {
    /// The anvil.
    pub anvil: Anvil,
    /// The contracts.
    pub config: ChainConfig,
    /// Rewards (where redeemed fees go).
    pub rewards: Address,
    /// A provider without a wallet.
    pub rpc: DynProvider,
    datanet: U256,
}

impl Chain {
    /// Starts an anvil and loads the deployed suite into it.
    pub async fn start() -> Self {
        let t = template();
        let anvil = Anvil::start();
        let rpc = read_provider(&anvil.url);
        let loaded: bool =
            rpc.raw_request("anvil_loadState".into(), (t.state.clone(),)).await.unwrap();
        assert!(loaded);
        assert!(!rpc.get_code_at(t.config.escrow).await.unwrap().is_empty(), "the suite is loaded");
        Self { anvil, config: t.config, rewards: t.rewards, rpc, datanet: t.datanet }
    }

    /// Sends a transaction from an anvil account and waits for its receipt (must succeed).
    pub async fn send(
        &self,
        from: usize,
        to: Address,
        input: Vec<u8>,
        value: U256,
    ) -> TransactionReceipt {
        send_with(&self.anvil.url, from, to, input.into(), value).await
    }

    /// Registers a model of `OWNER` for `adapter` at `price` wei per 1k tokens; answers its id.
    pub async fn register_model(&self, adapter: B256, price: u128) -> B256 {
        let params = IModelRegistry::ModelParams {
            baseModelId: keccak256("llama-test"),
            adapterHash: adapter,
            manifestRoot: keccak256(adapter),
            pricePer1kTokens: price,
            split: IModelRegistry::FeeSplit {
                ownerBps: 7_000,
                contributorsBps: 2_000,
                stakersBps: 500,
                protocolBps: 500,
            },
            datanetIds: vec![self.datanet],
            metadataURI: "ipfs://model".into(),
        };
        let call = IModelRegistry::registerModelCall { _params: params };
        self.send(OWNER, self.config.registry, call.abi_encode(), U256::ZERO).await;
        let id = keccak256((address(OWNER), adapter).abi_encode());
        let exists =
            self.call(self.config.registry, IModelRegistry::existsCall { _modelId: id }).await;
        assert!(exists, "model registered under keccak256(abi.encode(owner, adapter))");
        id
    }

    /// (De)activates a model.
    pub async fn set_active(&self, model: B256, active: bool) {
        let call = IModelRegistry::setActiveCall { _modelId: model, _active: active };
        self.send(OWNER, self.config.registry, call.abi_encode(), U256::ZERO).await;
    }

    /// Deposits `amount` wei into the escrow for `payer`.
    pub async fn deposit(&self, payer: usize, amount: u128) {
        let call = IInferenceEscrow::depositCall {};
        self.send(payer, self.config.escrow, call.abi_encode(), U256::from(amount)).await;
    }

    /// Announces a withdrawal.
    pub async fn request_withdrawal(&self, payer: usize, amount: u128) {
        let call = IInferenceEscrow::requestWithdrawalCall { _amount: U256::from(amount) };
        self.send(payer, self.config.escrow, call.abi_encode(), U256::ZERO).await;
    }

    /// Withdraws (after the notice).
    pub async fn withdraw(&self, payer: usize) {
        let call = IInferenceEscrow::withdrawCall {};
        self.send(payer, self.config.escrow, call.abi_encode(), U256::ZERO).await;
    }

    /// An `eth_call`.
    pub async fn call<C: SolCall>(&self, to: Address, call: C) -> C::Return {
        let tx = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        C::abi_decode_returns(&self.rpc.call(tx).await.unwrap()).unwrap()
    }

    /// The payer's escrow balance.
    pub async fn escrow_balance(&self, payer: Address) -> U256 {
        self.call(self.config.escrow, IInferenceEscrow::balanceOfCall { _payer: payer }).await
    }

    /// The amount redeemed on a channel.
    pub async fn redeemed(&self, key: &ChannelKey) -> U256 {
        let call = IInferenceEscrow::redeemedCall {
            _payer: key.payer,
            _server: key.server,
            _modelId: key.model_id,
        };
        self.call(self.config.escrow, call).await
    }

    /// Native balance.
    pub async fn balance(&self, who: Address) -> U256 {
        self.rpc.get_balance(who).await.unwrap()
    }

    /// Moves chain time forward and mines a block.
    pub async fn advance(&self, seconds: u64) {
        let _: serde_json::Value =
            self.rpc.raw_request("evm_increaseTime".into(), (seconds,)).await.unwrap();
        self.mine().await;
    }

    /// Mines one block.
    pub async fn mine(&self) {
        let _: serde_json::Value = self.rpc.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    /// Turns automine on or off.
    pub async fn set_automine(&self, on: bool) {
        let _: serde_json::Value =
            self.rpc.raw_request("evm_setAutomine".into(), (on,)).await.unwrap();
    }

    /// Empties the node's transaction pool (as a node that lost its mempool would).
    pub async fn drop_all_transactions(&self) {
        let _: serde_json::Value =
            self.rpc.raw_request("anvil_dropAllTransactions".into(), ()).await.unwrap();
    }

    /// A header carrying a voucher from `payer` to `SERVER` for `model`.
    pub fn header(&self, payer: usize, model: B256, cumulative: u128) -> String {
        self.header_for(payer, address(SERVER), model, cumulative)
    }

    /// A header carrying a voucher from `payer` to `server` for `model`.
    pub fn header_for(
        &self,
        payer: usize,
        server: Address,
        model: B256,
        cumulative: u128,
    ) -> String {
        let v = voucher(address(payer), server, model, U256::from(cumulative));
        let domain = voucher_domain(self.config.chain_id, self.config.escrow);
        SignedVoucher::sign(v, &domain, &signer(payer)).unwrap().to_header()
    }
}

/// A fresh file-backed SQLite ledger in `dir`.
pub async fn sqlite_ledger(dir: &tempfile::TempDir) -> Ledger {
    Ledger::open(dir.path().join("ledger.db").to_str().unwrap()).await.unwrap()
}
