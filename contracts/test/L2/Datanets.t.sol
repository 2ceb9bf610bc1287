// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Reenterer} from "../mocks/Reenterer.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Datanets} from "../../src/L2/Datanets.sol";

// Interfaces
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IDatanets} from "../../src/interfaces/IDatanets.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title Datanets_TestInit
contract Datanets_TestInit is L2_TestInit {
    address internal contributor = makeAddr("contributor");
    uint256 internal id;
    uint128 internal constant STAKE = 1 ether;
    uint128 internal constant CURATOR_MIN = 20 ether;

    function setUp() public virtual override {
        super.setUp();
        vm.deal(contributor, 1_000 ether);
        id = _createDatanet(
            IDatanets.Rules({
                contributionStake: STAKE,
                minCuratorStake: CURATOR_MIN,
                maxContributionSize: 1 << 20,
                allowListed: false
            })
        );
        _stake(curator, IStaking.Role.Curator, CURATOR_MIN);
        vm.prank(dataOwner);
        datanets.setCurator(id, curator, true);
    }

    function _contribute(bytes32 _hash) internal returns (uint256) {
        vm.prank(contributor);
        return datanets.contribute{value: STAKE}(id, _hash, 1_000, "ipfs://meta");
    }
}

/// @title Datanets_createDatanet_Test
contract Datanets_createDatanet_Test is Datanets_TestInit {
    function test_createDatanet_succeeds() public {
        IDatanets.Rules memory rules = _openRules();
        vm.expectEmit(address(datanets));
        emit IDatanets.DatanetCreated(2, contributor, "uri", "MIT", rules);
        vm.prank(contributor);
        uint256 newId = datanets.createDatanet("uri", "MIT", rules);
        assertEq(newId, 2);
        IDatanets.Datanet memory d = datanets.getDatanet(newId);
        assertEq(d.owner, contributor);
        assertEq(d.metadataURI, "uri");
        assertEq(d.license, "MIT");
        assertTrue(datanets.exists(newId));
        assertFalse(datanets.exists(3));
    }

    function test_getDatanet_unknown_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsUnknownDatanet.selector, 9));
        datanets.getDatanet(9);
    }

    function test_updateDatanet_onlyOwner_succeeds() public {
        IDatanets.Rules memory rules = _openRules();
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotOwner.selector, id, contributor));
        vm.prank(contributor);
        datanets.updateDatanet(id, "x", "y", rules);

        vm.expectEmit(address(datanets));
        emit IDatanets.DatanetUpdated(id, "x", "y", rules);
        vm.prank(dataOwner);
        datanets.updateDatanet(id, "x", "y", rules);
        assertEq(datanets.getDatanet(id).rules.contributionStake, 0);
    }

    function test_constructor_zeroAddress_reverts() public {
        vm.expectRevert(IDatanets.DatanetsZeroAddress.selector);
        new Datanets(IStaking(address(0)), treasury, admin);
    }
}

/// @title Datanets_setCurator_Test
contract Datanets_setCurator_Test is Datanets_TestInit {
    function test_setCurator_understaked_reverts() public {
        address poor = makeAddr("poor");
        vm.expectRevert(
            abi.encodeWithSelector(IDatanets.DatanetsCuratorStakeTooLow.selector, poor, 0, CURATOR_MIN)
        );
        vm.prank(dataOwner);
        datanets.setCurator(id, poor, true);
    }

    function test_setCurator_removal_succeeds() public {
        vm.expectEmit(address(datanets));
        emit IDatanets.CuratorSet(id, curator, false);
        vm.prank(dataOwner);
        datanets.setCurator(id, curator, false);
        assertFalse(datanets.isCurator(id, curator));
    }

    function test_setCurator_notOwner_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotOwner.selector, id, curator));
        vm.prank(curator);
        datanets.setCurator(id, curator, true);
    }

    function test_setAllowed_notOwner_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotOwner.selector, id, contributor));
        vm.prank(contributor);
        datanets.setAllowed(id, contributor, true);
    }
}

