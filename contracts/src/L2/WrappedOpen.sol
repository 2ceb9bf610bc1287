// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

// Interfaces
import {IWrappedOpen} from "../interfaces/IWrappedOpen.sol";

/// @title WrappedOpen
/// @notice WOPEN: the L2's native OPEN as an ERC20 (1:1, 18 decimals) with EIP-2612 permit.
/// @dev Unwrapping burns before it sends (checks-effects-interactions), so a re-entering
///      recipient can only unwrap what it still holds. `totalSupply() == address(this).balance`
///      except for OPEN forced in without a call (which only over-collateralises).
contract WrappedOpen is IWrappedOpen, ERC20Permit {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @notice Names the token "Wrapped OPEN" (WOPEN); the permit domain name is the same.
    constructor() ERC20("Wrapped OPEN", "WOPEN") ERC20Permit("Wrapped OPEN") {}

    /// @notice A plain transfer of native OPEN wraps it for the sender.
    receive() external payable {
        _wrap();
    }

    /// @inheritdoc IWrappedOpen
    function deposit() external payable {
        _wrap();
    }

    /// @inheritdoc IWrappedOpen
    function withdraw(uint256 _amount) external {
        _burn(msg.sender, _amount);
        emit Withdrawal(msg.sender, _amount);
        (bool ok,) = msg.sender.call{value: _amount}("");
        if (!ok) revert WrappedOpenTransferFailed(msg.sender, _amount);
    }

    /// @notice Mints `msg.value` WOPEN to the sender.
    function _wrap() internal {
        _mint(msg.sender, msg.value);
        emit Deposit(msg.sender, msg.value);
    }
}
