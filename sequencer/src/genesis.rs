//! The genesis: a geth-style genesis JSON (`config.chainId`, `alloc`, `gasLimit`, ...) or the
//! dev genesis of `--dev`, which funds the first ten accounts of the standard test mnemonic
//! (`test test … junk`) as anvil does, plus the predeploys every chain carries.

use crate::{
    storage::StateChangeset,
    trie::{AccountState, AccountUpdate, StateTrie},
};
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_eips::{eip1559::INITIAL_BASE_FEE, eip7685::EMPTY_REQUESTS_HASH};
use alloy_genesis::{ChainConfig, Genesis, GenesisAccount};
use alloy_primitives::{Address, B256, Bytes, Sealed, U256, address, bytes, keccak256};
use alloy_signer_local::MnemonicBuilder;
use alloy_trie::EMPTY_ROOT_HASH;
use ol_primitives::predeploys::L2_TO_L1_MESSAGE_PASSER;
use revm::primitives::KECCAK_EMPTY;
use std::{collections::BTreeMap, path::Path};

/// The mnemonic whose first accounts `--dev` funds (anvil's and hardhat's).
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// How many mnemonic accounts `--dev` funds.
pub const DEV_ACCOUNTS: u32 = 10;
/// Each dev account's balance: 10,000 OPEN.
pub const DEV_BALANCE: U256 = U256::from_limbs([0x19e0_c9ba_b240_0000, 0x21e, 0, 0]);
/// The dev genesis gas limit (anvil's); `--gas-limit` sets the limit of the blocks produced.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;

/// Arachnid's deterministic deployment proxy, which `forge script` uses for CREATE2 deploys.
/// Ethereum chains carry it through a pre-EIP-155 transaction; this chain refuses those over
/// RPC, so it is placed in every genesis (OP chains have it as a preinstall too).
pub const CREATE2_DEPLOYER: Address = address!("4e59b44847b379578588920cA78FbF26c0B4956C");
const CREATE2_DEPLOYER_CODE: Bytes = bytes!(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
);

/// Errors reading or building a genesis.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The genesis file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The genesis file is not valid genesis JSON.
    #[error("invalid genesis file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// serde's message, with line and column.
        source: serde_json::Error,
    },
    /// The genesis is readable but not usable.
    #[error("invalid genesis: {0}")]
    Invalid(String),
}

/// Reads a geth-style genesis JSON file.
pub fn load_genesis(path: &Path) -> Result<Genesis, GenesisError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| GenesisError::Read { path: origin.clone(), source })?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|source| GenesisError::Parse { path: origin.clone(), source })?;
    check_genesis(&genesis)?;
    Ok(genesis)
}

/// Checks what serde cannot: a chain id, a usable gas limit, code that revm accepts.
pub fn check_genesis(genesis: &Genesis) -> Result<(), GenesisError> {
    if genesis.config.chain_id == 0 {
        return Err(GenesisError::Invalid("config.chainId must be set and non-zero".into()));
    }
    if genesis.gas_limit < 21_000 {
        return Err(GenesisError::Invalid(format!(
            "gasLimit {} is below the 21,000 of one transfer",
            genesis.gas_limit
        )));
    }
    for (address, account) in &genesis.alloc {
        if let Some(code) = &account.code {
            revm::bytecode::Bytecode::new_raw_checked(code.clone()).map_err(|e| {
                GenesisError::Invalid(format!("alloc {address}: code does not decode: {e}"))
            })?;
        }
    }
    Ok(())
}

/// The addresses `--dev` funds: the first [`DEV_ACCOUNTS`] of [`DEV_MNEMONIC`].
pub fn dev_accounts() -> Vec<Address> {
    (0..DEV_ACCOUNTS)
        .map(|i| {
            MnemonicBuilder::english()
                .phrase(DEV_MNEMONIC)
                .index(i)
                .and_then(|b| b.build())
                .map(|signer| signer.address())
                .expect("the dev mnemonic and its first indices derive keys")
        })
        .collect()
}

/// The dev genesis for `chain_id`: the dev accounts funded with 10,000 OPEN each, a 30 Mgas
/// limit, timestamp 0 (so its hash is the same on every machine).
pub fn dev_genesis(chain_id: u64) -> Genesis {
    let alloc = dev_accounts()
        .into_iter()
        .map(|address| (address, GenesisAccount { balance: DEV_BALANCE, ..Default::default() }))
        .collect::<BTreeMap<_, _>>();
    Genesis {
        config: ChainConfig { chain_id, ..Default::default() },
        gas_limit: DEFAULT_GAS_LIMIT,
        base_fee_per_gas: Some(u128::from(INITIAL_BASE_FEE)),
        alloc,
        ..Default::default()
    }
}

/// Adds the predeploys every chain carries (OP's `L1Block` and `L2ToL1MessagePasser` from the
/// project's contracts, and the CREATE2 deployer), unless the genesis already places an account
/// at their address.
pub fn with_predeploys(mut genesis: Genesis) -> Genesis {
    let predeploys = ol_primitives::predeploys::predeploys()
        .into_iter()
        .chain([(CREATE2_DEPLOYER, CREATE2_DEPLOYER_CODE)]);
    for (address, code) in predeploys {
        genesis
            .alloc
            .entry(address)
            .or_insert_with(|| GenesisAccount { code: Some(code), ..Default::default() });
    }
    genesis
}

