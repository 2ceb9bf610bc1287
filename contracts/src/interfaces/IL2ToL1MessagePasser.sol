// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title IL2ToL1MessagePasser
/// @notice The L2 predeploy at 0x4200000000000000000000000000000000000016 where withdrawals to L1
///         start. Same ABI and semantics as the OP Stack's L2ToL1MessagePasser.
/// @dev Storage layout (the L1 portal proves against it, do not change):
///      slot 0: mapping(bytes32 withdrawalHash => bool) sentMessages
///      slot 1: uint240 msgNonce (counter; the versioned nonce adds MESSAGE_VERSION << 240)
///      A withdrawal is proven on L1 with `eth_getProof(0x42..16, [keccak256(abi.encode(hash, 0))])`
///      against the messagePasserStorageRoot of an output root; the slot holds 1.
interface IL2ToL1MessagePasser {
    /// @notice A withdrawal was initiated.
    /// @param nonce          Versioned nonce of the withdrawal.
    /// @param sender         The L2 caller.
    /// @param target         The L1 recipient and call target.
    /// @param value          Native OPEN sent with the withdrawal (released as L1 OPEN).
    /// @param gasLimit       Gas for the L1 call.
    /// @param data           Calldata for the L1 call.
    /// @param withdrawalHash Hashing.hashWithdrawal of the above; `sentMessages[withdrawalHash]` is now true.
    event MessagePassed(
        uint256 indexed nonce,
        address indexed sender,
        address indexed target,
        uint256 value,
        uint256 gasLimit,
        bytes data,
        bytes32 withdrawalHash
    );

    /// @notice The contract's balance (the value of past withdrawals) was burnt.
    /// @param amount The OPEN destroyed.
    event WithdrawerBalanceBurnt(uint256 indexed amount);

    /// @notice Version of the message format, encoded in the top 16 bits of every nonce.
    /// @return The message version (1).
    function MESSAGE_VERSION() external view returns (uint16);

    /// @notice Gas limit of the withdrawal created when OPEN is sent to this contract without calldata.
    /// @return The default gas limit (100,000).
    function RECEIVE_DEFAULT_GAS_LIMIT() external view returns (uint64);

    /// @notice Whether a withdrawal hash was recorded.
    /// @param _withdrawalHash The withdrawal hash.
    /// @return True once the withdrawal was initiated.
    function sentMessages(bytes32 _withdrawalHash) external view returns (bool);

    /// @notice The nonce the next withdrawal will carry (versioned).
    /// @return The versioned nonce.
    function messageNonce() external view returns (uint256);

    /// @notice Starts a withdrawal to L1: records its hash and locks `msg.value` here until `burn()`.
    /// @param _target   L1 recipient of the value and target of the call.
    /// @param _gasLimit Gas for the L1 call.
    /// @param _data     Calldata for the L1 call (empty for a plain transfer).
    function initiateWithdrawal(address _target, uint256 _gasLimit, bytes calldata _data) external payable;

    /// @notice Destroys the OPEN held by this contract (the value of initiated withdrawals), which
    ///         the L1 portal releases instead. Anyone may call it.
    function burn() external;
}
