// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Reenterer, Rejecter} from "../mocks/Reenterer.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Staking} from "../../src/L2/Staking.sol";

// Interfaces
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title Staking_TestInit
contract Staking_TestInit is L2_TestInit {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal slasher = makeAddr("slasher");

    function setUp() public virtual override {
        super.setUp();
        vm.deal(alice, 1_000 ether);
        vm.deal(bob, 1_000 ether);
        bytes32 role = staking.SLASHER_ROLE();
        vm.prank(admin);
        staking.grantRole(role, slasher);
    }
}

/// @title Staking_stake_Test
contract Staking_stake_Test is Staking_TestInit {
    function testFuzz_stake_bonds_succeeds(uint256 _amount, bool _attestor) public {
        _amount = bound(_amount, 1, 1_000 ether);
        IStaking.Role role = _attestor ? IStaking.Role.Attestor : IStaking.Role.Curator;
        vm.expectEmit(address(staking));
        emit IStaking.Staked(alice, role, alice, _amount);
        vm.prank(alice);
        staking.stake{value: _amount}(role);
        assertEq(staking.bondedOf(alice, role), _amount);
        assertEq(staking.slashableOf(alice, role), _amount);
        assertEq(staking.totalBonded(), _amount);
        assertEq(staking.sharesOf(alice), _amount);
        assertEq(address(staking).balance, _amount);
    }

    function test_stake_zero_reverts() public {
        vm.expectRevert(IStaking.StakingZeroAmount.selector);
        vm.prank(alice);
        staking.stake(IStaking.Role.Curator);
    }

    function test_stakeFor_creditsAccount_succeeds() public {
        vm.expectEmit(address(staking));
        emit IStaking.Staked(bob, IStaking.Role.Attestor, alice, 2 ether);
        vm.prank(alice);
        staking.stakeFor{value: 2 ether}(bob, IStaking.Role.Attestor);
        assertEq(staking.bondedOf(bob, IStaking.Role.Attestor), 2 ether);
        assertEq(staking.bondedOf(alice, IStaking.Role.Attestor), 0);
    }

    function test_stakeFor_zeroAddress_reverts() public {
        vm.expectRevert(IStaking.StakingZeroAddress.selector);
        vm.prank(alice);
        staking.stakeFor{value: 1}(address(0), IStaking.Role.Attestor);
    }

    function test_constructor_badArgs_reverts() public {
        vm.expectRevert(IStaking.StakingZeroAddress.selector);
        new Staking(address(0), 1);
        vm.expectRevert(IStaking.StakingZeroAmount.selector);
        new Staking(admin, 0);
    }
}

