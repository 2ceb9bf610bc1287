// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title ISystemConfig
/// @notice The rollup's L1 configuration: who may post batches and output roots, who may delete
///         a wrong output root, and how long withdrawals wait. The OutputOracle, BatchInbox and
///         OpenPortal read it live, so a change applies to every later call.
interface ISystemConfig {
    /// @notice The batcher changed.
    /// @param previous The former batcher.
    /// @param current  The new batcher.
    event BatcherUpdated(address indexed previous, address indexed current);

    /// @notice The proposer changed.
    /// @param previous The former proposer.
    /// @param current  The new proposer.
    event ProposerUpdated(address indexed previous, address indexed current);

    /// @notice The guardian changed.
    /// @param previous The former guardian.
    /// @param current  The new guardian.
    event GuardianUpdated(address indexed previous, address indexed current);

    /// @notice The finalization period changed.
    /// @param previous The former period in seconds.
    /// @param current  The new period in seconds.
    event FinalizationPeriodUpdated(uint256 previous, uint256 current);

    /// @notice A role cannot be given to the zero address.
    error SystemConfigZeroAddress();

    /// @notice The finalization period must be in [1, MAX_FINALIZATION_PERIOD].
    /// @param period  The period asked for.
    /// @param maximum The largest period allowed.
    error SystemConfigFinalizationPeriodOutOfRange(uint256 period, uint256 maximum);

    /// @notice Upper bound of the finalization period (30 days).
    /// @return The bound in seconds.
    function MAX_FINALIZATION_PERIOD() external view returns (uint256);

    /// @notice The only account whose batches the BatchInbox accepts.
    /// @return The batcher.
    function batcher() external view returns (address);

    /// @notice The only account that may post output roots.
    /// @return The proposer.
    function proposer() external view returns (address);

    /// @notice The account that may delete output roots that are not final yet.
    /// @return The guardian.
    function guardian() external view returns (address);

    /// @notice Seconds an output root (and a proven withdrawal) waits before withdrawals finalize.
    /// @return The period in seconds.
    function finalizationPeriodSeconds() external view returns (uint256);

    /// @notice Sets the batcher. Only the owner.
    /// @param _batcher The new batcher.
    function setBatcher(address _batcher) external;

    /// @notice Sets the proposer. Only the owner.
    /// @param _proposer The new proposer.
    function setProposer(address _proposer) external;

    /// @notice Sets the guardian. Only the owner.
    /// @param _guardian The new guardian.
    function setGuardian(address _guardian) external;

    /// @notice Sets the finalization period. Only the owner. Applies to outputs and proofs
    ///         already posted, since finality is checked against the current value.
    /// @param _seconds The new period.
    function setFinalizationPeriodSeconds(uint256 _seconds) external;
}
