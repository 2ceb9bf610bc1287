// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {IRewards} from "./IRewards.sol";
import {IStaking} from "./IStaking.sol";

/// @title IAttributionReceipts
/// @notice Batches of attribution receipts, per model. A staked attestor posts a batch for a model:
///         the Merkle root of its receipts, the Merkle root of the contributors' cumulative rewards
///         after it, and the amount of the model's contributor pool it hands out. Each model has
///         at most one open (Pending or Challenged) batch, and its batches form a chain of
///         cumulative amounts that never exceeds the contributor fees accrued in Rewards.
///         During the challenge window anyone may challenge with a bond, which freezes up to
///         `slashAmount` of the attestor's stake; the resolver then upholds (batch Rejected, the
///         frozen stake slashed: a share to the challenger with its bond back, the rest to the
///         treasury) or dismisses (the frozen stake restaked for the attestor, the bond credited to
///         it). After the window an unchallenged batch finalizes (anyone may call; posting the
///         model's next batch does it too), and contributors claim against it in Rewards.
/// @dev Receipt leaf (receiptsRoot; OpenZeppelin MerkleProof, sorted pairs):
///        leaf = keccak256(bytes.concat(keccak256(abi.encode(receipt))))
///      with `receipt` the Receipt struct below (all static fields, so abi.encode is the eight
///      words in order). attributionHash = keccak256(abi.encode(address[] contributors,
///      uint16[] weightsBps)) of the receipt's top-k contributors. Reward leaves: see IRewards.
interface IAttributionReceipts {
    /// @notice Where a batch stands.
    enum BatchStatus {
        None,
        Pending,
        Challenged,
        Rejected,
        Final
    }

    /// @notice A posted batch.
    /// @custom:field modelId           The model whose pool it hands out.
    /// @custom:field attestor          Who posted it.
    /// @custom:field challengeDeadline End of the challenge window.
    /// @custom:field status            Where it stands.
    /// @custom:field receiptsRoot      Merkle root of its receipts.
    /// @custom:field rewardsRoot       Merkle root of the contributors' cumulative rewards after it.
    /// @custom:field amount            Pool amount it hands out.
    /// @custom:field cumulativeAmount  The model's finalized cumulative amount once it is final.
    struct Batch {
        bytes32 modelId;
        address attestor;
        uint64 challengeDeadline;
        BatchStatus status;
        bytes32 receiptsRoot;
        bytes32 rewardsRoot;
        uint128 amount;
        uint128 cumulativeAmount;
    }

    /// @notice A model's chain of batches.
    /// @custom:field openBatchId         Its Pending or Challenged batch (0: none).
    /// @custom:field lastFinalBatchId    Its latest final batch (0: none).
    /// @custom:field finalizedCumulative Pool amount handed out by its final batches.
    struct Stream {
        uint64 openBatchId;
        uint64 lastFinalBatchId;
        uint128 finalizedCumulative;
    }

    /// @notice A challenge.
    /// @custom:field challenger  Who challenged.
    /// @custom:field bond        The bond paid.
    /// @custom:field frozenStake Attestor stake taken from Staking, pending the resolution.
    struct Challenge {
        address challenger;
        uint128 bond;
        uint128 frozenStake;
    }

    /// @notice Parameters set by the admin.
    /// @custom:field challengeWindow     Seconds a batch can be challenged (< Staking's unbonding period).
    /// @custom:field minAttestorStake    Bonded attestor stake required to post.
    /// @custom:field challengeBond       Exact bond a challenge pays.
    /// @custom:field slashAmount         Attestor stake frozen by a challenge and slashed if upheld (<= minAttestorStake).
    /// @custom:field challengerRewardBps Share of the slashed stake that goes to the challenger.
    struct Params {
        uint64 challengeWindow;
        uint128 minAttestorStake;
        uint128 challengeBond;
        uint128 slashAmount;
        uint16 challengerRewardBps;
    }

    /// @notice One attribution receipt (a leaf of receiptsRoot).
    /// @custom:field inferenceId     The inference (server-assigned id).
    /// @custom:field modelId         The model (ModelRegistry id).
    /// @custom:field adapterHash     The adapter served.
    /// @custom:field outputHash      keccak256 of the output.
    /// @custom:field indexRoot       Root of the gradient index the attribution used.
    /// @custom:field methodVersion   Version of the attribution method.
    /// @custom:field fee             The inference's fee in wei.
    /// @custom:field attributionHash keccak256(abi.encode(address[] contributors, uint16[] weightsBps)).
    struct Receipt {
        bytes32 inferenceId;
        bytes32 modelId;
        bytes32 adapterHash;
        bytes32 outputHash;
        bytes32 indexRoot;
        uint32 methodVersion;
        uint256 fee;
        bytes32 attributionHash;
    }

