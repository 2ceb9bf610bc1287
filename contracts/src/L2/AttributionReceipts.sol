// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Libraries
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

// Interfaces
import {IAttributionReceipts} from "../interfaces/IAttributionReceipts.sol";
import {IRewards} from "../interfaces/IRewards.sol";
import {IStaking} from "../interfaces/IStaking.sol";

/// @title AttributionReceipts
/// @notice Attribution receipt batches per model with a challenge window, bonded challenges that
///         freeze the attestor's stake, resolution by RESOLVER_ROLE with slashing, and
///         finalization, which makes the batch's reward root claimable in Rewards.
/// @dev One open batch per model keeps the chain of cumulative amounts linear: a batch's
///      cumulativeAmount is the model's finalizedCumulative when it was posted plus its amount,
///      and finalizedCumulative only moves when that same batch finalizes. Native OPEN held here:
///      bonds of open challenges + frozen stake of open challenges + credits.
contract AttributionReceipts is IAttributionReceipts, AccessControl, ReentrancyGuardTransient {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IAttributionReceipts
    bytes32 public constant RESOLVER_ROLE = keccak256("RESOLVER_ROLE");

    /// @notice Basis points in a whole.
    uint256 internal constant BPS = 10_000;

    /// @inheritdoc IAttributionReceipts
    IStaking public immutable staking;

    /// @inheritdoc IAttributionReceipts
    address public immutable treasury;

    /// @notice The account that may set Rewards (once).
    address internal immutable deployer;

    /// @inheritdoc IAttributionReceipts
    IRewards public rewards;

    /// @inheritdoc IAttributionReceipts
    uint256 public batchCount;

    /// @notice The parameters.
    Params internal currentParams;

    /// @notice Batches by id (from 1).
    mapping(uint256 => Batch) internal batches;

    /// @notice Streams by model.
    mapping(bytes32 => Stream) internal streams;

    /// @notice Challenges by batch.
    mapping(uint256 => Challenge) internal challenges;

    /// @inheritdoc IAttributionReceipts
    mapping(address => uint256) public credits;

    /// @notice Sets staking, the treasury, the admin and the parameters; the caller may set Rewards once.
    /// @param _staking  Where attestors stake.
    /// @param _treasury Receives slashed stake not paid to challengers.
    /// @param _admin    DEFAULT_ADMIN_ROLE holder (sets parameters, grants RESOLVER_ROLE).
    /// @param _params   Initial parameters.
    constructor(IStaking _staking, address _treasury, address _admin, Params memory _params) {
        if (address(_staking) == address(0) || _treasury == address(0) || _admin == address(0)) {
            revert AttributionReceiptsZeroAddress();
        }
        staking = _staking;
        treasury = _treasury;
        deployer = msg.sender;
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
        _setParams(_params);
    }

    /// @notice Accepts frozen stake from Staking only.
    receive() external payable {
        if (msg.sender != address(staking)) revert AttributionReceiptsUnexpectedSender(msg.sender);
    }

    /// @inheritdoc IAttributionReceipts
    function setRewards(IRewards _rewards) external {
        if (msg.sender != deployer) revert AttributionReceiptsNotDeployer(msg.sender);
        if (address(rewards) != address(0)) revert AttributionReceiptsRewardsAlreadySet();
        if (address(_rewards) == address(0)) revert AttributionReceiptsZeroAddress();
        rewards = _rewards;
        emit RewardsSet(address(_rewards));
    }

    /// @inheritdoc IAttributionReceipts
    function setParams(Params calldata _params) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParams(_params);
    }

    /// @inheritdoc IAttributionReceipts
    function postBatch(
        bytes32 _modelId,
        bytes32 _receiptsRoot,
        bytes32 _rewardsRoot,
        uint256 _amount,
        uint32 _receiptCount,
        string calldata _dataURI
    ) external nonReentrant returns (uint256 batchId_) {
        if (_receiptsRoot == bytes32(0) || _rewardsRoot == bytes32(0)) {
            revert AttributionReceiptsEmptyRoot();
        }
        if (_amount == 0 || _amount > type(uint128).max) revert AttributionReceiptsBadAmount(_amount);
        _checkAttestorStake(msg.sender);
        (Stream storage s, uint256 cumulative) = _nextCumulative(_modelId, _amount);

        batchId_ = ++batchCount;
        uint256 deadline = block.timestamp + currentParams.challengeWindow;
        batches[batchId_] = Batch({
            modelId: _modelId,
            attestor: msg.sender,
            challengeDeadline: uint64(deadline),
            status: BatchStatus.Pending,
            receiptsRoot: _receiptsRoot,
            rewardsRoot: _rewardsRoot,
            // Both fit: cumulative <= accrued, a uint128.
            amount: uint128(_amount),
            cumulativeAmount: uint128(cumulative)
        });
        s.openBatchId = uint64(batchId_);

        emit BatchPosted(
            batchId_,
            _modelId,
            msg.sender,
            _receiptsRoot,
            _rewardsRoot,
            _amount,
            cumulative,
            _receiptCount,
            deadline,
            _dataURI
        );
    }

    /// @inheritdoc IAttributionReceipts
    function challenge(uint256 _batchId) external payable nonReentrant {
        Batch storage b = batches[_batchId];
        if (b.status != BatchStatus.Pending) revert AttributionReceiptsWrongStatus(_batchId, b.status);
        if (block.timestamp >= b.challengeDeadline) {
            revert AttributionReceiptsWindowClosed(_batchId, b.challengeDeadline);
        }
        uint256 bond = currentParams.challengeBond;
        if (msg.value != bond) revert AttributionReceiptsWrongBond(msg.value, bond);

        address attestor = b.attestor;
        uint256 slashAmount = currentParams.slashAmount;
        uint256 slashable = staking.slashableOf(attestor, IStaking.Role.Attestor);
        uint256 frozen = slashable < slashAmount ? slashable : slashAmount;

        b.status = BatchStatus.Challenged;
        // bond and frozen are bounded by uint128 parameters.
        challenges[_batchId] =
            Challenge({challenger: msg.sender, bond: uint128(bond), frozenStake: uint128(frozen)});

        emit BatchChallenged(_batchId, msg.sender, bond, frozen);
        uint256 taken = staking.slash(attestor, IStaking.Role.Attestor, slashAmount);
        assert(taken == frozen);
    }

    /// @inheritdoc IAttributionReceipts
    function resolveChallenge(uint256 _batchId, bool _upheld) external nonReentrant onlyRole(RESOLVER_ROLE) {
        Batch storage b = batches[_batchId];
        if (b.status != BatchStatus.Challenged) revert AttributionReceiptsWrongStatus(_batchId, b.status);
        Challenge storage c = challenges[_batchId];
        uint256 frozen = c.frozenStake;

        if (_upheld) {
            b.status = BatchStatus.Rejected;
            streams[b.modelId].openBatchId = 0;
            uint256 reward = (frozen * currentParams.challengerRewardBps) / BPS;
            emit ChallengeResolved(_batchId, true, msg.sender, frozen, reward);
            _credit(c.challenger, c.bond + reward);
            _credit(treasury, frozen - reward);
        } else {
            b.status = BatchStatus.Pending;
            address attestor = b.attestor;
            emit ChallengeResolved(_batchId, false, msg.sender, 0, 0);
            _credit(attestor, c.bond);
            // The frozen stake goes back to the attestor's bonded stake.
            if (frozen != 0) staking.stakeFor{value: frozen}(attestor, IStaking.Role.Attestor);
        }
    }

    /// @inheritdoc IAttributionReceipts
    function finalizeBatch(uint256 _batchId) external nonReentrant {
        Batch storage b = batches[_batchId];
        if (b.status != BatchStatus.Pending) revert AttributionReceiptsWrongStatus(_batchId, b.status);
        if (block.timestamp < b.challengeDeadline) {
            revert AttributionReceiptsWindowOpen(_batchId, b.challengeDeadline);
        }
        _finalize(_batchId, b, streams[b.modelId]);
    }

    /// @inheritdoc IAttributionReceipts
    function withdrawCredits() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert AttributionReceiptsNothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        emit CreditsWithdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert AttributionReceiptsTransferFailed(msg.sender, amount);
    }

    /// @inheritdoc IAttributionReceipts
    function params() external view returns (Params memory) {
        return currentParams;
    }

    /// @inheritdoc IAttributionReceipts
    function getBatch(uint256 _batchId) external view returns (Batch memory) {
        return batches[_batchId];
    }

    /// @inheritdoc IAttributionReceipts
    function getStream(bytes32 _modelId) external view returns (Stream memory) {
        return streams[_modelId];
    }

    /// @inheritdoc IAttributionReceipts
    function getChallenge(uint256 _batchId) external view returns (Challenge memory) {
        return challenges[_batchId];
    }

    /// @inheritdoc IAttributionReceipts
    function finalRewardsRoot(uint256 _batchId)
        external
        view
        returns (bytes32 modelId_, bytes32 rewardsRoot_, uint256 finalizedCumulative_)
    {
        Batch storage b = batches[_batchId];
        if (b.status != BatchStatus.Final) revert AttributionReceiptsWrongStatus(_batchId, b.status);
        modelId_ = b.modelId;
        rewardsRoot_ = b.rewardsRoot;
        finalizedCumulative_ = streams[modelId_].finalizedCumulative;
    }

    /// @inheritdoc IAttributionReceipts
    function receiptLeaf(Receipt calldata _receipt) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(_receipt))));
    }

    /// @inheritdoc IAttributionReceipts
    function verifyReceipt(uint256 _batchId, Receipt calldata _receipt, bytes32[] calldata _proof)
        external
        view
        returns (bool)
    {
        return MerkleProof.verifyCalldata(_proof, batches[_batchId].receiptsRoot, receiptLeaf(_receipt));
    }

    /// @notice Reverts unless `_attestor` holds the minimum bonded attestor stake.
    /// @param _attestor The poster.
    function _checkAttestorStake(address _attestor) internal view {
        uint256 minStake = currentParams.minAttestorStake;
        uint256 bonded = staking.bondedOf(_attestor, IStaking.Role.Attestor);
        if (bonded < minStake) revert AttributionReceiptsInsufficientStake(_attestor, bonded, minStake);
    }

    /// @notice Closes the model's open batch if it may finalize (reverts if it may not), and
    ///         returns the cumulative amount a new batch of `_amount` reaches, checked against
    ///         the model's accrued contributor fees.
    /// @param _modelId The model.
    /// @param _amount  The new batch's amount.
    /// @return s_          The model's stream.
    /// @return cumulative_ The new batch's cumulative amount.
    function _nextCumulative(bytes32 _modelId, uint256 _amount)
        internal
        returns (Stream storage s_, uint256 cumulative_)
    {
        IRewards r = rewards;
        if (address(r) == address(0)) revert AttributionReceiptsRewardsNotSet();
        s_ = streams[_modelId];
        uint256 openId = s_.openBatchId;
        if (openId != 0) {
            Batch storage open = batches[openId];
            if (open.status != BatchStatus.Pending || block.timestamp < open.challengeDeadline) {
                revert AttributionReceiptsBatchOpen(_modelId, openId);
            }
            _finalize(openId, open, s_);
        }
        cumulative_ = uint256(s_.finalizedCumulative) + _amount;
        uint256 accrued = r.contributorAccrued(_modelId);
        if (cumulative_ > accrued) revert AttributionReceiptsExceedsPool(_modelId, cumulative_, accrued);
    }

    /// @notice Marks a batch Final and advances its model's stream.
    /// @param _batchId The batch.
    /// @param _b       The batch's storage.
    /// @param _s       Its model's stream.
    function _finalize(uint256 _batchId, Batch storage _b, Stream storage _s) internal {
        _b.status = BatchStatus.Final;
        uint128 cumulative = _b.cumulativeAmount;
        _s.finalizedCumulative = cumulative;
        _s.lastFinalBatchId = uint64(_batchId);
        _s.openBatchId = 0;
        emit BatchFinalized(_batchId, _b.modelId, cumulative);
    }

    /// @notice Checks and stores the parameters.
    /// @param _params The parameters.
    function _setParams(Params memory _params) internal {
        if (
            _params.challengeWindow == 0 || _params.challengeWindow >= staking.unbondingPeriod()
                || _params.challengeBond == 0 || _params.slashAmount > _params.minAttestorStake
                || _params.challengerRewardBps > BPS
        ) revert AttributionReceiptsInvalidParams();
        currentParams = _params;
        emit ParamsUpdated(_params);
    }

    /// @notice Credits an account (no event for a zero amount).
    /// @param _account The account.
    /// @param _amount  The amount.
    function _credit(address _account, uint256 _amount) internal {
        if (_amount == 0) return;
        credits[_account] += _amount;
        emit Credited(_account, _amount);
    }
}
