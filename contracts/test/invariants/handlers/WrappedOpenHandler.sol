// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";

// Contracts
import {WrappedOpen} from "../../../src/L2/WrappedOpen.sol";

/// @title WrappedOpenHandler
/// @notice Wraps, unwraps and transfers between three holders.
contract WrappedOpenHandler is Test {
    WrappedOpen public wopen;
    address[3] public holders;

    constructor(WrappedOpen _wopen) {
        wopen = _wopen;
        for (uint256 i = 0; i < 3; i++) {
            holders[i] = makeAddr(string.concat("wopen-holder", vm.toString(i)));
            vm.deal(holders[i], 100 ether);
        }
    }

    function deposit(uint256 _who, uint256 _amount) external {
        address h = holders[_who % 3];
        _amount = bound(_amount, 0, h.balance);
        vm.prank(h);
        wopen.deposit{value: _amount}();
    }

    function withdraw(uint256 _who, uint256 _amount) external {
        address h = holders[_who % 3];
        _amount = bound(_amount, 0, wopen.balanceOf(h));
        vm.prank(h);
        wopen.withdraw(_amount);
    }

    function transfer(uint256 _from, uint256 _to, uint256 _amount) external {
        address f = holders[_from % 3];
        _amount = bound(_amount, 0, wopen.balanceOf(f));
        vm.prank(f);
        wopen.transfer(holders[_to % 3], _amount);
    }
}
