// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {IModelRegistry} from "./IModelRegistry.sol";
import {IRewards} from "./IRewards.sol";

/// @title IInferenceEscrow
/// @notice Prepaid inference. A wallet deposits native OPEN; for each request it signs an
///         EIP-712 voucher for the cumulative amount it owes one server for one model; the server
///         redeems the latest voucher whenever it likes, which pays the difference to the last
///         redeemed amount, split per the model's fee split (through Rewards). A payer withdraws
///         unspent funds after announcing it `noticePeriod` ahead, during which servers can
///         still redeem.
/// @dev EIP-712 domain: name "OpenLedger InferenceEscrow", version "1", the L2 chain id, this
///      contract's address. Typed struct (the server signs and checks exactly this):
///        Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)
///      VOUCHER_TYPEHASH = keccak256 of that string. Digest = keccak256("\x19\x01" ‖ domainSeparator
///      ‖ keccak256(abi.encode(VOUCHER_TYPEHASH, payer, server, modelId, cumulativeAmount))).
///      Signatures are 65-byte ECDSA (r ‖ s ‖ v, low s) from the payer's key, or ERC-1271 for a
///      contract payer. A voucher never pays twice: each (payer, server, modelId) channel stores
///      the cumulative amount redeemed, and only a larger cumulative amount pays, the difference.
///      Servers: before serving on a channel, check balanceOf(payer) and withdrawalRequest(payer);
///      a requested withdrawal can take the balance to zero at `unlockAt`, so redeem before then.
interface IInferenceEscrow {
    /// @notice A payment authorization (see the typehash above).
    /// @custom:field payer            The wallet that pays (and signs).
    /// @custom:field server           The inference server allowed to redeem it.
    /// @custom:field modelId          The model served (a ModelRegistry id).
    /// @custom:field cumulativeAmount Everything owed on this channel so far, in wei of OPEN.
    struct Voucher {
        address payer;
        address server;
        bytes32 modelId;
        uint256 cumulativeAmount;
    }

    /// @notice A pending withdrawal of a payer.
    /// @custom:field amount   The amount asked for (capped at the balance when withdrawn).
    /// @custom:field unlockAt When it may be withdrawn.
    struct WithdrawalRequest {
        uint128 amount;
        uint64 unlockAt;
    }

    /// @notice Native OPEN was deposited.
    /// @param payer   The account credited.
    /// @param from    Who paid.
    /// @param amount  The amount.
    /// @param balance The payer's balance after.
    event Deposited(address indexed payer, address indexed from, uint256 amount, uint256 balance);

    /// @notice A payer announced a withdrawal.
    /// @param payer    The payer.
    /// @param amount   The amount.
    /// @param unlockAt When it may be withdrawn.
    event WithdrawalRequested(address indexed payer, uint256 amount, uint256 unlockAt);

    /// @notice A payer cancelled its withdrawal request.
    /// @param payer The payer.
    event WithdrawalCancelled(address indexed payer);

    /// @notice A payer withdrew.
    /// @param payer  The payer.
    /// @param amount The amount sent.
    event Withdrawn(address indexed payer, uint256 amount);

    /// @notice A voucher was redeemed.
    /// @param payer            The payer.
    /// @param server           The server.
    /// @param modelId          The model.
    /// @param cumulativeAmount The channel's cumulative amount now redeemed.
    /// @param amount           The amount paid by this redemption (sent to Rewards).
    event VoucherRedeemed(
        address indexed payer,
        address indexed server,
        bytes32 indexed modelId,
        uint256 cumulativeAmount,
        uint256 amount
    );

    /// @notice An amount must be positive.
    error InferenceEscrowZeroAmount();

    /// @notice The zero address cannot be credited.
    error InferenceEscrowZeroAddress();

    /// @notice An amount does not fit 128 bits.
    /// @param amount The amount.
    error InferenceEscrowAmountTooLarge(uint256 amount);

    /// @notice Only the voucher's server may redeem it.
    /// @param caller The caller.
    /// @param server The voucher's server.
    error InferenceEscrowNotServer(address caller, address server);

    /// @notice The signature is not the payer's.
    /// @param payer The voucher's payer.
    error InferenceEscrowInvalidSignature(address payer);

    /// @notice The voucher's cumulative amount is not above what the channel already redeemed.
    /// @param cumulativeAmount The voucher's amount.
    /// @param redeemed         Already redeemed on the channel.
    error InferenceEscrowNothingToRedeem(uint256 cumulativeAmount, uint256 redeemed);

    /// @notice The payer's balance does not cover the redemption.
    /// @param payer   The payer.
    /// @param balance Its balance.
    /// @param needed  The amount due.
    error InferenceEscrowInsufficientBalance(address payer, uint256 balance, uint256 needed);

    /// @notice The payer has no withdrawal request.
    /// @param payer The payer.
    error InferenceEscrowNoWithdrawalRequest(address payer);

    /// @notice The notice period has not passed.
    /// @param unlockAt When it does.
    error InferenceEscrowNoticeNotElapsed(uint256 unlockAt);

    /// @notice Sending native OPEN failed.
    /// @param to     The recipient.
    /// @param amount The amount.
    error InferenceEscrowTransferFailed(address to, uint256 amount);

    /// @notice keccak256("Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)").
    /// @return The typehash.
    function VOUCHER_TYPEHASH() external view returns (bytes32);

    /// @notice Seconds between a withdrawal request and the withdrawal.
    /// @return The notice period.
    function noticePeriod() external view returns (uint256);

    /// @notice Where redeemed fees go to be split.
    /// @return The Rewards contract.
    function rewards() external view returns (IRewards);

    /// @notice The EIP-712 domain separator (for the domain above).
    /// @return The separator.
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice Deposits `msg.value` for the caller.
    function deposit() external payable;

    /// @notice Deposits `msg.value` for `_payer`.
    /// @param _payer The account credited.
    function depositFor(address _payer) external payable;

    /// @notice Announces a withdrawal of `_amount`, possible after the notice period. Replaces
    ///         any earlier request (and restarts the clock).
    /// @param _amount The amount.
    function requestWithdrawal(uint256 _amount) external;

    /// @notice Cancels the caller's withdrawal request.
    function cancelWithdrawal() external;

    /// @notice Sends the caller the requested amount (capped at its balance) once the notice
    ///         period has passed.
    function withdraw() external;

    /// @notice Redeems a voucher: pays `cumulativeAmount - redeemed` from the payer's balance to
    ///         Rewards, split per the model's fee split. Only the voucher's server.
    /// @param _voucher   The voucher.
    /// @param _signature The payer's signature of it.
    /// @return amount_ The amount paid.
    function redeem(Voucher calldata _voucher, bytes calldata _signature) external returns (uint256 amount_);

    /// @notice A payer's balance.
    /// @param _payer The payer.
    /// @return The balance.
    function balanceOf(address _payer) external view returns (uint256);

    /// @notice A payer's withdrawal request.
    /// @param _payer The payer.
    /// @return The request (zero if none).
    function withdrawalRequest(address _payer) external view returns (WithdrawalRequest memory);

    /// @notice The cumulative amount redeemed on a channel.
    /// @param _payer   The payer.
    /// @param _server  The server.
    /// @param _modelId The model.
    /// @return The amount.
    function redeemed(address _payer, address _server, bytes32 _modelId) external view returns (uint256);

    /// @notice The EIP-712 digest a payer signs for a voucher.
    /// @param _voucher The voucher.
    /// @return The digest.
    function voucherDigest(Voucher calldata _voucher) external view returns (bytes32);
}
