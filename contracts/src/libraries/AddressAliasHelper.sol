// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title AddressAliasHelper
/// @notice OP's (and Arbitrum's) L1→L2 address aliasing. A deposit sent by an L1 contract gets the
///         aliased address as its L2 `from`, so an L1 contract cannot impersonate an L2 contract
///         that happens to sit at the same address.
library AddressAliasHelper {
    /// @notice The offset added to an L1 contract's address.
    uint160 internal constant OFFSET = uint160(0x1111000000000000000000000000000000001111);

    /// @notice L1 address → the `from` its deposits carry on L2.
    /// @param _l1Address The L1 contract.
    /// @return l2Address_ `_l1Address + OFFSET` (mod 2^160).
    function applyL1ToL2Alias(address _l1Address) internal pure returns (address l2Address_) {
        unchecked {
            l2Address_ = address(uint160(_l1Address) + OFFSET);
        }
    }

    /// @notice Reverses applyL1ToL2Alias.
    /// @param _l2Address An aliased address.
    /// @return l1Address_ `_l2Address - OFFSET` (mod 2^160).
    function undoL1ToL2Alias(address _l2Address) internal pure returns (address l1Address_) {
        unchecked {
            l1Address_ = address(uint160(_l2Address) - OFFSET);
        }
    }
}
