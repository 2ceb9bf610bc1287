// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title IWrappedOpen
/// @notice WOPEN: native L2 OPEN wrapped 1:1 as an ERC20 with EIP-2612 permit, for contracts
///         that need an ERC20. `totalSupply()` always equals the native OPEN the contract holds.
///         The ERC20 and EIP-2612 functions (IERC20, IERC20Permit) come on top of these.
interface IWrappedOpen {
    /// @notice Native OPEN was wrapped.
    /// @param account The account credited with WOPEN.
    /// @param amount  The amount wrapped.
    event Deposit(address indexed account, uint256 amount);

    /// @notice WOPEN was unwrapped to native OPEN.
    /// @param account The account whose WOPEN was burnt and who received the OPEN.
    /// @param amount  The amount unwrapped.
    event Withdrawal(address indexed account, uint256 amount);

    /// @notice Sending native OPEN to the caller failed.
    /// @param to     The recipient.
    /// @param amount The amount.
    error WrappedOpenTransferFailed(address to, uint256 amount);

    /// @notice Wraps `msg.value` native OPEN for the caller (also what a plain transfer does).
    function deposit() external payable;

    /// @notice Burns `_amount` WOPEN of the caller and sends the caller as much native OPEN.
    /// @param _amount The amount to unwrap.
    function withdraw(uint256 _amount) external;
}
