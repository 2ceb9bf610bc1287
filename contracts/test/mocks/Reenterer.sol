// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// @title Reenterer
/// @notice A malicious account: acts as a user through `exec`, and when it receives native OPEN,
///         re-enters `target` once with `data`. With `swallow`, a failed re-entry is recorded and
///         the receipt succeeds; without it, the failure bubbles up (so the payer's transfer fails).
contract Reenterer {
    address public target;
    bytes public data;
    bool public swallow;
    uint256 public attempts;
    bool public lastOk;
    bytes public lastError;
    uint256 public received;

    function arm(address _target, bytes calldata _data, bool _swallow) external {
        target = _target;
        data = _data;
        swallow = _swallow;
        attempts = 0;
    }

    function exec(address _to, bytes calldata _data, uint256 _value) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = _to.call{value: _value}(_data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        received += msg.value;
        if (target == address(0) || attempts > 0) return;
        attempts++;
        (bool ok, bytes memory ret) = target.call(data);
        lastOk = ok;
        lastError = ret;
        if (!ok && !swallow) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @title Rejecter
/// @notice Refuses native OPEN.
contract Rejecter {
    function exec(address _to, bytes calldata _data, uint256 _value) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = _to.call{value: _value}(_data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        revert("no");
    }
}
