// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Interfaces
import {IDatanets} from "../interfaces/IDatanets.sol";
import {IStaking} from "../interfaces/IStaking.sol";

/// @title Datanets
/// @notice Community datasets: Datanets, their curators and allow lists, and contributions
///         registered by content hash, approved with an ownership weight or rejected by staked
///         curators. Contribution stakes are held here and paid out as credits (pull payments).
/// @dev Invariant: address(this).balance >= sum of Pending contributions' stakes + sum of credits.
///      Content hashes are unique across all Datanets while their contribution is Pending or
///      Approved; a rejected or withdrawn contribution frees its hash.
contract Datanets is IDatanets, AccessControl, ReentrancyGuardTransient {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IDatanets
    bytes32 public constant RESOLVER_ROLE = keccak256("RESOLVER_ROLE");

    /// @inheritdoc IDatanets
    IStaking public immutable staking;

    /// @inheritdoc IDatanets
    address public immutable treasury;

    /// @inheritdoc IDatanets
    uint256 public datanetCount;

    /// @inheritdoc IDatanets
    uint256 public contributionCount;

    /// @notice Datanets by id (from 1).
    mapping(uint256 => Datanet) internal datanets;

    /// @notice Contributions by id (from 1).
    mapping(uint256 => Contribution) internal contributions;

    /// @inheritdoc IDatanets
    mapping(bytes32 => uint256) public contributionOfContent;

    /// @inheritdoc IDatanets
    mapping(uint256 => mapping(address => bool)) public isCurator;

    /// @inheritdoc IDatanets
    mapping(uint256 => mapping(address => bool)) public isAllowed;

    /// @inheritdoc IDatanets
    mapping(uint256 => mapping(address => uint256)) public weightOf;

    /// @inheritdoc IDatanets
    mapping(address => uint256) public credits;

    /// @notice Sets the staking contract, the treasury and the admin (who grants RESOLVER_ROLE).
    /// @param _staking  Where curators stake.
    /// @param _treasury Receives forfeited contribution stakes and slashed curator stake.
    /// @param _admin    DEFAULT_ADMIN_ROLE holder.
    constructor(IStaking _staking, address _treasury, address _admin) {
        if (address(_staking) == address(0) || _treasury == address(0) || _admin == address(0)) {
            revert DatanetsZeroAddress();
        }
        staking = _staking;
        treasury = _treasury;
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
    }

    /// @notice Accepts slashed curator stake from Staking only.
    receive() external payable {
        if (msg.sender != address(staking)) revert DatanetsUnexpectedSender(msg.sender);
    }

    /// @inheritdoc IDatanets
    function createDatanet(string calldata _metadataURI, string calldata _license, Rules calldata _rules)
        external
        returns (uint256 datanetId_)
    {
        datanetId_ = ++datanetCount;
        Datanet storage d = datanets[datanetId_];
        d.owner = msg.sender;
        d.rules = _rules;
        d.metadataURI = _metadataURI;
        d.license = _license;
        emit DatanetCreated(datanetId_, msg.sender, _metadataURI, _license, _rules);
    }

    /// @inheritdoc IDatanets
    function updateDatanet(
        uint256 _datanetId,
        string calldata _metadataURI,
        string calldata _license,
        Rules calldata _rules
    ) external {
        Datanet storage d = _ownedDatanet(_datanetId);
        d.rules = _rules;
        d.metadataURI = _metadataURI;
        d.license = _license;
        emit DatanetUpdated(_datanetId, _metadataURI, _license, _rules);
    }

    /// @inheritdoc IDatanets
    function setCurator(uint256 _datanetId, address _curator, bool _enabled) external {
        Datanet storage d = _ownedDatanet(_datanetId);
        if (_curator == address(0)) revert DatanetsZeroAddress();
        if (_enabled) _checkCuratorStake(_curator, d.rules.minCuratorStake);
        isCurator[_datanetId][_curator] = _enabled;
        emit CuratorSet(_datanetId, _curator, _enabled);
    }

    /// @inheritdoc IDatanets
    function setAllowed(uint256 _datanetId, address _account, bool _allowed) external {
        _ownedDatanet(_datanetId);
        isAllowed[_datanetId][_account] = _allowed;
        emit AllowListSet(_datanetId, _account, _allowed);
    }

    /// @inheritdoc IDatanets
    function contribute(uint256 _datanetId, bytes32 _contentHash, uint64 _size, string calldata _metadataURI)
        external
        payable
        returns (uint256 contributionId_)
    {
        Rules storage rules = _datanet(_datanetId).rules;
        if (rules.allowListed && !isAllowed[_datanetId][msg.sender]) {
            revert DatanetsNotAllowed(_datanetId, msg.sender);
        }
        if (_contentHash == bytes32(0)) revert DatanetsEmptyContentHash();
        uint256 existing = contributionOfContent[_contentHash];
        if (existing != 0) revert DatanetsDuplicateContent(_contentHash, existing);
        uint64 maxSize = rules.maxContributionSize;
        if (_size == 0 || (maxSize != 0 && _size > maxSize)) revert DatanetsInvalidSize(_size, maxSize);
        if (msg.value != rules.contributionStake) {
            revert DatanetsWrongStake(msg.value, rules.contributionStake);
        }

        contributionId_ = ++contributionCount;
        contributions[contributionId_] = Contribution({
            contributor: msg.sender,
            datanetId: uint64(_datanetId),
            status: ContributionStatus.Pending,
            contentHash: _contentHash,
            size: _size,
            // Equal to rules.contributionStake, a uint128.
            stake: uint128(msg.value),
            weight: 0
        });
        contributionOfContent[_contentHash] = contributionId_;

        emit ContributionRegistered(
            contributionId_, _datanetId, msg.sender, _contentHash, _size, msg.value, _metadataURI
        );
    }

    /// @inheritdoc IDatanets
    function approve(uint256 _contributionId, uint64 _weight) external {
        if (_weight == 0) revert DatanetsZeroWeight();
        Contribution storage c = _pendingAsCurator(_contributionId);
        uint256 datanetId = c.datanetId;
        address contributor = c.contributor;

        c.status = ContributionStatus.Approved;
        c.weight = _weight;
        Datanet storage d = datanets[datanetId];
        d.totalWeight += _weight;
        d.approvedCount += 1;
        weightOf[datanetId][contributor] += _weight;

        emit ContributionApproved(_contributionId, datanetId, msg.sender, _weight);
        _credit(contributor, c.stake);
    }

    /// @inheritdoc IDatanets
    function reject(uint256 _contributionId, string calldata _reason) external {
        Contribution storage c = _pendingAsCurator(_contributionId);
        c.status = ContributionStatus.Rejected;
        delete contributionOfContent[c.contentHash];
        emit ContributionRejected(_contributionId, c.datanetId, msg.sender, _reason);
        _credit(treasury, c.stake);
    }

    /// @inheritdoc IDatanets
    function withdrawContribution(uint256 _contributionId) external {
        Contribution storage c = _contribution(_contributionId);
        if (c.contributor != msg.sender) revert DatanetsNotContributor(_contributionId, msg.sender);
        if (c.status != ContributionStatus.Pending) revert DatanetsNotPending(_contributionId, c.status);
        c.status = ContributionStatus.Withdrawn;
        delete contributionOfContent[c.contentHash];
        emit ContributionWithdrawn(_contributionId, c.datanetId, msg.sender);
        _credit(msg.sender, c.stake);
    }

    /// @inheritdoc IDatanets
    function slashCurator(uint256 _datanetId, address _curator, uint256 _amount)
        external
        nonReentrant
        onlyRole(RESOLVER_ROLE)
    {
        _datanet(_datanetId);
        uint256 expected = staking.slashableOf(_curator, IStaking.Role.Curator);
        if (expected > _amount) expected = _amount;
        // Effects first: the treasury is credited what Staking is about to send.
        emit CuratorSlashed(_datanetId, _curator, expected);
        _credit(treasury, expected);
        uint256 slashed = staking.slash(_curator, IStaking.Role.Curator, _amount);
        assert(slashed == expected);
    }

    /// @inheritdoc IDatanets
    function withdrawCredits() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert DatanetsNothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        emit CreditsWithdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert DatanetsTransferFailed(msg.sender, amount);
    }

    /// @inheritdoc IDatanets
    function getDatanet(uint256 _datanetId) external view returns (Datanet memory) {
        return _datanet(_datanetId);
    }

    /// @inheritdoc IDatanets
    function getContribution(uint256 _contributionId) external view returns (Contribution memory) {
        return _contribution(_contributionId);
    }

    /// @inheritdoc IDatanets
    function exists(uint256 _datanetId) external view returns (bool) {
        return datanets[_datanetId].owner != address(0);
    }

    /// @notice A Datanet, or a revert if unknown.
    /// @param _datanetId The id.
    /// @return d_ The Datanet.
    function _datanet(uint256 _datanetId) internal view returns (Datanet storage d_) {
        d_ = datanets[_datanetId];
        if (d_.owner == address(0)) revert DatanetsUnknownDatanet(_datanetId);
    }

    /// @notice A Datanet the caller owns, or a revert.
    /// @param _datanetId The id.
    /// @return d_ The Datanet.
    function _ownedDatanet(uint256 _datanetId) internal view returns (Datanet storage d_) {
        d_ = _datanet(_datanetId);
        if (d_.owner != msg.sender) revert DatanetsNotOwner(_datanetId, msg.sender);
    }

    /// @notice A contribution, or a revert if unknown.
    /// @param _contributionId The id.
    /// @return c_ The contribution.
    function _contribution(uint256 _contributionId) internal view returns (Contribution storage c_) {
        c_ = contributions[_contributionId];
        if (c_.status == ContributionStatus.None) revert DatanetsUnknownContribution(_contributionId);
    }

    /// @notice A pending contribution the caller may judge: an appointed curator of its Datanet,
    ///         holding the minimum curator stake, and not its contributor.
    /// @param _contributionId The id.
    /// @return c_ The contribution.
    function _pendingAsCurator(uint256 _contributionId) internal view returns (Contribution storage c_) {
        c_ = _contribution(_contributionId);
        if (c_.status != ContributionStatus.Pending) revert DatanetsNotPending(_contributionId, c_.status);
        uint256 datanetId = c_.datanetId;
        if (!isCurator[datanetId][msg.sender]) revert DatanetsNotCurator(datanetId, msg.sender);
        if (c_.contributor == msg.sender) revert DatanetsSelfCuration(_contributionId);
        _checkCuratorStake(msg.sender, datanets[datanetId].rules.minCuratorStake);
    }

    /// @notice Reverts unless `_curator` holds `_minimum` bonded curator stake.
    /// @param _curator The curator.
    /// @param _minimum The minimum.
    function _checkCuratorStake(address _curator, uint256 _minimum) internal view {
        uint256 bonded = staking.bondedOf(_curator, IStaking.Role.Curator);
        if (bonded < _minimum) revert DatanetsCuratorStakeTooLow(_curator, bonded, _minimum);
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
