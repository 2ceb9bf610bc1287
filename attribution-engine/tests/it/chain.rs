//! A real chain for the tests that need one: anvil with the L2 suite deployed by the production
//! deploy script (`forge script contracts/script/DeployL2.s.sol`).
//!
//! The suite is deployed once per test binary into a template anvil (on a thread with a runtime
//! of its own); each test loads that state into an anvil of its own ([`Chain::start`]), so tests
//! share no chain state and pay for one deployment. Suites add what they need on top (the
//! receipts tests create a Datanet and stake the attestor), each in its own module.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use attribution_engine::chain::Deployment;
pub use ol_testkit::{Anvil, free_port, provider};
use std::{path::PathBuf, sync::OnceLock};

/// The deployer of the suite (its admin, resolver and treasury): dev account 0.
pub const DEPLOYER: usize = 0;

/// Dev account `i`'s private key, `0x`-hex.
pub fn key_hex(i: usize) -> String {
    ol_testkit::dev_key_hex(i as u32)
}

/// The signer of dev account `i`.
pub fn signer(i: usize) -> PrivateKeySigner {
    ol_testkit::dev_signer(i as u32)
}

/// The address of dev account `i`.
pub fn address(i: usize) -> Address {
    signer(i).address()
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
        ol_testkit::block_on_own_thread(async {
            let anvil = Anvil::start();
            let l2_json = ol_testkit::deploy_l2(&anvil.url, "attribution-test");
            Template { state: ol_testkit::dump_state(&anvil.url).await, l2_json }
        })
    })
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
        ol_testkit::load_state(&anvil.url, &t.state).await;
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
        ol_testkit::send(&self.anvil.url, from as u32, to, input.into(), value).await;
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
