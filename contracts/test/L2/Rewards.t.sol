// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Reenterer} from "../mocks/Reenterer.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Rewards} from "../../src/L2/Rewards.sol";

// Interfaces
import {IAttributionReceipts} from "../../src/interfaces/IAttributionReceipts.sol";
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";
import {IRewards} from "../../src/interfaces/IRewards.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title Rewards_TestInit
/// @notice A model whose contributor pool holds 30 OPEN (100 OPEN redeemed at a 30% share).
contract Rewards_TestInit is L2_TestInit {
    bytes32 internal modelId;
    address internal c1 = makeAddr("c1");
    address internal c2 = makeAddr("c2");
    address internal c3 = makeAddr("c3");

    function setUp() public virtual override {
        super.setUp();
        modelId = _registerModel(_split());
        _deposit(100 ether);
        _redeem(modelId, 100 ether);
        _stake(attestor, IStaking.Role.Attestor, MIN_ATTESTOR);
    }

    function _accounts() internal view returns (address[] memory a_) {
        a_ = new address[](3);
        a_[0] = c1;
        a_[1] = c2;
        a_[2] = c3;
    }

    function _amounts(uint256 _x, uint256 _y, uint256 _z) internal pure returns (uint256[] memory a_) {
        a_ = new uint256[](3);
        a_[0] = _x;
        a_[1] = _y;
        a_[2] = _z;
    }

    /// @notice Posts and finalizes a batch for the tree; returns its id and the proofs.
    function _finalBatch(uint256[] memory _cumulative, uint256 _amount)
        internal
        returns (uint256 batchId_, bytes32[][] memory proofs_)
    {
        bytes32 root;
        (root, proofs_) = _rewardTree(modelId, _accounts(), _cumulative);
        batchId_ = _post(modelId, root, _amount);
        vm.warp(block.timestamp + WINDOW);
        receipts.finalizeBatch(batchId_);
    }
}

/// @title Rewards_creditFees_Test
contract Rewards_creditFees_Test is Rewards_TestInit {
    function testFuzz_creditFees_cutsSumToAmount_succeeds(uint256 _amount, uint16 _c, uint16 _s, uint16 _p)
        public
    {
        _amount = bound(_amount, 1, 1e30);
        uint256 c = bound(_c, 0, 10_000);
        uint256 s = bound(_s, 0, 10_000 - c);
        uint256 p = bound(_p, 0, 10_000 - c - s);
        bytes32 m = _modelWithSplit(
            IModelRegistry.FeeSplit(uint16(10_000 - c - s - p), uint16(c), uint16(s), uint16(p))
        );

        uint256[3] memory before =
            [rewards.balanceOf(modelOwner), rewards.balanceOf(treasury), rewards.stakerRewardsPending()];
        vm.deal(payer, _amount);
        vm.prank(payer);
        rewards.creditFees{value: _amount}(m);
        uint256 protocolCut = rewards.balanceOf(treasury) - before[1];
        uint256 stakersCut = rewards.stakerRewardsPending() - before[2];
        assertEq(
            rewards.balanceOf(modelOwner) - before[0] + protocolCut + stakersCut
                + rewards.contributorAccrued(m),
            _amount
        );
        assertEq(rewards.contributorAccrued(m), (_amount * c) / 10_000);
        assertEq(stakersCut, (_amount * s) / 10_000);
        assertEq(protocolCut, (_amount * p) / 10_000);
    }

    function _modelWithSplit(IModelRegistry.FeeSplit memory _split_) internal returns (bytes32 m_) {
        uint256 dn = _createDatanet(_openRules());
        vm.prank(modelOwner);
        m_ = registry.registerModel(_params(dn, keccak256("fuzz"), _split_));
    }

    function test_creditFees_emits_succeeds() public {
        vm.expectEmit(address(rewards));
        emit IRewards.FeesCredited(modelId, payer, 10 ether, 5 ether, 3 ether, 1 ether, 1 ether);
        vm.prank(payer);
        rewards.creditFees{value: 10 ether}(modelId);
    }

    function test_creditFees_badInput_reverts() public {
        vm.expectRevert(IRewards.RewardsZeroAmount.selector);
        rewards.creditFees(modelId);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, bytes32(0)));
        vm.prank(payer);
        rewards.creditFees{value: 1}(bytes32(0));
    }

    function test_constructor_zeroAddress_reverts() public {
        vm.expectRevert(IRewards.RewardsZeroAddress.selector);
        new Rewards(registry, staking, receipts, address(0));
    }
}

