use super::{SplitMix, reference_root};
use crate::trie::{MerkleTrie, TrieError};
use alloy_primitives::{B256, Bytes, b256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, proof::verify_proof};
use proptest::{prelude::*, sample::Index};
use std::collections::BTreeMap;

/// Keys generated around these bases share long prefixes with each other.
const BASES: [B256; 3] = [
    B256::ZERO,
    b256!("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
    b256!("3a7c0d54e6f1b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"),
];

/// First `n` nibbles of `base`, the rest from `tail`.
fn with_prefix(base: B256, n: usize, tail: [u8; 32]) -> B256 {
    let mut key = tail;
    for i in 0..n {
        let nibble = if i % 2 == 0 { base[i / 2] >> 4 } else { base[i / 2] & 0x0f };
        key[i / 2] = if i % 2 == 0 {
            (key[i / 2] & 0x0f) | (nibble << 4)
        } else {
            (key[i / 2] & 0xf0) | nibble
        };
    }
    B256::from(key)
}

fn key_strategy() -> impl Strategy<Value = B256> {
    prop_oneof![
        3 => any::<[u8; 32]>().prop_map(B256::from),
        // Shares 0..=64 leading nibbles with a base.
        3 => (0..BASES.len(), 0..=64usize, any::<[u8; 32]>())
            .prop_map(|(b, n, tail)| with_prefix(BASES[b], n, tail)),
        // Differs from a base only in the last three nibbles: deep, inlined nodes.
        2 => (0..BASES.len(), 0..4096u16).prop_map(|(b, low)| {
            let mut key = BASES[b];
            key[30] = (key[30] & 0xf0) | (low >> 8) as u8;
            key[31] = low as u8;
            key
        }),
    ]
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..=1),
        prop::collection::vec(any::<u8>(), 2..32),
        prop::collection::vec(any::<u8>(), 100..=130),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Insert(B256, Vec<u8>),
    Update(Index, Vec<u8>),
    Remove(Index),
    RemoveAbsent(B256),
    /// Remove keys until at most this many (0 or 1) remain.
    DrainTo(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key_strategy(), value_strategy()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (any::<Index>(), value_strategy()).prop_map(|(i, v)| Op::Update(i, v)),
        4 => any::<Index>().prop_map(Op::Remove),
        1 => key_strategy().prop_map(Op::RemoveAbsent),
        1 => (0..=1usize).prop_map(Op::DrainTo),
    ]
}

fn pick(model: &BTreeMap<B256, Vec<u8>>, index: &Index) -> Option<B256> {
    (!model.is_empty()).then(|| *model.keys().nth(index.index(model.len())).unwrap())
}

fn apply_op(trie: &mut MerkleTrie, model: &mut BTreeMap<B256, Vec<u8>>, op: &Op) {
    match op {
        Op::Insert(key, value) => {
            let previous = trie.insert(*key, value.clone());
            assert_eq!(previous.as_deref(), model.insert(*key, value.clone()).as_deref());
        }
        Op::Update(index, value) => {
            if let Some(key) = pick(model, index) {
                trie.insert(key, value.clone());
                model.insert(key, value.clone());
            }
        }
        Op::Remove(index) => {
            if let Some(key) = pick(model, index) {
                let removed = trie.remove(&key);
                assert_eq!(removed.as_deref(), model.remove(&key).as_deref());
            }
        }
        Op::RemoveAbsent(key) => {
            let removed = trie.remove(key);
            assert_eq!(removed.as_deref(), model.remove(key).as_deref());
        }
        Op::DrainTo(keep) => {
            while model.len() > *keep {
                let key = *model.keys().next().unwrap();
                model.remove(&key);
                assert!(trie.remove(&key).is_some());
            }
        }
    }
}

fn assert_proof(root: B256, trie: &MerkleTrie, key: &B256, expected: Option<&Vec<u8>>) {
    let proof = trie.proof(key);
    verify_proof(root, Nibbles::unpack(key), expected.cloned(), &proof)
        .unwrap_or_else(|e| panic!("proof of {key} ({expected:?}) failed: {e}"));
}

