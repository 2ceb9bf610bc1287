// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Reenterer} from "../mocks/Reenterer.sol";
import {Wallet1271} from "../mocks/Wallet1271.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {InferenceEscrow} from "../../src/L2/InferenceEscrow.sol";

// Interfaces
import {IInferenceEscrow} from "../../src/interfaces/IInferenceEscrow.sol";
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";
import {IRewards} from "../../src/interfaces/IRewards.sol";

/// @title InferenceEscrow_TestInit
contract InferenceEscrow_TestInit is L2_TestInit {
    bytes32 internal modelId;

    function setUp() public virtual override {
        super.setUp();
        modelId = _registerModel(_split());
    }

    function _voucher(uint256 _cumulative) internal view returns (IInferenceEscrow.Voucher memory) {
        return IInferenceEscrow.Voucher(payer, server, modelId, _cumulative);
    }
}

/// @title InferenceEscrow_deposit_Test
contract InferenceEscrow_deposit_Test is InferenceEscrow_TestInit {
    function testFuzz_deposit_credits_succeeds(uint256 _a, uint256 _b) public {
        _a = bound(_a, 1, 1_000 ether);
        _b = bound(_b, 1, 1_000 ether);
        vm.expectEmit(address(escrow));
        emit IInferenceEscrow.Deposited(payer, payer, _a, _a);
        _deposit(_a);
        vm.prank(server);
        escrow.depositFor{value: _b}(payer);
        assertEq(escrow.balanceOf(payer), _a + _b);
        assertEq(address(escrow).balance, _a + _b);
    }

    function test_receive_deposits_succeeds() public {
        vm.prank(payer);
        (bool ok,) = address(escrow).call{value: 1 ether}("");
        assertTrue(ok);
        assertEq(escrow.balanceOf(payer), 1 ether);
    }

    function test_deposit_zero_reverts() public {
        vm.expectRevert(IInferenceEscrow.InferenceEscrowZeroAmount.selector);
        vm.prank(payer);
        escrow.deposit();
        vm.expectRevert(IInferenceEscrow.InferenceEscrowZeroAddress.selector);
        escrow.depositFor{value: 1}(address(0));
    }

    function test_constructor_badArgs_reverts() public {
        vm.expectRevert(IInferenceEscrow.InferenceEscrowZeroAddress.selector);
        new InferenceEscrow(IRewards(address(0)), 1);
        vm.expectRevert(IInferenceEscrow.InferenceEscrowZeroAmount.selector);
        new InferenceEscrow(rewards, 0);
    }
}

