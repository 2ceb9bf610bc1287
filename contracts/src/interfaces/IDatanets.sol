// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {IStaking} from "./IStaking.sol";

/// @title IDatanets
/// @notice Community datasets. An owner creates a Datanet with a metadata URI, a license and
///         contribution rules (an optional stake per contribution, a size limit, an allow list,
///         the stake its curators must hold). Contributors register contributions by content
///         hash (unique across all Datanets while registered); curators appointed by the owner and
///         staked as curators in Staking approve them (giving them ownership weight) or reject
///         them; contributors may withdraw a contribution while it is pending.
///         Contribution stakes come back (as a credit) on approval or withdrawal and go to the
///         treasury on rejection. All payouts are credits withdrawn with withdrawCredits().
interface IDatanets {
    /// @notice Where a contribution stands.
    enum ContributionStatus {
        None,
        Pending,
        Approved,
        Rejected,
        Withdrawn
    }

    /// @notice Contribution rules of a Datanet.
    /// @custom:field contributionStake   Native OPEN each contribution must carry (0: none).
    /// @custom:field minCuratorStake     Curator stake (Staking, Role.Curator) a curator must hold.
    /// @custom:field maxContributionSize Largest contribution in bytes (0: no limit).
    /// @custom:field allowListed         Whether only allow-listed accounts may contribute.
    struct Rules {
        uint128 contributionStake;
        uint128 minCuratorStake;
        uint64 maxContributionSize;
        bool allowListed;
    }

    /// @notice A Datanet.
    /// @custom:field owner         Manages rules, curators and the allow list.
    /// @custom:field approvedCount Number of approved contributions.
    /// @custom:field totalWeight   Sum of the ownership weight of approved contributions.
    /// @custom:field rules         The contribution rules.
    /// @custom:field metadataURI   Where the Datanet is described.
    /// @custom:field license       License of the data (an SPDX id or a URI).
    struct Datanet {
        address owner;
        uint64 approvedCount;
        uint128 totalWeight;
        Rules rules;
        string metadataURI;
        string license;
    }

    /// @notice A contribution.
    /// @custom:field contributor The account that registered it (and owns its weight).
    /// @custom:field datanetId   The Datanet it belongs to.
    /// @custom:field status      Where it stands.
    /// @custom:field contentHash Hash of the content (unique while Pending or Approved).
    /// @custom:field size        Size in bytes.
    /// @custom:field stake       Native OPEN it carries.
    /// @custom:field weight      Ownership weight given on approval.
    struct Contribution {
        address contributor;
        uint64 datanetId;
        ContributionStatus status;
        bytes32 contentHash;
        uint64 size;
        uint128 stake;
        uint64 weight;
    }

    /// @notice A Datanet was created.
    /// @param datanetId   Its id.
    /// @param owner       Its owner.
    /// @param metadataURI Its metadata URI.
    /// @param license     Its license.
    /// @param rules       Its rules.
    event DatanetCreated(
        uint256 indexed datanetId, address indexed owner, string metadataURI, string license, Rules rules
    );

    /// @notice A Datanet's metadata, license or rules changed.
    /// @param datanetId   Its id.
    /// @param metadataURI The new metadata URI.
    /// @param license     The new license.
    /// @param rules       The new rules (pending contributions keep the stake they carry).
    event DatanetUpdated(uint256 indexed datanetId, string metadataURI, string license, Rules rules);

    /// @notice A curator was appointed or removed.
    /// @param datanetId The Datanet.
    /// @param curator   The curator.
    /// @param enabled   Whether it now curates.
    event CuratorSet(uint256 indexed datanetId, address indexed curator, bool enabled);

    /// @notice An account was added to or removed from a Datanet's allow list.
    /// @param datanetId The Datanet.
    /// @param account   The account.
    /// @param allowed   Whether it may now contribute.
    event AllowListSet(uint256 indexed datanetId, address indexed account, bool allowed);

    /// @notice A contribution was registered (Pending).
    /// @param contributionId Its id.
    /// @param datanetId      Its Datanet.
    /// @param contributor    Its contributor.
    /// @param contentHash    Hash of its content.
    /// @param size           Size in bytes.
    /// @param stake          Native OPEN it carries.
    /// @param metadataURI    Where its metadata is (emitted only, not stored).
    event ContributionRegistered(
        uint256 indexed contributionId,
        uint256 indexed datanetId,
        address indexed contributor,
        bytes32 contentHash,
        uint256 size,
        uint256 stake,
        string metadataURI
    );

    /// @notice A contribution was approved.
    /// @param contributionId Its id.
    /// @param datanetId      Its Datanet.
    /// @param curator        The curator who approved it.
    /// @param weight         The ownership weight it carries.
    event ContributionApproved(
        uint256 indexed contributionId, uint256 indexed datanetId, address indexed curator, uint256 weight
    );

