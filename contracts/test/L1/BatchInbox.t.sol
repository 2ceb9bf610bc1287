// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L1_TestInit} from "../setup/L1Setup.sol";

// Interfaces
import {IBatchInbox} from "../../src/interfaces/IBatchInbox.sol";

/// @title BatchInbox_submitBatch_Test
contract BatchInbox_submitBatch_Test is L1_TestInit {
    function testFuzz_submitBatch_fromBatcher_succeeds(bytes calldata _data) public {
        vm.assume(_data.length != 0);
        vm.expectEmit(address(inbox));
        emit IBatchInbox.BatchSubmitted(batcher, keccak256(_data), _data.length);
        vm.prank(batcher);
        inbox.submitBatch(_data);
    }

    function testFuzz_submitBatch_notBatcher_reverts(address _caller) public {
        vm.assume(_caller != batcher);
        vm.expectRevert(abi.encodeWithSelector(IBatchInbox.BatchInboxNotBatcher.selector, _caller, batcher));
        vm.prank(_caller);
        inbox.submitBatch(hex"00");
    }

    function test_submitBatch_empty_reverts() public {
        vm.expectRevert(IBatchInbox.BatchInboxEmptyBatch.selector);
        vm.prank(batcher);
        inbox.submitBatch("");
    }

    function test_submitBatch_followsConfig_succeeds() public {
        vm.prank(owner);
        config.setBatcher(alice);
        vm.expectRevert(abi.encodeWithSelector(IBatchInbox.BatchInboxNotBatcher.selector, batcher, alice));
        vm.prank(batcher);
        inbox.submitBatch(hex"00");
        vm.prank(alice);
        inbox.submitBatch(hex"00");
    }
}
