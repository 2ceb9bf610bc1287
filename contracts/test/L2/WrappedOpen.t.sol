// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Reenterer, Rejecter} from "../mocks/Reenterer.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";

// Interfaces
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IWrappedOpen} from "../../src/interfaces/IWrappedOpen.sol";

/// @title WrappedOpen_deposit_Test
contract WrappedOpen_deposit_Test is L2_TestInit {
    function testFuzz_deposit_mintsOneToOne_succeeds(uint256 _amount) public {
        _amount = bound(_amount, 0, 1_000 ether);
        vm.expectEmit(address(wopen));
        emit IWrappedOpen.Deposit(payer, _amount);
        vm.prank(payer);
        wopen.deposit{value: _amount}();
        assertEq(wopen.balanceOf(payer), _amount);
        assertEq(wopen.totalSupply(), address(wopen).balance);
    }

    function test_receive_wraps_succeeds() public {
        vm.prank(payer);
        (bool ok,) = address(wopen).call{value: 3 ether}("");
        assertTrue(ok);
        assertEq(wopen.balanceOf(payer), 3 ether);
        assertEq(wopen.name(), "Wrapped OPEN");
        assertEq(wopen.symbol(), "WOPEN");
        assertEq(wopen.decimals(), 18);
    }
}

/// @title WrappedOpen_withdraw_Test
contract WrappedOpen_withdraw_Test is L2_TestInit {
    function testFuzz_withdraw_burnsAndSends_succeeds(uint256 _in, uint256 _out) public {
        _in = bound(_in, 0, 1_000 ether);
        _out = bound(_out, 0, _in);
        vm.startPrank(payer);
        wopen.deposit{value: _in}();
        uint256 before = payer.balance;
        vm.expectEmit(address(wopen));
        emit IWrappedOpen.Withdrawal(payer, _out);
        wopen.withdraw(_out);
        vm.stopPrank();
        assertEq(payer.balance, before + _out);
        assertEq(wopen.balanceOf(payer), _in - _out);
        assertEq(wopen.totalSupply(), address(wopen).balance);
    }

    function test_withdraw_moreThanBalance_reverts() public {
        vm.prank(payer);
        wopen.deposit{value: 1 ether}();
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, 1 ether, 1 ether + 1
            )
        );
        vm.prank(payer);
        wopen.withdraw(1 ether + 1);
    }

    function test_withdraw_rejectingReceiver_reverts() public {
        Rejecter r = new Rejecter();
        vm.deal(address(r), 1 ether);
        r.exec(address(wopen), abi.encodeCall(IWrappedOpen.deposit, ()), 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IWrappedOpen.WrappedOpenTransferFailed.selector, address(r), 1 ether)
        );
        r.exec(address(wopen), abi.encodeCall(IWrappedOpen.withdraw, (1 ether)), 0);
    }

    /// @notice Burning before sending: a re-entering receiver cannot unwrap twice.
    function test_withdraw_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), 1 ether);
        r.exec(address(wopen), abi.encodeCall(IWrappedOpen.deposit, ()), 1 ether);
        r.arm(address(wopen), abi.encodeCall(IWrappedOpen.withdraw, (1 ether)), true);
        r.exec(address(wopen), abi.encodeCall(IWrappedOpen.withdraw, (1 ether)), 0);
        assertFalse(r.lastOk());
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, address(r), 0, 1 ether)
        );
        assertEq(address(r).balance, 1 ether);
        assertEq(wopen.totalSupply(), 0);
        assertEq(address(wopen).balance, 0);
    }
}

/// @title WrappedOpen_permit_Test
contract WrappedOpen_permit_Test is L2_TestInit {
    function test_permit_thenTransferFrom_succeeds() public {
        vm.prank(payer);
        wopen.deposit{value: 5 ether}();
        bytes32 typehash =
            keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                wopen.DOMAIN_SEPARATOR(),
                keccak256(abi.encode(typehash, payer, server, 5 ether, 0, block.timestamp))
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKey, digest);
        wopen.permit(payer, server, 5 ether, block.timestamp, v, r, s);
        vm.prank(server);
        wopen.transferFrom(payer, server, 5 ether);
        assertEq(wopen.balanceOf(server), 5 ether);
    }
}
