// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Libraries
import {Predeploys} from "../libraries/Predeploys.sol";

// Interfaces
import {IL1Block} from "../interfaces/IL1Block.sol";

/// @custom:predeploy 0x4200000000000000000000000000000000000015
/// @title L1Block
/// @notice The latest L1 origin of the L2 and the parameters of the L1 data fee, set once per L2
///         block by the protocol's depositor account.
/// @dev A predeploy (runtime code placed in the genesis: no constructor, no immutables). The
///      state variables below reproduce the OP Stack's L1Block storage layout slot for slot,
///      because op-revm reads slots 1, 3, 5, 6, 7 and 8 directly to price the L1 data fee; see
///      IL1Block for the byte offsets and the packed calldata. Declaration order inside a slot
///      is low-order first, which is why `number` precedes `timestamp`, `sequenceNumber`
///      precedes the scalars and `operatorFeeConstant` precedes `operatorFeeScalar`.
///      No event is emitted, like OP's: the values change in the first (system) transaction of
///      every L2 block, whose calldata already carries them and is derived from L1 by replay.
contract L1Block is IL1Block {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @notice Minimum calldata length of setL1BlockValuesEcotone().
    uint256 internal constant ECOTONE_CALLDATA_LENGTH = 164;

    /// @notice Minimum calldata length of setL1BlockValuesIsthmus().
    uint256 internal constant ISTHMUS_CALLDATA_LENGTH = 176;

    /// @inheritdoc IL1Block
    uint64 public number; // slot 0, bytes 24..32

    /// @inheritdoc IL1Block
    uint64 public timestamp; // slot 0, bytes 16..24

    /// @inheritdoc IL1Block
    uint256 public basefee; // slot 1

    /// @inheritdoc IL1Block
    bytes32 public hash; // slot 2

    /// @inheritdoc IL1Block
    uint64 public sequenceNumber; // slot 3, bytes 24..32

    /// @inheritdoc IL1Block
    uint32 public blobBaseFeeScalar; // slot 3, bytes 20..24

    /// @inheritdoc IL1Block
    uint32 public baseFeeScalar; // slot 3, bytes 16..20

    /// @inheritdoc IL1Block
    bytes32 public batcherHash; // slot 4

    /// @inheritdoc IL1Block
    uint256 public l1FeeOverhead; // slot 5 (legacy; never written here)

    /// @inheritdoc IL1Block
    uint256 public l1FeeScalar; // slot 6 (legacy; never written here)

    /// @inheritdoc IL1Block
    uint256 public blobBaseFee; // slot 7

    /// @inheritdoc IL1Block
    uint64 public operatorFeeConstant; // slot 8, bytes 24..32

    /// @inheritdoc IL1Block
    uint32 public operatorFeeScalar; // slot 8, bytes 20..24

    /// @inheritdoc IL1Block
    function DEPOSITOR_ACCOUNT() public pure returns (address) {
        return Predeploys.DEPOSITOR_ACCOUNT;
    }

    /// @inheritdoc IL1Block
    function setL1BlockValuesEcotone() external {
        _checkCaller(ECOTONE_CALLDATA_LENGTH);
        _storeEcotone();
    }

    /// @inheritdoc IL1Block
    function setL1BlockValuesIsthmus() external {
        _checkCaller(ISTHMUS_CALLDATA_LENGTH);
        _storeEcotone();
        assembly {
            // Bytes 164..176 are operatorFeeScalar (4) then operatorFeeConstant (8): the top 12
            // bytes of the word at 164. Shifting right by 20 bytes puts the constant in bytes
            // 24..32 and the scalar in bytes 20..24 of slot 8.
            sstore(operatorFeeConstant.slot, shr(160, calldataload(164)))
        }
    }

    /// @notice Reverts unless the depositor account calls with at least `_minLength` bytes.
    /// @param _minLength Minimum calldata length of the packed layout.
    function _checkCaller(uint256 _minLength) internal view {
        if (msg.sender != Predeploys.DEPOSITOR_ACCOUNT) revert L1BlockNotDepositor(msg.sender);
        if (msg.data.length < _minLength) revert L1BlockCalldataTooShort(msg.data.length, _minLength);
    }

    /// @notice Stores the Ecotone fields (calldata bytes 4..164) into slots 0, 1, 2, 3, 4 and 7.
    function _storeEcotone() internal {
        assembly {
            // Bytes 4..20: baseFeeScalar (4), blobBaseFeeScalar (4), sequenceNumber (8). The top
            // 16 bytes of the word at 4, shifted right by 16 bytes, land at bytes 16..32 of slot 3.
            sstore(sequenceNumber.slot, shr(128, calldataload(4)))
            // Bytes 20..36: timestamp (8), number (8), the same way into slot 0.
            sstore(number.slot, shr(128, calldataload(20)))
            sstore(basefee.slot, calldataload(36))
            sstore(blobBaseFee.slot, calldataload(68))
            sstore(hash.slot, calldataload(100))
            sstore(batcherHash.slot, calldataload(132))
        }
    }
}