    /// @notice A batch was posted.
    /// @param batchId           Its id.
    /// @param modelId           Its model.
    /// @param attestor          Its attestor.
    /// @param receiptsRoot      Its receipts root.
    /// @param rewardsRoot       Its rewards root.
    /// @param amount            Pool amount it hands out.
    /// @param cumulativeAmount  The model's finalized cumulative amount once it is final.
    /// @param receiptCount      Number of receipts (as stated by the attestor).
    /// @param challengeDeadline End of its challenge window.
    /// @param dataURI           Where its receipts and reward tree are published.
    event BatchPosted(
        uint256 indexed batchId,
        bytes32 indexed modelId,
        address indexed attestor,
        bytes32 receiptsRoot,
        bytes32 rewardsRoot,
        uint256 amount,
        uint256 cumulativeAmount,
        uint256 receiptCount,
        uint256 challengeDeadline,
        string dataURI
    );

    /// @notice A batch was challenged.
    /// @param batchId     The batch.
    /// @param challenger  Who challenged.
    /// @param bond        The bond paid.
    /// @param frozenStake Attestor stake frozen.
    event BatchChallenged(
        uint256 indexed batchId, address indexed challenger, uint256 bond, uint256 frozenStake
    );

    /// @notice A challenge was resolved.
    /// @param batchId          The batch.
    /// @param upheld           True: the batch is Rejected. False: it is Pending again.
    /// @param resolver         Who resolved.
    /// @param slashed          Attestor stake slashed (0 if dismissed).
    /// @param challengerReward Share of it credited to the challenger (on top of its bond).
    event ChallengeResolved(
        uint256 indexed batchId,
        bool indexed upheld,
        address indexed resolver,
        uint256 slashed,
        uint256 challengerReward
    );

    /// @notice A batch became final.
    /// @param batchId          The batch.
    /// @param modelId          Its model.
    /// @param cumulativeAmount The model's finalized cumulative amount now.
    event BatchFinalized(uint256 indexed batchId, bytes32 indexed modelId, uint256 cumulativeAmount);

    /// @notice The parameters changed.
    /// @param params The new parameters.
    event ParamsUpdated(Params params);

    /// @notice The Rewards contract was set (once, by the deployer).
    /// @param rewards The Rewards contract.
    event RewardsSet(address rewards);

    /// @notice An account was credited.
    /// @param account The account.
    /// @param amount  The amount.
    event Credited(address indexed account, uint256 amount);

    /// @notice Credits were withdrawn.
    /// @param account The account.
    /// @param amount  The amount sent.
    event CreditsWithdrawn(address indexed account, uint256 amount);

    /// @notice Rewards has not been set yet.
    error AttributionReceiptsRewardsNotSet();

    /// @notice Rewards is set once.
    error AttributionReceiptsRewardsAlreadySet();

    /// @notice Only the deployer sets Rewards.
    /// @param caller The caller.
    error AttributionReceiptsNotDeployer(address caller);

    /// @notice The zero address cannot be configured.
    error AttributionReceiptsZeroAddress();

    /// @notice The attestor's bonded attestor stake is below the minimum.
    /// @param attestor The attestor.
    /// @param bonded   Its bonded stake.
    /// @param required The minimum.
    error AttributionReceiptsInsufficientStake(address attestor, uint256 bonded, uint256 required);

    /// @notice Roots are commitments: never zero.
    error AttributionReceiptsEmptyRoot();

    /// @notice A batch hands out a positive amount that fits 128 bits.
    /// @param amount The amount.
    error AttributionReceiptsBadAmount(uint256 amount);

    /// @notice The model already has an open batch.
    /// @param modelId     The model.
    /// @param openBatchId Its open batch.
    error AttributionReceiptsBatchOpen(bytes32 modelId, uint256 openBatchId);

    /// @notice The batch would hand out more than the model's contributor fees.
    /// @param modelId          The model.
    /// @param cumulativeAmount The cumulative amount it would reach.
    /// @param accrued          Contributor fees accrued for the model.
    error AttributionReceiptsExceedsPool(bytes32 modelId, uint256 cumulativeAmount, uint256 accrued);

    /// @notice The batch is not in the status the call needs.
    /// @param batchId The batch.
    /// @param status  Its status.
    error AttributionReceiptsWrongStatus(uint256 batchId, BatchStatus status);

    /// @notice The challenge window has closed.
    /// @param batchId  The batch.
    /// @param deadline The window's end.
    error AttributionReceiptsWindowClosed(uint256 batchId, uint256 deadline);

    /// @notice The challenge window is still open.
    /// @param batchId  The batch.
    /// @param deadline The window's end.
    error AttributionReceiptsWindowOpen(uint256 batchId, uint256 deadline);

    /// @notice `msg.value` must equal the challenge bond.
    /// @param sent     The value sent.
    /// @param required The bond.
    error AttributionReceiptsWrongBond(uint256 sent, uint256 required);

    /// @notice The parameters are inconsistent (zero window or bond, window not below the
    ///         unbonding period, slash above the minimum stake, reward share above 100%).
    error AttributionReceiptsInvalidParams();

