// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";
import {DeployL2} from "../../script/DeployL2.s.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";

// Contracts
import {AttributionReceipts} from "../../src/L2/AttributionReceipts.sol";
import {Datanets} from "../../src/L2/Datanets.sol";
import {InferenceEscrow} from "../../src/L2/InferenceEscrow.sol";
import {ModelRegistry} from "../../src/L2/ModelRegistry.sol";
import {Rewards} from "../../src/L2/Rewards.sol";
import {Staking} from "../../src/L2/Staking.sol";
import {WrappedOpen} from "../../src/L2/WrappedOpen.sol";

// Interfaces
import {IAttributionReceipts} from "../../src/interfaces/IAttributionReceipts.sol";
import {IDatanets} from "../../src/interfaces/IDatanets.sol";
import {IInferenceEscrow} from "../../src/interfaces/IInferenceEscrow.sol";
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title L2_TestInit
/// @notice Deploys the L2 economy with the production script (DeployL2.deploy, admin handed over
///         to a separate account) and offers helpers for the common flows.
contract L2_TestInit is Test {
    WrappedOpen internal wopen;
    Staking internal staking;
    Datanets internal datanets;
    ModelRegistry internal registry;
    AttributionReceipts internal receipts;
    Rewards internal rewards;
    InferenceEscrow internal escrow;
    DeployL2 internal script;

    address internal admin = makeAddr("admin");
    address internal resolver = makeAddr("resolver");
    address internal treasury = makeAddr("treasury");
    address internal dataOwner = makeAddr("dataOwner");
    address internal modelOwner = makeAddr("modelOwner");
    address internal server = makeAddr("server");
    address internal attestor = makeAddr("attestor");
    address internal curator = makeAddr("curator");
    address internal challenger = makeAddr("challenger");
    address internal payer;
    uint256 internal payerKey;

    uint256 internal constant UNBONDING = 7 days;
    uint256 internal constant NOTICE = 1 days;
    uint64 internal constant WINDOW = 1 days;
    uint128 internal constant MIN_ATTESTOR = 100 ether;
    uint128 internal constant BOND = 10 ether;
    uint128 internal constant SLASH = 50 ether;
    uint16 internal constant REWARD_BPS = 5_000;

    /// @notice Runs the deploy script and its checks; funds the actors.
    function setUp() public virtual {
        vm.warp(1_700_000_000);
        (payer, payerKey) = makeAddrAndKey("payer");
        script = new DeployL2();
        DeployL2.Config memory cfg = DeployL2.Config({
            deployer: address(script),
            admin: admin,
            resolver: resolver,
            treasury: treasury,
            unbondingPeriod: UNBONDING,
            noticePeriod: NOTICE,
            receiptsParams: IAttributionReceipts.Params({
                challengeWindow: WINDOW,
                minAttestorStake: MIN_ATTESTOR,
                challengeBond: BOND,
                slashAmount: SLASH,
                challengerRewardBps: REWARD_BPS
            })
        });
        DeployL2.Deployment memory d = script.deploy(cfg);
        script.check(d, cfg);
        wopen = d.wrappedOpen;
        staking = d.staking;
        datanets = d.datanets;
        registry = d.registry;
        receipts = d.receipts;
        rewards = d.rewards;
        escrow = d.escrow;

        address[8] memory actors =
            [dataOwner, modelOwner, server, attestor, curator, challenger, payer, treasury];
        for (uint256 i = 0; i < actors.length; i++) {
            vm.deal(actors[i], 10_000 ether);
        }
    }

    /// @notice Rules with no stake, no limit, public.
    function _openRules() internal pure returns (IDatanets.Rules memory) {
        return IDatanets.Rules({
            contributionStake: 0, minCuratorStake: 0, maxContributionSize: 0, allowListed: false
        });
    }

    /// @notice A Datanet owned by dataOwner.
    function _createDatanet(IDatanets.Rules memory _rules) internal returns (uint256 id_) {
        vm.prank(dataOwner);
        id_ = datanets.createDatanet("ipfs://datanet", "CC-BY-4.0", _rules);
    }

    /// @notice A typical split: 50% owner, 30% contributors, 10% stakers, 10% protocol.
    function _split() internal pure returns (IModelRegistry.FeeSplit memory) {
        return IModelRegistry.FeeSplit({
            ownerBps: 5_000, contributorsBps: 3_000, stakersBps: 1_000, protocolBps: 1_000
        });
    }

    /// @notice Model parameters over one Datanet.
    function _params(uint256 _datanetId, bytes32 _adapterHash, IModelRegistry.FeeSplit memory _s)
        internal
        pure
        returns (IModelRegistry.ModelParams memory p_)
    {
        uint256[] memory ids = new uint256[](1);
        ids[0] = _datanetId;
        p_ = IModelRegistry.ModelParams({
            baseModelId: keccak256("llama-3.2-1b"),
            adapterHash: _adapterHash,
            manifestRoot: keccak256("manifest"),
            pricePer1kTokens: 1e15,
            split: _s,
            datanetIds: ids,
            metadataURI: "ipfs://model"
        });
    }

    /// @notice A Datanet and a model over it, owned by modelOwner, with `_s`.
    function _registerModel(IModelRegistry.FeeSplit memory _s) internal returns (bytes32 modelId_) {
        uint256 datanetId = _createDatanet(_openRules());
        vm.prank(modelOwner);
        modelId_ = registry.registerModel(_params(datanetId, keccak256("adapter"), _s));
    }

    /// @notice Stakes `_amount` for `_who` in `_role`.
    function _stake(address _who, IStaking.Role _role, uint256 _amount) internal {
        vm.deal(_who, _who.balance + _amount);
        vm.prank(_who);
        staking.stake{value: _amount}(_role);
    }

    /// @notice Signs a voucher with `_key`.
    function _sign(uint256 _key, IInferenceEscrow.Voucher memory _v) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_key, escrow.voucherDigest(_v));
        return abi.encodePacked(r, s, v);
    }

    /// @notice The payer deposits `_amount` in the escrow.
    function _deposit(uint256 _amount) internal {
        vm.prank(payer);
        escrow.deposit{value: _amount}();
    }

    /// @notice The server redeems a voucher for `_cumulative` signed by the payer.
    function _redeem(bytes32 _modelId, uint256 _cumulative) internal returns (uint256) {
        IInferenceEscrow.Voucher memory v = IInferenceEscrow.Voucher(payer, server, _modelId, _cumulative);
        bytes memory sig = _sign(payerKey, v);
        vm.prank(server);
        return escrow.redeem(v, sig);
    }

    /// @notice Reward tree over `_accounts` with `_amounts`; returns the root and each proof.
    function _rewardTree(bytes32 _modelId, address[] memory _accounts, uint256[] memory _amounts)
        internal
        view
        returns (bytes32 root_, bytes32[][] memory proofs_)
    {
        bytes32[] memory leaves = new bytes32[](_accounts.length);
        for (uint256 i = 0; i < _accounts.length; i++) {
            leaves[i] = rewards.rewardLeaf(_modelId, _accounts[i], _amounts[i]);
        }
        proofs_ = new bytes32[][](_accounts.length);
        for (uint256 i = 0; i < _accounts.length; i++) {
            (root_, proofs_[i]) = MerkleBuilder.build(leaves, i);
        }
    }

    /// @notice Posts a batch from the (staked) attestor.
    function _post(bytes32 _modelId, bytes32 _rewardsRoot, uint256 _amount) internal returns (uint256) {
        vm.prank(attestor);
        return receipts.postBatch(_modelId, keccak256("receipts"), _rewardsRoot, _amount, 1, "ipfs://batch");
    }
}
