// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title OPEN on L1
/// @notice The OPEN token on Ethereum (L1): a fixed-supply ERC20 with EIP-2612 permit. It is
///         locked in the bridge portal to deposit to the L2, where OPEN is the native gas token.
/// @dev The whole supply is minted once, to `initialHolder`; there is no mint or burn after
///      deployment, so the L2's native supply can never exceed what is locked in the portal.
contract OpenToken is ERC20, ERC20Permit {
    /// @notice Total supply: one billion OPEN with 18 decimals.
    uint256 public constant TOTAL_SUPPLY = 1_000_000_000 ether;

    /// @notice The zero address cannot hold the initial supply.
    error ZeroInitialHolder();

    /// @notice Mints the whole supply to `initialHolder`.
    /// @param initialHolder Receives `TOTAL_SUPPLY` (a treasury or distribution contract).
    constructor(address initialHolder) ERC20("OpenLedger", "OPEN") ERC20Permit("OpenLedger") {
        if (initialHolder == address(0)) revert ZeroInitialHolder();
        _mint(initialHolder, TOTAL_SUPPLY);
    }
}
