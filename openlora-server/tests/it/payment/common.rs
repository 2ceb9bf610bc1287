//! Real parts for the tests: anvil with the L2 contract suite deployed by the production deploy
//! script (`forge script contracts/script/DeployL2.s.sol`), accounts from anvil's test
//! mnemonic, a file-backed SQLite ledger.
//!
//! The suite is deployed once per test binary into a template anvil, whose state
//! (`anvil_dumpState`) every test loads into an anvil of its own (`anvil_loadState`): tests run
//! in parallel, each on its own chain, and each anvil is killed by its PID when the test ends.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use ol_primitives::contracts::{
    datanets::IDatanets, inference_escrow::IInferenceEscrow, model_registry::IModelRegistry,
};
pub use ol_testkit::{Anvil, provider as read_provider};
use openlora_server::{
    ledger::{ChannelKey, Ledger},
    payment::{ChainConfig, SignedVoucher, voucher::voucher, voucher_domain},
};
use std::sync::OnceLock;

/// Account roles in the tests (dev accounts of the test mnemonic).
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

/// A dev account's key.
pub fn signer(index: usize) -> PrivateKeySigner {
    ol_testkit::dev_signer(index as u32)
}

/// A dev account's address.
pub fn address(index: usize) -> Address {
    signer(index).address()
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

/// Deploys the suite once per test binary.
fn template() -> &'static Template {
    TEMPLATE.get_or_init(|| ol_testkit::block_on_own_thread(build_template()))
}

async fn build_template() -> Template {
    let anvil = Anvil::start();
    let json = ol_testkit::deploy_l2(&anvil.url, "openlora-server-test");
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
    ol_testkit::send(&anvil.url, DEPLOYER as u32, datanets, call.abi_encode().into(), U256::ZERO)
        .await;
    let state = ol_testkit::dump_state(&anvil.url).await;
    Template { state, config, rewards, datanet: U256::from(1) }
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
        ol_testkit::load_state(&anvil.url, &t.state).await;
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
        ol_testkit::send(&self.anvil.url, from as u32, to, input.into(), value).await
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