/// @title Staking_unbond_Test
contract Staking_unbond_Test is Staking_TestInit {
    function testFuzz_requestUnbond_thenWithdraw_succeeds(uint256 _stake, uint256 _unbond) public {
        _stake = bound(_stake, 1, 1_000 ether);
        _unbond = bound(_unbond, 1, _stake);
        vm.startPrank(alice);
        staking.stake{value: _stake}(IStaking.Role.Curator);
        vm.expectEmit(address(staking));
        emit IStaking.UnbondingRequested(alice, IStaking.Role.Curator, _unbond, block.timestamp + UNBONDING);
        staking.requestUnbond(IStaking.Role.Curator, _unbond);
        IStaking.StakeInfo memory s = staking.stakeOf(alice, IStaking.Role.Curator);
        assertEq(s.bonded, _stake - _unbond);
        assertEq(s.unbonding, _unbond);
        assertEq(staking.totalBonded(), _stake - _unbond);
        assertEq(staking.totalUnbonding(), _unbond);

        vm.expectRevert(
            abi.encodeWithSelector(IStaking.StakingUnbondingNotElapsed.selector, block.timestamp + UNBONDING)
        );
        staking.withdrawUnbonded(IStaking.Role.Curator);

        vm.warp(block.timestamp + UNBONDING);
        uint256 before = alice.balance;
        staking.withdrawUnbonded(IStaking.Role.Curator);
        vm.stopPrank();
        assertEq(alice.balance, before + _unbond);
        assertEq(staking.totalUnbonding(), 0);
    }

    function test_requestUnbond_restartsClock_succeeds() public {
        vm.startPrank(alice);
        staking.stake{value: 10 ether}(IStaking.Role.Curator);
        staking.requestUnbond(IStaking.Role.Curator, 1 ether);
        vm.warp(block.timestamp + UNBONDING - 1);
        staking.requestUnbond(IStaking.Role.Curator, 1 ether);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStaking.StakingUnbondingNotElapsed.selector, block.timestamp - 1 + UNBONDING
            )
        );
        staking.withdrawUnbonded(IStaking.Role.Curator);
        vm.stopPrank();
    }

    function test_requestUnbond_tooMuch_reverts() public {
        vm.startPrank(alice);
        staking.stake{value: 1 ether}(IStaking.Role.Curator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStaking.StakingInsufficientBonded.selector, alice, IStaking.Role.Curator, 1 ether, 2 ether
            )
        );
        staking.requestUnbond(IStaking.Role.Curator, 2 ether);
        vm.expectRevert(IStaking.StakingZeroAmount.selector);
        staking.requestUnbond(IStaking.Role.Curator, 0);
        vm.stopPrank();
    }

    function test_withdrawUnbonded_nothing_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IStaking.StakingNothingToWithdraw.selector, alice, IStaking.Role.Attestor)
        );
        vm.prank(alice);
        staking.withdrawUnbonded(IStaking.Role.Attestor);
    }

    /// @notice A receiver that re-enters withdrawUnbonded (or claimRewards) is stopped by the lock.
    function test_withdrawUnbonded_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), 5 ether);
        r.exec(address(staking), abi.encodeCall(IStaking.stake, (IStaking.Role.Curator)), 5 ether);
        r.exec(address(staking), abi.encodeCall(IStaking.requestUnbond, (IStaking.Role.Curator, 5 ether)), 0);
        vm.warp(block.timestamp + UNBONDING);

        r.arm(address(staking), abi.encodeCall(IStaking.withdrawUnbonded, (IStaking.Role.Curator)), false);
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingTransferFailed.selector, address(r), 5 ether));
        r.exec(address(staking), abi.encodeCall(IStaking.withdrawUnbonded, (IStaking.Role.Curator)), 0);

        r.arm(address(staking), abi.encodeCall(IStaking.withdrawUnbonded, (IStaking.Role.Curator)), true);
        r.exec(address(staking), abi.encodeCall(IStaking.withdrawUnbonded, (IStaking.Role.Curator)), 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(address(r).balance, 5 ether);
        assertEq(address(staking).balance, 0);
    }
}

/// @title Staking_slash_Test
contract Staking_slash_Test is Staking_TestInit {
    function testFuzz_slash_bondedThenUnbonding_succeeds(uint256 _bonded, uint256 _unbonding, uint256 _amount)
        public
    {
        _bonded = bound(_bonded, 1, 500 ether);
        _unbonding = bound(_unbonding, 0, _bonded);
        _amount = bound(_amount, 0, 1_000 ether);
        vm.startPrank(alice);
        staking.stake{value: _bonded}(IStaking.Role.Attestor);
        if (_unbonding != 0) staking.requestUnbond(IStaking.Role.Attestor, _unbonding);
        vm.stopPrank();

        uint256 bondedNow = _bonded - _unbonding;
        uint256 expected = _amount < _bonded ? _amount : _bonded;
        uint256 before = slasher.balance;
        vm.prank(slasher);
        uint256 slashed = staking.slash(alice, IStaking.Role.Attestor, _amount);
        assertEq(slashed, expected);
        assertEq(slasher.balance, before + expected);
        IStaking.StakeInfo memory s = staking.stakeOf(alice, IStaking.Role.Attestor);
        uint256 fromBonded = expected < bondedNow ? expected : bondedNow;
        assertEq(s.bonded, bondedNow - fromBonded);
        assertEq(s.unbonding, _unbonding - (expected - fromBonded));
        assertEq(staking.totalBonded() + staking.totalUnbonding(), _bonded - expected);
        assertEq(address(staking).balance, _bonded - expected);
    }

    function testFuzz_slash_notSlasher_reverts(address _caller) public {
        vm.assume(_caller != slasher && _caller != address(receipts) && _caller != address(datanets));
        bytes32 role = staking.SLASHER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, _caller, role)
        );
        vm.prank(_caller);
        staking.slash(alice, IStaking.Role.Attestor, 1);
    }

    function test_slash_nothing_succeeds() public {
        vm.prank(slasher);
        assertEq(staking.slash(alice, IStaking.Role.Attestor, 1 ether), 0);
    }

    function test_grantRole_notAdmin_reverts() public {
        bytes32 role = staking.SLASHER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bytes32(0)
            )
        );
        vm.prank(alice);
        staking.grantRole(role, alice);
    }
}

