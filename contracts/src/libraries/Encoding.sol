// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title Encoding
/// @notice OP's versioned message nonce: the version in the top 16 bits, the counter in the low
///         240 bits.
library Encoding {
    /// @notice Packs a counter and a version into one nonce.
    /// @param _nonce   The counter (must fit in 240 bits).
    /// @param _version The message version.
    /// @return The versioned nonce.
    function encodeVersionedNonce(uint240 _nonce, uint16 _version) internal pure returns (uint256) {
        return (uint256(_version) << 240) | uint256(_nonce);
    }

    /// @notice Splits a versioned nonce into its counter and version.
    /// @param _nonce The versioned nonce.
    /// @return nonce_   The counter (low 240 bits).
    /// @return version_ The version (top 16 bits).
    function decodeVersionedNonce(uint256 _nonce) internal pure returns (uint240 nonce_, uint16 version_) {
        nonce_ = uint240(_nonce);
        version_ = uint16(_nonce >> 240);
    }
}
