// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title Types
/// @notice The structs that cross between L1 and L2 (and between the contracts and the Rust
///         bridge). Their ABI encodings are part of the protocol: the bridge hashes them the same
///         way, so a field is never reordered or retyped.
library Types {
    /// @notice An output root the proposer posted to the OutputOracle.
    /// @custom:field outputRoot    keccak256 of the OutputRootProof (see Hashing.hashOutputRootProof).
    /// @custom:field timestamp     L1 timestamp of the proposal; the finalization period counts from it.
    /// @custom:field l2BlockNumber The L2 block the output root commits to.
    struct OutputProposal {
        bytes32 outputRoot;
        uint128 timestamp;
        uint128 l2BlockNumber;
    }

    /// @notice The preimage of an output root (version 0).
    /// @custom:field version                  Output root version; always bytes32(0) today.
    /// @custom:field stateRoot                The L2 block's state root.
    /// @custom:field messagePasserStorageRoot Storage root of the L2ToL1MessagePasser predeploy
    ///                                        after the block (the header's withdrawalsRoot).
    /// @custom:field latestBlockhash          The L2 block's hash.
    struct OutputRootProof {
        bytes32 version;
        bytes32 stateRoot;
        bytes32 messagePasserStorageRoot;
        bytes32 latestBlockhash;
    }

    /// @notice A withdrawal initiated on L2 through the L2ToL1MessagePasser (OP's layout).
    /// @custom:field nonce    Versioned nonce of the message passer (version 1 in the top 16 bits).
    /// @custom:field sender   The L2 account that called initiateWithdrawal.
    /// @custom:field target   The L1 account that receives `value` OPEN and the call.
    /// @custom:field value    Native OPEN burnt on L2, released as L1 OPEN on finalization.
    /// @custom:field gasLimit Gas forwarded to the call on L1 (only used when `data` is not empty).
    /// @custom:field data     Calldata for `target` on L1; empty for a plain transfer.
    struct WithdrawalTransaction {
        uint256 nonce;
        address sender;
        address target;
        uint256 value;
        uint256 gasLimit;
        bytes data;
    }
}
