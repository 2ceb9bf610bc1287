// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";

// Libraries
import {AddressAliasHelper} from "../../src/libraries/AddressAliasHelper.sol";
import {Encoding} from "../../src/libraries/Encoding.sol";
import {Hashing} from "../../src/libraries/Hashing.sol";
import {Types} from "../../src/libraries/Types.sol";

/// @title Hashing_Test
contract Hashing_Test is Test {
    /// @notice Known values computed with `cast` (abi-encode + keccak), so Rust can check against them.
    function test_hashWithdrawal_knownValue_succeeds() public pure {
        Types.WithdrawalTransaction memory w = Types.WithdrawalTransaction({
            nonce: (uint256(1) << 240) | 6,
            sender: 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266,
            target: address(0x17),
            value: 7_000_000_000,
            gasLimit: 100_007,
            data: hex"07beef"
        });
        assertEq(
            Hashing.hashWithdrawal(w), 0x3de2e34e95f7e8b2d946ee9851e4eea858736115f01e6a37cefa3925099dae46
        );
        assertEq(
            Hashing.sentMessageSlot(Hashing.hashWithdrawal(w)),
            0xe939a80399a1c0f2378771cec0f8a9b955c72c8725dbb2ab61732e797fd1a04e
        );
    }

    function testFuzz_hashOutputRootProof_succeeds(bytes32 _a, bytes32 _b, bytes32 _c) public pure {
        Types.OutputRootProof memory p = Types.OutputRootProof(bytes32(0), _a, _b, _c);
        assertEq(Hashing.hashOutputRootProof(p), keccak256(abi.encode(bytes32(0), _a, _b, _c)));
    }
}

/// @title Encoding_Test
contract Encoding_Test is Test {
    function testFuzz_versionedNonce_roundTrip_succeeds(uint240 _nonce, uint16 _version) public pure {
        uint256 encoded = Encoding.encodeVersionedNonce(_nonce, _version);
        (uint240 nonce, uint16 version) = Encoding.decodeVersionedNonce(encoded);
        assertEq(nonce, _nonce);
        assertEq(version, _version);
    }
}

/// @title AddressAliasHelper_Test
contract AddressAliasHelper_Test is Test {
    function testFuzz_alias_roundTrip_succeeds(address _a) public pure {
        assertEq(AddressAliasHelper.undoL1ToL2Alias(AddressAliasHelper.applyL1ToL2Alias(_a)), _a);
    }

    function test_applyL1ToL2Alias_knownValue_succeeds() public pure {
        assertEq(AddressAliasHelper.applyL1ToL2Alias(address(0)), 0x1111000000000000000000000000000000001111);
        assertEq(
            AddressAliasHelper.applyL1ToL2Alias(0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF),
            0x1111000000000000000000000000000000001110
        );
    }
}
