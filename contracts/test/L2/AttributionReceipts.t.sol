// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Reenterer} from "../mocks/Reenterer.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {AttributionReceipts} from "../../src/L2/AttributionReceipts.sol";

// Interfaces
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAttributionReceipts} from "../../src/interfaces/IAttributionReceipts.sol";
import {IRewards} from "../../src/interfaces/IRewards.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title AttributionReceipts_TestInit
/// @notice A model with 30 OPEN in its contributor pool and a staked attestor.
contract AttributionReceipts_TestInit is L2_TestInit {
    bytes32 internal modelId;
    bytes32 internal constant ROOT = keccak256("rewards root");

    function setUp() public virtual override {
        super.setUp();
        modelId = _registerModel(_split());
        _deposit(100 ether);
        _redeem(modelId, 100 ether);
        _stake(attestor, IStaking.Role.Attestor, MIN_ATTESTOR);
    }

    function _defaultParams() internal pure returns (IAttributionReceipts.Params memory) {
        return IAttributionReceipts.Params(WINDOW, MIN_ATTESTOR, BOND, SLASH, REWARD_BPS);
    }

    function _challenge(uint256 _batchId) internal {
        vm.prank(challenger);
        receipts.challenge{value: BOND}(_batchId);
    }
}

/// @title AttributionReceipts_setup_Test
contract AttributionReceipts_setup_Test is AttributionReceipts_TestInit {
    function test_setRewards_onlyDeployerOnce_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsNotDeployer.selector, admin)
        );
        vm.prank(admin);
        receipts.setRewards(rewards);
        vm.expectRevert(IAttributionReceipts.AttributionReceiptsRewardsAlreadySet.selector);
        vm.prank(address(script));
        receipts.setRewards(rewards);
    }

    function test_postBatch_rewardsNotSet_reverts() public {
        AttributionReceipts fresh = new AttributionReceipts(staking, treasury, admin, _defaultParams());
        vm.expectRevert(IAttributionReceipts.AttributionReceiptsZeroAddress.selector);
        fresh.setRewards(IRewards(address(0)));
        vm.expectRevert(IAttributionReceipts.AttributionReceiptsRewardsNotSet.selector);
        vm.prank(attestor);
        fresh.postBatch(modelId, ROOT, ROOT, 1, 1, "");
    }

    function test_setParams_succeeds() public {
        IAttributionReceipts.Params memory p = _defaultParams();
        p.challengeWindow = 2 days;
        vm.expectEmit(address(receipts));
        emit IAttributionReceipts.ParamsUpdated(p);
        vm.prank(admin);
        receipts.setParams(p);
        assertEq(receipts.params().challengeWindow, 2 days);
    }

    function test_setParams_invalid_reverts() public {
        IAttributionReceipts.Params[5] memory bad;
        for (uint256 i = 0; i < 5; i++) {
            bad[i] = _defaultParams();
        }
        bad[0].challengeWindow = 0;
        bad[1].challengeWindow = uint64(UNBONDING);
        bad[2].challengeBond = 0;
        bad[3].slashAmount = MIN_ATTESTOR + 1;
        bad[4].challengerRewardBps = 10_001;
        for (uint256 i = 0; i < 5; i++) {
            vm.expectRevert(IAttributionReceipts.AttributionReceiptsInvalidParams.selector);
            vm.prank(admin);
            receipts.setParams(bad[i]);
        }
    }

    function testFuzz_setParams_notAdmin_reverts(address _caller) public {
        vm.assume(_caller != admin);
        IAttributionReceipts.Params memory p = _defaultParams();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, _caller, bytes32(0)
            )
        );
        vm.prank(_caller);
        receipts.setParams(p);
    }

    function test_receive_notStaking_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsUnexpectedSender.selector, payer)
        );
        vm.prank(payer);
        (bool ok,) = address(receipts).call{value: 1}("");
        ok;
    }
}

