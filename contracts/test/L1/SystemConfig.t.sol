// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L1_TestInit} from "../setup/L1Setup.sol";

// Contracts
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {SystemConfig} from "../../src/L1/SystemConfig.sol";

// Interfaces
import {ISystemConfig} from "../../src/interfaces/ISystemConfig.sol";

/// @title SystemConfig_constructor_Test
contract SystemConfig_constructor_Test is L1_TestInit {
    function test_constructor_setsRoles_succeeds() public view {
        assertEq(config.owner(), owner);
        assertEq(config.batcher(), batcher);
        assertEq(config.proposer(), proposer);
        assertEq(config.guardian(), guardian);
        assertEq(config.finalizationPeriodSeconds(), PERIOD);
        assertEq(config.version(), "1.0.0");
    }

    function test_constructor_zeroRole_reverts() public {
        vm.expectRevert(ISystemConfig.SystemConfigZeroAddress.selector);
        new SystemConfig(owner, address(0), proposer, guardian, PERIOD);
        vm.expectRevert(ISystemConfig.SystemConfigZeroAddress.selector);
        new SystemConfig(owner, batcher, address(0), guardian, PERIOD);
        vm.expectRevert(ISystemConfig.SystemConfigZeroAddress.selector);
        new SystemConfig(owner, batcher, proposer, address(0), PERIOD);
    }

    function test_constructor_zeroPeriod_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                ISystemConfig.SystemConfigFinalizationPeriodOutOfRange.selector, 0, 30 days
            )
        );
        new SystemConfig(owner, batcher, proposer, guardian, 0);
    }
}

/// @title SystemConfig_setters_Test
contract SystemConfig_setters_Test is L1_TestInit {
    function test_setBatcher_succeeds() public {
        vm.expectEmit(address(config));
        emit ISystemConfig.BatcherUpdated(batcher, alice);
        vm.prank(owner);
        config.setBatcher(alice);
        assertEq(config.batcher(), alice);
    }

    function test_setProposer_succeeds() public {
        vm.expectEmit(address(config));
        emit ISystemConfig.ProposerUpdated(proposer, alice);
        vm.prank(owner);
        config.setProposer(alice);
        assertEq(config.proposer(), alice);
    }

    function test_setGuardian_succeeds() public {
        vm.expectEmit(address(config));
        emit ISystemConfig.GuardianUpdated(guardian, alice);
        vm.prank(owner);
        config.setGuardian(alice);
        assertEq(config.guardian(), alice);
    }

    function testFuzz_setFinalizationPeriodSeconds_succeeds(uint256 _seconds) public {
        _seconds = bound(_seconds, 1, 30 days);
        vm.expectEmit(address(config));
        emit ISystemConfig.FinalizationPeriodUpdated(PERIOD, _seconds);
        vm.prank(owner);
        config.setFinalizationPeriodSeconds(_seconds);
        assertEq(config.finalizationPeriodSeconds(), _seconds);
    }

    function testFuzz_setFinalizationPeriodSeconds_outOfRange_reverts(uint256 _seconds) public {
        vm.assume(_seconds == 0 || _seconds > 30 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISystemConfig.SystemConfigFinalizationPeriodOutOfRange.selector, _seconds, 30 days
            )
        );
        vm.prank(owner);
        config.setFinalizationPeriodSeconds(_seconds);
    }

    function test_setBatcher_zeroAddress_reverts() public {
        vm.expectRevert(ISystemConfig.SystemConfigZeroAddress.selector);
        vm.prank(owner);
        config.setBatcher(address(0));
    }

    function testFuzz_setters_notOwner_reverts(address _caller) public {
        vm.assume(_caller != owner);
        bytes memory err = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, _caller);
        vm.startPrank(_caller);
        vm.expectRevert(err);
        config.setBatcher(alice);
        vm.expectRevert(err);
        config.setProposer(alice);
        vm.expectRevert(err);
        config.setGuardian(alice);
        vm.expectRevert(err);
        config.setFinalizationPeriodSeconds(1);
        vm.stopPrank();
    }

    function test_transferOwnership_twoStep_succeeds() public {
        vm.prank(owner);
        config.transferOwnership(alice);
        assertEq(config.owner(), owner);
        vm.prank(alice);
        config.acceptOwnership();
        assertEq(config.owner(), alice);
    }
}
