use super::{SplitMix, reference_root};
use crate::trie::{AccountState, AccountUpdate, StateTrie};
use alloy_primitives::{Address, B256, U256, address, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, Nibbles, TrieAccount, proof::verify_proof};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Naive model: address -> (fields, non-zero storage).
type Model = BTreeMap<Address, (AccountState, BTreeMap<U256, U256>)>;

/// Input item of `StateTrie::from_accounts`.
type DumpAccount = (Address, AccountState, Vec<(U256, U256)>);

fn apply_to_model(model: &mut Model, address: Address, update: &AccountUpdate) {
    match &update.info {
        None => {
            model.remove(&address);
        }
        Some(info) => {
            let entry = model.entry(address).or_default();
            if update.storage_wiped {
                entry.1.clear();
            }
            for (slot, value) in &update.storage {
                if value.is_zero() {
                    entry.1.remove(slot);
                } else {
                    entry.1.insert(*slot, *value);
                }
            }
            entry.0 = *info;
        }
    }
}

fn naive_storage_root(storage: &BTreeMap<U256, U256>) -> B256 {
    let leaves = storage
        .iter()
        .map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), alloy_rlp::encode(value)))
        .collect();
    reference_root(&leaves)
}

fn naive_account(info: &AccountState, storage: &BTreeMap<U256, U256>) -> TrieAccount {
    TrieAccount::new(info.nonce, info.balance, naive_storage_root(storage), info.code_hash)
}

/// Full recomputation: every storage root with HashBuilder, then the account trie.
fn naive_state_root(model: &Model) -> B256 {
    let leaves = model
        .iter()
        .map(|(address, (info, storage))| {
            (keccak256(address), alloy_rlp::encode(naive_account(info, storage)))
        })
        .collect();
    reference_root(&leaves)
}

fn rebuild(model: &Model) -> StateTrie {
    StateTrie::from_accounts(
        model.iter().map(|(address, (info, storage))| (*address, *info, storage.clone())),
    )
}

/// Checks the EIP-1186 proofs of `address` and `slots` against the model.
fn check_account_proof(state: &StateTrie, model: &Model, address: Address, slots: &[U256]) {
    let keys: Vec<B256> = slots.iter().map(|s| B256::from(s.to_be_bytes::<32>())).collect();
    let proof = state.account_proof(address, &keys).unwrap();
    let expected = model.get(&address).map(|(info, storage)| naive_account(info, storage));
    assert_eq!(proof.address, address);
    assert_eq!(proof.account, expected);
    verify_proof(
        state.root(),
        Nibbles::unpack(keccak256(address)),
        expected.map(alloy_rlp::encode),
        &proof.account_proof,
    )
    .unwrap_or_else(|e| panic!("account proof of {address}: {e}"));
    let storage_hash = expected.map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
    assert_eq!(proof.storage_hash, storage_hash);
    assert_eq!(state.storage_root(address), storage_hash);
    assert_eq!(proof.storage_proofs.len(), slots.len());
    for (slot, storage_proof) in slots.iter().zip(&proof.storage_proofs) {
        let value = model.get(&address).and_then(|(_, s)| s.get(slot).copied()).unwrap_or_default();
        assert_eq!(storage_proof.key, B256::from(slot.to_be_bytes::<32>()));
        assert_eq!(storage_proof.value, value);
        assert_eq!(state.storage(address, *slot).unwrap(), value);
        verify_proof(
            storage_hash,
            Nibbles::unpack(keccak256(storage_proof.key)),
            (!value.is_zero()).then(|| alloy_rlp::encode(value)),
            &storage_proof.proof,
        )
        .unwrap_or_else(|e| panic!("storage proof of {address}/{slot}: {e}"));
    }
}

fn address_pool() -> Vec<Address> {
    (0..10u8)
        .map(Address::with_last_byte)
        .chain([address!("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")])
        .collect()
}