/// @title AttributionReceipts_postBatch_Test
contract AttributionReceipts_postBatch_Test is AttributionReceipts_TestInit {
    function testFuzz_postBatch_succeeds(uint256 _amount) public {
        _amount = bound(_amount, 1, 30 ether);
        vm.expectEmit(address(receipts));
        emit IAttributionReceipts.BatchPosted(
            1,
            modelId,
            attestor,
            keccak256("receipts"),
            ROOT,
            _amount,
            _amount,
            1,
            block.timestamp + WINDOW,
            "ipfs://batch"
        );
        uint256 batchId = _post(modelId, ROOT, _amount);
        IAttributionReceipts.Batch memory b = receipts.getBatch(batchId);
        assertEq(b.modelId, modelId);
        assertEq(b.attestor, attestor);
        assertEq(b.challengeDeadline, block.timestamp + WINDOW);
        assertEq(uint8(b.status), uint8(IAttributionReceipts.BatchStatus.Pending));
        assertEq(b.rewardsRoot, ROOT);
        assertEq(b.amount, _amount);
        assertEq(b.cumulativeAmount, _amount);
        assertEq(receipts.getStream(modelId).openBatchId, batchId);
    }

    function test_postBatch_exceedsPool_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsExceedsPool.selector, modelId, 30 ether + 1, 30 ether
            )
        );
        _post(modelId, ROOT, 30 ether + 1);
        // An unknown model has an empty pool.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsExceedsPool.selector, bytes32(0), 1, 0
            )
        );
        _post(bytes32(0), ROOT, 1);
    }

    function test_postBatch_cumulativeChain_reverts() public {
        uint256 b1 = _post(modelId, ROOT, 20 ether);
        vm.warp(block.timestamp + WINDOW);
        // The next post finalizes b1, then 20 + 11 > 30.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsExceedsPool.selector, modelId, 31 ether, 30 ether
            )
        );
        _post(modelId, ROOT, 11 ether);
        uint256 b2 = _post(modelId, ROOT, 10 ether);
        assertEq(uint8(receipts.getBatch(b1).status), uint8(IAttributionReceipts.BatchStatus.Final));
        assertEq(receipts.getBatch(b2).cumulativeAmount, 30 ether);
        assertEq(receipts.getStream(modelId).finalizedCumulative, 20 ether);
        assertEq(receipts.getStream(modelId).lastFinalBatchId, b1);
    }

    function test_postBatch_openBatch_reverts() public {
        uint256 b1 = _post(modelId, ROOT, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsBatchOpen.selector, modelId, b1)
        );
        _post(modelId, ROOT, 1 ether);
        _challenge(b1);
        // The challenge froze part of the stake; top it up so only the open batch blocks.
        _stake(attestor, IStaking.Role.Attestor, SLASH);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsBatchOpen.selector, modelId, b1)
        );
        _post(modelId, ROOT, 1 ether);
    }

    function test_postBatch_badInput_reverts() public {
        vm.startPrank(attestor);
        vm.expectRevert(IAttributionReceipts.AttributionReceiptsEmptyRoot.selector);
        receipts.postBatch(modelId, bytes32(0), ROOT, 1, 1, "");
        vm.expectRevert(IAttributionReceipts.AttributionReceiptsEmptyRoot.selector);
        receipts.postBatch(modelId, ROOT, bytes32(0), 1, 1, "");
        vm.expectRevert(abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsBadAmount.selector, 0));
        receipts.postBatch(modelId, ROOT, ROOT, 0, 1, "");
        uint256 big = uint256(type(uint128).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsBadAmount.selector, big)
        );
        receipts.postBatch(modelId, ROOT, ROOT, big, 1, "");
        vm.stopPrank();
    }

    function test_postBatch_unstaked_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsInsufficientStake.selector, payer, 0, MIN_ATTESTOR
            )
        );
        vm.prank(payer);
        receipts.postBatch(modelId, ROOT, ROOT, 1, 1, "");
        // Unbonding stake does not count.
        vm.prank(attestor);
        staking.requestUnbond(IStaking.Role.Attestor, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsInsufficientStake.selector,
                attestor,
                MIN_ATTESTOR - 1,
                MIN_ATTESTOR
            )
        );
        _post(modelId, ROOT, 1);
    }
}

