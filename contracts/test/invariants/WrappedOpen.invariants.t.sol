// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L2_TestInit} from "../setup/L2Setup.sol";
import {WrappedOpenHandler} from "./handlers/WrappedOpenHandler.sol";

/// @title WrappedOpen_Invariants
/// forge-config: default.invariant.runs = 32
/// forge-config: default.invariant.depth = 50
contract WrappedOpen_Invariants is L2_TestInit {
    WrappedOpenHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new WrappedOpenHandler(wopen);
        targetContract(address(handler));
    }

    /// @notice WOPEN is backed 1:1: the supply equals the native OPEN held, equals the holders'
    ///         balances, and native plus wrapped OPEN of the holders is constant.
    function invariant_fullyBacked() public view {
        uint256 wrapped;
        uint256 native;
        for (uint256 i = 0; i < 3; i++) {
            wrapped += wopen.balanceOf(handler.holders(i));
            native += handler.holders(i).balance;
        }
        assertEq(wopen.totalSupply(), address(wopen).balance, "supply != backing");
        assertEq(wrapped, wopen.totalSupply(), "balances != supply");
        assertEq(wrapped + native, 300 ether, "OPEN created or lost");
    }
}
