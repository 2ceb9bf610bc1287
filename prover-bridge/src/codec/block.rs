//! [`BlockEntry`]: one L2 block as it travels in a channel, and [`check_consecutive`].

use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::{RlpDecodable, RlpEncodable};

/// One L2 block as the batcher posts it: enough to rebuild the block and check it exactly.
///
/// RLP-encoded as a list of its fields in this order (the order is the format).
/// `block_hash` and `state_root` are the sequencer's claims; derivation re-executes the block
/// and compares.
#[derive(Debug, Clone, PartialEq, Eq, Default, RlpEncodable, RlpDecodable)]
pub struct BlockEntry {
    /// L2 block number.
    pub number: u64,
    /// Hash of the parent L2 block.
    pub parent_hash: B256,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Fee recipient (`coinbase`).
    pub beneficiary: Address,
    /// Block gas limit.
    pub gas_limit: u64,
    /// `prevRandao` (the `mixHash` field of the header).
    pub prev_randao: B256,
    /// EIP-4788 parent beacon block root.
    pub parent_beacon_block_root: B256,
    /// Header `extraData`.
    pub extra_data: Bytes,
    /// Every transaction in block order, each as its EIP-2718 encoding, deposits (`0x7E`)
    /// included.
    pub transactions: Vec<Bytes>,
    /// The block hash the sequencer claims.
    pub block_hash: B256,
    /// The post-state root the sequencer claims.
    pub state_root: B256,
}

impl BlockEntry {
    /// Size of this entry's RLP encoding in bytes.
    pub fn rlp_len(&self) -> usize {
        alloy_rlp::Encodable::length(self)
    }
}

/// Why two neighbouring entries of a channel do not follow each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContinuityError {
    /// `entries[index].number` is not `entries[index - 1].number + 1`.
    #[error("entry {index}: block number {got} does not follow {prev}")]
    Number {
        /// Position of the offending entry in the slice.
        index: usize,
        /// Number of the previous entry.
        prev: u64,
        /// Number of this entry.
        got: u64,
    },
    /// `entries[index].parent_hash` is not `entries[index - 1].block_hash`.
    #[error("entry {index}: parent hash {got} is not the previous block's hash {expected}")]
    ParentHash {
        /// Position of the offending entry in the slice.
        index: usize,
        /// The previous entry's claimed block hash.
        expected: B256,
        /// This entry's parent hash.
        got: B256,
    },
    /// `entries[index].timestamp` is not after `entries[index - 1].timestamp`.
    #[error("entry {index}: timestamp {got} is not after the previous block's {prev}")]
    Timestamp {
        /// Position of the offending entry in the slice.
        index: usize,
        /// Timestamp of the previous entry.
        prev: u64,
        /// Timestamp of this entry.
        got: u64,
    },
}

/// Checks that each entry follows the one before it: number + 1, parent hash equal to the
/// previous entry's claimed `block_hash`, and a strictly later timestamp (as Ethereum's header
/// rules require). An empty or one-entry slice passes.
///
/// The codec does not enforce this (derivation decides what to do with a gap); it is a helper
/// for the caller.
pub fn check_consecutive(entries: &[BlockEntry]) -> Result<(), ContinuityError> {
    for (offset, pair) in entries.windows(2).enumerate() {
        let (prev, next) = (&pair[0], &pair[1]);
        let index = offset + 1;
        if prev.number.checked_add(1) != Some(next.number) {
            return Err(ContinuityError::Number { index, prev: prev.number, got: next.number });
        }
        if next.parent_hash != prev.block_hash {
            return Err(ContinuityError::ParentHash {
                index,
                expected: prev.block_hash,
                got: next.parent_hash,
            });
        }
        if next.timestamp <= prev.timestamp {
            return Err(ContinuityError::Timestamp {
                index,
                prev: prev.timestamp,
                got: next.timestamp,
            });
        }
    }
    Ok(())
}