fn update_strategy() -> impl Strategy<Value = AccountUpdate> {
    let value = prop_oneof![
        2 => Just(U256::ZERO),
        3 => (1..1000u64).prop_map(U256::from),
        1 => any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ];
    let info =
        (0..4u64, any::<u128>(), prop::bool::ANY).prop_map(|(nonce, balance, code)| AccountState {
            nonce,
            balance: U256::from(balance),
            code_hash: if code { keccak256([0x60, 0x00]) } else { KECCAK_EMPTY },
        });
    (
        prop::option::weighted(0.85, info),
        prop::bool::weighted(0.1),
        prop::collection::vec(((0..24u64).prop_map(U256::from), value), 0..10),
    )
        .prop_map(|(info, storage_wiped, storage)| AccountUpdate {
            info,
            storage_wiped,
            storage,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random account/storage updates over rounds: `apply` matches a naive full recomputation,
    /// a rebuild with `from_accounts`, and every account/storage proof verifies.
    #[test]
    fn state_differential(
        rounds in prop::collection::vec(
            prop::collection::vec((0..11usize, update_strategy()), 0..12), 1..5),
    ) {
        let pool = address_pool();
        let mut state = StateTrie::new();
        let mut model = Model::new();
        for round in &rounds {
            let updates: Vec<(Address, AccountUpdate)> =
                round.iter().map(|(i, u)| (pool[*i], u.clone())).collect();
            for (address, update) in &updates {
                apply_to_model(&mut model, *address, update);
            }
            let root = state.apply(updates);
            prop_assert_eq!(root, naive_state_root(&model));
            prop_assert_eq!(state.root(), root);
            prop_assert_eq!(rebuild(&model).root(), root);
            prop_assert_eq!(state.account_count(), model.len());
            let slots = [U256::from(0), U256::from(3), U256::from(23), U256::from(999)];
            for address in pool.iter().take(4) {
                check_account_proof(&state, &model, *address, &slots);
            }
        }
    }
}

#[test]
fn empty_state() {
    let state = StateTrie::new();
    assert_eq!(state.root(), EMPTY_ROOT_HASH);
    let mut state = StateTrie::from_accounts(Vec::<DumpAccount>::new());
    assert_eq!(state.root(), EMPTY_ROOT_HASH);
    assert_eq!(state.apply([]), EMPTY_ROOT_HASH);
    check_account_proof(&state, &Model::new(), Address::ZERO, &[U256::from(1)]);
}

#[test]
fn destroyed_account_loses_storage() {
    let a = Address::with_last_byte(1);
    let info = AccountState { nonce: 1, balance: U256::from(5), code_hash: keccak256([1]) };
    let mut state = StateTrie::new();
    state.apply([(
        a,
        AccountUpdate {
            info: Some(info),
            storage_wiped: false,
            storage: vec![(U256::from(1), U256::from(2))],
        },
    )]);
    assert_ne!(state.storage_root(a), EMPTY_ROOT_HASH);
    // Destroyed: gone, storage included.
    state.apply([(a, AccountUpdate { info: None, ..Default::default() })]);
    assert_eq!(state.root(), EMPTY_ROOT_HASH);
    assert_eq!(state.account(a).unwrap(), None);
    // Re-created in a later block: fresh, empty storage.
    state.apply([(a, AccountUpdate { info: Some(info), ..Default::default() })]);
    assert_eq!(state.storage_root(a), EMPTY_ROOT_HASH);
    assert_eq!(state.storage(a, U256::from(1)).unwrap(), U256::ZERO);
    // Wipe + write in one update.
    state.apply([(
        a,
        AccountUpdate {
            info: Some(info),
            storage_wiped: false,
            storage: vec![(U256::from(1), U256::from(2)), (U256::from(7), U256::from(8))],
        },
    )]);
    state.apply([(
        a,
        AccountUpdate {
            info: Some(info),
            storage_wiped: true,
            storage: vec![(U256::from(7), U256::from(9))],
        },
    )]);
    let mut model = Model::new();
    model.insert(a, (info, BTreeMap::from([(U256::from(7), U256::from(9))])));
    assert_eq!(state.root(), naive_state_root(&model));
}

/// Untouched accounts keep their storage root; many accounts with storage exercise the
/// parallel storage path; a large single-contract update exercises parallel hashing.
#[test]
fn many_accounts_rounds() {
    let mut rng = SplitMix(5);
    let addresses: Vec<Address> =
        (0..300).map(|_| Address::from_slice(&rng.b256()[..20])).collect();
    let mut model = Model::new();
    let mut state = StateTrie::new();
    for round in 0..4 {
        let mut updates = Vec::new();
        for (i, address) in addresses.iter().enumerate() {
            if rng.below(3) != 0 {
                continue;
            }
            let info = Some(AccountState {
                nonce: rng.below(10),
                balance: U256::from(rng.next_u64()),
                code_hash: KECCAK_EMPTY,
            });
            let slots = if i == 0 { 1500 } else { rng.below(6) as usize };
            let storage = (0..slots)
                .map(|_| (U256::from(rng.below(2000)), U256::from(rng.below(4))))
                .collect();
            let info = if rng.below(40) == 0 { None } else { info };
            updates.push((
                *address,
                AccountUpdate { info, storage_wiped: rng.below(50) == 0, storage },
            ));
        }
        for (address, update) in &updates {
            apply_to_model(&mut model, *address, update);
        }
        assert_eq!(state.apply(updates), naive_state_root(&model), "round {round}");
    }
    assert_eq!(rebuild(&model).root(), state.root());
    for address in addresses.iter().take(5) {
        check_account_proof(&state, &model, *address, &[U256::from(1), U256::from(1999)]);
    }
}

/// Duplicate addresses in one `apply` are applied in order.
#[test]
fn duplicate_updates_in_one_block() {
    let a = Address::with_last_byte(9);
    let info =
        |nonce| Some(AccountState { nonce, balance: U256::from(1), code_hash: KECCAK_EMPTY });
    let updates = vec![
        (
            a,
            AccountUpdate {
                info: info(1),
                storage_wiped: false,
                storage: vec![(U256::from(1), U256::from(1))],
            },
        ),
        (a, AccountUpdate { info: None, ..Default::default() }),
        (
            a,
            AccountUpdate {
                info: info(2),
                storage_wiped: false,
                storage: vec![(U256::from(2), U256::from(2))],
            },
        ),
    ];
    let mut model = Model::new();
    for (address, update) in &updates {
        apply_to_model(&mut model, *address, update);
    }
    let mut state = StateTrie::new();
    assert_eq!(state.apply(updates), naive_state_root(&model));
    assert_eq!(state.storage(a, U256::from(1)).unwrap(), U256::ZERO);
    assert_eq!(state.account(a).unwrap().map(|acc| acc.nonce), Some(2));
}

/// Small fixed state; the expected root is computed by alloy-trie's HashBuilder (independent
/// of this crate's trie code), account by account.
#[test]
fn fixed_state_vector() {
    let accounts = [
        (
            address!("0x1000000000000000000000000000000000000001"),
            0u64,
            1_000u64,
            KECCAK_EMPTY,
            vec![],
        ),
        (
            address!("0x2000000000000000000000000000000000000002"),
            1,
            0,
            keccak256([0x60, 0x80]),
            vec![(U256::from(0), U256::from(42)), (U256::from(1), U256::MAX)],
        ),
        (
            address!("0x3000000000000000000000000000000000000003"),
            7,
            12_345_678_901,
            KECCAK_EMPTY,
            vec![],
        ),
    ];
    let model: Model = accounts
        .iter()
        .map(|(a, nonce, balance, code_hash, storage)| {
            (
                *a,
                (
                    AccountState {
                        nonce: *nonce,
                        balance: U256::from(*balance),
                        code_hash: *code_hash,
                    },
                    storage.iter().copied().collect(),
                ),
            )
        })
        .collect();
    let expected = naive_state_root(&model);
    let state = rebuild(&model);
    assert_eq!(state.root(), expected);
    let mut incremental = StateTrie::new();
    let root = incremental.apply(model.iter().map(|(a, (info, storage))| {
        (
            *a,
            AccountUpdate {
                info: Some(*info),
                storage_wiped: false,
                storage: storage.clone().into_iter().collect(),
            },
        )
    }));
    assert_eq!(root, expected);
    check_account_proof(
        &state,
        &model,
        accounts[1].0,
        &[U256::from(0), U256::from(1), U256::from(2)],
    );
}

/// Real-world vector: the Sepolia genesis state (15 funded accounts, no code or storage, from
/// go-ethereum's genesis alloc); its state root is the one in Sepolia's block 0 header.
#[test]
fn sepolia_genesis_vector() {
    const ALLOC: [(&str, &str); 15] = [
        ("0000006916a87b82333f4245046623b23794c65c", "84595161401484a000000"),
        ("10f5d45854e038071485ac9e402308cf80d2d2fe", "52b7d2dcc80cd2e4000000"),
        ("799d329e5f583419167cd722962485926e338f4a", "de0b6b3a7640000"),
        ("7cf5b79bfe291a67ab02b393e456ccc4c266f753", "d3c21bcecceda1000000"),
        ("8b7f0977bb4f0fbe7076fa22bc24aca043583f5e", "d3c21bcecceda1000000"),
        ("a2a6d93439144ffe4d27c9e088dcd8b783946263", "d3c21bcecceda1000000"),
        ("aaec86394441f915bce3e6ab399977e9906f3b69", "d3c21bcecceda1000000"),
        ("b21c33de1fab3fa15499c62b59fe0cc3250020d1", "52b7d2dcc80cd2e4000000"),
        ("bc11295936aa79d594139de1b2e12629414f3bdb", "d3c21bcecceda1000000"),
        ("beef32ca5b9a198d27b4e02f4c70439fe60356cf", "d3c21bcecceda1000000"),
        ("d7d76c58b3a519e9fa6cc4d22dc017259bc49f1e", "52b7d2dcc80cd2e4000000"),
        ("d7eddb78ed295b3c9629240e8924fb8d8874ddd8", "d3c21bcecceda1000000"),
        ("d9a5179f091d85051d3c982785efd1455cec8699", "d3c21bcecceda1000000"),
        ("e2e2659028143784d557bcec6ff3a0721048880a", "d3c21bcecceda1000000"),
        ("f47cae1cf79ca6758bfc787dbd21e6bdbe7112b8", "d3c21bcecceda1000000"),
    ];
    let expected: B256 =
        "0x5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494".parse().unwrap();
    let accounts: Vec<DumpAccount> = ALLOC
        .iter()
        .map(|(address, balance)| {
            let info = AccountState {
                nonce: 0,
                balance: U256::from_str_radix(balance, 16).unwrap(),
                code_hash: KECCAK_EMPTY,
            };
            (address.parse().unwrap(), info, Vec::new())
        })
        .collect();
    assert_eq!(StateTrie::from_accounts(accounts.clone()).root(), expected);
    let mut state = StateTrie::new();
    let root = state.apply(accounts.into_iter().map(|(address, info, _)| {
        (address, AccountUpdate { info: Some(info), ..Default::default() })
    }));
    assert_eq!(root, expected);
}

#[test]
fn state_trie_is_send_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<StateTrie>();
    assert_send_sync::<crate::trie::MerkleTrie>();
}
