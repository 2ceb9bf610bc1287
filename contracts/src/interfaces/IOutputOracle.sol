// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {Types} from "../libraries/Types.sol";
import {ISystemConfig} from "./ISystemConfig.sol";

/// @title IOutputOracle
/// @notice The L2 output roots on L1. The proposer posts them in increasing L2 block order; the
///         guardian may delete an output that is not yet final, together with every later one
///         (they were built on it). An output is final once `finalizationPeriodSeconds` passed
///         since it was posted; withdrawals are proven against outputs and finalize only against
///         a final output that was not deleted.
/// @dev Output root = keccak256(abi.encode(bytes32(0), stateRoot, messagePasserStorageRoot,
///      l2BlockHash)); see Hashing.hashOutputRootProof.
interface IOutputOracle {
    /// @notice An output root was posted.
    /// @param outputRoot    The output root.
    /// @param l2OutputIndex Its index.
    /// @param l2BlockNumber The L2 block it commits to.
    /// @param l1Timestamp   The L1 timestamp of the proposal.
    event OutputProposed(
        bytes32 indexed outputRoot,
        uint256 indexed l2OutputIndex,
        uint256 indexed l2BlockNumber,
        uint256 l1Timestamp
    );

    /// @notice Outputs from `newNextOutputIndex` on were deleted by the guardian.
    /// @param prevNextOutputIndex The next index before the deletion.
    /// @param newNextOutputIndex  The next index after it (the first deleted index).
    event OutputsDeleted(uint256 indexed prevNextOutputIndex, uint256 indexed newNextOutputIndex);

    /// @notice Only the proposer named in the SystemConfig may post.
    /// @param caller The caller.
    error OutputOracleNotProposer(address caller);

    /// @notice Only the guardian named in the SystemConfig may delete.
    /// @param caller The caller.
    error OutputOracleNotGuardian(address caller);

    /// @notice The zero output root is not a commitment.
    error OutputOracleEmptyOutputRoot();

    /// @notice Outputs must commit to strictly increasing L2 block numbers.
    /// @param l2BlockNumber The block number posted.
    /// @param latest        The latest block number already posted.
    error OutputOracleBlockNumberNotIncreasing(uint256 l2BlockNumber, uint256 latest);

    /// @notice The L2 block number does not fit in 128 bits.
    /// @param l2BlockNumber The block number posted.
    error OutputOracleBlockNumberTooLarge(uint256 l2BlockNumber);

    /// @notice The proposal was built on an L1 block that is not in this chain (reorg guard).
    /// @param expected The L1 block hash the proposer named.
    /// @param actual   blockhash(l1BlockNumber) on this chain.
    error OutputOracleL1BlockHashMismatch(bytes32 expected, bytes32 actual);

    /// @notice No output at that index (never posted, or deleted).
    /// @param index     The index asked for.
    /// @param nextIndex The number of live outputs.
    error OutputOracleIndexOutOfBounds(uint256 index, uint256 nextIndex);

    /// @notice A final output cannot be deleted.
    /// @param index The index of the final output.
    error OutputOracleOutputFinalized(uint256 index);

    /// @notice No output has been posted after that L2 block.
    /// @param l2BlockNumber The block asked for.
    error OutputOracleNoOutputAfter(uint256 l2BlockNumber);

    /// @notice The configuration that names the proposer and the guardian.
    /// @return The SystemConfig.
    function systemConfig() external view returns (ISystemConfig);

    /// @notice Posts an output root. Only the proposer.
    /// @param _outputRoot    The output root.
    /// @param _l2BlockNumber The L2 block it commits to; greater than the latest posted.
    /// @param _l1BlockHash   Optional reorg guard: if not zero, must equal blockhash(_l1BlockNumber).
    /// @param _l1BlockNumber The L1 block `_l1BlockHash` names.
    function proposeL2Output(
        bytes32 _outputRoot,
        uint256 _l2BlockNumber,
        bytes32 _l1BlockHash,
        uint256 _l1BlockNumber
    ) external;

    /// @notice Deletes the output at `_l2OutputIndex` and every later one. Only the guardian, and
    ///         only while that output is not final.
    /// @param _l2OutputIndex The first index to delete.
    function deleteL2Outputs(uint256 _l2OutputIndex) external;

    /// @notice The live output at an index.
    /// @param _l2OutputIndex The index.
    /// @return The proposal (reverts if there is none).
    function getL2Output(uint256 _l2OutputIndex) external view returns (Types.OutputProposal memory);

    /// @notice The index of the first live output whose L2 block is at or after `_l2BlockNumber`:
    ///         the output to prove a withdrawal from that block against.
    /// @param _l2BlockNumber The L2 block.
    /// @return The output index (reverts if there is none).
    function getL2OutputIndexAfter(uint256 _l2BlockNumber) external view returns (uint256);

    /// @notice The number of live outputs (the index the next proposal gets).
    /// @return The next index.
    function nextOutputIndex() external view returns (uint256);

    /// @notice The L2 block of the latest live output (0 if there is none).
    /// @return The block number.
    function latestBlockNumber() external view returns (uint256);

    /// @notice Whether the live output at an index is final.
    /// @param _l2OutputIndex The index.
    /// @return True once finalizationPeriodSeconds passed since it was posted.
    function isOutputFinalized(uint256 _l2OutputIndex) external view returns (bool);
}
