//! Shared helpers: a dev sequencer on a free port, the dev accounts' keys, a test contract.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::{EthereumWallet, TxSignerSync},
    primitives::{Address, Bytes, TxKind, U256, keccak256},
    providers::{Provider, ProviderBuilder},
    signers::local::{MnemonicBuilder, PrivateKeySigner},
};
use ol_sequencer::{
    SequencerConfig, SequencerHandle, config::DEFAULT_CHAIN_ID, genesis::DEV_MNEMONIC,
};
use serde_json::{Value, json};
use std::path::PathBuf;

/// 1 gwei.
pub const GWEI: u128 = 1_000_000_000;

/// A dev sequencer in a temporary data directory, with 100 ms blocks and the operator methods
/// on. The directory lives as long as the returned guard.
pub async fn dev_sequencer() -> (SequencerHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let handle = ol_sequencer::spawn(dev_config(dir.path().to_path_buf())).await.unwrap();
    (handle, dir)
}

/// The configuration [`dev_sequencer`] uses.
pub fn dev_config(datadir: PathBuf) -> SequencerConfig {
    let mut config = SequencerConfig { datadir, dev: true, ..SequencerConfig::default() };
    config.rpc.http_port = 0;
    config.rpc.admin = true;
    config.block.time_ms = 100;
    config
}

/// The `index`-th dev account's signer.
pub fn dev_signer(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::english().phrase(DEV_MNEMONIC).index(index).unwrap().build().unwrap()
}

/// An HTTP provider that signs with dev account `index`.
pub fn provider(url: &str, index: u32) -> impl Provider + Clone {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(dev_signer(index)))
        .connect_http(url.parse().unwrap())
}

/// `Set(uint256)`: the event the test contract emits.
pub fn set_topic() -> alloy::primitives::B256 {
    keccak256("Set(uint256)")
}

/// The revert data the test contract answers an empty call with (custom error 0xdeadbeef).
pub const TEST_REVERT_DATA: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

/// Init code of a tiny test contract, written in bytecode so the Rust tests need no compiler:
/// a call with data stores its first word in slot 0, emits `Set(uint256)` with it and returns
/// it; a call without data reverts with [`TEST_REVERT_DATA`].
pub fn test_contract_initcode() -> Bytes {
    let mut runtime = vec![0x36, 0x15, 0x60, 0x3a, 0x57, 0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55];
    runtime.extend([0x60, 0x00, 0x52, 0x7f]);
    runtime.extend(set_topic());
    runtime.extend([0x60, 0x20, 0x60, 0x00, 0xa1, 0x60, 0x20, 0x60, 0x00, 0xf3]);
    // 0x3a: revert with 0xdeadbeef
    assert_eq!(runtime.len(), 0x3a);
    runtime.extend([0x5b, 0x63, 0xde, 0xad, 0xbe, 0xef, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52]);
    runtime.extend([0x60, 0x04, 0x60, 0x00, 0xfd]);
    let len = u8::try_from(runtime.len()).unwrap();
    let mut init = vec![0x60, len, 0x80, 0x60, 0x0b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3];
    assert_eq!(init.len(), 0x0b);
    init.extend(runtime);
    init.into()
}

/// The address the dev account `index` creates its `nonce`-th contract at.
pub fn created_address(index: u32, nonce: u64) -> Address {
    dev_signer(index).address().create(nonce)
}

pub use ol_testkit::{free_port, repo_root as root, tool};

/// One JSON-RPC call over HTTP, blocking: `Ok(result)`, or `Err` with the error object (or the
/// transport failure as a string).
pub fn rpc(url: &str, method: &str, params: Value) -> Result<Value, Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let answer: Value = client
        .post(url)
        .json(&body)
        .send()
        .and_then(|r| r.json())
        .map_err(|e| Value::String(e.to_string()))?;
    match answer.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(answer.get("error").cloned().unwrap_or(answer)),
    }
}

/// One JSON-RPC call over HTTP, async; answers the whole response object.
pub async fn call(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

/// A hex quantity (`"0x1a"`) as a number.
pub fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap()
}

/// An EIP-1559 transaction on the dev chain paying 100 gwei at most, 1 gwei tip.
pub fn eip1559(nonce: u64, to: TxKind, value: U256, input: Bytes, gas: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id: DEFAULT_CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 100 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        access_list: Default::default(),
        input,
    }
}

/// Signs an EIP-1559 transaction and encodes it as `eth_sendRawTransaction` takes it.
pub fn sign(signer: &PrivateKeySigner, mut tx: TxEip1559) -> Bytes {
    let signature = signer.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718().into()
}