    /// @notice A contribution was rejected; its stake went to the treasury.
    /// @param contributionId Its id.
    /// @param datanetId      Its Datanet.
    /// @param curator        The curator who rejected it.
    /// @param reason         Why (free text).
    event ContributionRejected(
        uint256 indexed contributionId, uint256 indexed datanetId, address indexed curator, string reason
    );

    /// @notice A pending contribution was withdrawn by its contributor.
    /// @param contributionId Its id.
    /// @param datanetId      Its Datanet.
    /// @param contributor    Its contributor.
    event ContributionWithdrawn(
        uint256 indexed contributionId, uint256 indexed datanetId, address indexed contributor
    );

    /// @notice A curator's stake was slashed (to the treasury).
    /// @param datanetId The Datanet where it misbehaved.
    /// @param curator   The curator.
    /// @param amount    The amount taken.
    event CuratorSlashed(uint256 indexed datanetId, address indexed curator, uint256 amount);

    /// @notice An account was credited.
    /// @param account The account.
    /// @param amount  The amount.
    event Credited(address indexed account, uint256 amount);

    /// @notice Credits were withdrawn.
    /// @param account The account.
    /// @param amount  The amount sent.
    event CreditsWithdrawn(address indexed account, uint256 amount);

    /// @notice No such Datanet.
    /// @param datanetId The id.
    error DatanetsUnknownDatanet(uint256 datanetId);

    /// @notice Only the Datanet's owner.
    /// @param datanetId The Datanet.
    /// @param caller    The caller.
    error DatanetsNotOwner(uint256 datanetId, address caller);

    /// @notice Only an appointed curator of the Datanet.
    /// @param datanetId The Datanet.
    /// @param caller    The caller.
    error DatanetsNotCurator(uint256 datanetId, address caller);

    /// @notice The curator's bonded curator stake is below the Datanet's minimum.
    /// @param curator  The curator.
    /// @param bonded   Its bonded curator stake.
    /// @param required The minimum.
    error DatanetsCuratorStakeTooLow(address curator, uint256 bonded, uint256 required);

    /// @notice A curator may not judge its own contribution.
    /// @param contributionId The contribution.
    error DatanetsSelfCuration(uint256 contributionId);

    /// @notice The Datanet is allow-listed and the account is not on the list.
    /// @param datanetId The Datanet.
    /// @param account   The account.
    error DatanetsNotAllowed(uint256 datanetId, address account);

    /// @notice The content hash is already registered (Pending or Approved).
    /// @param contentHash    The hash.
    /// @param contributionId The contribution holding it.
    error DatanetsDuplicateContent(bytes32 contentHash, uint256 contributionId);

    /// @notice The zero content hash is not a commitment.
    error DatanetsEmptyContentHash();

    /// @notice The size is zero or above the Datanet's limit.
    /// @param size    The size given.
    /// @param maximum The limit (0: none).
    error DatanetsInvalidSize(uint256 size, uint256 maximum);

    /// @notice `msg.value` must equal the Datanet's contribution stake.
    /// @param sent     The value sent.
    /// @param required The stake required.
    error DatanetsWrongStake(uint256 sent, uint256 required);

    /// @notice No such contribution.
    /// @param contributionId The id.
    error DatanetsUnknownContribution(uint256 contributionId);

    /// @notice The contribution is not pending.
    /// @param contributionId The contribution.
    /// @param status         Its status.
    error DatanetsNotPending(uint256 contributionId, ContributionStatus status);

    /// @notice Only the contributor.
    /// @param contributionId The contribution.
    /// @param caller         The caller.
    error DatanetsNotContributor(uint256 contributionId, address caller);

    /// @notice Approved contributions carry a positive weight.
    error DatanetsZeroWeight();

    /// @notice The zero address cannot be given a role.
    error DatanetsZeroAddress();

    /// @notice No credits to withdraw.
    /// @param account The account.
    error DatanetsNothingToWithdraw(address account);

    /// @notice Sending native OPEN failed.
    /// @param to     The recipient.
    /// @param amount The amount.
    error DatanetsTransferFailed(address to, uint256 amount);

    /// @notice Only the Staking contract sends native OPEN here outside a contribution.
    /// @param sender The sender.
    error DatanetsUnexpectedSender(address sender);

    /// @notice The role that may slash curators (governance, for now).
    /// @return keccak256("RESOLVER_ROLE").
    function RESOLVER_ROLE() external view returns (bytes32);

    /// @notice The staking contract curators stake in.
    /// @return The Staking contract.
    function staking() external view returns (IStaking);

    /// @notice Receives rejected contribution stakes and slashed curator stake.
    /// @return The treasury.
    function treasury() external view returns (address);

    /// @notice Number of Datanets created (ids run from 1).
    /// @return The count.
    function datanetCount() external view returns (uint256);

