// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

// Interfaces
import {ISystemConfig} from "../interfaces/ISystemConfig.sol";

/// @title SystemConfig
/// @notice The rollup's roles (batcher, proposer, guardian) and its finalization period, held by
///         an owner (two-step ownership transfer).
contract SystemConfig is ISystemConfig, Ownable2Step {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc ISystemConfig
    uint256 public constant MAX_FINALIZATION_PERIOD = 30 days;

    /// @inheritdoc ISystemConfig
    address public batcher;

    /// @inheritdoc ISystemConfig
    address public proposer;

    /// @inheritdoc ISystemConfig
    address public guardian;

    /// @inheritdoc ISystemConfig
    uint256 public finalizationPeriodSeconds;

    /// @notice Sets the owner and the initial configuration.
    /// @param _owner                     Owner of the configuration.
    /// @param _batcher                   Initial batcher.
    /// @param _proposer                  Initial proposer.
    /// @param _guardian                  Initial guardian.
    /// @param _finalizationPeriodSeconds Initial finalization period.
    constructor(
        address _owner,
        address _batcher,
        address _proposer,
        address _guardian,
        uint256 _finalizationPeriodSeconds
    ) Ownable(_owner) {
        _setBatcher(_batcher);
        _setProposer(_proposer);
        _setGuardian(_guardian);
        _setFinalizationPeriodSeconds(_finalizationPeriodSeconds);
    }

    /// @inheritdoc ISystemConfig
    function setBatcher(address _batcher) external onlyOwner {
        _setBatcher(_batcher);
    }

    /// @inheritdoc ISystemConfig
    function setProposer(address _proposer) external onlyOwner {
        _setProposer(_proposer);
    }

    /// @inheritdoc ISystemConfig
    function setGuardian(address _guardian) external onlyOwner {
        _setGuardian(_guardian);
    }

    /// @inheritdoc ISystemConfig
    function setFinalizationPeriodSeconds(uint256 _seconds) external onlyOwner {
        _setFinalizationPeriodSeconds(_seconds);
    }

    /// @notice Stores the batcher.
    /// @param _batcher The new batcher.
    function _setBatcher(address _batcher) internal {
        if (_batcher == address(0)) revert SystemConfigZeroAddress();
        emit BatcherUpdated(batcher, _batcher);
        batcher = _batcher;
    }

    /// @notice Stores the proposer.
    /// @param _proposer The new proposer.
    function _setProposer(address _proposer) internal {
        if (_proposer == address(0)) revert SystemConfigZeroAddress();
        emit ProposerUpdated(proposer, _proposer);
        proposer = _proposer;
    }

    /// @notice Stores the guardian.
    /// @param _guardian The new guardian.
    function _setGuardian(address _guardian) internal {
        if (_guardian == address(0)) revert SystemConfigZeroAddress();
        emit GuardianUpdated(guardian, _guardian);
        guardian = _guardian;
    }

    /// @notice Stores the finalization period.
    /// @param _seconds The new period.
    function _setFinalizationPeriodSeconds(uint256 _seconds) internal {
        if (_seconds == 0 || _seconds > MAX_FINALIZATION_PERIOD) {
            revert SystemConfigFinalizationPeriodOutOfRange(_seconds, MAX_FINALIZATION_PERIOD);
        }
        emit FinalizationPeriodUpdated(finalizationPeriodSeconds, _seconds);
        finalizationPeriodSeconds = _seconds;
    }
}