/// @title Rewards_claim_Test
contract Rewards_claim_Test is Rewards_TestInit {
    function test_claim_paysEachOnce_succeeds() public {
        (uint256 batchId, bytes32[][] memory proofs) =
            _finalBatch(_amounts(10 ether, 15 ether, 5 ether), 30 ether);
        uint256 before = c1.balance;
        vm.expectEmit(address(rewards));
        emit IRewards.RewardClaimed(modelId, c1, batchId, 10 ether, 10 ether);
        vm.prank(c1);
        rewards.claim(batchId, 10 ether, proofs[0]);
        assertEq(c1.balance, before + 10 ether);
        assertEq(rewards.claimedOf(modelId, c1), 10 ether);

        vm.expectRevert(
            abi.encodeWithSelector(IRewards.RewardsNothingToClaim.selector, c1, 10 ether, 10 ether)
        );
        vm.prank(c1);
        rewards.claim(batchId, 10 ether, proofs[0]);

        vm.prank(c2);
        rewards.claim(batchId, 15 ether, proofs[1]);
        vm.prank(c3);
        rewards.claim(batchId, 5 ether, proofs[2]);
        IRewards.Pool memory p = rewards.pool(modelId);
        assertEq(p.accrued, 30 ether);
        assertEq(p.claimed, 30 ether);
    }

    function test_claim_cumulativeAcrossBatches_succeeds() public {
        (uint256 b1, bytes32[][] memory p1) = _finalBatch(_amounts(6 ether, 4 ether, 0), 10 ether);
        vm.prank(c1);
        rewards.claim(b1, 6 ether, p1[0]);

        (uint256 b2, bytes32[][] memory p2) = _finalBatch(_amounts(16 ether, 9 ether, 5 ether), 20 ether);
        vm.prank(c1);
        rewards.claim(b2, 16 ether, p2[0]);
        assertEq(rewards.claimedOf(modelId, c1), 16 ether);
        // An older root cannot pay again.
        vm.expectRevert(
            abi.encodeWithSelector(IRewards.RewardsNothingToClaim.selector, c1, 6 ether, 16 ether)
        );
        vm.prank(c1);
        rewards.claim(b1, 6 ether, p1[0]);
        // c2 claims from the older root first, then tops up from the newer one.
        vm.prank(c2);
        rewards.claim(b1, 4 ether, p1[1]);
        vm.prank(c2);
        rewards.claim(b2, 9 ether, p2[1]);
        assertEq(rewards.claimedOf(modelId, c2), 9 ether);
    }

    function test_claim_pendingBatch_reverts() public {
        (bytes32 root, bytes32[][] memory proofs) =
            _rewardTree(modelId, _accounts(), _amounts(10 ether, 15 ether, 5 ether));
        uint256 batchId = _post(modelId, root, 30 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWrongStatus.selector,
                batchId,
                IAttributionReceipts.BatchStatus.Pending
            )
        );
        vm.prank(c1);
        rewards.claim(batchId, 10 ether, proofs[0]);
    }

    function testFuzz_claim_wrongAmountOrAccount_reverts(uint256 _amount) public {
        (uint256 batchId, bytes32[][] memory proofs) =
            _finalBatch(_amounts(10 ether, 15 ether, 5 ether), 30 ether);
        vm.assume(_amount != 10 ether);
        vm.expectRevert(IRewards.RewardsInvalidProof.selector);
        vm.prank(c1);
        rewards.claim(batchId, _amount, proofs[0]);
        vm.expectRevert(IRewards.RewardsInvalidProof.selector);
        vm.prank(c2);
        rewards.claim(batchId, 10 ether, proofs[0]);
    }

    /// @notice A tree promising more than the batch handed out pays only up to the finalized amount.
    function test_claim_overpromisingTree_reverts() public {
        (uint256 batchId, bytes32[][] memory proofs) =
            _finalBatch(_amounts(10 ether, 15 ether, 5 ether), 20 ether);
        vm.prank(c2);
        rewards.claim(batchId, 15 ether, proofs[1]);
        vm.expectRevert(
            abi.encodeWithSelector(IRewards.RewardsExceedsFinalized.selector, modelId, 25 ether, 20 ether)
        );
        vm.prank(c1);
        rewards.claim(batchId, 10 ether, proofs[0]);
        vm.prank(c3);
        rewards.claim(batchId, 5 ether, proofs[2]);
        assertEq(rewards.pool(modelId).claimed, 20 ether);
    }

    function test_claim_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        address[] memory accounts = new address[](2);
        accounts[0] = address(r);
        accounts[1] = c1;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 10 ether;
        amounts[1] = 10 ether;
        (bytes32 root, bytes32[][] memory proofs) = _rewardTree(modelId, accounts, amounts);
        uint256 batchId = _post(modelId, root, 20 ether);
        vm.warp(block.timestamp + WINDOW);
        receipts.finalizeBatch(batchId);

        bytes memory claimCall = abi.encodeCall(IRewards.claim, (batchId, 10 ether, proofs[0]));
        r.arm(address(rewards), claimCall, false);
        vm.expectRevert(abi.encodeWithSelector(IRewards.RewardsTransferFailed.selector, address(r), 10 ether));
        r.exec(address(rewards), claimCall, 0);

        r.arm(address(rewards), claimCall, true);
        r.exec(address(rewards), claimCall, 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(address(r).balance, 10 ether);
        assertEq(rewards.claimedOf(modelId, address(r)), 10 ether);
    }
}

