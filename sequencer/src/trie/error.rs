//! Error type of the trie module.

use alloy_primitives::B256;

/// Errors returned by the trie module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrieError {
    /// [`MerkleTrie::from_sorted`](super::MerkleTrie::from_sorted) was given keys that are not
    /// strictly ascending (unsorted or duplicated).
    #[error("trie keys are not strictly ascending: {key} follows {previous}")]
    UnsortedKeys {
        /// The key seen before `key`.
        previous: B256,
        /// The offending key (`<= previous`).
        key: B256,
    },
    /// A leaf value stored by [`StateTrie`](super::StateTrie) failed to decode. Values are only
    /// ever written by the state trie itself, so this indicates memory corruption or a bug.
    #[error("corrupt leaf value at hashed key {key}: {source}")]
    CorruptLeaf {
        /// Hashed key of the leaf.
        key: B256,
        /// The RLP decoding error.
        #[source]
        source: alloy_rlp::Error,
    },
}
