//! Output roots: `keccak256(version ‖ stateRoot ‖ messagePasserStorageRoot ‖ blockHash)`, each a
//! 32-byte word (the OP Stack's v0 layout, equal to `keccak256(abi.encode(...))` of the four
//! `bytes32`). The proposer posts them to the L1 output oracle; a withdrawal proves the message
//! passer's storage against `messagePasserStorageRoot`.

use alloy_primitives::{B256, keccak256};

/// Version 0 of the output root layout.
pub const OUTPUT_VERSION_V0: B256 = B256::ZERO;

/// The parts of an output root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputRoot {
    /// Layout version; [`OUTPUT_VERSION_V0`].
    pub version: B256,
    /// State root of the L2 block.
    pub state_root: B256,
    /// Storage root of the L2 message passer contract in that state.
    pub message_passer_storage_root: B256,
    /// Hash of the L2 block.
    pub block_hash: B256,
}

impl OutputRoot {
    /// A v0 output root.
    pub fn v0(state_root: B256, message_passer_storage_root: B256, block_hash: B256) -> Self {
        Self { version: OUTPUT_VERSION_V0, state_root, message_passer_storage_root, block_hash }
    }

    /// The 128-byte preimage.
    pub fn preimage(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        for (chunk, word) in out.chunks_exact_mut(32).zip([
            self.version,
            self.state_root,
            self.message_passer_storage_root,
            self.block_hash,
        ]) {
            chunk.copy_from_slice(word.as_slice());
        }
        out
    }

    /// The commitment posted to L1.
    pub fn hash(&self) -> B256 {
        keccak256(self.preimage())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    /// The expected value was computed independently with foundry:
    /// `cast keccak $(cast abi-encode "f(bytes32,bytes32,bytes32,bytes32)" 0x00.. 0x11.. 0x22.. 0x33..)`.
    #[test]
    fn matches_abi_encoded_keccak() {
        let root = OutputRoot::v0(
            B256::repeat_byte(0x11),
            B256::repeat_byte(0x22),
            B256::repeat_byte(0x33),
        );
        assert_eq!(
            root.hash(),
            b256!("0xd50bf2ff34ced71be0d2f0be7c2433c6b39d9c3b16c95daf1ed6f24b7578a3b2")
        );
    }

    #[test]
    fn every_field_is_committed() {
        let base = OutputRoot::v0(B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let variants = [
            OutputRoot { version: B256::repeat_byte(9), ..base },
            OutputRoot { state_root: B256::repeat_byte(9), ..base },
            OutputRoot { message_passer_storage_root: B256::repeat_byte(9), ..base },
            OutputRoot { block_hash: B256::repeat_byte(9), ..base },
        ];
        for variant in variants {
            assert_ne!(variant.hash(), base.hash(), "{variant:?}");
        }
    }
}
