//! Incremental state-root engine.
//!
//! # Design
//!
//! The sequencer must produce a state root for every block. Recomputing it from all leaves
//! (e.g. with `alloy_trie::HashBuilder`) costs O(n) hashes per block, which does not scale with
//! the state. Instead, the whole Merkle-Patricia structure is kept **in memory** with the RLP
//! reference of every node **cached** next to it (the node's RLP when shorter than 32 bytes,
//! else its keccak), in the spirit of reth's sparse trie:
//!
//! * [`MerkleTrie`] stores leaves, extensions and branches in three flat arenas addressed by
//!   32-bit handles (no per-node boxing; ~90-100 bytes per node plus the leaf value). A leaf
//!   keeps its full 32-byte key, so moving it during a split or collapse only invalidates its
//!   hash.
//! * **Dirty paths**: `insert`/`remove` descend from the root and clear the cached reference of
//!   every node they rewrite — exactly the nodes on the modified key's path, plus nodes merged
//!   or split there. Setting a key to its current value dirties nothing. [`MerkleTrie::root`]
//!   then walks only into nodes whose cache is empty, reuses the cached references of clean
//!   siblings, and stores the new ones: after `k` updates on an `n`-leaf trie it costs
//!   O(k · log₁₆ n) keccaks instead of O(n). Large dirty sets are hashed in parallel by subtree
//!   (rayon), read-only, with the new references written back afterwards.
//! * Node encoding (leaf/extension/branch RLP, [`RlpNode`](alloy_trie::nodes::RlpNode) inline vs
//!   hash) is delegated to `alloy-trie`, so the roots and proofs are bit-compatible with
//!   `HashBuilder` and `alloy_trie::proof::verify_proof`.
//! * [`StateTrie`] is the Ethereum world state on top: one account trie plus one storage trie
//!   per account with storage. [`StateTrie::apply`] updates and hashes the storage tries of the
//!   block's accounts in parallel, then rewrites the account leaves and rehashes the account
//!   trie's dirty paths.
//!
//! # Start-up cost
//!
//! Nothing is persisted: at start-up [`StateTrie::from_accounts`] rebuilds everything from the
//! flat account/storage tables. Building from sorted leaves is a linear pass (no per-key
//! descent) followed by one full hashing pass, i.e. one keccak per node (~1.35 nodes per leaf for
//! random keys), parallelised over subtrees: about 1 s for 1M accounts on 2 cores. Memory is
//! about 225 bytes per account leaf and 160 bytes per storage slot (1M accounts ≈ 215 MiB).
//! See the crate's `trie_bench` example for figures.
//!
//! Hashing runs on rayon's global pool: call [`StateTrie::apply`] from a blocking context
//! (e.g. `spawn_blocking`), not on an async executor thread.

mod error;
mod merkle;
mod state;

pub use error::TrieError;
pub use merkle::MerkleTrie;
pub use state::{AccountProof, AccountState, AccountUpdate, StateTrie, StorageProof};

#[cfg(test)]
mod tests;