/// @title AttributionReceipts_challenge_Test
contract AttributionReceipts_challenge_Test is AttributionReceipts_TestInit {
    uint256 internal batchId;

    function setUp() public override {
        super.setUp();
        batchId = _post(modelId, ROOT, 30 ether);
    }

    function test_challenge_freezesStake_succeeds() public {
        vm.expectEmit(address(receipts));
        emit IAttributionReceipts.BatchChallenged(batchId, challenger, BOND, SLASH);
        _challenge(batchId);
        assertEq(uint8(receipts.getBatch(batchId).status), uint8(IAttributionReceipts.BatchStatus.Challenged));
        IAttributionReceipts.Challenge memory c = receipts.getChallenge(batchId);
        assertEq(c.challenger, challenger);
        assertEq(c.bond, BOND);
        assertEq(c.frozenStake, SLASH);
        assertEq(staking.bondedOf(attestor, IStaking.Role.Attestor), MIN_ATTESTOR - SLASH);
        assertEq(address(receipts).balance, BOND + SLASH);
    }

    /// @notice Unbonding right after posting does not take the stake out of reach.
    function test_challenge_afterUnbonding_freezes_succeeds() public {
        vm.prank(attestor);
        staking.requestUnbond(IStaking.Role.Attestor, MIN_ATTESTOR);
        _challenge(batchId);
        assertEq(receipts.getChallenge(batchId).frozenStake, SLASH);
        assertEq(staking.stakeOf(attestor, IStaking.Role.Attestor).unbonding, MIN_ATTESTOR - SLASH);
    }

    function test_challenge_wrongBond_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAttributionReceipts.AttributionReceiptsWrongBond.selector, BOND - 1, BOND)
        );
        vm.prank(challenger);
        receipts.challenge{value: BOND - 1}(batchId);
    }

    function test_challenge_windowClosed_reverts() public {
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWindowClosed.selector, batchId, block.timestamp
            )
        );
        _challenge(batchId);
    }

    function test_challenge_notPending_reverts() public {
        _challenge(batchId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWrongStatus.selector,
                batchId,
                IAttributionReceipts.BatchStatus.Challenged
            )
        );
        _challenge(batchId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWrongStatus.selector,
                99,
                IAttributionReceipts.BatchStatus.None
            )
        );
        _challenge(99);
    }
}

/// @title AttributionReceipts_resolveChallenge_Test
contract AttributionReceipts_resolveChallenge_Test is AttributionReceipts_TestInit {
    uint256 internal batchId;

    function setUp() public override {
        super.setUp();
        batchId = _post(modelId, ROOT, 30 ether);
        _challenge(batchId);
    }

    function test_resolveChallenge_upheld_slashes_succeeds() public {
        uint256 reward = (uint256(SLASH) * REWARD_BPS) / 10_000;
        vm.expectEmit(address(receipts));
        emit IAttributionReceipts.ChallengeResolved(batchId, true, resolver, SLASH, reward);
        vm.prank(resolver);
        receipts.resolveChallenge(batchId, true);
        assertEq(uint8(receipts.getBatch(batchId).status), uint8(IAttributionReceipts.BatchStatus.Rejected));
        assertEq(receipts.getStream(modelId).openBatchId, 0);
        assertEq(receipts.credits(challenger), BOND + reward);
        assertEq(receipts.credits(treasury), SLASH - reward);
        assertEq(staking.slashableOf(attestor, IStaking.Role.Attestor), MIN_ATTESTOR - SLASH);

        // The pool is untouched: a correct batch can hand out all of it.
        _stake(attestor, IStaking.Role.Attestor, SLASH);
        uint256 b2 = _post(modelId, ROOT, 30 ether);
        assertEq(receipts.getBatch(b2).cumulativeAmount, 30 ether);

        uint256 before = challenger.balance;
        vm.prank(challenger);
        receipts.withdrawCredits();
        assertEq(challenger.balance, before + BOND + reward);
    }

    function test_resolveChallenge_dismissed_restakes_succeeds() public {
        vm.expectEmit(address(receipts));
        emit IAttributionReceipts.ChallengeResolved(batchId, false, resolver, 0, 0);
        vm.prank(resolver);
        receipts.resolveChallenge(batchId, false);
        assertEq(uint8(receipts.getBatch(batchId).status), uint8(IAttributionReceipts.BatchStatus.Pending));
        assertEq(staking.bondedOf(attestor, IStaking.Role.Attestor), MIN_ATTESTOR);
        assertEq(receipts.credits(attestor), BOND);
        assertEq(address(receipts).balance, BOND);

        vm.warp(block.timestamp + WINDOW);
        receipts.finalizeBatch(batchId);
        assertEq(receipts.getStream(modelId).finalizedCumulative, 30 ether);
    }

    function testFuzz_resolveChallenge_notResolver_reverts(address _caller) public {
        vm.assume(_caller != resolver);
        bytes32 role = receipts.RESOLVER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, _caller, role)
        );
        vm.prank(_caller);
        receipts.resolveChallenge(batchId, true);
    }

    function test_resolveChallenge_notChallenged_reverts() public {
        vm.prank(resolver);
        receipts.resolveChallenge(batchId, true);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWrongStatus.selector,
                batchId,
                IAttributionReceipts.BatchStatus.Rejected
            )
        );
        vm.prank(resolver);
        receipts.resolveChallenge(batchId, false);
    }
}

