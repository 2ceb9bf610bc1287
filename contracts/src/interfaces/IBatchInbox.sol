// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {ISystemConfig} from "./ISystemConfig.sol";

/// @title IBatchInbox
/// @notice Where the batcher posts L2 batch data (compressed channel frames) as calldata. The
///         bridge and the auditor's `replay` read the data from the `submitBatch` transactions'
///         input and check it against the event's hash.
interface IBatchInbox {
    /// @notice A batch was accepted.
    /// @param batcher  The batcher that sent it.
    /// @param dataHash keccak256 of the batch data.
    /// @param size     Length of the batch data in bytes.
    event BatchSubmitted(address indexed batcher, bytes32 indexed dataHash, uint256 size);

    /// @notice Only the batcher named in the SystemConfig may submit.
    /// @param caller  The caller.
    /// @param batcher The configured batcher.
    error BatchInboxNotBatcher(address caller, address batcher);

    /// @notice A batch carries at least one byte.
    error BatchInboxEmptyBatch();

    /// @notice The configuration that names the batcher.
    /// @return The SystemConfig.
    function systemConfig() external view returns (ISystemConfig);

    /// @notice Accepts batch data from the batcher.
    /// @param _data The batch data (the derivation format is the bridge's; the contract only hashes it).
    function submitBatch(bytes calldata _data) external;
}