/// @title Datanets_contribute_Test
contract Datanets_contribute_Test is Datanets_TestInit {
    function testFuzz_contribute_registersPending_succeeds(bytes32 _hash, uint64 _size) public {
        vm.assume(_hash != bytes32(0));
        _size = uint64(bound(_size, 1, 1 << 20));
        vm.expectEmit(address(datanets));
        emit IDatanets.ContributionRegistered(1, id, contributor, _hash, _size, STAKE, "ipfs://meta");
        vm.prank(contributor);
        uint256 cid = datanets.contribute{value: STAKE}(id, _hash, _size, "ipfs://meta");
        IDatanets.Contribution memory c = datanets.getContribution(cid);
        assertEq(c.contributor, contributor);
        assertEq(c.datanetId, id);
        assertEq(uint8(c.status), uint8(IDatanets.ContributionStatus.Pending));
        assertEq(c.contentHash, _hash);
        assertEq(c.size, _size);
        assertEq(c.stake, STAKE);
        assertEq(datanets.contributionOfContent(_hash), cid);
        assertEq(address(datanets).balance, STAKE);
    }

    function test_contribute_duplicate_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.expectRevert(
            abi.encodeWithSelector(IDatanets.DatanetsDuplicateContent.selector, keccak256("a"), cid)
        );
        _contribute(keccak256("a"));
        // Also across Datanets.
        uint256 other = _createDatanet(_openRules());
        vm.expectRevert(
            abi.encodeWithSelector(IDatanets.DatanetsDuplicateContent.selector, keccak256("a"), cid)
        );
        vm.prank(contributor);
        datanets.contribute(other, keccak256("a"), 1, "");
    }

    function test_contribute_wrongStake_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsWrongStake.selector, 0, STAKE));
        vm.prank(contributor);
        datanets.contribute(id, keccak256("a"), 1, "");
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsWrongStake.selector, STAKE + 1, STAKE));
        vm.prank(contributor);
        datanets.contribute{value: STAKE + 1}(id, keccak256("a"), 1, "");
    }

    function test_contribute_badSize_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsInvalidSize.selector, 0, 1 << 20));
        vm.prank(contributor);
        datanets.contribute{value: STAKE}(id, keccak256("a"), 0, "");
        vm.expectRevert(
            abi.encodeWithSelector(IDatanets.DatanetsInvalidSize.selector, (1 << 20) + 1, 1 << 20)
        );
        vm.prank(contributor);
        datanets.contribute{value: STAKE}(id, keccak256("a"), (1 << 20) + 1, "");
    }

    function test_contribute_emptyHash_reverts() public {
        vm.expectRevert(IDatanets.DatanetsEmptyContentHash.selector);
        vm.prank(contributor);
        datanets.contribute{value: STAKE}(id, bytes32(0), 1, "");
    }

    function test_contribute_unknownDatanet_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsUnknownDatanet.selector, 99));
        vm.prank(contributor);
        datanets.contribute(99, keccak256("a"), 1, "");
    }

    function test_contribute_allowList_succeeds() public {
        IDatanets.Rules memory rules = _openRules();
        rules.allowListed = true;
        uint256 gated = _createDatanet(rules);
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotAllowed.selector, gated, contributor));
        vm.prank(contributor);
        datanets.contribute(gated, keccak256("a"), 1, "");

        vm.expectEmit(address(datanets));
        emit IDatanets.AllowListSet(gated, contributor, true);
        vm.prank(dataOwner);
        datanets.setAllowed(gated, contributor, true);
        vm.prank(contributor);
        datanets.contribute(gated, keccak256("a"), 1, "");
    }
}

/// @title Datanets_curate_Test
contract Datanets_curate_Test is Datanets_TestInit {
    function testFuzz_approve_givesWeightAndCredit_succeeds(uint64 _weight) public {
        _weight = uint64(bound(_weight, 1, type(uint64).max));
        uint256 cid = _contribute(keccak256("a"));
        vm.expectEmit(address(datanets));
        emit IDatanets.ContributionApproved(cid, id, curator, _weight);
        vm.prank(curator);
        datanets.approve(cid, _weight);
        assertEq(uint8(datanets.getContribution(cid).status), uint8(IDatanets.ContributionStatus.Approved));
        assertEq(datanets.weightOf(id, contributor), _weight);
        IDatanets.Datanet memory d = datanets.getDatanet(id);
        assertEq(d.totalWeight, _weight);
        assertEq(d.approvedCount, 1);
        assertEq(datanets.credits(contributor), STAKE);
        // The hash stays taken once approved.
        assertEq(datanets.contributionOfContent(keccak256("a")), cid);
    }

    function test_reject_forfeitsStakeAndFreesHash_succeeds() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.expectEmit(address(datanets));
        emit IDatanets.ContributionRejected(cid, id, curator, "spam");
        vm.prank(curator);
        datanets.reject(cid, "spam");
        assertEq(uint8(datanets.getContribution(cid).status), uint8(IDatanets.ContributionStatus.Rejected));
        assertEq(datanets.credits(treasury), STAKE);
        assertEq(datanets.credits(contributor), 0);
        assertEq(datanets.contributionOfContent(keccak256("a")), 0);
        assertEq(_contribute(keccak256("a")), cid + 1);
    }

    function test_approve_notCurator_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotCurator.selector, id, dataOwner));
        vm.prank(dataOwner);
        datanets.approve(cid, 1);
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotCurator.selector, id, dataOwner));
        vm.prank(dataOwner);
        datanets.reject(cid, "");
    }

    function test_approve_curatorUnbonded_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.prank(curator);
        staking.requestUnbond(IStaking.Role.Curator, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDatanets.DatanetsCuratorStakeTooLow.selector, curator, CURATOR_MIN - 1, CURATOR_MIN
            )
        );
        vm.prank(curator);
        datanets.approve(cid, 1);
    }

    function test_approve_selfCuration_reverts() public {
        vm.deal(curator, 10 ether);
        vm.prank(curator);
        uint256 cid = datanets.contribute{value: STAKE}(id, keccak256("mine"), 1, "");
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsSelfCuration.selector, cid));
        vm.prank(curator);
        datanets.approve(cid, 1);
    }

    function test_approve_zeroWeight_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.expectRevert(IDatanets.DatanetsZeroWeight.selector);
        vm.prank(curator);
        datanets.approve(cid, 0);
    }

    function test_approve_notPending_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.prank(curator);
        datanets.approve(cid, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDatanets.DatanetsNotPending.selector, cid, IDatanets.ContributionStatus.Approved
            )
        );
        vm.prank(curator);
        datanets.reject(cid, "");
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsUnknownContribution.selector, 42));
        vm.prank(curator);
        datanets.approve(42, 1);
    }
}

