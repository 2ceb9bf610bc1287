// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title IStaking
/// @notice Native OPEN staked by curators and attestors. Bonded stake can be slashed by the
///         contracts holding SLASHER_ROLE (AttributionReceipts for attestors, Datanets for
///         curators); unbonding stake stays slashable until it is withdrawn, `unbondingPeriod`
///         after the last unbonding request. Bonded stake of both roles earns the stakers' share
///         of inference fees, pro rata (a reward-per-share accumulator), claimed with claimRewards.
interface IStaking {
    /// @notice What a stake is for.
    enum Role {
        Curator,
        Attestor
    }

    /// @notice One account's stake in one role.
    /// @custom:field bonded          Stake that counts (and earns).
    /// @custom:field unbonding       Stake on its way out (slashable, earns nothing).
    /// @custom:field unbondingEndsAt When `unbonding` may be withdrawn.
    struct StakeInfo {
        uint128 bonded;
        uint128 unbonding;
        uint64 unbondingEndsAt;
    }

    /// @notice Stake was added.
    /// @param account The staker credited.
    /// @param role    The role.
    /// @param funder  Who paid (the staker, or a contract restaking for it).
    /// @param amount  The amount added.
    event Staked(address indexed account, Role indexed role, address indexed funder, uint256 amount);

    /// @notice Bonded stake started unbonding.
    /// @param account The staker.
    /// @param role    The role.
    /// @param amount  The amount moved to unbonding.
    /// @param endsAt  When all of the account's unbonding stake in that role may be withdrawn.
    event UnbondingRequested(address indexed account, Role indexed role, uint256 amount, uint256 endsAt);

    /// @notice Unbonded stake was withdrawn.
    /// @param account The staker.
    /// @param role    The role.
    /// @param amount  The amount sent.
    event UnbondedWithdrawn(address indexed account, Role indexed role, uint256 amount);

    /// @notice Stake was slashed and sent to the slasher contract.
    /// @param account The staker.
    /// @param role    The role.
    /// @param slasher The contract that slashed.
    /// @param amount  The amount taken (bonded first, then unbonding).
    event Slashed(address indexed account, Role indexed role, address indexed slasher, uint256 amount);

    /// @notice Rewards were added for stakers.
    /// @param from              Who paid.
    /// @param amount            The amount paid.
    /// @param distributed       The amount spread over bonded stake now (including earlier queued rewards).
    /// @param accRewardPerShare The accumulator after the update (scaled by 1e18).
    event RewardsNotified(
        address indexed from, uint256 amount, uint256 distributed, uint256 accRewardPerShare
    );

    /// @notice A staker claimed rewards.
    /// @param account The staker.
    /// @param amount  The amount sent.
    event RewardsClaimed(address indexed account, uint256 amount);

    /// @notice An amount must be positive.
    error StakingZeroAmount();

    /// @notice An amount does not fit the 128-bit stake fields.
    /// @param amount The amount.
    error StakingAmountTooLarge(uint256 amount);

    /// @notice The zero address cannot hold stake.
    error StakingZeroAddress();

    /// @notice Not enough bonded stake to unbond that much.
    /// @param account   The staker.
    /// @param role      The role.
    /// @param bonded    Its bonded stake.
    /// @param requested The amount asked for.
    error StakingInsufficientBonded(address account, Role role, uint256 bonded, uint256 requested);

    /// @notice The unbonding period has not passed.
    /// @param endsAt When it does.
    error StakingUnbondingNotElapsed(uint256 endsAt);

    /// @notice No unbonding stake to withdraw.
    /// @param account The staker.
    /// @param role    The role.
    error StakingNothingToWithdraw(address account, Role role);

    /// @notice No rewards to claim.
    /// @param account The staker.
    error StakingNothingToClaim(address account);

    /// @notice Sending native OPEN failed.
    /// @param to     The recipient.
    /// @param amount The amount.
    error StakingTransferFailed(address to, uint256 amount);

    /// @notice The role allowed to slash (granted to AttributionReceipts and Datanets).
    /// @return keccak256("SLASHER_ROLE").
    function SLASHER_ROLE() external view returns (bytes32);

    /// @notice Seconds between the last unbonding request and the withdrawal.
    /// @return The period.
    function unbondingPeriod() external view returns (uint256);

    /// @notice Stakes `msg.value` for the caller in `_role`.
    /// @param _role The role.
    function stake(Role _role) external payable;

    /// @notice Stakes `msg.value` for `_account` in `_role` (only `_account` can ever withdraw it).
    /// @param _account The staker credited.
    /// @param _role    The role.
    function stakeFor(address _account, Role _role) external payable;

    /// @notice Moves `_amount` of the caller's bonded stake to unbonding and restarts the
    ///         unbonding clock of that role.
    /// @param _role   The role.
    /// @param _amount The amount.
    function requestUnbond(Role _role, uint256 _amount) external;

    /// @notice Sends the caller its unbonding stake in `_role` once the period has passed.
    /// @param _role The role.
    function withdrawUnbonded(Role _role) external;

    /// @notice Takes up to `_amount` of `_account`'s stake in `_role` (bonded first, then
    ///         unbonding) and sends it to the caller. Only SLASHER_ROLE.
    /// @param _account The staker.
    /// @param _role    The role.
    /// @param _amount  The most to take.
    /// @return slashed_ The amount taken (less than `_amount` if the stake is smaller).
    function slash(address _account, Role _role, uint256 _amount) external returns (uint256 slashed_);

    /// @notice Adds `msg.value` to the stakers' rewards. Anyone may pay. If nothing is bonded the
    ///         amount is queued and spread at the next notification with bonded stake.
    function notifyRewards() external payable;

    /// @notice Sends the caller its accrued rewards.
    function claimRewards() external;

    /// @notice One account's stake in one role.
    /// @param _account The staker.
    /// @param _role    The role.
    /// @return The stake.
    function stakeOf(address _account, Role _role) external view returns (StakeInfo memory);

    /// @notice Bonded stake of an account in a role.
    /// @param _account The staker.
    /// @param _role    The role.
    /// @return The bonded amount.
    function bondedOf(address _account, Role _role) external view returns (uint256);

    /// @notice Stake that slash() could take: bonded plus unbonding.
    /// @param _account The staker.
    /// @param _role    The role.
    /// @return The slashable amount.
    function slashableOf(address _account, Role _role) external view returns (uint256);

    /// @notice Rewards the account could claim now.
    /// @param _account The staker.
    /// @return The amount.
    function pendingRewards(address _account) external view returns (uint256);

    /// @notice Bonded stake of all accounts and roles.
    /// @return The total.
    function totalBonded() external view returns (uint256);

    /// @notice Unbonding stake of all accounts and roles.
    /// @return The total.
    function totalUnbonding() external view returns (uint256);

    /// @notice Rewards paid while nothing was bonded, waiting for the next notification.
    /// @return The amount.
    function queuedRewards() external view returns (uint256);
}