/// @title Rewards_withdraw_Test
contract Rewards_withdraw_Test is Rewards_TestInit {
    function test_withdraw_ownerAndTreasury_succeeds() public {
        uint256 before = modelOwner.balance;
        vm.expectEmit(address(rewards));
        emit IRewards.BalanceWithdrawn(modelOwner, 50 ether);
        vm.prank(modelOwner);
        rewards.withdraw();
        assertEq(modelOwner.balance, before + 50 ether);
        assertEq(rewards.balanceOf(modelOwner), 0);
        before = treasury.balance;
        vm.prank(treasury);
        rewards.withdraw();
        assertEq(treasury.balance, before + 10 ether);
    }

    function test_withdraw_nothing_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IRewards.RewardsNothingToWithdraw.selector, c1));
        vm.prank(c1);
        rewards.withdraw();
    }

    function test_withdraw_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), 10 ether);
        // r is paid as a model owner.
        uint256 dn = _createDatanet(_openRules());
        bytes32 m = abi.decode(
            r.exec(
                address(registry),
                abi.encodeCall(IModelRegistry.registerModel, (_params(dn, keccak256("r"), _split()))),
                0
            ),
            (bytes32)
        );
        vm.prank(payer);
        rewards.creditFees{value: 10 ether}(m);
        r.arm(address(rewards), abi.encodeCall(IRewards.withdraw, ()), true);
        r.exec(address(rewards), abi.encodeCall(IRewards.withdraw, ()), 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(r.received(), 5 ether);
    }

    function test_distributeStakerRewards_succeeds() public {
        vm.expectEmit(address(rewards));
        emit IRewards.StakerRewardsDistributed(10 ether);
        rewards.distributeStakerRewards();
        assertEq(rewards.stakerRewardsPending(), 0);
        assertEq(staking.pendingRewards(attestor), 10 ether);
        vm.expectRevert(IRewards.RewardsZeroAmount.selector);
        rewards.distributeStakerRewards();
    }
}
