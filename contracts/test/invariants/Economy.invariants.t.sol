// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {console2} from "forge-std/console2.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";
import {EconomyHandler} from "./handlers/EconomyHandler.sol";

// Interfaces
import {IAttributionReceipts} from "../../src/interfaces/IAttributionReceipts.sol";
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";
import {IRewards} from "../../src/interfaces/IRewards.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title Economy_Invariants
/// @notice Invariants of the L2 economy (escrow → rewards → receipts → claims, staking) under the
///         EconomyHandler's random sequences. The handler has some twenty actions and the deep
///         paths (redeem → post → wait → finalize → claim) need long sequences, hence the depth.
/// forge-config: default.invariant.runs = 24
/// forge-config: default.invariant.depth = 250
contract Economy_Invariants is L2_TestInit {
    EconomyHandler internal handler;
    uint256 internal totalOpen;
    bytes32[2] internal modelIds;

    function setUp() public override {
        super.setUp();
        modelIds[0] = _registerModel(_split());
        uint256 dn = _createDatanet(_openRules());
        // A second model with another split, including a zero share.
        vm.prank(modelOwner);
        modelIds[1] = registry.registerModel(
            _params(dn, keccak256("adapter-2"), IModelRegistry.FeeSplit(2_000, 7_000, 0, 1_000))
        );
        // Start from empty balances so that only the handler's actors hold OPEN.
        vm.deal(modelOwner, 0);
        vm.deal(treasury, 0);
        vm.deal(resolver, 0);
        handler =
            new EconomyHandler(escrow, rewards, receipts, staking, modelIds, modelOwner, resolver, treasury);
        address[] memory h = handler.holders();
        for (uint256 i = 0; i < h.length; i++) {
            totalOpen += h[i].balance;
        }
        targetContract(address(handler));
    }

    /// @notice OPEN is conserved: nothing is created or lost across escrow, rewards, receipts,
    ///         staking and the accounts that use them.
    function invariant_openConserved() public view {
        address[] memory h = handler.holders();
        uint256 sum;
        for (uint256 i = 0; i < h.length; i++) {
            sum += h[i].balance;
        }
        assertEq(sum, totalOpen, "OPEN created or lost");
    }

    /// @notice Each contract holds exactly (or, for staking, at least) what it owes.
    function invariant_contractsSolvent() public view {
        uint256 owedByEscrow;
        for (uint256 i = 0; i < 3; i++) {
            owedByEscrow += escrow.balanceOf(handler.payers(i));
        }
        assertEq(address(escrow).balance, owedByEscrow, "escrow balance != payer balances");

        uint256 owedByRewards =
            rewards.balanceOf(modelOwner) + rewards.balanceOf(treasury) + rewards.stakerRewardsPending();
        for (uint256 i = 0; i < 2; i++) {
            IRewards.Pool memory p = rewards.pool(modelIds[i]);
            owedByRewards += p.accrued - p.claimed;
        }
        assertEq(address(rewards).balance, owedByRewards, "rewards balance != liabilities");

        uint256 owedByStaking = staking.totalBonded() + staking.totalUnbonding() + staking.queuedRewards()
            + staking.pendingRewards(handler.attestor());
        for (uint256 i = 0; i < 2; i++) {
            owedByStaking += staking.pendingRewards(handler.stakers(i));
        }
        assertGe(address(staking).balance, owedByStaking, "staking insolvent");

        uint256 owedByReceipts = receipts.credits(handler.attestor()) + receipts.credits(treasury);
        for (uint256 i = 0; i < 2; i++) {
            owedByReceipts += receipts.credits(handler.challengers(i));
            uint256 open = receipts.getStream(modelIds[i]).openBatchId;
            if (open != 0 && receipts.getBatch(open).status == IAttributionReceipts.BatchStatus.Challenged) {
                IAttributionReceipts.Challenge memory c = receipts.getChallenge(open);
                owedByReceipts += c.bond + c.frozenStake;
            }
        }
        assertEq(address(receipts).balance, owedByReceipts, "receipts balance != credits + open challenges");
    }

    /// @notice No voucher pays twice: each channel paid exactly its redeemed cumulative amount,
    ///         never more than the largest voucher signed, and no replayed or stale voucher paid.
    function invariant_noVoucherPaysTwice() public view {
        assertEq(handler.ghostReplayPaid(), 0, "a replayed or stale voucher paid");
        for (uint256 i = 0; i < handler.channelCount(); i++) {
            bytes32 ch = handler.channels(i);
            assertLe(
                handler.ghostChannelPaid(ch),
                handler.ghostChannelMaxSigned(ch),
                "channel paid past its voucher"
            );
        }
        for (uint256 p = 0; p < 3; p++) {
            for (uint256 s = 0; s < 2; s++) {
                for (uint256 m = 0; m < 2; m++) {
                    address payer_ = handler.payers(p);
                    address server_ = handler.servers(s);
                    bytes32 ch = keccak256(abi.encode(payer_, server_, modelIds[m]));
                    assertEq(
                        escrow.redeemed(payer_, server_, modelIds[m]),
                        handler.ghostChannelPaid(ch),
                        "redeemed != paid"
                    );
                }
            }
        }
    }

    /// @notice No reward is paid without a final receipt batch: a model's contributors were paid
    ///         at most its finalized cumulative amount, which never exceeds its accrued fees, and
    ///         no claim against an open batch ever paid.
    function invariant_noRewardWithoutFinalBatch() public view {
        assertEq(handler.ghostUnfinalClaimPaid(), 0, "a claim against a non-final batch paid");
        for (uint256 i = 0; i < 2; i++) {
            IRewards.Pool memory p = rewards.pool(modelIds[i]);
            uint256 finalized = receipts.getStream(modelIds[i]).finalizedCumulative;
            assertEq(p.claimed, handler.ghostContributorsPaid(modelIds[i]), "pool claimed != paid");
            assertLe(p.claimed, finalized, "paid past the finalized amount");
            assertLe(finalized, p.accrued, "finalized past the accrued fees");
        }
    }

    /// @notice No claim pays twice: each contributor was paid exactly its recorded cumulative
    ///         claim, never more than the largest amount a final tree gave it, and an inflated
    ///         claim never paid.
    function invariant_noClaimPaysTwice() public view {
        assertEq(handler.ghostInflatedClaimPaid(), 0, "an inflated claim paid");
        for (uint256 m = 0; m < 2; m++) {
            for (uint256 c = 0; c < 4; c++) {
                address who = handler.contributors(c);
                uint256 paid = handler.ghostClaimPaid(modelIds[m], who);
                assertEq(rewards.claimedOf(modelIds[m], who), paid, "claimedOf != paid");
                assertLe(paid, handler.ghostMaxFinalLeaf(modelIds[m], who), "paid past the final leaf");
            }
        }
    }

    /// @notice Reports how deep the campaign went (forge test -vv): contributor payouts,
    ///         finalized amounts and fees redeemed.
    function afterInvariant() public view {
        uint256 paid = handler.ghostContributorsPaid(modelIds[0]) + handler.ghostContributorsPaid(modelIds[1]);
        uint256 finalized = receipts.getStream(modelIds[0]).finalizedCumulative
            + receipts.getStream(modelIds[1]).finalizedCumulative;
        console2.log("batches posted", receipts.batchCount());
        console2.log("finalized (wei)", finalized);
        console2.log("claimed (wei)", paid);
        console2.log(
            "accrued (wei)", rewards.contributorAccrued(modelIds[0]) + rewards.contributorAccrued(modelIds[1])
        );
    }
}