/// @title InferenceEscrow_redeem_Test
contract InferenceEscrow_redeem_Test is InferenceEscrow_TestInit {
    function setUp() public override {
        super.setUp();
        _deposit(100 ether);
    }

    /// @notice The digest is plain EIP-712 over the documented domain and typehash.
    function test_voucherDigest_matchesEip712_succeeds() public view {
        bytes32 typehash =
            keccak256("Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)");
        assertEq(escrow.VOUCHER_TYPEHASH(), typehash);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak256("OpenLedger InferenceEscrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
        assertEq(escrow.DOMAIN_SEPARATOR(), domain);
        IInferenceEscrow.Voucher memory v = _voucher(5 ether);
        bytes32 structHash = keccak256(abi.encode(typehash, v.payer, v.server, v.modelId, v.cumulativeAmount));
        assertEq(escrow.voucherDigest(v), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    function test_redeem_paysDifferenceAndSplits_succeeds() public {
        vm.expectEmit(address(escrow));
        emit IInferenceEscrow.VoucherRedeemed(payer, server, modelId, 4 ether, 4 ether);
        assertEq(_redeem(modelId, 4 ether), 4 ether);
        assertEq(_redeem(modelId, 10 ether), 6 ether);
        assertEq(escrow.balanceOf(payer), 90 ether);
        assertEq(escrow.redeemed(payer, server, modelId), 10 ether);
        assertEq(address(rewards).balance, 10 ether);
        assertEq(rewards.balanceOf(modelOwner), 5 ether);
        assertEq(rewards.contributorAccrued(modelId), 3 ether);
        assertEq(rewards.stakerRewardsPending(), 1 ether);
        assertEq(rewards.balanceOf(treasury), 1 ether);
    }

    function test_redeem_sameVoucherTwice_reverts() public {
        IInferenceEscrow.Voucher memory v = _voucher(4 ether);
        bytes memory sig = _sign(payerKey, v);
        vm.prank(server);
        escrow.redeem(v, sig);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowNothingToRedeem.selector, 4 ether, 4 ether)
        );
        vm.prank(server);
        escrow.redeem(v, sig);
    }

    function testFuzz_redeem_olderVoucher_reverts(uint256 _old, uint256 _new) public {
        _new = bound(_new, 1, 100 ether);
        _old = bound(_old, 0, _new);
        _redeem(modelId, _new);
        IInferenceEscrow.Voucher memory v = _voucher(_old);
        bytes memory sig = _sign(payerKey, v);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowNothingToRedeem.selector, _old, _new)
        );
        vm.prank(server);
        escrow.redeem(v, sig);
    }

    function testFuzz_redeem_notServer_reverts(address _caller) public {
        vm.assume(_caller != server);
        IInferenceEscrow.Voucher memory v = _voucher(1 ether);
        bytes memory sig = _sign(payerKey, v);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowNotServer.selector, _caller, server)
        );
        vm.prank(_caller);
        escrow.redeem(v, sig);
    }

    function test_redeem_wrongSigner_reverts() public {
        (, uint256 otherKey) = makeAddrAndKey("other");
        IInferenceEscrow.Voucher memory v = _voucher(1 ether);
        bytes memory sig = _sign(otherKey, v);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowInvalidSignature.selector, payer)
        );
        vm.prank(server);
        escrow.redeem(v, sig);
    }

    function test_redeem_tamperedVoucher_reverts() public {
        IInferenceEscrow.Voucher memory v = _voucher(1 ether);
        bytes memory sig = _sign(payerKey, v);
        v.cumulativeAmount = 50 ether;
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowInvalidSignature.selector, payer)
        );
        vm.prank(server);
        escrow.redeem(v, sig);
    }

    /// @notice A voucher is bound to its server and model: another channel starts from zero and
    ///         needs its own signature.
    function test_redeem_channelsIndependent_succeeds() public {
        address server2 = makeAddr("server2");
        IInferenceEscrow.Voucher memory v = _voucher(3 ether);
        bytes memory sig = _sign(payerKey, v);
        vm.prank(server);
        escrow.redeem(v, sig);
        v.server = server2;
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowInvalidSignature.selector, payer)
        );
        vm.prank(server2);
        escrow.redeem(v, sig);
        sig = _sign(payerKey, v);
        vm.prank(server2);
        assertEq(escrow.redeem(v, sig), 3 ether);
    }

    function test_redeem_insufficientBalance_reverts() public {
        IInferenceEscrow.Voucher memory v = _voucher(101 ether);
        bytes memory sig = _sign(payerKey, v);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceEscrow.InferenceEscrowInsufficientBalance.selector, payer, 100 ether, 101 ether
            )
        );
        vm.prank(server);
        escrow.redeem(v, sig);
    }

    function test_redeem_unknownModel_reverts() public {
        IInferenceEscrow.Voucher memory v =
            IInferenceEscrow.Voucher(payer, server, keccak256("nope"), 1 ether);
        bytes memory sig = _sign(payerKey, v);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, keccak256("nope"))
        );
        vm.prank(server);
        escrow.redeem(v, sig);
    }

    function test_redeem_contractWallet_succeeds() public {
        (address walletOwner, uint256 ownerKey) = makeAddrAndKey("walletOwner");
        Wallet1271 wallet = new Wallet1271(walletOwner);
        vm.deal(address(wallet), 5 ether);
        vm.prank(walletOwner);
        wallet.exec(address(escrow), abi.encodeCall(IInferenceEscrow.deposit, ()), 5 ether);
        IInferenceEscrow.Voucher memory v =
            IInferenceEscrow.Voucher(address(wallet), server, modelId, 2 ether);
        bytes memory sig = _sign(ownerKey, v);
        vm.prank(server);
        assertEq(escrow.redeem(v, sig), 2 ether);
        assertEq(escrow.balanceOf(address(wallet)), 3 ether);
    }

    function test_redeem_duringNotice_succeeds() public {
        vm.prank(payer);
        escrow.requestWithdrawal(100 ether);
        vm.warp(block.timestamp + NOTICE - 1);
        _redeem(modelId, 30 ether);
        vm.warp(block.timestamp + 1);
        uint256 before = payer.balance;
        vm.prank(payer);
        escrow.withdraw();
        // The withdrawal is capped at what the server left.
        assertEq(payer.balance, before + 70 ether);
        assertEq(escrow.balanceOf(payer), 0);
    }
}

