// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {Types} from "./Types.sol";

/// @title Hashing
/// @notice The hashes L1 and L2 must agree on: withdrawal hashes and output roots. Both match the
///         OP Stack's (Hashing.hashWithdrawal, Hashing.hashOutputRootProof), so OP tooling and the
///         Rust bridge compute the same values.
library Hashing {
    /// @notice Hash of a withdrawal: the key of `sentMessages` in the L2ToL1MessagePasser.
    /// @param _tx The withdrawal.
    /// @return keccak256(abi.encode(nonce, sender, target, value, gasLimit, data)).
    function hashWithdrawal(Types.WithdrawalTransaction memory _tx) internal pure returns (bytes32) {
        return keccak256(abi.encode(_tx.nonce, _tx.sender, _tx.target, _tx.value, _tx.gasLimit, _tx.data));
    }

    /// @notice The output root committed by an OutputRootProof.
    /// @param _proof The four preimage fields.
    /// @return keccak256(abi.encode(version, stateRoot, messagePasserStorageRoot, latestBlockhash)).
    function hashOutputRootProof(Types.OutputRootProof memory _proof) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                _proof.version, _proof.stateRoot, _proof.messagePasserStorageRoot, _proof.latestBlockhash
            )
        );
    }

    /// @notice The storage slot of `sentMessages[withdrawalHash]` in the message passer (the mapping
    ///         sits at slot 0).
    /// @param _withdrawalHash The withdrawal hash.
    /// @return keccak256(abi.encode(withdrawalHash, uint256(0))).
    function sentMessageSlot(bytes32 _withdrawalHash) internal pure returns (bytes32) {
        return keccak256(abi.encode(_withdrawalHash, uint256(0)));
    }
}
