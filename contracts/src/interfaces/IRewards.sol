// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {IAttributionReceipts} from "./IAttributionReceipts.sol";
import {IModelRegistry} from "./IModelRegistry.sol";
import {IStaking} from "./IStaking.sol";

/// @title IRewards
/// @notice Holds and splits inference fees. creditFees (called by InferenceEscrow, open to anyone)
///         splits a payment per the model's fee split: the owner's and the protocol's parts are
///         credited to their balances (withdraw()), the stakers' part is queued for Staking
///         (distributeStakerRewards()), and the contributors' part accrues in the model's pool.
///         Contributors claim from the pool with a Merkle proof against a final receipt batch of
///         that model; claims are cumulative per (model, account), and the pool never pays out
///         more than the model's finalized cumulative amount. Nothing expires.
/// @dev Reward leaf (the attribution engine builds the tree; OpenZeppelin MerkleProof, sorted pairs):
///        leaf = keccak256(bytes.concat(keccak256(abi.encode(modelId, account, cumulativeAmount))))
///      with modelId bytes32, account address, cumulativeAmount uint256: everything the account
///      has earned from the model's contributor pool up to that batch. Inner nodes:
///      keccak256(min(a, b) ‖ max(a, b)).
interface IRewards {
    /// @notice A model's contributor pool.
    /// @custom:field accrued Contributor fees received for the model so far.
    /// @custom:field claimed Contributor fees claimed so far.
    struct Pool {
        uint128 accrued;
        uint128 claimed;
    }

    /// @notice Fees were split.
    /// @param modelId         The model.
    /// @param payer           Who paid (InferenceEscrow for redeemed vouchers).
    /// @param amount          The amount split.
    /// @param ownerCut        Credited to the model owner.
    /// @param contributorsCut Added to the model's contributor pool.
    /// @param stakersCut      Queued for stakers.
    /// @param protocolCut     Credited to the treasury.
    event FeesCredited(
        bytes32 indexed modelId,
        address indexed payer,
        uint256 amount,
        uint256 ownerCut,
        uint256 contributorsCut,
        uint256 stakersCut,
        uint256 protocolCut
    );

    /// @notice A contributor claimed.
    /// @param modelId          The model.
    /// @param account          The contributor (and recipient).
    /// @param batchId          The final batch whose root was used.
    /// @param amount           The amount paid.
    /// @param cumulativeAmount The account's cumulative claim on the model after this one.
    event RewardClaimed(
        bytes32 indexed modelId,
        address indexed account,
        uint256 indexed batchId,
        uint256 amount,
        uint256 cumulativeAmount
    );

    /// @notice A credited balance was withdrawn.
    /// @param account The account.
    /// @param amount  The amount sent.
    event BalanceWithdrawn(address indexed account, uint256 amount);

    /// @notice The queued stakers' share was sent to Staking.
    /// @param amount The amount.
    event StakerRewardsDistributed(uint256 amount);

    /// @notice An amount must be positive.
    error RewardsZeroAmount();

    /// @notice The zero address cannot be configured.
    error RewardsZeroAddress();

    /// @notice The amount does not fit 128 bits.
    /// @param amount The amount.
    error RewardsAmountTooLarge(uint256 amount);

    /// @notice The proof does not show the leaf under the batch's rewards root.
    error RewardsInvalidProof();

    /// @notice The cumulative amount is not above what the account already claimed.
    /// @param account          The account.
    /// @param cumulativeAmount The amount proven.
    /// @param claimed          Already claimed.
    error RewardsNothingToClaim(address account, uint256 cumulativeAmount, uint256 claimed);

    /// @notice The claim would take the pool past the model's finalized cumulative amount.
    /// @param modelId      The model.
    /// @param claimedAfter The pool's claimed total the claim would reach.
    /// @param finalized    The model's finalized cumulative amount.
    error RewardsExceedsFinalized(bytes32 modelId, uint256 claimedAfter, uint256 finalized);

    /// @notice No balance to withdraw.
    /// @param account The account.
    error RewardsNothingToWithdraw(address account);

    /// @notice Sending native OPEN failed.
    /// @param to     The recipient.
    /// @param amount The amount.
    error RewardsTransferFailed(address to, uint256 amount);

    /// @notice The fee terms of models.
    /// @return The ModelRegistry.
    function registry() external view returns (IModelRegistry);

    /// @notice Where the stakers' share goes.
    /// @return The Staking contract.
    function staking() external view returns (IStaking);

    /// @notice Which receipt batches are final.
    /// @return The AttributionReceipts contract.
    function receipts() external view returns (IAttributionReceipts);

    /// @notice Who is credited the protocol's share.
    /// @return The treasury.
    function treasury() external view returns (address);

    /// @notice Splits `msg.value` of fees for `_modelId` (reverts for an unknown model).
    /// @param _modelId The model.
    function creditFees(bytes32 _modelId) external payable;

    /// @notice Pays the caller its contributor reward from a model's pool: `_cumulativeAmount`
    ///         (proven under the rewards root of final batch `_batchId`) minus what it claimed.
    /// @param _batchId          A final receipt batch of the model.
    /// @param _cumulativeAmount The caller's cumulative amount in that batch's tree.
    /// @param _proof            The Merkle proof of the caller's leaf.
    function claim(uint256 _batchId, uint256 _cumulativeAmount, bytes32[] calldata _proof) external;

    /// @notice Sends the caller its credited balance (model owners, the treasury).
    function withdraw() external;

    /// @notice Sends the queued stakers' share to Staking. Anyone may call.
    function distributeStakerRewards() external;

    /// @notice A credited balance.
    /// @param _account The account.
    /// @return The amount.
    function balanceOf(address _account) external view returns (uint256);

    /// @notice A model's contributor pool.
    /// @param _modelId The model.
    /// @return The pool.
    function pool(bytes32 _modelId) external view returns (Pool memory);

    /// @notice Contributor fees received for a model so far (the cap of its receipt batches).
    /// @param _modelId The model.
    /// @return The amount.
    function contributorAccrued(bytes32 _modelId) external view returns (uint256);

    /// @notice What an account claimed from a model's pool.
    /// @param _modelId The model.
    /// @param _account The account.
    /// @return The cumulative amount claimed.
    function claimedOf(bytes32 _modelId, address _account) external view returns (uint256);

    /// @notice The stakers' share not yet sent to Staking.
    /// @return The amount.
    function stakerRewardsPending() external view returns (uint256);

    /// @notice The reward leaf (see the format above).
    /// @param _modelId          The model.
    /// @param _account          The account.
    /// @param _cumulativeAmount Its cumulative amount.
    /// @return The leaf.
    function rewardLeaf(bytes32 _modelId, address _account, uint256 _cumulativeAmount)
        external
        pure
        returns (bytes32);
}
