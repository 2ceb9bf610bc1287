// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {IOpenPortal} from "../../src/interfaces/IOpenPortal.sol";
import {Types} from "../../src/libraries/Types.sol";

/// @title RecordingTarget
/// @notice Records the call it receives and the portal's l2Sender during it.
contract RecordingTarget {
    IOpenPortal internal immutable portal;
    address public seenL2Sender;
    bytes public seenData;
    uint256 public calls;

    constructor(IOpenPortal _portal) {
        portal = _portal;
    }

    fallback() external {
        seenL2Sender = portal.l2Sender();
        seenData = msg.data;
        calls++;
    }
}

/// @title RevertingTarget
/// @notice Reverts on every call.
contract RevertingTarget {
    fallback() external {
        revert("no");
    }
}

/// @title ReturnBombTarget
/// @notice Returns a very large buffer, to make a caller that copies return data run out of gas.
contract ReturnBombTarget {
    fallback() external {
        assembly {
            return(0, 200000)
        }
    }
}

/// @title ReentrantPortalTarget
/// @notice On its call, tries to re-enter the portal: finalize another withdrawal, prove one,
///         or deposit. Records whether the re-entry got through.
contract ReentrantPortalTarget {
    IOpenPortal internal immutable portal;
    Types.WithdrawalTransaction internal other;
    uint8 public mode;
    bool public reentered;
    bytes public reentryError;

    constructor(IOpenPortal _portal) {
        portal = _portal;
    }

    function arm(uint8 _mode, Types.WithdrawalTransaction calldata _other) external {
        mode = _mode;
        other = _other;
    }

    fallback() external {
        bytes memory call_;
        if (mode == 0) {
            call_ = abi.encodeCall(IOpenPortal.finalizeWithdrawalTransaction, (other));
        } else if (mode == 1) {
            Types.OutputRootProof memory p;
            call_ = abi.encodeCall(IOpenPortal.proveWithdrawalTransaction, (other, 0, p, new bytes[](0)));
        } else {
            call_ = abi.encodeCall(IOpenPortal.depositTransaction, (address(this), 0, 0, 100_000, false, ""));
        }
        (bool ok, bytes memory ret) = address(portal).call(call_);
        reentered = ok;
        reentryError = ret;
    }
}
