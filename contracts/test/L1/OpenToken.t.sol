// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L1_TestInit} from "../setup/L1Setup.sol";

// Contracts
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {OpenToken} from "../../src/L1/OpenToken.sol";

// Interfaces
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @title OpenToken_TestInit
/// @notice Permit digest helper.
contract OpenToken_TestInit is L1_TestInit {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function _permitDigest(address _owner, address _spender, uint256 _value, uint256 _deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, _owner, _spender, _value, token.nonces(_owner), _deadline)
        );
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }
}

/// @title OpenToken_constructor_Test
contract OpenToken_constructor_Test is OpenToken_TestInit {
    function test_constructor_mintsWholeSupplyOnce_succeeds() public view {
        assertEq(token.totalSupply(), 1_000_000_000 ether);
        assertEq(token.balanceOf(holder), token.TOTAL_SUPPLY());
        assertEq(token.decimals(), 18);
        assertEq(token.symbol(), "OPEN");
    }

    function test_constructor_zeroHolder_reverts() public {
        vm.expectRevert(OpenToken.ZeroInitialHolder.selector);
        new OpenToken(address(0));
    }
}

/// @title OpenToken_transfer_Test
contract OpenToken_transfer_Test is OpenToken_TestInit {
    function testFuzz_transfer_conservesSupply_succeeds(address _to, uint256 _amount) public {
        vm.assume(_to != address(0) && _to != holder);
        _amount = bound(_amount, 0, token.TOTAL_SUPPLY());
        vm.prank(holder);
        assertTrue(token.transfer(_to, _amount));
        assertEq(token.balanceOf(_to), _amount);
        assertEq(token.balanceOf(holder) + token.balanceOf(_to), token.totalSupply());
    }

    function test_transfer_exceedsBalance_reverts() public {
        address poor = makeAddr("poor");
        vm.prank(poor);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, poor, 0, 1));
        token.transfer(holder, 1);
    }
}

/// @title OpenToken_permit_Test
contract OpenToken_permit_Test is OpenToken_TestInit {
    function test_permit_setsAllowanceOnce_succeeds() public {
        (address signer, uint256 key) = makeAddrAndKey("signer");
        address spender = makeAddr("spender");
        vm.prank(holder);
        token.transfer(signer, 100 ether);

        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(signer, spender, 40 ether, deadline));
        token.permit(signer, spender, 40 ether, deadline, v, r, s);
        assertEq(token.allowance(signer, spender), 40 ether);
        assertEq(token.nonces(signer), 1);

        // The same signature now names a used nonce: it recovers another signer and is refused.
        vm.expectRevert();
        token.permit(signer, spender, 40 ether, deadline, v, r, s);

        vm.prank(spender);
        token.transferFrom(signer, spender, 40 ether);
        assertEq(token.balanceOf(spender), 40 ether);
    }

    function test_permit_expired_reverts() public {
        (address signer, uint256 key) = makeAddrAndKey("signer");
        uint256 deadline = block.timestamp;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(signer, address(this), 1, deadline));
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(signer, address(this), 1, deadline, v, r, s);
    }
}