    /// @notice No credits to withdraw.
    /// @param account The account.
    error AttributionReceiptsNothingToWithdraw(address account);

    /// @notice Sending native OPEN failed.
    /// @param to     The recipient.
    /// @param amount The amount.
    error AttributionReceiptsTransferFailed(address to, uint256 amount);

    /// @notice Only Staking sends native OPEN here outside a challenge.
    /// @param sender The sender.
    error AttributionReceiptsUnexpectedSender(address sender);

    /// @notice The role that resolves challenges.
    /// @return keccak256("RESOLVER_ROLE").
    function RESOLVER_ROLE() external view returns (bytes32);

    /// @notice Where attestors stake (and are slashed).
    /// @return The Staking contract.
    function staking() external view returns (IStaking);

    /// @notice The contract holding the contributor pools.
    /// @return The Rewards contract (zero until set).
    function rewards() external view returns (IRewards);

    /// @notice Receives the slashed stake not paid to challengers.
    /// @return The treasury.
    function treasury() external view returns (address);

    /// @notice The parameters.
    /// @return The parameters.
    function params() external view returns (Params memory);

    /// @notice Number of batches posted (ids run from 1).
    /// @return The count.
    function batchCount() external view returns (uint256);

    /// @notice Sets the Rewards contract, once. Only the deployer.
    /// @param _rewards The Rewards contract.
    function setRewards(IRewards _rewards) external;

    /// @notice Sets the parameters. Only DEFAULT_ADMIN_ROLE. Open batches keep their deadline.
    /// @param _params The parameters.
    function setParams(Params calldata _params) external;

    /// @notice Posts a batch for a model. The caller must hold `minAttestorStake` bonded as an
    ///         attestor; the model must have no open batch (a finalizable one is finalized first);
    ///         the model's finalized cumulative amount plus `_amount` must not exceed its accrued
    ///         contributor fees.
    /// @param _modelId      The model.
    /// @param _receiptsRoot Merkle root of the receipts.
    /// @param _rewardsRoot  Merkle root of the cumulative rewards after this batch.
    /// @param _amount       Pool amount the batch hands out.
    /// @param _receiptCount Number of receipts.
    /// @param _dataURI      Where the receipts and the reward tree are published.
    /// @return batchId_ The new batch's id.
    function postBatch(
        bytes32 _modelId,
        bytes32 _receiptsRoot,
        bytes32 _rewardsRoot,
        uint256 _amount,
        uint32 _receiptCount,
        string calldata _dataURI
    ) external returns (uint256 batchId_);

    /// @notice Challenges a Pending batch within its window, paying exactly the challenge bond.
    /// @param _batchId The batch.
    function challenge(uint256 _batchId) external payable;

    /// @notice Resolves a challenge. Only RESOLVER_ROLE.
    /// @param _batchId The batch.
    /// @param _upheld  True if the batch is wrong.
    function resolveChallenge(uint256 _batchId, bool _upheld) external;

    /// @notice Finalizes a Pending batch whose window has closed. Anyone may call.
    /// @param _batchId The batch.
    function finalizeBatch(uint256 _batchId) external;

    /// @notice Sends the caller its credits (bonds and challenge rewards).
    function withdrawCredits() external;

    /// @notice A batch.
    /// @param _batchId The id.
    /// @return The batch (status None if unknown).
    function getBatch(uint256 _batchId) external view returns (Batch memory);

    /// @notice A model's stream.
    /// @param _modelId The model.
    /// @return The stream.
    function getStream(bytes32 _modelId) external view returns (Stream memory);

    /// @notice A batch's challenge.
    /// @param _batchId The batch.
    /// @return The challenge (zero if none).
    function getChallenge(uint256 _batchId) external view returns (Challenge memory);

    /// @notice What a claim needs from a final batch (reverts unless the batch is Final).
    /// @param _batchId The batch.
    /// @return modelId_             Its model.
    /// @return rewardsRoot_         Its rewards root.
    /// @return finalizedCumulative_ The model's finalized cumulative amount now.
    function finalRewardsRoot(uint256 _batchId)
        external
        view
        returns (bytes32 modelId_, bytes32 rewardsRoot_, uint256 finalizedCumulative_);

    /// @notice Credits an account may withdraw.
    /// @param _account The account.
    /// @return The amount.
    function credits(address _account) external view returns (uint256);

    /// @notice The receipt leaf (see the format above).
    /// @param _receipt The receipt.
    /// @return The leaf.
    function receiptLeaf(Receipt calldata _receipt) external pure returns (bytes32);

    /// @notice Whether a receipt is in a batch's receipts root.
    /// @param _batchId The batch.
    /// @param _receipt The receipt.
    /// @param _proof   Its Merkle proof.
    /// @return True if it is.
    function verifyReceipt(uint256 _batchId, Receipt calldata _receipt, bytes32[] calldata _proof)
        external
        view
        returns (bool);
}
