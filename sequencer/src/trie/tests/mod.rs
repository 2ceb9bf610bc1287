//! Tests of the trie module: differential tests against `alloy_trie::HashBuilder`, proofs
//! checked with `alloy_trie::proof::verify_proof`, and known vectors.

mod merkle;
mod state;

use alloy_primitives::B256;
use alloy_trie::{HashBuilder, Nibbles};
use std::collections::BTreeMap;

/// Root of the trie holding `leaves`, computed from scratch by alloy-trie's `HashBuilder`.
pub(super) fn reference_root(leaves: &BTreeMap<B256, Vec<u8>>) -> B256 {
    let mut hb = HashBuilder::default();
    for (key, value) in leaves {
        hb.add_leaf(Nibbles::unpack(key), value);
    }
    hb.root()
}

/// Deterministic splitmix64 generator for the non-proptest randomized tests.
pub(super) struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn b256(&mut self) -> B256 {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        B256::from(out)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