/// The genesis allocations as the first block's state changes.
pub fn genesis_changeset(genesis: &Genesis) -> StateChangeset {
    let mut changes = StateChangeset::default();
    for (address, account) in &genesis.alloc {
        let code = account.code.clone().unwrap_or_default();
        let code_hash = if code.is_empty() { KECCAK_EMPTY } else { keccak256(&code) };
        if !code.is_empty() {
            changes.contracts.push((code_hash, code));
        }
        let storage = account
            .storage
            .iter()
            .flatten()
            .filter(|(_, v)| !v.is_zero())
            .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)))
            .collect();
        changes.accounts.push((
            *address,
            AccountUpdate {
                info: Some(AccountState {
                    nonce: account.nonce.unwrap_or_default(),
                    balance: account.balance,
                    code_hash,
                }),
                storage_wiped: false,
                storage,
            },
        ));
    }
    changes.contracts.sort();
    changes.contracts.dedup();
    changes
}

/// The state trie of the genesis allocations.
pub fn genesis_state_trie(genesis: &Genesis) -> StateTrie {
    let changes = genesis_changeset(genesis);
    StateTrie::from_accounts(
        changes.accounts.into_iter().filter_map(|(address, update)| {
            update.info.map(|info| (address, info, update.storage))
        }),
    )
}

/// The genesis block header: number 0, the allocations' state root, and the empty roots of a
/// Prague block (no transactions, withdrawals or requests).
pub fn genesis_header(genesis: &Genesis) -> Result<Sealed<Header>, GenesisError> {
    check_genesis(genesis)?;
    let trie = genesis_state_trie(genesis);
    let state_root = trie.root();
    let header = Header {
        parent_hash: B256::ZERO,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: genesis.coinbase,
        state_root,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        logs_bloom: Default::default(),
        difficulty: U256::ZERO,
        number: 0,
        gas_limit: genesis.gas_limit,
        gas_used: 0,
        timestamp: genesis.timestamp,
        extra_data: genesis.extra_data.clone(),
        mix_hash: genesis.mix_hash,
        nonce: Default::default(),
        base_fee_per_gas: Some(
            genesis
                .base_fee_per_gas
                .map_or(INITIAL_BASE_FEE, |f| f.min(u128::from(u64::MAX)) as u64),
        ),
        withdrawals_root: Some(trie.storage_root(L2_TO_L1_MESSAGE_PASSER)),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        block_access_list_hash: None,
        slot_number: None,
    };
    Ok(Sealed::new(header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_accounts_are_anvils() {
        let accounts = dev_accounts();
        assert_eq!(accounts.len(), 10);
        assert_eq!(accounts[0], address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(accounts[9], address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720"));
        assert_eq!(DEV_BALANCE, U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64)));
    }

    #[test]
    fn genesis_hash_is_deterministic_and_depends_on_alloc() {
        let a = genesis_header(&with_predeploys(dev_genesis(1))).unwrap();
        let b = genesis_header(&with_predeploys(dev_genesis(1))).unwrap();
        assert_eq!(a.hash(), b.hash());
        let c = genesis_header(&dev_genesis(1)).unwrap();
        assert_ne!(a.state_root, c.state_root);
        assert_ne!(a.state_root, EMPTY_ROOT_HASH);
    }

    #[test]
    fn bad_genesis_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let table: &[(&str, &str)] = &[
            ("{", "invalid genesis file"),
            (r#"{"config":{"chainId":0},"gasLimit":"0x1c9c380","alloc":{}}"#, "chainId"),
            (r#"{"config":{"chainId":5},"gasLimit":"0x10","alloc":{}}"#, "gasLimit"),
            (
                r#"{"config":{"chainId":5},"gasLimit":"0x1c9c380","alloc":{"0x01":{}}}"#,
                "invalid genesis file",
            ),
            (
                r#"{"config":{"chainId":5},"gasLimit":"0x1c9c380","alloc":{"0x0000000000000000000000000000000000000001":{"balance":"0x1","code":"0xef0100"}}}"#,
                "code does not decode",
            ),
        ];
        for (i, (text, expected)) in table.iter().enumerate() {
            let path = dir.path().join(format!("g{i}.json"));
            std::fs::write(&path, text).unwrap();
            let err = load_genesis(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = load_genesis(Path::new("/nonexistent/genesis.json")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/genesis.json"), "{err}");
    }

    #[test]
    fn geth_style_genesis_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        std::fs::write(
            &path,
            r#"{"config":{"chainId":1337420},"gasLimit":"0x3b9aca00","timestamp":"0x0","extraData":"0x","alloc":{
                "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266":{"balance":"0x21e19e0c9bab2400000"},
                "0x0000000000000000000000000000000000000042":{"balance":"0x0","code":"0x6001","storage":{"0x01":"0x02"}}}}"#,
        )
        .unwrap();
        let genesis = load_genesis(&path).unwrap();
        assert_eq!(genesis.config.chain_id, 1_337_420);
        let changes = genesis_changeset(&genesis);
        assert_eq!(changes.accounts.len(), 2);
        assert_eq!(changes.contracts.len(), 1);
        assert_eq!(changes.accounts[0].1.storage, vec![(U256::from(1), U256::from(2))]);
    }
}
