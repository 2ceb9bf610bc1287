// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Interfaces
import {IStaking} from "../interfaces/IStaking.sol";

/// @title Staking
/// @notice Native OPEN staked as curator or attestor, with an unbonding period, slashing by the
///         contracts that hold SLASHER_ROLE, and the stakers' share of inference fees spread over
///         bonded stake.
/// @dev Rewards use a reward-per-share accumulator (scaled by 1e18): an account's shares are its
///      bonded stake over both roles, and every change to them first settles what the account
///      earned (`_settle`). Rounding leaves dust in the contract, never a shortfall:
///      balance >= totalBonded + totalUnbonding + queuedRewards + all accounts' owed rewards.
contract Staking is IStaking, AccessControl, ReentrancyGuardTransient {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IStaking
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");

    /// @notice Fixed-point scale of the accumulator.
    uint256 internal constant PRECISION = 1e18;

    /// @inheritdoc IStaking
    uint256 public immutable unbondingPeriod;

    /// @inheritdoc IStaking
    uint256 public totalBonded;

    /// @inheritdoc IStaking
    uint256 public totalUnbonding;

    /// @inheritdoc IStaking
    uint256 public queuedRewards;

    /// @notice Rewards per share of bonded stake since deployment, scaled by PRECISION.
    uint256 public accRewardPerShare;

    /// @notice Stakes by account and role.
    mapping(address => mapping(Role => StakeInfo)) internal stakes;

    /// @notice Bonded stake of an account over both roles (its reward shares).
    mapping(address => uint256) public sharesOf;

    /// @notice `sharesOf * accRewardPerShare / PRECISION` at the account's last settlement.
    mapping(address => uint256) public rewardDebt;

    /// @notice Rewards settled to an account and not yet claimed.
    mapping(address => uint256) public owedRewards;

    /// @notice Sets the admin (who grants SLASHER_ROLE) and the unbonding period.
    /// @param _admin           DEFAULT_ADMIN_ROLE holder.
    /// @param _unbondingPeriod Seconds between the last unbonding request and the withdrawal.
    constructor(address _admin, uint256 _unbondingPeriod) {
        if (_admin == address(0)) revert StakingZeroAddress();
        if (_unbondingPeriod == 0) revert StakingZeroAmount();
        unbondingPeriod = _unbondingPeriod;
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
    }

    /// @inheritdoc IStaking
    function stake(Role _role) external payable nonReentrant {
        _stake(msg.sender, _role);
    }

    /// @inheritdoc IStaking
    function stakeFor(address _account, Role _role) external payable nonReentrant {
        if (_account == address(0)) revert StakingZeroAddress();
        _stake(_account, _role);
    }

    /// @inheritdoc IStaking
    function requestUnbond(Role _role, uint256 _amount) external nonReentrant {
        if (_amount == 0) revert StakingZeroAmount();
        StakeInfo storage s = stakes[msg.sender][_role];
        if (_amount > s.bonded) revert StakingInsufficientBonded(msg.sender, _role, s.bonded, _amount);

        _settle(msg.sender);
        // Cannot truncate: _amount <= bonded < 2^128.
        s.bonded -= uint128(_amount);
        s.unbonding += uint128(_amount);
        uint256 endsAt = block.timestamp + unbondingPeriod;
        s.unbondingEndsAt = uint64(endsAt);
        totalBonded -= _amount;
        totalUnbonding += _amount;
        _setShares(msg.sender, sharesOf[msg.sender] - _amount);

        emit UnbondingRequested(msg.sender, _role, _amount, endsAt);
    }

    /// @inheritdoc IStaking
    function withdrawUnbonded(Role _role) external nonReentrant {
        StakeInfo storage s = stakes[msg.sender][_role];
        uint256 amount = s.unbonding;
        if (amount == 0) revert StakingNothingToWithdraw(msg.sender, _role);
        if (block.timestamp < s.unbondingEndsAt) revert StakingUnbondingNotElapsed(s.unbondingEndsAt);

        s.unbonding = 0;
        s.unbondingEndsAt = 0;
        totalUnbonding -= amount;

        emit UnbondedWithdrawn(msg.sender, _role, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IStaking
    function slash(address _account, Role _role, uint256 _amount)
        external
        nonReentrant
        onlyRole(SLASHER_ROLE)
        returns (uint256 slashed_)
    {
        StakeInfo storage s = stakes[_account][_role];
        uint256 fromBonded = _amount < s.bonded ? _amount : s.bonded;
        uint256 rest = _amount - fromBonded;
        uint256 fromUnbonding = rest < s.unbonding ? rest : s.unbonding;
        slashed_ = fromBonded + fromUnbonding;
        if (slashed_ == 0) return 0;

        if (fromBonded != 0) {
            _settle(_account);
            s.bonded -= uint128(fromBonded);
            totalBonded -= fromBonded;
            _setShares(_account, sharesOf[_account] - fromBonded);
        }
        if (fromUnbonding != 0) {
            s.unbonding -= uint128(fromUnbonding);
            totalUnbonding -= fromUnbonding;
        }

        emit Slashed(_account, _role, msg.sender, slashed_);
        _send(msg.sender, slashed_);
    }

    /// @inheritdoc IStaking
    function notifyRewards() external payable nonReentrant {
        uint256 distributed;
        if (totalBonded == 0) {
            queuedRewards += msg.value;
        } else {
            distributed = msg.value + queuedRewards;
            queuedRewards = 0;
            accRewardPerShare += (distributed * PRECISION) / totalBonded;
        }
        emit RewardsNotified(msg.sender, msg.value, distributed, accRewardPerShare);
    }

    /// @inheritdoc IStaking
    function claimRewards() external nonReentrant {
        _settle(msg.sender);
        uint256 amount = owedRewards[msg.sender];
        if (amount == 0) revert StakingNothingToClaim(msg.sender);
        owedRewards[msg.sender] = 0;
        emit RewardsClaimed(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IStaking
    function stakeOf(address _account, Role _role) external view returns (StakeInfo memory) {
        return stakes[_account][_role];
    }

    /// @inheritdoc IStaking
    function bondedOf(address _account, Role _role) external view returns (uint256) {
        return stakes[_account][_role].bonded;
    }

    /// @inheritdoc IStaking
    function slashableOf(address _account, Role _role) external view returns (uint256) {
        StakeInfo storage s = stakes[_account][_role];
        return uint256(s.bonded) + s.unbonding;
    }

    /// @inheritdoc IStaking
    function pendingRewards(address _account) external view returns (uint256) {
        return
            owedRewards[_account] + (sharesOf[_account] * accRewardPerShare) / PRECISION
                - rewardDebt[_account];
    }

    /// @notice Adds `msg.value` to `_account`'s bonded stake in `_role`.
    /// @param _account The staker.
    /// @param _role    The role.
    function _stake(address _account, Role _role) internal {
        if (msg.value == 0) revert StakingZeroAmount();
        StakeInfo storage s = stakes[_account][_role];
        uint256 bonded = uint256(s.bonded) + msg.value;
        if (bonded > type(uint128).max) revert StakingAmountTooLarge(msg.value);

        _settle(_account);
        s.bonded = uint128(bonded);
        totalBonded += msg.value;
        _setShares(_account, sharesOf[_account] + msg.value);

        emit Staked(_account, _role, msg.sender, msg.value);
    }

    /// @notice Moves what `_account` earned since its last settlement into `owedRewards`.
    /// @param _account The staker.
    function _settle(address _account) internal {
        uint256 accrued = (sharesOf[_account] * accRewardPerShare) / PRECISION;
        owedRewards[_account] += accrued - rewardDebt[_account];
        rewardDebt[_account] = accrued;
    }

    /// @notice Sets an account's shares right after `_settle` and re-bases its reward debt.
    /// @param _account The staker.
    /// @param _shares  Its new shares.
    function _setShares(address _account, uint256 _shares) internal {
        sharesOf[_account] = _shares;
        rewardDebt[_account] = (_shares * accRewardPerShare) / PRECISION;
    }

    /// @notice Sends native OPEN, reverting on failure.
    /// @param _to     The recipient.
    /// @param _amount The amount.
    function _send(address _to, uint256 _amount) internal {
        (bool ok,) = _to.call{value: _amount}("");
        if (!ok) revert StakingTransferFailed(_to, _amount);
    }
}
