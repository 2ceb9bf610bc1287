// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Interfaces
import {IBatchInbox} from "../interfaces/IBatchInbox.sol";
import {ISystemConfig} from "../interfaces/ISystemConfig.sol";

/// @title BatchInbox
/// @notice Accepts L2 batch data from the batcher alone, so that derivation can trust that every
///         `submitBatch` transaction to this address that succeeded came from the batcher.
/// @dev The data is not stored: it stays in the transaction's calldata, and the event carries its
///      hash and size. A derivation pipeline must only read successful transactions.
contract BatchInbox is IBatchInbox {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IBatchInbox
    ISystemConfig public immutable systemConfig;

    /// @notice Binds the inbox to a configuration.
    /// @param _systemConfig The SystemConfig that names the batcher.
    constructor(ISystemConfig _systemConfig) {
        systemConfig = _systemConfig;
    }

    /// @inheritdoc IBatchInbox
    function submitBatch(bytes calldata _data) external {
        address batcher = systemConfig.batcher();
        if (msg.sender != batcher) revert BatchInboxNotBatcher(msg.sender, batcher);
        if (_data.length == 0) revert BatchInboxEmptyBatch();
        emit BatchSubmitted(msg.sender, keccak256(_data), _data.length);
    }
}
