//! Shared helpers: a dev sequencer on a free port, the dev accounts' keys, a test contract.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes, keccak256},
    providers::{Provider, ProviderBuilder},
    signers::local::{MnemonicBuilder, PrivateKeySigner},
};
use ol_sequencer::{SequencerConfig, SequencerHandle, genesis::DEV_MNEMONIC};
use std::path::PathBuf;

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
