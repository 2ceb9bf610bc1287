// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @title MerkleBuilder
/// @notice Builds OpenZeppelin-compatible Merkle trees (sorted-pair keccak) in tests: the root of
///         a list of leaves and the proof of one of them. An odd node at a level is carried up
///         unchanged, which MerkleProof accepts since a proof only lists siblings.
library MerkleBuilder {
    /// @notice Root of `_leaves` and the proof of `_leaves[_index]`.
    /// @param _leaves The leaves (at least one).
    /// @param _index  The leaf to prove.
    /// @return root_  The root.
    /// @return proof_ The sibling hashes from the leaf up.
    function build(bytes32[] memory _leaves, uint256 _index)
        internal
        pure
        returns (bytes32 root_, bytes32[] memory proof_)
    {
        bytes32[] memory level = _leaves;
        bytes32[] memory scratch = new bytes32[](256);
        uint256 depth;
        uint256 pos = _index;
        while (level.length > 1) {
            uint256 sibling = pos ^ 1;
            if (sibling < level.length) scratch[depth++] = level[sibling];
            bytes32[] memory next = new bytes32[]((level.length + 1) / 2);
            for (uint256 i = 0; i < next.length; i++) {
                next[i] = 2 * i + 1 < level.length
                    ? Hashes.commutativeKeccak256(level[2 * i], level[2 * i + 1])
                    : level[2 * i];
            }
            level = next;
            pos /= 2;
        }
        root_ = level[0];
        proof_ = new bytes32[](depth);
        for (uint256 i = 0; i < depth; i++) {
            proof_[i] = scratch[i];
        }
    }
}