/// Compares everything observable with the model.
fn check_against_model(trie: &mut MerkleTrie, model: &BTreeMap<B256, Vec<u8>>, absent: &[B256]) {
    trie.assert_invariants();
    assert_eq!(trie.len(), model.len());
    let root = trie.root();
    assert_eq!(root, reference_root(model), "root differs from HashBuilder");
    assert!(!trie.is_dirty());
    assert_eq!(trie.peek_root(), root);
    let rebuilt =
        MerkleTrie::from_sorted(model.iter().map(|(k, v)| (*k, v.clone()))).unwrap().root();
    assert_eq!(rebuilt, root, "from_sorted differs");
    for (key, value) in model.iter().take(6) {
        assert_eq!(trie.get(key), Some(value.as_slice()));
        assert_proof(root, trie, key, Some(value));
    }
    for key in absent.iter().filter(|k| !model.contains_key(*k)) {
        assert_eq!(trie.get(key), None);
        assert_proof(root, trie, key, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Random inserts/updates/removes over several rounds: the incremental root equals the
    /// from-scratch HashBuilder root after every round, and proofs verify.
    #[test]
    fn differential_vs_hash_builder(
        rounds in prop::collection::vec(prop::collection::vec(op_strategy(), 0..48), 1..6),
        absent in prop::collection::vec(key_strategy(), 1..4),
    ) {
        let mut trie = MerkleTrie::new();
        let mut model = BTreeMap::new();
        for round in &rounds {
            for op in round {
                apply_op(&mut trie, &mut model, op);
            }
            check_against_model(&mut trie, &model, &absent);
        }
    }

    /// Building from sorted leaves gives the HashBuilder root, for any input.
    #[test]
    fn from_sorted_vs_hash_builder(
        leaves in prop::collection::btree_map(key_strategy(), value_strategy(), 0..80),
    ) {
        let mut trie = MerkleTrie::from_sorted(leaves.iter().map(|(k, v)| (*k, v.clone()))).unwrap();
        trie.assert_invariants();
        prop_assert_eq!(trie.root(), reference_root(&leaves));
        prop_assert_eq!(trie.len(), leaves.len());
    }
}

#[test]
fn empty_trie() {
    let mut trie = MerkleTrie::new();
    assert_eq!(trie.root(), EMPTY_ROOT_HASH);
    assert_eq!(trie.peek_root(), EMPTY_ROOT_HASH);
    assert!(trie.proof(&B256::ZERO).is_empty());
    verify_proof(EMPTY_ROOT_HASH, Nibbles::unpack(B256::ZERO), None, &trie.proof(&B256::ZERO))
        .unwrap();
    assert_eq!(
        MerkleTrie::from_sorted(Vec::<(B256, Vec<u8>)>::new()).unwrap().root(),
        EMPTY_ROOT_HASH
    );
}

#[test]
fn remove_down_to_one_and_empty() {
    let mut rng = SplitMix(7);
    let mut trie = MerkleTrie::new();
    let mut model = BTreeMap::new();
    // Mix of random keys and keys with long shared prefixes.
    for i in 0..200u64 {
        let key = if i % 2 == 0 {
            rng.b256()
        } else {
            with_prefix(BASES[2], 40 + (i % 24) as usize, rng.b256().0)
        };
        let value = rng.bytes(1 + (i % 3 * 60) as usize);
        trie.insert(key, value.clone());
        model.insert(key, value);
    }
    check_against_model(&mut trie, &model, &[]);
    let keys: Vec<B256> = model.keys().copied().collect();
    for (n, key) in keys.iter().enumerate() {
        model.remove(key);
        assert!(trie.remove(key).is_some());
        assert!(trie.remove(key).is_none());
        if n % 17 == 0 || model.len() <= 2 {
            check_against_model(&mut trie, &model, &keys[..n.min(3)]);
        }
    }
    assert!(trie.is_empty());
    assert_eq!(trie.root(), EMPTY_ROOT_HASH);
    assert_eq!(trie.node_counts(), (0, 0, 0));
}

#[test]
fn empty_value_removes_and_same_value_is_noop() {
    let mut trie = MerkleTrie::new();
    let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
    trie.insert(a, vec![1, 2, 3]);
    trie.insert(b, vec![4]);
    let root = trie.root();
    assert_eq!(trie.insert(a, vec![1, 2, 3]).as_deref(), Some(&[1u8, 2, 3][..]));
    assert!(!trie.is_dirty(), "re-inserting the same value must not dirty the trie");
    assert_eq!(trie.insert(b, Vec::new()).as_deref(), Some(&[4u8][..]));
    assert_eq!(trie.len(), 1);
    assert_ne!(trie.root(), root);
    assert_eq!(trie.get(&b), None);
}

/// Several thousand keys, rounds large enough for the parallel hashing path, compared with
/// HashBuilder after each round.
#[test]
fn large_rounds_parallel_hashing() {
    let mut rng = SplitMix(42);
    let mut model = BTreeMap::new();
    for _ in 0..4000 {
        model.insert(rng.b256(), rng.bytes(70));
    }
    let mut trie = MerkleTrie::from_sorted(model.iter().map(|(k, v)| (*k, v.clone()))).unwrap();
    assert_eq!(trie.root(), reference_root(&model));
    for round in 0..4 {
        let keys: Vec<B256> = model.keys().copied().collect();
        for i in 0..1500 {
            match i % 3 {
                0 => {
                    let key = keys[rng.below(keys.len() as u64) as usize];
                    let len = 1 + rng.below(120) as usize;
                    let value = rng.bytes(len);
                    trie.insert(key, value.clone());
                    model.insert(key, value);
                }
                1 => {
                    let key = rng.b256();
                    let value = rng.bytes(33);
                    trie.insert(key, value.clone());
                    model.insert(key, value);
                }
                _ => {
                    let key = keys[rng.below(keys.len() as u64) as usize];
                    assert_eq!(trie.remove(&key).as_deref(), model.remove(&key).as_deref());
                }
            }
        }
        trie.assert_invariants();
        assert_eq!(trie.root(), reference_root(&model), "round {round}");
    }
}

#[test]
fn from_sorted_rejects_unsorted_and_duplicates() {
    let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
    assert_eq!(
        MerkleTrie::from_sorted([(b, vec![1]), (a, vec![1])]).unwrap_err(),
        TrieError::UnsortedKeys { previous: b, key: a }
    );
    assert_eq!(
        MerkleTrie::from_sorted([(a, vec![1]), (a, vec![2])]).unwrap_err(),
        TrieError::UnsortedKeys { previous: a, key: a }
    );
    // Empty values are skipped.
    let trie = MerkleTrie::from_sorted([(a, vec![]), (b, vec![5])]).unwrap();
    assert_eq!(trie.len(), 1);
}

#[test]
fn tampered_proofs_fail() {
    let mut rng = SplitMix(3);
    let mut trie = MerkleTrie::new();
    let mut model = BTreeMap::new();
    for _ in 0..300 {
        let (key, value) = (rng.b256(), rng.bytes(40));
        trie.insert(key, value.clone());
        model.insert(key, value);
    }
    let root = trie.root();
    let (key, value) = model.iter().nth(123).unwrap();
    let proof = trie.proof(key);
    assert!(proof.len() >= 2);
    let nibbles = Nibbles::unpack(key);
    verify_proof(root, nibbles, Some(value.clone()), &proof).unwrap();

    // Wrong value, claimed absence, and wrong root.
    let mut wrong = value.clone();
    wrong[0] ^= 1;
    assert!(verify_proof(root, nibbles, Some(wrong), &proof).is_err());
    assert!(verify_proof(root, nibbles, None, &proof).is_err());
    assert!(verify_proof(keccak256(root), nibbles, Some(value.clone()), &proof).is_err());

    // A flipped byte in any node.
    for n in 0..proof.len() {
        let mut tampered = proof.clone();
        let mut node = tampered[n].to_vec();
        let last = node.len() - 1;
        node[last] ^= 0x01;
        tampered[n] = Bytes::from(node);
        assert!(verify_proof(root, nibbles, Some(value.clone()), &tampered).is_err(), "node {n}");
    }
    // A truncated proof.
    assert!(verify_proof(root, nibbles, Some(value.clone()), &proof[..proof.len() - 1]).is_err());

    // Exclusion proof of an absent key cannot prove a value.
    let absent = rng.b256();
    let exclusion = trie.proof(&absent);
    verify_proof(root, Nibbles::unpack(absent), None, &exclusion).unwrap();
    assert!(verify_proof(root, Nibbles::unpack(absent), Some(vec![1]), &exclusion).is_err());
}

/// Proofs through inlined nodes (< 32 bytes): keys differing only in their last nibbles with
/// 1-byte values make the bottom branch and its leaves inline.
#[test]
fn proofs_with_inline_nodes() {
    let mut trie = MerkleTrie::new();
    let mut model = BTreeMap::new();
    let base = BASES[2];
    for low in [0x00u8, 0x01, 0x02, 0x10, 0x11, 0xff] {
        let mut key = base;
        key[31] = low;
        trie.insert(key, vec![low]);
        model.insert(key, vec![low]);
    }
    let far = B256::repeat_byte(0x99);
    trie.insert(far, vec![7]);
    model.insert(far, vec![7]);
    let root = trie.root();
    assert_eq!(root, reference_root(&model));
    for (key, value) in &model {
        assert_proof(root, &trie, key, Some(value));
    }
    let mut absent = base;
    absent[31] = 0x03;
    assert_proof(root, &trie, &absent, None);
    absent[31] = 0x20;
    assert_proof(root, &trie, &absent, None);
}

/// Proofs are also correct on a dirty trie (hashes computed on the fly).
#[test]
fn proof_on_dirty_trie() {
    let mut rng = SplitMix(11);
    let mut trie = MerkleTrie::new();
    let mut model = BTreeMap::new();
    for _ in 0..100 {
        let (key, value) = (rng.b256(), rng.bytes(20));
        trie.insert(key, value.clone());
        model.insert(key, value);
    }
    trie.root();
    let (key, value) = (rng.b256(), rng.bytes(5));
    trie.insert(key, value.clone());
    model.insert(key, value.clone());
    assert!(trie.is_dirty());
    let root = reference_root(&model);
    assert_eq!(trie.peek_root(), root);
    assert_proof(root, &trie, &key, Some(&value));
}

/// Known vector computed independently of this crate: the classic single-leaf trie
/// `{keccak256("") => 0x01}`, whose root is keccak(rlp([0x20 ++ key, 0x01])).
#[test]
fn single_leaf_vector() {
    let key = keccak256([]);
    let mut trie = MerkleTrie::new();
    trie.insert(key, vec![0x01]);
    // rlp list: 0xe3 (35-byte payload) | 0xa1 0x20 ++ key (33-byte string) | 0x01
    let mut encoded = vec![0xe3, 0xa1, 0x20];
    encoded.extend_from_slice(key.as_slice());
    encoded.push(0x01);
    assert_eq!(trie.root(), keccak256(&encoded));
    assert_eq!(trie.proof(&key), vec![Bytes::from(encoded)]);
}
