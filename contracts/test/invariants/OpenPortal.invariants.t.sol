// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {console2} from "forge-std/console2.sol";
import {L1_TestInit} from "../setup/L1Setup.sol";
import {PortalHandler} from "./handlers/PortalHandler.sol";

/// @title OpenPortal_Invariants
/// @notice Invariants of the L1 bridge under the PortalHandler's random sequences.
/// forge-config: default.invariant.runs = 24
/// forge-config: default.invariant.depth = 100
contract OpenPortal_Invariants is L1_TestInit {
    PortalHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new PortalHandler(portal, token, oracle, config, holder);
        targetContract(address(handler));
    }

    /// @notice The portal holds exactly the OPEN deposited minus the OPEN released, and L1 OPEN
    ///         is neither created nor destroyed.
    function invariant_portalBalanceMatchesFlows() public view {
        assertEq(
            token.balanceOf(address(portal)),
            handler.ghostDeposited() - handler.ghostReleased(),
            "portal balance != deposits - releases"
        );
        assertEq(token.totalSupply(), token.TOTAL_SUPPLY(), "supply changed");
        assertLe(handler.ghostReleased(), handler.ghostInitiated(), "released more than was withdrawn on L2");
    }

    /// @notice A withdrawal finalizes at most once.
    function invariant_withdrawalFinalizesOnce() public view {
        for (uint256 i = 0; i < handler.finalizedCount(); i++) {
            bytes32 h = handler.finalizedHashes(i);
            assertEq(handler.ghostFinalizeCount(h), 1, "finalized twice");
            assertTrue(portal.finalizedWithdrawals(h), "not marked finalized");
        }
    }

    /// @notice A withdrawal finalizes only after the finalization period (since its proof and
    ///         since its output) and only against a live output holding the root it was proven
    ///         against.
    function invariant_finalizesOnlyAfterPeriodAgainstLiveOutput() public view {
        assertEq(handler.ghostEarlyFinalize(), 0, "finalized before the period");
        assertEq(handler.ghostDeadOutputFinalize(), 0, "finalized against a deleted output");
    }

    /// @notice Only a valid proof proves: no withdrawal was proven against an output that does not
    ///         hold it, and a withdrawal that was never initiated on L2 (a forged output the
    ///         guardian deleted in time) never finalized.
    function invariant_onlyValidProofsFinalize() public view {
        assertEq(handler.ghostBadProofAccepted(), 0, "a proof against the wrong output was accepted");
        assertEq(handler.ghostForgedFinalize(), 0, "a forged withdrawal finalized");
    }

    /// @notice Reports how deep the campaign went (forge test -vv).
    function afterInvariant() public view {
        console2.log("finalized withdrawals", handler.finalizedCount());
        console2.log("released (wei)", handler.ghostReleased());
        console2.log("outputs live", oracle.nextOutputIndex());
    }
}
