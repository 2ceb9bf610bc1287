// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {OpenToken} from "../src/L1/OpenToken.sol";

contract OpenTokenTest is Test {
    OpenToken internal token;
    address internal treasury = makeAddr("treasury");

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function setUp() public {
        token = new OpenToken(treasury);
    }

    function test_MintsWholeSupplyOnce() public view {
        assertEq(token.totalSupply(), 1_000_000_000 ether);
        assertEq(token.balanceOf(treasury), token.TOTAL_SUPPLY());
        assertEq(token.decimals(), 18);
        assertEq(token.symbol(), "OPEN");
    }

    function test_RevertWhen_InitialHolderIsZero() public {
        vm.expectRevert(OpenToken.ZeroInitialHolder.selector);
        new OpenToken(address(0));
    }

    function testFuzz_TransferConservesSupply(address to, uint256 amount) public {
        vm.assume(to != address(0) && to != treasury);
        amount = bound(amount, 0, token.TOTAL_SUPPLY());
        vm.prank(treasury);
        assertTrue(token.transfer(to, amount));
        assertEq(token.balanceOf(to), amount);
        assertEq(token.balanceOf(treasury) + token.balanceOf(to), token.totalSupply());
    }

    function test_RevertWhen_TransferExceedsBalance() public {
        address poor = makeAddr("poor");
        vm.prank(poor);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, poor, 0, 1));
        token.transfer(treasury, 1);
    }

    function _permitDigest(address owner, address spender, uint256 value, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, token.nonces(owner), deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    function test_PermitSetsAllowanceAndCannotBeReplayed() public {
        (address owner, uint256 key) = makeAddrAndKey("owner");
        address spender = makeAddr("spender");
        vm.prank(treasury);
        token.transfer(owner, 100 ether);

        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(owner, spender, 40 ether, deadline));
        token.permit(owner, spender, 40 ether, deadline, v, r, s);
        assertEq(token.allowance(owner, spender), 40 ether);
        assertEq(token.nonces(owner), 1);

        // The same signature is now for a used nonce: it recovers another signer and is refused.
        vm.expectRevert();
        token.permit(owner, spender, 40 ether, deadline, v, r, s);

        vm.prank(spender);
        token.transferFrom(owner, spender, 40 ether);
        assertEq(token.balanceOf(spender), 40 ether);
    }

    function test_RevertWhen_PermitExpired() public {
        (address owner, uint256 key) = makeAddrAndKey("owner");
        uint256 deadline = block.timestamp;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(owner, address(this), 1, deadline));
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(owner, address(this), 1, deadline, v, r, s);
    }
}
