// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L2_TestInit} from "../setup/L2Setup.sol";
import {DatanetsHandler} from "./handlers/DatanetsHandler.sol";

// Interfaces
import {IDatanets} from "../../src/interfaces/IDatanets.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title Datanets_Invariants
/// @notice Stake custody, content hash uniqueness and ownership weights under random sequences.
/// forge-config: default.invariant.runs = 32
/// forge-config: default.invariant.depth = 60
contract Datanets_Invariants is L2_TestInit {
    DatanetsHandler internal handler;
    uint256[2] internal ids;

    function setUp() public override {
        super.setUp();
        IDatanets.Rules memory rules = _openRules();
        rules.contributionStake = 1 ether;
        ids[0] = _createDatanet(rules);
        rules.contributionStake = 0;
        ids[1] = _createDatanet(rules);
        _stake(curator, IStaking.Role.Curator, 1 ether);
        vm.startPrank(dataOwner);
        datanets.setCurator(ids[0], curator, true);
        datanets.setCurator(ids[1], curator, true);
        vm.stopPrank();
        handler = new DatanetsHandler(datanets, ids, curator, treasury);
        targetContract(address(handler));
    }

    /// @notice The contract holds exactly the stakes of pending contributions plus all credits,
    ///         and that is what came in minus what went out.
    function invariant_stakesHeldExactly() public view {
        uint256 pending;
        for (uint256 cid = 1; cid <= datanets.contributionCount(); cid++) {
            IDatanets.Contribution memory c = datanets.getContribution(cid);
            if (c.status == IDatanets.ContributionStatus.Pending) pending += c.stake;
        }
        uint256 credits = datanets.credits(treasury);
        for (uint256 i = 0; i < 3; i++) {
            credits += datanets.credits(handler.contributors(i));
        }
        assertEq(address(datanets).balance, pending + credits, "balance != pending stakes + credits");
        assertEq(address(datanets).balance, handler.ghostIn() - handler.ghostOut(), "balance != in - out");
    }

    /// @notice Duplicate content hashes are refused: a hash is held by at most one Pending or
    ///         Approved contribution, the one `contributionOfContent` names.
    function invariant_contentHashesUnique() public view {
        for (uint256 h = 0; h < 6; h++) {
            bytes32 hash = handler.hashAt(h);
            uint256 live;
            for (uint256 cid = 1; cid <= datanets.contributionCount(); cid++) {
                IDatanets.Contribution memory c = datanets.getContribution(cid);
                bool isLive = c.status == IDatanets.ContributionStatus.Pending
                    || c.status == IDatanets.ContributionStatus.Approved;
                if (c.contentHash == hash && isLive) {
                    live++;
                    assertEq(datanets.contributionOfContent(hash), cid, "index points elsewhere");
                }
            }
            assertLe(live, 1, "duplicate live content");
            if (live == 0) assertEq(datanets.contributionOfContent(hash), 0, "stale index");
        }
    }

    /// @notice Ownership weight is the sum of approved contributions' weights.
    function invariant_weightsAddUp() public view {
        for (uint256 d = 0; d < 2; d++) {
            uint256 sum;
            for (uint256 i = 0; i < 3; i++) {
                address c = handler.contributors(i);
                assertEq(datanets.weightOf(ids[d], c), handler.ghostWeight(ids[d], c), "weightOf");
                sum += datanets.weightOf(ids[d], c);
            }
            assertEq(datanets.getDatanet(ids[d]).totalWeight, sum, "totalWeight");
            assertEq(handler.ghostTotalWeight(ids[d]), sum, "ghost total");
        }
    }
}
