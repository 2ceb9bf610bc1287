// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Libraries
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

// Interfaces
import {IInferenceEscrow} from "../interfaces/IInferenceEscrow.sol";
import {IRewards} from "../interfaces/IRewards.sol";

/// @title InferenceEscrow
/// @notice Prepaid inference with cumulative EIP-712 vouchers per (payer, server, model) channel;
///         redemptions pay Rewards, which splits them per the model's fee split. See
///         IInferenceEscrow for the voucher format.
/// @dev Invariant: address(this).balance >= sum of payer balances (equal unless OPEN is forced in),
///      and a channel's redeemed amount only grows, each redemption paying exactly the growth.
contract InferenceEscrow is IInferenceEscrow, EIP712, ReentrancyGuardTransient {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IInferenceEscrow
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)");

    /// @inheritdoc IInferenceEscrow
    IRewards public immutable rewards;

    /// @inheritdoc IInferenceEscrow
    uint256 public immutable noticePeriod;

    /// @inheritdoc IInferenceEscrow
    mapping(address => uint256) public balanceOf;

    /// @notice Withdrawal requests by payer.
    mapping(address => WithdrawalRequest) internal requests;

    /// @notice Cumulative amount redeemed by channel key keccak256(abi.encode(payer, server, modelId)).
    mapping(bytes32 => uint256) internal redeemedOf;

    /// @notice Binds the escrow to Rewards and sets the notice period.
    /// @param _rewards      Where redeemed fees go.
    /// @param _noticePeriod Seconds between a withdrawal request and the withdrawal.
    constructor(IRewards _rewards, uint256 _noticePeriod) EIP712("OpenLedger InferenceEscrow", "1") {
        if (address(_rewards) == address(0)) revert InferenceEscrowZeroAddress();
        if (_noticePeriod == 0) revert InferenceEscrowZeroAmount();
        rewards = _rewards;
        noticePeriod = _noticePeriod;
    }

    /// @notice A plain transfer deposits for the sender.
    receive() external payable {
        _deposit(msg.sender);
    }

    /// @inheritdoc IInferenceEscrow
    function deposit() external payable {
        _deposit(msg.sender);
    }

    /// @inheritdoc IInferenceEscrow
    function depositFor(address _payer) external payable {
        if (_payer == address(0)) revert InferenceEscrowZeroAddress();
        _deposit(_payer);
    }

    /// @inheritdoc IInferenceEscrow
    function requestWithdrawal(uint256 _amount) external {
        if (_amount == 0) revert InferenceEscrowZeroAmount();
        if (_amount > type(uint128).max) revert InferenceEscrowAmountTooLarge(_amount);
        uint256 unlockAt = block.timestamp + noticePeriod;
        requests[msg.sender] = WithdrawalRequest({amount: uint128(_amount), unlockAt: uint64(unlockAt)});
        emit WithdrawalRequested(msg.sender, _amount, unlockAt);
    }

    /// @inheritdoc IInferenceEscrow
    function cancelWithdrawal() external {
        if (requests[msg.sender].unlockAt == 0) revert InferenceEscrowNoWithdrawalRequest(msg.sender);
        delete requests[msg.sender];
        emit WithdrawalCancelled(msg.sender);
    }

    /// @inheritdoc IInferenceEscrow
    function withdraw() external nonReentrant {
        WithdrawalRequest memory r = requests[msg.sender];
        if (r.unlockAt == 0) revert InferenceEscrowNoWithdrawalRequest(msg.sender);
        if (block.timestamp < r.unlockAt) revert InferenceEscrowNoticeNotElapsed(r.unlockAt);

        uint256 balance = balanceOf[msg.sender];
        // Servers may have redeemed part of the balance during the notice period.
        uint256 amount = r.amount < balance ? r.amount : balance;
        delete requests[msg.sender];
        balanceOf[msg.sender] = balance - amount;

        emit Withdrawn(msg.sender, amount);
        if (amount != 0) {
            (bool ok,) = msg.sender.call{value: amount}("");
            if (!ok) revert InferenceEscrowTransferFailed(msg.sender, amount);
        }
    }

    /// @inheritdoc IInferenceEscrow
    function redeem(Voucher calldata _voucher, bytes calldata _signature)
        external
        nonReentrant
        returns (uint256 amount_)
    {
        if (msg.sender != _voucher.server) {
            revert InferenceEscrowNotServer(msg.sender, _voucher.server);
        }
        address payer = _voucher.payer;
        if (!SignatureChecker.isValidSignatureNowCalldata(payer, _digest(_voucher), _signature)) {
            revert InferenceEscrowInvalidSignature(payer);
        }

        bytes32 channel = keccak256(abi.encode(payer, _voucher.server, _voucher.modelId));
        uint256 previous = redeemedOf[channel];
        uint256 cumulative = _voucher.cumulativeAmount;
        if (cumulative <= previous) revert InferenceEscrowNothingToRedeem(cumulative, previous);
        amount_ = cumulative - previous;
        uint256 balance = balanceOf[payer];
        if (balance < amount_) revert InferenceEscrowInsufficientBalance(payer, balance, amount_);

        redeemedOf[channel] = cumulative;
        balanceOf[payer] = balance - amount_;

        emit VoucherRedeemed(payer, _voucher.server, _voucher.modelId, cumulative, amount_);
        rewards.creditFees{value: amount_}(_voucher.modelId);
    }

    /// @inheritdoc IInferenceEscrow
    function withdrawalRequest(address _payer) external view returns (WithdrawalRequest memory) {
        return requests[_payer];
    }

    /// @inheritdoc IInferenceEscrow
    function redeemed(address _payer, address _server, bytes32 _modelId) external view returns (uint256) {
        return redeemedOf[keccak256(abi.encode(_payer, _server, _modelId))];
    }

    /// @inheritdoc IInferenceEscrow
    function voucherDigest(Voucher calldata _voucher) external view returns (bytes32) {
        return _digest(_voucher);
    }

    /// @inheritdoc IInferenceEscrow
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Credits `msg.value` to `_payer`.
    /// @param _payer The payer.
    function _deposit(address _payer) internal {
        if (msg.value == 0) revert InferenceEscrowZeroAmount();
        uint256 balance = balanceOf[_payer] + msg.value;
        balanceOf[_payer] = balance;
        emit Deposited(_payer, msg.sender, msg.value, balance);
    }

    /// @notice The EIP-712 digest of a voucher.
    /// @param _voucher The voucher.
    /// @return The digest.
    function _digest(Voucher calldata _voucher) internal view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VOUCHER_TYPEHASH,
                    _voucher.payer,
                    _voucher.server,
                    _voucher.modelId,
                    _voucher.cumulativeAmount
                )
            )
        );
    }
}