/// @title Staking_rewards_Test
contract Staking_rewards_Test is Staking_TestInit {
    function test_notifyRewards_proRata_succeeds() public {
        _stake(alice, IStaking.Role.Curator, 30 ether);
        _stake(bob, IStaking.Role.Attestor, 10 ether);
        vm.prank(treasury);
        staking.notifyRewards{value: 4 ether}();
        assertEq(staking.pendingRewards(alice), 3 ether);
        assertEq(staking.pendingRewards(bob), 1 ether);

        uint256 before = alice.balance;
        vm.expectEmit(address(staking));
        emit IStaking.RewardsClaimed(alice, 3 ether);
        vm.prank(alice);
        staking.claimRewards();
        assertEq(alice.balance, before + 3 ether);
        assertEq(staking.pendingRewards(alice), 0);
    }

    function test_notifyRewards_nothingBonded_queues_succeeds() public {
        vm.prank(treasury);
        staking.notifyRewards{value: 2 ether}();
        assertEq(staking.queuedRewards(), 2 ether);
        _stake(alice, IStaking.Role.Curator, 1 ether);
        assertEq(staking.pendingRewards(alice), 0);
        vm.prank(treasury);
        staking.notifyRewards{value: 1 ether}();
        assertEq(staking.queuedRewards(), 0);
        assertEq(staking.pendingRewards(alice), 3 ether);
    }

    function test_rewards_unbondingEarnsNothing_succeeds() public {
        _stake(alice, IStaking.Role.Curator, 10 ether);
        _stake(bob, IStaking.Role.Curator, 10 ether);
        vm.prank(alice);
        staking.requestUnbond(IStaking.Role.Curator, 10 ether);
        vm.prank(treasury);
        staking.notifyRewards{value: 1 ether}();
        assertEq(staking.pendingRewards(alice), 0);
        assertEq(staking.pendingRewards(bob), 1 ether);
    }

    function test_rewards_settledBeforeSlash_succeeds() public {
        _stake(alice, IStaking.Role.Attestor, 10 ether);
        vm.prank(treasury);
        staking.notifyRewards{value: 1 ether}();
        vm.prank(slasher);
        staking.slash(alice, IStaking.Role.Attestor, 10 ether);
        assertEq(staking.pendingRewards(alice), 1 ether);
        vm.prank(treasury);
        staking.notifyRewards{value: 1 ether}();
        assertEq(staking.pendingRewards(alice), 1 ether);
        assertEq(staking.queuedRewards(), 1 ether);
    }

    function testFuzz_rewards_neverExceedNotified_succeeds(uint96 _a, uint96 _b, uint96 _r1, uint96 _r2)
        public
    {
        uint256 a = bound(_a, 1, 1e24);
        uint256 b = bound(_b, 1, 1e24);
        _stake(alice, IStaking.Role.Curator, a);
        vm.deal(treasury, 1e30);
        vm.prank(treasury);
        staking.notifyRewards{value: _r1}();
        _stake(bob, IStaking.Role.Attestor, b);
        vm.prank(treasury);
        staking.notifyRewards{value: _r2}();
        uint256 owed = staking.pendingRewards(alice) + staking.pendingRewards(bob);
        assertLe(owed, uint256(_r1) + _r2);
        // Rounding the accumulator loses at most totalBonded / 1e18 + 1 wei per notification,
        // and each account's settlement at most one more.
        assertGe(owed + 2 * ((a + b) / 1e18 + 3), uint256(_r1) + _r2);
        assertGe(address(staking).balance, a + b + owed);
    }

    function test_claimRewards_nothing_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingNothingToClaim.selector, alice));
        vm.prank(alice);
        staking.claimRewards();
    }

    function test_claimRewards_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), 1 ether);
        r.exec(address(staking), abi.encodeCall(IStaking.stake, (IStaking.Role.Curator)), 1 ether);
        vm.prank(treasury);
        staking.notifyRewards{value: 1 ether}();
        r.arm(address(staking), abi.encodeCall(IStaking.claimRewards, ()), true);
        r.exec(address(staking), abi.encodeCall(IStaking.claimRewards, ()), 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(address(r).balance, 1 ether);
        assertEq(staking.pendingRewards(address(r)), 0);
    }

    function test_claimRewards_rejectingReceiver_reverts() public {
        Rejecter r = new Rejecter();
        vm.deal(address(r), 1 ether);
        r.exec(address(staking), abi.encodeCall(IStaking.stake, (IStaking.Role.Curator)), 1 ether);
        vm.prank(treasury);
        staking.notifyRewards{value: 1 ether}();
        vm.expectRevert(abi.encodeWithSelector(IStaking.StakingTransferFailed.selector, address(r), 1 ether));
        r.exec(address(staking), abi.encodeCall(IStaking.claimRewards, ()), 0);
        assertEq(staking.pendingRewards(address(r)), 1 ether);
    }
}