/// @title AttributionReceipts_finalizeBatch_Test
contract AttributionReceipts_finalizeBatch_Test is AttributionReceipts_TestInit {
    function test_finalizeBatch_succeeds() public {
        uint256 batchId = _post(modelId, ROOT, 12 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWindowOpen.selector, batchId, block.timestamp + WINDOW
            )
        );
        receipts.finalizeBatch(batchId);
        vm.warp(block.timestamp + WINDOW);
        vm.expectEmit(address(receipts));
        emit IAttributionReceipts.BatchFinalized(batchId, modelId, 12 ether);
        vm.prank(payer);
        receipts.finalizeBatch(batchId);
        (bytes32 m, bytes32 root, uint256 cumulative) = receipts.finalRewardsRoot(batchId);
        assertEq(m, modelId);
        assertEq(root, ROOT);
        assertEq(cumulative, 12 ether);
        IAttributionReceipts.Stream memory s = receipts.getStream(modelId);
        assertEq(s.openBatchId, 0);
        assertEq(s.lastFinalBatchId, batchId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWrongStatus.selector,
                batchId,
                IAttributionReceipts.BatchStatus.Final
            )
        );
        receipts.finalizeBatch(batchId);
    }

    function test_finalizeBatch_challenged_reverts() public {
        uint256 batchId = _post(modelId, ROOT, 12 ether);
        _challenge(batchId);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsWrongStatus.selector,
                batchId,
                IAttributionReceipts.BatchStatus.Challenged
            )
        );
        receipts.finalizeBatch(batchId);
    }

    function test_verifyReceipt_succeeds() public {
        IAttributionReceipts.Receipt[] memory rs = new IAttributionReceipts.Receipt[](3);
        bytes32[] memory leaves = new bytes32[](3);
        for (uint256 i = 0; i < 3; i++) {
            address[] memory who = new address[](1);
            who[0] = address(uint160(i + 1));
            uint16[] memory w = new uint16[](1);
            w[0] = 10_000;
            rs[i] = IAttributionReceipts.Receipt({
                inferenceId: bytes32(i),
                modelId: modelId,
                adapterHash: keccak256("adapter"),
                outputHash: keccak256(abi.encode("out", i)),
                indexRoot: keccak256("index"),
                methodVersion: 1,
                fee: 1 ether,
                attributionHash: keccak256(abi.encode(who, w))
            });
            leaves[i] = receipts.receiptLeaf(rs[i]);
            assertEq(leaves[i], keccak256(bytes.concat(keccak256(abi.encode(rs[i])))));
        }
        (bytes32 root, bytes32[] memory proof) = MerkleBuilder.build(leaves, 1);
        vm.prank(attestor);
        uint256 batchId = receipts.postBatch(modelId, root, ROOT, 1 ether, 3, "");
        assertTrue(receipts.verifyReceipt(batchId, rs[1], proof));
        assertFalse(receipts.verifyReceipt(batchId, rs[0], proof));
    }
}

/// @title AttributionReceipts_withdrawCredits_Test
contract AttributionReceipts_withdrawCredits_Test is AttributionReceipts_TestInit {
    function test_withdrawCredits_nothing_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAttributionReceipts.AttributionReceiptsNothingToWithdraw.selector, challenger
            )
        );
        vm.prank(challenger);
        receipts.withdrawCredits();
    }

    function test_withdrawCredits_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), BOND);
        uint256 batchId = _post(modelId, ROOT, 1 ether);
        r.exec(address(receipts), abi.encodeCall(IAttributionReceipts.challenge, (batchId)), BOND);
        vm.prank(resolver);
        receipts.resolveChallenge(batchId, true);
        uint256 owed = BOND + (uint256(SLASH) * REWARD_BPS) / 10_000;
        assertEq(receipts.credits(address(r)), owed);

        r.arm(address(receipts), abi.encodeCall(IAttributionReceipts.withdrawCredits, ()), true);
        r.exec(address(receipts), abi.encodeCall(IAttributionReceipts.withdrawCredits, ()), 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(address(r).balance, owed);
        assertEq(receipts.credits(address(r)), 0);
    }
}
