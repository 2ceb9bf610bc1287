// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title IL1Block
/// @notice The L2 predeploy at 0x4200000000000000000000000000000000000015 that holds the latest
///         L1 origin and the L1-fee parameters. The sequencer sets it in the first transaction of
///         every L2 block: a system deposit from DEPOSITOR_ACCOUNT calling
///         `setL1BlockValuesIsthmus()` with OP's packed calldata.
/// @dev op-revm reads the L1-fee parameters straight from this contract's storage, so the
///      layout is OP's, slot for slot (big-endian byte offsets within the 32-byte word):
///        slot 0  number (uint64, bytes 24..32) | timestamp (uint64, bytes 16..24)
///        slot 1  basefee (uint256)
///        slot 2  hash (bytes32)
///        slot 3  sequenceNumber (uint64, bytes 24..32) | blobBaseFeeScalar (uint32, bytes 20..24)
///                | baseFeeScalar (uint32, bytes 16..20)
///        slot 4  batcherHash (bytes32)
///        slot 5  l1FeeOverhead (uint256, legacy)
///        slot 6  l1FeeScalar (uint256, legacy)
///        slot 7  blobBaseFee (uint256)
///        slot 8  operatorFeeConstant (uint64, bytes 24..32) | operatorFeeScalar (uint32, bytes 20..24)
///      Calldata of setL1BlockValuesIsthmus() (selector 0x098999be), packed big-endian:
///        4 baseFeeScalar u32 | 8 blobBaseFeeScalar u32 | 12 sequenceNumber u64 | 20 timestamp u64
///        | 28 number u64 | 36 basefee u256 | 68 blobBaseFee u256 | 100 hash b32 | 132 batcherHash b32
///        | 164 operatorFeeScalar u32 | 168 operatorFeeConstant u64   (176 bytes in all)
///      setL1BlockValuesEcotone() (selector 0x440a5e20) takes the first 164 bytes of the same.
interface IL1Block {
    /// @notice The caller is not the depositor account.
    /// @param caller The caller.
    error L1BlockNotDepositor(address caller);

    /// @notice The packed calldata is shorter than the function's layout.
    /// @param length   Calldata length received.
    /// @param expected Minimum calldata length.
    error L1BlockCalldataTooShort(uint256 length, uint256 expected);

    /// @notice The system account allowed to set the values.
    /// @return 0xDeaDDEaDDeAdDeAdDEAdDEaddeAddEAdDEAd0001.
    function DEPOSITOR_ACCOUNT() external pure returns (address);

    /// @notice Latest L1 block number known to the L2.
    /// @return The L1 block number.
    function number() external view returns (uint64);

    /// @notice Latest L1 timestamp known to the L2.
    /// @return The L1 timestamp.
    function timestamp() external view returns (uint64);

    /// @notice Latest L1 base fee.
    /// @return The base fee in wei.
    function basefee() external view returns (uint256);

    /// @notice Latest L1 block hash.
    /// @return The hash.
    function hash() external view returns (bytes32);

    /// @notice Number of L2 blocks since the start of the epoch (the L1 origin).
    /// @return The sequence number.
    function sequenceNumber() external view returns (uint64);

    /// @notice Scalar applied to the L1 blob base fee in the L1 cost function.
    /// @return The scalar.
    function blobBaseFeeScalar() external view returns (uint32);

    /// @notice Scalar applied to the L1 base fee in the L1 cost function.
    /// @return The scalar.
    function baseFeeScalar() external view returns (uint32);

    /// @notice Versioned hash of the batcher.
    /// @return The batcher hash.
    function batcherHash() external view returns (bytes32);

    /// @notice Legacy (pre-Ecotone) L1 fee overhead.
    /// @return The overhead.
    function l1FeeOverhead() external view returns (uint256);

    /// @notice Legacy (pre-Ecotone) L1 fee scalar.
    /// @return The scalar.
    function l1FeeScalar() external view returns (uint256);

    /// @notice Latest L1 blob base fee.
    /// @return The blob base fee in wei.
    function blobBaseFee() external view returns (uint256);

    /// @notice Isthmus operator fee scalar.
    /// @return The scalar (6 decimals).
    function operatorFeeScalar() external view returns (uint32);

    /// @notice Isthmus operator fee constant.
    /// @return The constant in wei.
    function operatorFeeConstant() external view returns (uint64);

    /// @notice Sets the Ecotone L1 attributes from packed calldata (see the layout above).
    function setL1BlockValuesEcotone() external;

    /// @notice Sets the Isthmus L1 attributes (Ecotone's plus the operator fee) from packed calldata.
    function setL1BlockValuesIsthmus() external;
}
