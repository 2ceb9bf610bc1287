// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Libraries
import {Types} from "../libraries/Types.sol";

// Interfaces
import {IOutputOracle} from "../interfaces/IOutputOracle.sol";
import {ISystemConfig} from "../interfaces/ISystemConfig.sol";

/// @title OutputOracle
/// @notice L2 output roots posted by the proposer, deletable by the guardian until final.
/// @dev Outputs live in a mapping indexed from 0 with `nextOutputIndex` live entries. Deleting
///      lowers `nextOutputIndex`; the stale entries above it are unreachable and are overwritten
///      by the next proposals. The portal remembers the root it proved against, so a withdrawal
///      proven against a deleted output cannot finalize against the replacement.
contract OutputOracle is IOutputOracle {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IOutputOracle
    ISystemConfig public immutable systemConfig;

    /// @notice The outputs by index; entries at or above `nextOutputIndex` are not live.
    mapping(uint256 => Types.OutputProposal) internal outputs;

    /// @inheritdoc IOutputOracle
    uint256 public nextOutputIndex;

    /// @notice Binds the oracle to a configuration.
    /// @param _systemConfig The SystemConfig that names the proposer, the guardian and the period.
    constructor(ISystemConfig _systemConfig) {
        systemConfig = _systemConfig;
    }

    /// @inheritdoc IOutputOracle
    function proposeL2Output(
        bytes32 _outputRoot,
        uint256 _l2BlockNumber,
        bytes32 _l1BlockHash,
        uint256 _l1BlockNumber
    ) external {
        if (msg.sender != systemConfig.proposer()) {
            revert OutputOracleNotProposer(msg.sender);
        }
        if (_outputRoot == bytes32(0)) revert OutputOracleEmptyOutputRoot();
        if (_l2BlockNumber > type(uint128).max) revert OutputOracleBlockNumberTooLarge(_l2BlockNumber);
        uint256 index = nextOutputIndex;
        if (index != 0) {
            uint256 latest = outputs[index - 1].l2BlockNumber;
            if (_l2BlockNumber <= latest) {
                revert OutputOracleBlockNumberNotIncreasing(_l2BlockNumber, latest);
            }
        }
        if (_l1BlockHash != bytes32(0)) {
            bytes32 actual = blockhash(_l1BlockNumber);
            if (actual != _l1BlockHash) revert OutputOracleL1BlockHashMismatch(_l1BlockHash, actual);
        }

        outputs[index] = Types.OutputProposal({
            outputRoot: _outputRoot,
            timestamp: uint128(block.timestamp),
            l2BlockNumber: uint128(_l2BlockNumber)
        });
        nextOutputIndex = index + 1;

        emit OutputProposed(_outputRoot, index, _l2BlockNumber, block.timestamp);
    }

    /// @inheritdoc IOutputOracle
    function deleteL2Outputs(uint256 _l2OutputIndex) external {
        if (msg.sender != systemConfig.guardian()) revert OutputOracleNotGuardian(msg.sender);
        uint256 prevNext = nextOutputIndex;
        if (_l2OutputIndex >= prevNext) revert OutputOracleIndexOutOfBounds(_l2OutputIndex, prevNext);
        if (_isFinalized(outputs[_l2OutputIndex])) revert OutputOracleOutputFinalized(_l2OutputIndex);

        nextOutputIndex = _l2OutputIndex;

        emit OutputsDeleted(prevNext, _l2OutputIndex);
    }

    /// @inheritdoc IOutputOracle
    function getL2Output(uint256 _l2OutputIndex) external view returns (Types.OutputProposal memory) {
        _checkIndex(_l2OutputIndex);
        return outputs[_l2OutputIndex];
    }

    /// @inheritdoc IOutputOracle
    function getL2OutputIndexAfter(uint256 _l2BlockNumber) external view returns (uint256) {
        uint256 hi = nextOutputIndex;
        if (hi == 0 || outputs[hi - 1].l2BlockNumber < _l2BlockNumber) {
            revert OutputOracleNoOutputAfter(_l2BlockNumber);
        }
        // Binary search for the first index whose block is >= _l2BlockNumber (O(log n)).
        uint256 lo = 0;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (outputs[mid].l2BlockNumber < _l2BlockNumber) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// @inheritdoc IOutputOracle
    function latestBlockNumber() external view returns (uint256) {
        uint256 index = nextOutputIndex;
        return index == 0 ? 0 : outputs[index - 1].l2BlockNumber;
    }

    /// @inheritdoc IOutputOracle
    function isOutputFinalized(uint256 _l2OutputIndex) external view returns (bool) {
        _checkIndex(_l2OutputIndex);
        return _isFinalized(outputs[_l2OutputIndex]);
    }

    /// @notice Reverts if no live output sits at `_index`.
    /// @param _index The index.
    function _checkIndex(uint256 _index) internal view {
        if (_index >= nextOutputIndex) revert OutputOracleIndexOutOfBounds(_index, nextOutputIndex);
    }

    /// @notice Whether the finalization period has passed since `_output` was posted.
    /// @param _output The output.
    /// @return True if final.
    function _isFinalized(Types.OutputProposal storage _output) internal view returns (bool) {
        return block.timestamp >= uint256(_output.timestamp) + systemConfig.finalizationPeriodSeconds();
    }
}
