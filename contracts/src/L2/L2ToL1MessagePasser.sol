// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Libraries
import {Encoding} from "../libraries/Encoding.sol";
import {Hashing} from "../libraries/Hashing.sol";
import {Types} from "../libraries/Types.sol";

// Interfaces
import {IL2ToL1MessagePasser} from "../interfaces/IL2ToL1MessagePasser.sol";

/// @custom:predeploy 0x4200000000000000000000000000000000000016
/// @title L2ToL1MessagePasser
/// @notice Where withdrawals from the L2 to L1 start. A withdrawal records its hash in
///         `sentMessages` (slot 0), which the L1 OpenPortal proves with a storage proof against
///         the messagePasserStorageRoot of a posted output root, and keeps the native OPEN sent
///         with it until anyone calls `burn()`, which destroys it: the L1 portal releases the same
///         amount of L1 OPEN, so the L2 supply stays equal to the OPEN locked on L1.
/// @dev A predeploy: the sequencer places this contract's runtime code in the genesis, so it has
///      no constructor and no immutables, and its storage starts empty (msgNonce = 0).
///      Storage layout (slot 0 is proven on L1; never reorder):
///        slot 0  mapping(bytes32 => bool) sentMessages
///        slot 1  uint240 msgNonce
contract L2ToL1MessagePasser is IL2ToL1MessagePasser {
    /// @inheritdoc IL2ToL1MessagePasser
    uint16 public constant MESSAGE_VERSION = 1;

    /// @inheritdoc IL2ToL1MessagePasser
    uint64 public constant RECEIVE_DEFAULT_GAS_LIMIT = 100_000;

    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IL2ToL1MessagePasser
    mapping(bytes32 => bool) public sentMessages;

    /// @notice Counter of initiated withdrawals (the low 240 bits of the next nonce).
    uint240 internal msgNonce;

    /// @notice Sending OPEN without calldata withdraws it to the same address on L1.
    receive() external payable {
        _initiateWithdrawal(msg.sender, RECEIVE_DEFAULT_GAS_LIMIT, bytes(""));
    }

    /// @inheritdoc IL2ToL1MessagePasser
    function initiateWithdrawal(address _target, uint256 _gasLimit, bytes calldata _data) external payable {
        _initiateWithdrawal(_target, _gasLimit, _data);
    }

    /// @inheritdoc IL2ToL1MessagePasser
    /// @dev Creates a contract whose init code is `ADDRESS SELFDESTRUCT` (0x30ff) with the whole
    ///      balance. A contract that self-destructs in the transaction that created it, naming
    ///      itself as beneficiary, is deleted with its balance (EIP-6780), so the OPEN is gone from
    ///      the L2 supply. Raw init code rather than a Solidity `selfdestruct`, which solc flags as
    ///      deprecated; the semantics are the same as OP's Burn.eth.
    function burn() external {
        uint256 amount = address(this).balance;
        assembly ("memory-safe") {
            mstore(0, 0x30ff)
            // The two bytes sit at the end of the first word: memory[30..32).
            pop(create(amount, 30, 2))
        }
        emit WithdrawerBalanceBurnt(amount);
    }

    /// @inheritdoc IL2ToL1MessagePasser
    function messageNonce() public view returns (uint256) {
        return Encoding.encodeVersionedNonce(msgNonce, MESSAGE_VERSION);
    }

    /// @notice Records the withdrawal and emits MessagePassed.
    /// @param _target   L1 target.
    /// @param _gasLimit Gas for the L1 call.
    /// @param _data     Calldata for the L1 call.
    function _initiateWithdrawal(address _target, uint256 _gasLimit, bytes memory _data) internal {
        uint256 nonce = messageNonce();
        bytes32 withdrawalHash = Hashing.hashWithdrawal(
            Types.WithdrawalTransaction({
                nonce: nonce,
                sender: msg.sender,
                target: _target,
                value: msg.value,
                gasLimit: _gasLimit,
                data: _data
            })
        );

        sentMessages[withdrawalHash] = true;

        emit MessagePassed(nonce, msg.sender, _target, msg.value, _gasLimit, _data, withdrawalHash);

        unchecked {
            ++msgNonce;
        }
    }
}
