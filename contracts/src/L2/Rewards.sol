// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Libraries
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

// Interfaces
import {IAttributionReceipts} from "../interfaces/IAttributionReceipts.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IRewards} from "../interfaces/IRewards.sol";
import {IStaking} from "../interfaces/IStaking.sol";

/// @title Rewards
/// @notice Splits inference fees per each model's fee split and pays them out: balances for model
///         owners and the treasury, a queue for stakers, and per-model contributor pools claimed
///         with Merkle proofs against final attribution receipt batches.
/// @dev Invariant (exact, no rounding dust): address(this).balance == sum of balances +
///      stakerRewardsPending + sum over models of (pool.accrued - pool.claimed), and for every model
///      pool.claimed <= finalizedCumulative(model) <= pool.accrued.
contract Rewards is IRewards, ReentrancyGuardTransient {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @notice Basis points in a whole.
    uint256 internal constant BPS = 10_000;

    /// @inheritdoc IRewards
    IModelRegistry public immutable registry;

    /// @inheritdoc IRewards
    IStaking public immutable staking;

    /// @inheritdoc IRewards
    IAttributionReceipts public immutable receipts;

    /// @inheritdoc IRewards
    address public immutable treasury;

    /// @inheritdoc IRewards
    mapping(address => uint256) public balanceOf;

    /// @inheritdoc IRewards
    mapping(bytes32 => mapping(address => uint256)) public claimedOf;

    /// @inheritdoc IRewards
    uint256 public stakerRewardsPending;

    /// @notice Contributor pools by model.
    mapping(bytes32 => Pool) internal pools;

    /// @notice Binds the contract to the registry, staking, receipts and the treasury.
    /// @param _registry Fee terms of models.
    /// @param _staking  Where the stakers' share goes.
    /// @param _receipts Which batches are final.
    /// @param _treasury Who is credited the protocol's share.
    constructor(
        IModelRegistry _registry,
        IStaking _staking,
        IAttributionReceipts _receipts,
        address _treasury
    ) {
        if (
            address(_registry) == address(0) || address(_staking) == address(0)
                || address(_receipts) == address(0) || _treasury == address(0)
        ) revert RewardsZeroAddress();
        registry = _registry;
        staking = _staking;
        receipts = _receipts;
        treasury = _treasury;
    }

    /// @inheritdoc IRewards
    function creditFees(bytes32 _modelId) external payable nonReentrant {
        uint256 amount = msg.value;
        if (amount == 0) revert RewardsZeroAmount();
        (address owner, IModelRegistry.FeeSplit memory split) = registry.feeTerms(_modelId);

        uint256 contributorsCut = (amount * split.contributorsBps) / BPS;
        uint256 stakersCut = (amount * split.stakersBps) / BPS;
        uint256 protocolCut = (amount * split.protocolBps) / BPS;
        // The owner takes the rounding remainder, so the cuts always sum to `amount`.
        uint256 ownerCut = amount - contributorsCut - stakersCut - protocolCut;

        Pool storage p = pools[_modelId];
        uint256 accrued = uint256(p.accrued) + contributorsCut;
        if (accrued > type(uint128).max) revert RewardsAmountTooLarge(accrued);
        p.accrued = uint128(accrued);
        stakerRewardsPending += stakersCut;
        balanceOf[owner] += ownerCut;
        balanceOf[treasury] += protocolCut;

        emit FeesCredited(_modelId, msg.sender, amount, ownerCut, contributorsCut, stakersCut, protocolCut);
    }

    /// @inheritdoc IRewards
    function claim(uint256 _batchId, uint256 _cumulativeAmount, bytes32[] calldata _proof)
        external
        nonReentrant
    {
        (bytes32 modelId, bytes32 root, uint256 finalized) = receipts.finalRewardsRoot(_batchId);
        if (!MerkleProof.verifyCalldata(_proof, root, rewardLeaf(modelId, msg.sender, _cumulativeAmount))) {
            revert RewardsInvalidProof();
        }
        uint256 claimed = claimedOf[modelId][msg.sender];
        if (_cumulativeAmount <= claimed) {
            revert RewardsNothingToClaim(msg.sender, _cumulativeAmount, claimed);
        }
        uint256 amount = _cumulativeAmount - claimed;

        Pool storage p = pools[modelId];
        uint256 claimedAfter = uint256(p.claimed) + amount;
        // A wrong tree can never pay more than the model's final batches handed out (and those
        // never exceed its accrued contributor fees).
        if (claimedAfter > finalized || claimedAfter > p.accrued) {
            revert RewardsExceedsFinalized(modelId, claimedAfter, finalized);
        }

        claimedOf[modelId][msg.sender] = _cumulativeAmount;
        p.claimed = uint128(claimedAfter);

        emit RewardClaimed(modelId, msg.sender, _batchId, amount, _cumulativeAmount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IRewards
    function withdraw() external nonReentrant {
        uint256 amount = balanceOf[msg.sender];
        if (amount == 0) revert RewardsNothingToWithdraw(msg.sender);
        balanceOf[msg.sender] = 0;
        emit BalanceWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IRewards
    function distributeStakerRewards() external nonReentrant {
        uint256 amount = stakerRewardsPending;
        if (amount == 0) revert RewardsZeroAmount();
        stakerRewardsPending = 0;
        emit StakerRewardsDistributed(amount);
        staking.notifyRewards{value: amount}();
    }

    /// @inheritdoc IRewards
    function pool(bytes32 _modelId) external view returns (Pool memory) {
        return pools[_modelId];
    }

    /// @inheritdoc IRewards
    function contributorAccrued(bytes32 _modelId) external view returns (uint256) {
        return pools[_modelId].accrued;
    }

    /// @inheritdoc IRewards
    function rewardLeaf(bytes32 _modelId, address _account, uint256 _cumulativeAmount)
        public
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(_modelId, _account, _cumulativeAmount))));
    }

    /// @notice Sends native OPEN, reverting on failure.
    /// @param _to     The recipient.
    /// @param _amount The amount.
    function _send(address _to, uint256 _amount) internal {
        (bool ok,) = _to.call{value: _amount}("");
        if (!ok) revert RewardsTransferFailed(_to, _amount);
    }
}
