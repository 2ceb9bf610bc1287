// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L1_TestInit} from "../setup/L1Setup.sol";

// Libraries
import {Types} from "../../src/libraries/Types.sol";

// Interfaces
import {IOutputOracle} from "../../src/interfaces/IOutputOracle.sol";

/// @title OutputOracle_TestInit
contract OutputOracle_TestInit is L1_TestInit {
    function _post(bytes32 _root, uint256 _block) internal {
        vm.prank(proposer);
        oracle.proposeL2Output(_root, _block, bytes32(0), 0);
    }
}

/// @title OutputOracle_proposeL2Output_Test
contract OutputOracle_proposeL2Output_Test is OutputOracle_TestInit {
    function test_proposeL2Output_succeeds() public {
        vm.expectEmit(address(oracle));
        emit IOutputOracle.OutputProposed(bytes32(uint256(1)), 0, 10, block.timestamp);
        _post(bytes32(uint256(1)), 10);
        Types.OutputProposal memory o = oracle.getL2Output(0);
        assertEq(o.outputRoot, bytes32(uint256(1)));
        assertEq(o.timestamp, block.timestamp);
        assertEq(o.l2BlockNumber, 10);
        assertEq(oracle.nextOutputIndex(), 1);
        assertEq(oracle.latestBlockNumber(), 10);
    }

    function testFuzz_proposeL2Output_notProposer_reverts(address _caller) public {
        vm.assume(_caller != proposer);
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleNotProposer.selector, _caller));
        vm.prank(_caller);
        oracle.proposeL2Output(bytes32(uint256(1)), 1, bytes32(0), 0);
    }

    function test_proposeL2Output_emptyRoot_reverts() public {
        vm.expectRevert(IOutputOracle.OutputOracleEmptyOutputRoot.selector);
        _post(bytes32(0), 1);
    }

    function testFuzz_proposeL2Output_notIncreasing_reverts(uint256 _next) public {
        _post(bytes32(uint256(1)), 100);
        _next = bound(_next, 0, 100);
        vm.expectRevert(
            abi.encodeWithSelector(IOutputOracle.OutputOracleBlockNumberNotIncreasing.selector, _next, 100)
        );
        _post(bytes32(uint256(2)), _next);
    }

    function test_proposeL2Output_blockNumberTooLarge_reverts() public {
        uint256 big = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleBlockNumberTooLarge.selector, big));
        _post(bytes32(uint256(1)), big);
    }

    function test_proposeL2Output_l1BlockHashMatches_succeeds() public {
        vm.roll(100);
        bytes32 h = blockhash(99);
        vm.prank(proposer);
        oracle.proposeL2Output(bytes32(uint256(1)), 1, h, 99);
        assertEq(oracle.nextOutputIndex(), 1);
    }

    function test_proposeL2Output_l1BlockHashMismatch_reverts() public {
        vm.roll(100);
        bytes32 actual = blockhash(99);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOutputOracle.OutputOracleL1BlockHashMismatch.selector, bytes32(uint256(7)), actual
            )
        );
        vm.prank(proposer);
        oracle.proposeL2Output(bytes32(uint256(1)), 1, bytes32(uint256(7)), 99);
    }

    function test_proposeL2Output_followsConfig_succeeds() public {
        vm.prank(owner);
        config.setProposer(alice);
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleNotProposer.selector, proposer));
        _post(bytes32(uint256(1)), 1);
        vm.prank(alice);
        oracle.proposeL2Output(bytes32(uint256(1)), 1, bytes32(0), 0);
    }
}

/// @title OutputOracle_deleteL2Outputs_Test
contract OutputOracle_deleteL2Outputs_Test is OutputOracle_TestInit {
    function setUp() public override {
        super.setUp();
        _post(bytes32(uint256(1)), 10);
        _post(bytes32(uint256(2)), 20);
        _post(bytes32(uint256(3)), 30);
    }

    function test_deleteL2Outputs_deletesIndexAndLater_succeeds() public {
        vm.expectEmit(address(oracle));
        emit IOutputOracle.OutputsDeleted(3, 1);
        vm.prank(guardian);
        oracle.deleteL2Outputs(1);
        assertEq(oracle.nextOutputIndex(), 1);
        assertEq(oracle.latestBlockNumber(), 10);
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleIndexOutOfBounds.selector, 1, 1));
        oracle.getL2Output(1);
        // The next proposal reuses the index and may restart from the live tip.
        _post(bytes32(uint256(9)), 15);
        assertEq(oracle.getL2Output(1).outputRoot, bytes32(uint256(9)));
    }

    function testFuzz_deleteL2Outputs_notGuardian_reverts(address _caller) public {
        vm.assume(_caller != guardian);
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleNotGuardian.selector, _caller));
        vm.prank(_caller);
        oracle.deleteL2Outputs(0);
    }

    function test_deleteL2Outputs_outOfBounds_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleIndexOutOfBounds.selector, 3, 3));
        vm.prank(guardian);
        oracle.deleteL2Outputs(3);
    }

    function test_deleteL2Outputs_finalized_reverts() public {
        vm.warp(block.timestamp + PERIOD);
        assertTrue(oracle.isOutputFinalized(0));
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleOutputFinalized.selector, 0));
        vm.prank(guardian);
        oracle.deleteL2Outputs(0);
    }

    function test_deleteL2Outputs_justBeforeFinal_succeeds() public {
        vm.warp(block.timestamp + PERIOD - 1);
        assertFalse(oracle.isOutputFinalized(0));
        vm.prank(guardian);
        oracle.deleteL2Outputs(0);
        assertEq(oracle.nextOutputIndex(), 0);
        assertEq(oracle.latestBlockNumber(), 0);
    }
}

/// @title OutputOracle_getL2OutputIndexAfter_Test
contract OutputOracle_getL2OutputIndexAfter_Test is OutputOracle_TestInit {
    function testFuzz_getL2OutputIndexAfter_matchesLinearScan_succeeds(
        uint8 _count,
        uint256 _seed,
        uint256 _query
    ) public {
        uint256 count = bound(_count, 1, 40);
        uint256[] memory blocks = new uint256[](count);
        uint256 b;
        for (uint256 i = 0; i < count; i++) {
            b += 1 + (uint256(keccak256(abi.encode(_seed, i))) % 50);
            blocks[i] = b;
            _post(bytes32(i + 1), b);
        }
        _query = bound(_query, 0, b);
        uint256 expected;
        while (blocks[expected] < _query) expected++;
        assertEq(oracle.getL2OutputIndexAfter(_query), expected);
    }

    function test_getL2OutputIndexAfter_none_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleNoOutputAfter.selector, 1));
        oracle.getL2OutputIndexAfter(1);
        _post(bytes32(uint256(1)), 10);
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleNoOutputAfter.selector, 11));
        oracle.getL2OutputIndexAfter(11);
    }

    function test_isOutputFinalized_outOfBounds_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleIndexOutOfBounds.selector, 0, 0));
        oracle.isOutputFinalized(0);
    }
}
