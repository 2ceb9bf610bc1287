// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";

// Contracts
import {L2ToL1MessagePasser} from "../../src/L2/L2ToL1MessagePasser.sol";

// Libraries
import {Hashing} from "../../src/libraries/Hashing.sol";
import {Predeploys} from "../../src/libraries/Predeploys.sol";
import {Types} from "../../src/libraries/Types.sol";

// Interfaces
import {IL2ToL1MessagePasser} from "../../src/interfaces/IL2ToL1MessagePasser.sol";

/// @title L2ToL1MessagePasser_TestInit
/// @notice Places the runtime code at the predeploy address, as the sequencer's genesis does.
contract L2ToL1MessagePasser_TestInit is Test {
    L2ToL1MessagePasser internal passer = L2ToL1MessagePasser(payable(Predeploys.L2_TO_L1_MESSAGE_PASSER));
    address internal alice = makeAddr("alice");

    function setUp() public virtual {
        vm.etch(address(passer), vm.getDeployedCode("L2ToL1MessagePasser.sol:L2ToL1MessagePasser"));
        vm.deal(alice, 100 ether);
    }
}

/// @title L2ToL1MessagePasser_initiateWithdrawal_Test
contract L2ToL1MessagePasser_initiateWithdrawal_Test is L2ToL1MessagePasser_TestInit {
    function testFuzz_initiateWithdrawal_recordsHash_succeeds(
        address _target,
        uint256 _gasLimit,
        bytes calldata _data,
        uint256 _value
    ) public {
        _value = bound(_value, 0, 100 ether);
        uint256 nonce = passer.messageNonce();
        assertEq(nonce, uint256(1) << 240);
        bytes32 h = Hashing.hashWithdrawal(
            Types.WithdrawalTransaction({
                nonce: nonce, sender: alice, target: _target, value: _value, gasLimit: _gasLimit, data: _data
            })
        );
        vm.expectEmit(address(passer));
        emit IL2ToL1MessagePasser.MessagePassed(nonce, alice, _target, _value, _gasLimit, _data, h);
        vm.prank(alice);
        passer.initiateWithdrawal{value: _value}(_target, _gasLimit, _data);

        assertTrue(passer.sentMessages(h));
        assertEq(passer.messageNonce(), nonce + 1);
        assertEq(address(passer).balance, _value);
        // Storage layout the L1 portal proves: sentMessages at slot 0, msgNonce at slot 1.
        assertEq(vm.load(address(passer), Hashing.sentMessageSlot(h)), bytes32(uint256(1)));
        assertEq(vm.load(address(passer), bytes32(uint256(1))), bytes32(uint256(1)));
    }

    function test_initiateWithdrawal_sequentialNonces_succeeds() public {
        for (uint256 i = 0; i < 3; i++) {
            assertEq(passer.messageNonce(), (uint256(1) << 240) | i);
            vm.prank(alice);
            passer.initiateWithdrawal{value: 1}(alice, 100_000, "");
        }
        assertEq(vm.load(address(passer), bytes32(uint256(1))), bytes32(uint256(3)));
    }

    function test_receive_withdrawsToSender_succeeds() public {
        uint256 nonce = passer.messageNonce();
        bytes32 h = Hashing.hashWithdrawal(
            Types.WithdrawalTransaction({
                nonce: nonce, sender: alice, target: alice, value: 2 ether, gasLimit: 100_000, data: ""
            })
        );
        vm.expectEmit(address(passer));
        emit IL2ToL1MessagePasser.MessagePassed(nonce, alice, alice, 2 ether, 100_000, "", h);
        vm.prank(alice);
        (bool ok,) = address(passer).call{value: 2 ether}("");
        assertTrue(ok);
        assertTrue(passer.sentMessages(h));
    }

    function test_constants_succeeds() public view {
        assertEq(passer.MESSAGE_VERSION(), 1);
        assertEq(passer.RECEIVE_DEFAULT_GAS_LIMIT(), 100_000);
        assertEq(passer.version(), "1.0.0");
    }
}

/// @title L2ToL1MessagePasser_burn_Test
contract L2ToL1MessagePasser_burn_Test is L2ToL1MessagePasser_TestInit {
    function testFuzz_burn_destroysBalance_succeeds(uint256 _value) public {
        _value = bound(_value, 0, 100 ether);
        vm.prank(alice);
        passer.initiateWithdrawal{value: _value}(alice, 100_000, "");
        address burner = vm.computeCreateAddress(address(passer), vm.getNonce(address(passer)));

        vm.expectEmit(address(passer));
        emit IL2ToL1MessagePasser.WithdrawerBalanceBurnt(_value);
        vm.prank(makeAddr("anyone"));
        passer.burn();

        // The value is gone: neither the passer nor the short-lived burner holds it.
        assertEq(address(passer).balance, 0);
        assertEq(burner.balance, 0);
    }
}