/// @title Datanets_withdrawContribution_Test
contract Datanets_withdrawContribution_Test is Datanets_TestInit {
    function test_withdrawContribution_succeeds() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.expectEmit(address(datanets));
        emit IDatanets.ContributionWithdrawn(cid, id, contributor);
        vm.prank(contributor);
        datanets.withdrawContribution(cid);
        assertEq(datanets.credits(contributor), STAKE);
        assertEq(datanets.contributionOfContent(keccak256("a")), 0);
        uint256 before = contributor.balance;
        vm.prank(contributor);
        datanets.withdrawCredits();
        assertEq(contributor.balance, before + STAKE);
        assertEq(address(datanets).balance, 0);
    }

    function test_withdrawContribution_notContributor_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNotContributor.selector, cid, curator));
        vm.prank(curator);
        datanets.withdrawContribution(cid);
    }

    function test_withdrawContribution_approved_reverts() public {
        uint256 cid = _contribute(keccak256("a"));
        vm.prank(curator);
        datanets.approve(cid, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDatanets.DatanetsNotPending.selector, cid, IDatanets.ContributionStatus.Approved
            )
        );
        vm.prank(contributor);
        datanets.withdrawContribution(cid);
    }

    function test_withdrawCredits_nothing_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsNothingToWithdraw.selector, contributor));
        vm.prank(contributor);
        datanets.withdrawCredits();
    }

    function test_withdrawCredits_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), STAKE);
        bytes memory contributeCall = abi.encodeCall(IDatanets.contribute, (id, keccak256("r"), 1, ""));
        uint256 cid = abi.decode(r.exec(address(datanets), contributeCall, STAKE), (uint256));
        r.exec(address(datanets), abi.encodeCall(IDatanets.withdrawContribution, (cid)), 0);
        r.arm(address(datanets), abi.encodeCall(IDatanets.withdrawCredits, ()), true);
        r.exec(address(datanets), abi.encodeCall(IDatanets.withdrawCredits, ()), 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(address(r).balance, STAKE);
        assertEq(datanets.credits(address(r)), 0);
    }
}

/// @title Datanets_slashCurator_Test
contract Datanets_slashCurator_Test is Datanets_TestInit {
    function test_slashCurator_creditsTreasury_succeeds() public {
        vm.expectEmit(address(datanets));
        emit IDatanets.CuratorSlashed(id, curator, 5 ether);
        vm.prank(resolver);
        datanets.slashCurator(id, curator, 5 ether);
        assertEq(staking.bondedOf(curator, IStaking.Role.Curator), CURATOR_MIN - 5 ether);
        assertEq(datanets.credits(treasury), 5 ether);
        assertEq(address(datanets).balance, 5 ether);
    }

    function test_slashCurator_moreThanStake_succeeds() public {
        vm.prank(resolver);
        datanets.slashCurator(id, curator, 1_000 ether);
        assertEq(datanets.credits(treasury), CURATOR_MIN);
    }

    function testFuzz_slashCurator_notResolver_reverts(address _caller) public {
        vm.assume(_caller != resolver);
        bytes32 role = datanets.RESOLVER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, _caller, role)
        );
        vm.prank(_caller);
        datanets.slashCurator(id, curator, 1 ether);
    }

    function test_receive_notStaking_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IDatanets.DatanetsUnexpectedSender.selector, contributor));
        vm.prank(contributor);
        (bool ok,) = address(datanets).call{value: 1}("");
        ok;
    }
}
