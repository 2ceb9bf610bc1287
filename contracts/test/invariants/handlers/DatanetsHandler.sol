// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";

// Contracts
import {Datanets} from "../../../src/L2/Datanets.sol";

// Interfaces
import {IDatanets} from "../../../src/interfaces/IDatanets.sol";

/// @title DatanetsHandler
/// @notice Contributions drawn from a small set of content hashes (so duplicates are attempted
///         often), approvals, rejections, withdrawals and credit withdrawals.
contract DatanetsHandler is Test {
    Datanets public datanets;
    uint256[2] public ids;
    address[3] public contributors;
    address public curator;
    address public treasury;
    uint256 internal constant HASHES = 6;

    uint256 public ghostIn;
    uint256 public ghostOut;
    mapping(uint256 => mapping(address => uint256)) public ghostWeight;
    mapping(uint256 => uint256) public ghostTotalWeight;

    constructor(Datanets _datanets, uint256[2] memory _ids, address _curator, address _treasury) {
        datanets = _datanets;
        ids = _ids;
        curator = _curator;
        treasury = _treasury;
        for (uint256 i = 0; i < 3; i++) {
            contributors[i] = makeAddr(string.concat("dn-contributor", vm.toString(i)));
            vm.deal(contributors[i], 100 ether);
        }
    }

    function hashAt(uint256 _i) public pure returns (bytes32) {
        return keccak256(abi.encode("content", _i));
    }

    function contribute(uint256 _who, uint256 _dn, uint256 _hash) external {
        address c = contributors[_who % 3];
        uint256 id = ids[_dn % 2];
        uint256 stake = datanets.getDatanet(id).rules.contributionStake;
        if (c.balance < stake) return;
        vm.prank(c);
        try datanets.contribute{value: stake}(id, hashAt(_hash % HASHES), 100, "") {
            ghostIn += stake;
        } catch {}
    }

    function approve(uint256 _cid, uint64 _weight) external {
        uint256 n = datanets.contributionCount();
        if (n == 0) return;
        uint256 cid = 1 + (_cid % n);
        IDatanets.Contribution memory c = datanets.getContribution(cid);
        uint64 w = uint64(bound(_weight, 1, 1_000));
        vm.prank(curator);
        try datanets.approve(cid, w) {
            ghostWeight[c.datanetId][c.contributor] += w;
            ghostTotalWeight[c.datanetId] += w;
        } catch {}
    }

    function reject(uint256 _cid) external {
        uint256 n = datanets.contributionCount();
        if (n == 0) return;
        vm.prank(curator);
        try datanets.reject(1 + (_cid % n), "no") {} catch {}
    }

    function withdrawContribution(uint256 _cid) external {
        uint256 n = datanets.contributionCount();
        if (n == 0) return;
        uint256 cid = 1 + (_cid % n);
        vm.prank(datanets.getContribution(cid).contributor);
        try datanets.withdrawContribution(cid) {} catch {}
    }

    function withdrawCredits(uint256 _who) external {
        address a = _who % 4 == 3 ? treasury : contributors[_who % 3];
        uint256 before = a.balance;
        vm.prank(a);
        try datanets.withdrawCredits() {
            ghostOut += a.balance - before;
        } catch {}
    }
}