    /// @notice Number of contributions registered (ids run from 1).
    /// @return The count.
    function contributionCount() external view returns (uint256);

    /// @notice Creates a Datanet owned by the caller.
    /// @param _metadataURI Its metadata URI.
    /// @param _license     Its license.
    /// @param _rules       Its contribution rules.
    /// @return datanetId_ The new id.
    function createDatanet(string calldata _metadataURI, string calldata _license, Rules calldata _rules)
        external
        returns (uint256 datanetId_);

    /// @notice Changes a Datanet's metadata, license and rules. Only its owner.
    /// @param _datanetId   The Datanet.
    /// @param _metadataURI The new metadata URI.
    /// @param _license     The new license.
    /// @param _rules       The new rules.
    function updateDatanet(
        uint256 _datanetId,
        string calldata _metadataURI,
        string calldata _license,
        Rules calldata _rules
    ) external;

    /// @notice Appoints or removes a curator. Only the owner; an appointed curator must hold the
    ///         Datanet's minimum curator stake.
    /// @param _datanetId The Datanet.
    /// @param _curator   The curator.
    /// @param _enabled   Whether it curates.
    function setCurator(uint256 _datanetId, address _curator, bool _enabled) external;

    /// @notice Adds an account to or removes it from the allow list. Only the owner.
    /// @param _datanetId The Datanet.
    /// @param _account   The account.
    /// @param _allowed   Whether it may contribute.
    function setAllowed(uint256 _datanetId, address _account, bool _allowed) external;

    /// @notice Registers a contribution (Pending), carrying exactly the Datanet's contribution stake.
    /// @param _datanetId   The Datanet.
    /// @param _contentHash Hash of the content; refused if already registered.
    /// @param _size        Size in bytes.
    /// @param _metadataURI Where the metadata is (emitted, not stored).
    /// @return contributionId_ The new id.
    function contribute(uint256 _datanetId, bytes32 _contentHash, uint64 _size, string calldata _metadataURI)
        external
        payable
        returns (uint256 contributionId_);

    /// @notice Approves a pending contribution with an ownership weight; credits its stake back
    ///         to the contributor. Only a staked curator of its Datanet, not its contributor.
    /// @param _contributionId The contribution.
    /// @param _weight         Its ownership weight (> 0).
    function approve(uint256 _contributionId, uint64 _weight) external;

    /// @notice Rejects a pending contribution; credits its stake to the treasury and frees its
    ///         content hash. Only a staked curator of its Datanet, not its contributor.
    /// @param _contributionId The contribution.
    /// @param _reason         Why.
    function reject(uint256 _contributionId, string calldata _reason) external;

    /// @notice Withdraws a pending contribution; credits its stake back and frees its content hash.
    ///         Only its contributor.
    /// @param _contributionId The contribution.
    function withdrawContribution(uint256 _contributionId) external;

    /// @notice Slashes a curator's stake to the treasury. Only RESOLVER_ROLE.
    /// @param _datanetId The Datanet where the curator misbehaved.
    /// @param _curator   The curator.
    /// @param _amount    The most to take.
    function slashCurator(uint256 _datanetId, address _curator, uint256 _amount) external;

    /// @notice Sends the caller its credits.
    function withdrawCredits() external;

    /// @notice A Datanet.
    /// @param _datanetId The id.
    /// @return The Datanet (reverts if unknown).
    function getDatanet(uint256 _datanetId) external view returns (Datanet memory);

    /// @notice A contribution.
    /// @param _contributionId The id.
    /// @return The contribution (reverts if unknown).
    function getContribution(uint256 _contributionId) external view returns (Contribution memory);

    /// @notice The contribution holding a content hash (Pending or Approved), or 0.
    /// @param _contentHash The hash.
    /// @return The contribution id.
    function contributionOfContent(bytes32 _contentHash) external view returns (uint256);

    /// @notice Whether an account curates a Datanet.
    /// @param _datanetId The Datanet.
    /// @param _account   The account.
    /// @return True if appointed.
    function isCurator(uint256 _datanetId, address _account) external view returns (bool);

    /// @notice Whether an account is on a Datanet's allow list.
    /// @param _datanetId The Datanet.
    /// @param _account   The account.
    /// @return True if listed.
    function isAllowed(uint256 _datanetId, address _account) external view returns (bool);

    /// @notice Ownership weight of a contributor in a Datanet (its share is weight / totalWeight).
    /// @param _datanetId The Datanet.
    /// @param _account   The contributor.
    /// @return The weight.
    function weightOf(uint256 _datanetId, address _account) external view returns (uint256);

    /// @notice Credits an account may withdraw.
    /// @param _account The account.
    /// @return The amount.
    function credits(address _account) external view returns (uint256);

    /// @notice Whether a Datanet exists.
    /// @param _datanetId The id.
    /// @return True if it does.
    function exists(uint256 _datanetId) external view returns (bool);
}