/// @title InferenceEscrow_withdraw_Test
contract InferenceEscrow_withdraw_Test is InferenceEscrow_TestInit {
    function setUp() public override {
        super.setUp();
        _deposit(10 ether);
    }

    function testFuzz_withdraw_afterNotice_succeeds(uint256 _amount) public {
        _amount = bound(_amount, 1, 10 ether);
        vm.expectEmit(address(escrow));
        emit IInferenceEscrow.WithdrawalRequested(payer, _amount, block.timestamp + NOTICE);
        vm.prank(payer);
        escrow.requestWithdrawal(_amount);
        IInferenceEscrow.WithdrawalRequest memory r = escrow.withdrawalRequest(payer);
        assertEq(r.amount, _amount);
        assertEq(r.unlockAt, block.timestamp + NOTICE);

        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceEscrow.InferenceEscrowNoticeNotElapsed.selector, block.timestamp + NOTICE
            )
        );
        vm.prank(payer);
        escrow.withdraw();

        vm.warp(block.timestamp + NOTICE);
        uint256 before = payer.balance;
        vm.expectEmit(address(escrow));
        emit IInferenceEscrow.Withdrawn(payer, _amount);
        vm.prank(payer);
        escrow.withdraw();
        assertEq(payer.balance, before + _amount);
        assertEq(escrow.balanceOf(payer), 10 ether - _amount);
        assertEq(escrow.withdrawalRequest(payer).unlockAt, 0);
    }

    function test_withdraw_noRequest_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowNoWithdrawalRequest.selector, payer)
        );
        vm.prank(payer);
        escrow.withdraw();
    }

    function test_cancelWithdrawal_succeeds() public {
        vm.startPrank(payer);
        escrow.requestWithdrawal(1 ether);
        vm.expectEmit(address(escrow));
        emit IInferenceEscrow.WithdrawalCancelled(payer);
        escrow.cancelWithdrawal();
        vm.warp(block.timestamp + NOTICE);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowNoWithdrawalRequest.selector, payer)
        );
        escrow.withdraw();
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowNoWithdrawalRequest.selector, payer)
        );
        escrow.cancelWithdrawal();
        vm.stopPrank();
    }

    function test_requestWithdrawal_badAmount_reverts() public {
        vm.startPrank(payer);
        vm.expectRevert(IInferenceEscrow.InferenceEscrowZeroAmount.selector);
        escrow.requestWithdrawal(0);
        uint256 big = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IInferenceEscrow.InferenceEscrowAmountTooLarge.selector, big));
        escrow.requestWithdrawal(big);
        vm.stopPrank();
    }

    function test_requestWithdrawal_restartsClock_succeeds() public {
        vm.prank(payer);
        escrow.requestWithdrawal(1 ether);
        vm.warp(block.timestamp + NOTICE - 1);
        vm.prank(payer);
        escrow.requestWithdrawal(2 ether);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceEscrow.InferenceEscrowNoticeNotElapsed.selector, block.timestamp - 1 + NOTICE
            )
        );
        vm.prank(payer);
        escrow.withdraw();
    }

    /// @notice A payer that re-enters withdraw (or redeem) on receipt is stopped by the lock.
    function test_withdraw_reentrancy_reverts() public {
        Reenterer r = new Reenterer();
        vm.deal(address(r), 4 ether);
        r.exec(address(escrow), abi.encodeCall(IInferenceEscrow.deposit, ()), 4 ether);
        r.exec(address(escrow), abi.encodeCall(IInferenceEscrow.requestWithdrawal, (2 ether)), 0);
        vm.warp(block.timestamp + NOTICE);

        r.arm(address(escrow), abi.encodeCall(IInferenceEscrow.withdraw, ()), false);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceEscrow.InferenceEscrowTransferFailed.selector, address(r), 2 ether
            )
        );
        r.exec(address(escrow), abi.encodeCall(IInferenceEscrow.withdraw, ()), 0);

        r.arm(address(escrow), abi.encodeCall(IInferenceEscrow.withdraw, ()), true);
        r.exec(address(escrow), abi.encodeCall(IInferenceEscrow.withdraw, ()), 0);
        assertEq(
            r.lastError(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(address(r).balance, 2 ether);
        assertEq(escrow.balanceOf(address(r)), 2 ether);
    }
}
