// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";
import {MerkleBuilder} from "../../utils/MerkleBuilder.sol";

// Contracts
import {AttributionReceipts} from "../../../src/L2/AttributionReceipts.sol";
import {InferenceEscrow} from "../../../src/L2/InferenceEscrow.sol";
import {Rewards} from "../../../src/L2/Rewards.sol";
import {Staking} from "../../../src/L2/Staking.sol";

// Interfaces
import {IAttributionReceipts} from "../../../src/interfaces/IAttributionReceipts.sol";
import {IInferenceEscrow} from "../../../src/interfaces/IInferenceEscrow.sol";
import {IStaking} from "../../../src/interfaces/IStaking.sol";

/// @title EconomyHandler
/// @notice Drives the L2 economy through random sequences of deposits, voucher redemptions
///         (including replays and stale vouchers), receipt batches (honest and over-promising),
///         challenges, resolutions, finalizations, claims (including claims against open batches
///         and inflated claims), withdrawals of every kind, staking and time. It keeps ghost
///         records the invariants compare with the contracts, and counts every outcome that must
///         never happen.
/// @dev The system is closed: actors are funded once in the constructor, so the native OPEN held
///      by actors and contracts together must stay constant.
contract EconomyHandler is Test {
    InferenceEscrow public escrow;
    Rewards public rewards;
    AttributionReceipts public receipts;
    Staking public staking;

    bytes32[2] public models;
    address[3] public payers;
    uint256[3] internal payerKeys;
    address[2] public servers;
    address[4] public contributors;
    address[2] public challengers;
    address[2] public stakers;
    address public attestor;
    address public resolver;
    address public treasury;
    address public modelOwner;

    // Ghost records.
    bytes32[] public channels;
    mapping(bytes32 => bool) internal knownChannel;
    mapping(bytes32 => uint256) public ghostChannelPaid;
    mapping(bytes32 => uint256) public ghostChannelMaxSigned;
    mapping(uint256 => uint256[4]) internal batchCumulative;
    mapping(bytes32 => uint256[]) internal finalBatchIds;
    mapping(bytes32 => mapping(address => uint256)) public ghostClaimPaid;
    mapping(bytes32 => mapping(address => uint256)) public ghostMaxFinalLeaf;
    mapping(bytes32 => uint256) public ghostContributorsPaid;

    // Outcomes that must never happen.
    uint256 public ghostReplayPaid;
    uint256 public ghostUnfinalClaimPaid;
    uint256 public ghostInflatedClaimPaid;

    // Coverage counters.
    mapping(bytes4 => uint256) public calls;

    constructor(
        InferenceEscrow _escrow,
        Rewards _rewards,
        AttributionReceipts _receipts,
        Staking _staking,
        bytes32[2] memory _models,
        address _modelOwner,
        address _resolver,
        address _treasury
    ) {
        escrow = _escrow;
        rewards = _rewards;
        receipts = _receipts;
        staking = _staking;
        models = _models;
        modelOwner = _modelOwner;
        resolver = _resolver;
        treasury = _treasury;
        for (uint256 i = 0; i < 3; i++) {
            (payers[i], payerKeys[i]) = makeAddrAndKey(string.concat("payer", vm.toString(i)));
            vm.deal(payers[i], 1_000 ether);
        }
        for (uint256 i = 0; i < 4; i++) {
            contributors[i] = makeAddr(string.concat("contributor", vm.toString(i)));
        }
        for (uint256 i = 0; i < 2; i++) {
            servers[i] = makeAddr(string.concat("server", vm.toString(i)));
            challengers[i] = makeAddr(string.concat("challenger", vm.toString(i)));
            stakers[i] = makeAddr(string.concat("staker", vm.toString(i)));
            vm.deal(challengers[i], 500 ether);
            vm.deal(stakers[i], 500 ether);
        }
        attestor = makeAddr("attestor");
        vm.deal(attestor, 5_000 ether);
        vm.prank(attestor);
        staking.stake{value: 1_000 ether}(IStaking.Role.Attestor);
    }

    /// @notice Every address that can hold the system's OPEN.
    function holders() public view returns (address[] memory h_) {
        h_ = new address[](22);
        uint256 n;
        for (uint256 i = 0; i < 3; i++) {
            h_[n++] = payers[i];
        }
        for (uint256 i = 0; i < 4; i++) {
            h_[n++] = contributors[i];
        }
        for (uint256 i = 0; i < 2; i++) {
            h_[n++] = servers[i];
            h_[n++] = challengers[i];
            h_[n++] = stakers[i];
        }
        h_[n++] = attestor;
        h_[n++] = resolver;
        h_[n++] = treasury;
        h_[n++] = modelOwner;
        h_[n++] = address(escrow);
        h_[n++] = address(rewards);
        h_[n++] = address(receipts);
        h_[n++] = address(staking);
        h_[n++] = address(this);
        assembly {
            mstore(h_, n)
        }
    }

    function channelCount() external view returns (uint256) {
        return channels.length;
    }

    // ---------------------------------------------------------------- escrow

    function deposit(uint256 _payer, uint256 _amount) external {
        calls[this.deposit.selector]++;
        address p = payers[_payer % 3];
        _amount = bound(_amount, 1, p.balance == 0 ? 1 : p.balance);
        if (p.balance < _amount) return;
        vm.prank(p);
        escrow.deposit{value: _amount}();
    }

    function requestWithdrawal(uint256 _payer, uint256 _amount) external {
        calls[this.requestWithdrawal.selector]++;
        address p = payers[_payer % 3];
        vm.prank(p);
        escrow.requestWithdrawal(bound(_amount, 1, 1_000 ether));
    }

    function withdrawEscrow(uint256 _payer) external {
        calls[this.withdrawEscrow.selector]++;
        address p = payers[_payer % 3];
        vm.prank(p);
        try escrow.withdraw() {} catch {}
    }

    /// @notice A server redeems a fresh voucher, a replayed one, or a stale one.
    function redeem(uint256 _payer, uint256 _server, uint256 _model, uint256 _increment, uint8 _mode)
        external
    {
        calls[this.redeem.selector]++;
        uint256 pi = _payer % 3;
        address p = payers[pi];
        address s = servers[_server % 2];
        bytes32 m = models[_model % 2];
        bytes32 channel = keccak256(abi.encode(p, s, m));
        if (!knownChannel[channel]) {
            knownChannel[channel] = true;
            channels.push(channel);
        }
        uint256 prev = escrow.redeemed(p, s, m);
        uint256 balance = escrow.balanceOf(p);
        if (balance == 0 && p.balance != 0) {
            // A payer with nothing in escrow tops up first, as a wallet would.
            uint256 topUp = p.balance < 50 ether ? p.balance : 50 ether;
            vm.prank(p);
            escrow.deposit{value: topUp}();
            balance = topUp;
        }

        uint256 cumulative;
        bool mustFail;
        if (_mode % 4 == 0 && prev != 0) {
            // Replay of the last redeemed voucher, or a stale older one.
            cumulative = _mode % 8 == 0 ? prev : bound(_increment, 0, prev);
            mustFail = true;
        } else {
            if (balance == 0) return;
            cumulative = prev + bound(_increment, 1, balance);
        }

        IInferenceEscrow.Voucher memory v = IInferenceEscrow.Voucher(p, s, m, cumulative);
        (uint8 sv, bytes32 r, bytes32 ss) = vm.sign(payerKeys[pi], escrow.voucherDigest(v));
        uint256 before = address(escrow).balance;
        vm.prank(s);
        try escrow.redeem(v, abi.encodePacked(r, ss, sv)) returns (uint256 paid) {
            if (mustFail) ghostReplayPaid++;
            assertEq(before - address(escrow).balance, paid, "redeem paid != escrow outflow");
            ghostChannelPaid[channel] += paid;
            if (cumulative > ghostChannelMaxSigned[channel]) ghostChannelMaxSigned[channel] = cumulative;
        } catch {}
    }

    // ---------------------------------------------------------------- receipts

    /// @notice The attestor posts a batch for a model: honest (the tree hands out exactly the
    ///         batch amount on top of the last final tree) or over-promising.
    function postBatch(uint256 _model, uint256 _amount, uint256[4] memory _weights, bool _overpromise)
        external
    {
        calls[this.postBatch.selector]++;
        bytes32 m = models[_model % 2];
        _finalizeIfDue(m);
        IAttributionReceipts.Stream memory s = receipts.getStream(m);
        if (s.openBatchId != 0) return;
        uint256 room = rewards.contributorAccrued(m) - s.finalizedCumulative;
        if (room == 0) return;
        uint256 amount = bound(_amount, 1, room);

        uint256[4] memory cum =
            s.lastFinalBatchId == 0 ? [uint256(0), 0, 0, 0] : batchCumulative[s.lastFinalBatchId];
        uint256 totalWeight;
        for (uint256 i = 0; i < 4; i++) {
            _weights[i] = bound(_weights[i], 0, 1_000);
            totalWeight += _weights[i];
        }
        if (totalWeight == 0) _weights[0] = totalWeight = 1;
        uint256 given;
        for (uint256 i = 1; i < 4; i++) {
            uint256 share = (amount * _weights[i]) / totalWeight;
            cum[i] += share;
            given += share;
        }
        cum[0] += amount - given;
        if (_overpromise) cum[3] += amount + 1;

        uint256 minStake = receipts.params().minAttestorStake;
        uint256 bonded = staking.bondedOf(attestor, IStaking.Role.Attestor);
        if (bonded < minStake) {
            if (attestor.balance < minStake - bonded) return;
            vm.prank(attestor);
            staking.stake{value: minStake - bonded}(IStaking.Role.Attestor);
        }

        bytes32 root = _root(m, cum);
        vm.prank(attestor);
        uint256 id = receipts.postBatch(m, keccak256(abi.encode("receipts", m)), root, amount, 4, "");
        batchCumulative[id] = cum;
    }

    function challenge(uint256 _model, uint256 _challenger) external {
        calls[this.challenge.selector]++;
        bytes32 m = models[_model % 2];
        uint256 id = receipts.getStream(m).openBatchId;
        if (id == 0) return;
        address c = challengers[_challenger % 2];
        uint256 bond = receipts.params().challengeBond;
        if (c.balance < bond) return;
        vm.prank(c);
        try receipts.challenge{value: bond}(id) {} catch {}
    }

    function resolve(uint256 _model, bool _upheld) external {
        calls[this.resolve.selector]++;
        uint256 id = receipts.getStream(models[_model % 2]).openBatchId;
        if (id == 0) return;
        vm.prank(resolver);
        try receipts.resolveChallenge(id, _upheld) {} catch {}
    }

    function finalize(uint256 _model) external {
        calls[this.finalize.selector]++;
        _finalizeIfDue(models[_model % 2]);
    }

    // ---------------------------------------------------------------- rewards

    /// @notice A contributor claims with a proof from the latest or an older final batch.
    function claim(uint256 _contributor, uint256 _model, uint256 _which) external {
        calls[this.claim.selector]++;
        bytes32 m = models[_model % 2];
        uint256[] storage ids = finalBatchIds[m];
        if (ids.length == 0) return;
        uint256 id = ids[_which % ids.length];
        uint256 ci = _contributor % 4;
        _tryClaim(m, id, ci, batchCumulative[id][ci], false);
    }

    /// @notice A contributor claims against the open (not final) batch: must never pay.
    function claimOpenBatch(uint256 _contributor, uint256 _model) external {
        calls[this.claimOpenBatch.selector]++;
        bytes32 m = models[_model % 2];
        uint256 id = receipts.getStream(m).openBatchId;
        if (id == 0) return;
        uint256 ci = _contributor % 4;
        address c = contributors[ci];
        bytes32[] memory proof = _proof(m, batchCumulative[id], ci);
        uint256 before = c.balance;
        vm.prank(c);
        try rewards.claim(id, batchCumulative[id][ci], proof) {
            if (c.balance != before) ghostUnfinalClaimPaid++;
        } catch {}
    }

    /// @notice A contributor claims more than its leaf says: must never pay.
    function claimInflated(uint256 _contributor, uint256 _model, uint256 _extra) external {
        calls[this.claimInflated.selector]++;
        bytes32 m = models[_model % 2];
        uint256[] storage ids = finalBatchIds[m];
        if (ids.length == 0) return;
        uint256 id = ids[ids.length - 1];
        uint256 ci = _contributor % 4;
        _tryClaim(m, id, ci, batchCumulative[id][ci] + bound(_extra, 1, 1_000 ether), true);
    }

    function withdrawRewards(bool _owner) external {
        calls[this.withdrawRewards.selector]++;
        vm.prank(_owner ? modelOwner : treasury);
        try rewards.withdraw() {} catch {}
    }

    function distributeStakerRewards() external {
        calls[this.distributeStakerRewards.selector]++;
        try rewards.distributeStakerRewards() {} catch {}
    }

    function withdrawReceiptCredits(uint256 _who) external {
        calls[this.withdrawReceiptCredits.selector]++;
        uint256 w = _who % 4;
        address a = w < 2 ? challengers[w] : (w == 2 ? attestor : treasury);
        vm.prank(a);
        try receipts.withdrawCredits() {} catch {}
    }

    // ---------------------------------------------------------------- staking

    function stake(uint256 _staker, uint256 _amount) external {
        calls[this.stake.selector]++;
        address s = stakers[_staker % 2];
        if (s.balance == 0) return;
        _amount = bound(_amount, 1, s.balance);
        vm.prank(s);
        staking.stake{value: _amount}(IStaking.Role.Curator);
    }

    function unbond(uint256 _staker, uint256 _amount) external {
        calls[this.unbond.selector]++;
        address s = stakers[_staker % 2];
        uint256 bonded = staking.bondedOf(s, IStaking.Role.Curator);
        if (bonded == 0) return;
        vm.prank(s);
        staking.requestUnbond(IStaking.Role.Curator, bound(_amount, 1, bonded));
    }

    function withdrawUnbonded(uint256 _staker) external {
        calls[this.withdrawUnbonded.selector]++;
        vm.prank(stakers[_staker % 2]);
        try staking.withdrawUnbonded(IStaking.Role.Curator) {} catch {}
    }

    function claimStakingRewards(uint256 _who) external {
        calls[this.claimStakingRewards.selector]++;
        vm.prank(_who % 3 == 2 ? attestor : stakers[_who % 2]);
        try staking.claimRewards() {} catch {}
    }

    function warp(uint256 _seconds) external {
        calls[this.warp.selector]++;
        vm.warp(block.timestamp + bound(_seconds, 1, 2 days));
    }

    // ---------------------------------------------------------------- helpers

    function _tryClaim(bytes32 _m, uint256 _id, uint256 _ci, uint256 _cumulative, bool _inflated) internal {
        address c = contributors[_ci];
        bytes32[] memory proof = _proof(_m, batchCumulative[_id], _ci);
        uint256 before = c.balance;
        vm.prank(c);
        try rewards.claim(_id, _cumulative, proof) {
            uint256 paid = c.balance - before;
            if (_inflated) ghostInflatedClaimPaid++;
            ghostClaimPaid[_m][c] += paid;
            ghostContributorsPaid[_m] += paid;
        } catch {}
    }

    function _finalizeIfDue(bytes32 _m) internal {
        uint256 id = receipts.getStream(_m).openBatchId;
        if (id == 0) return;
        IAttributionReceipts.Batch memory b = receipts.getBatch(id);
        if (b.status != IAttributionReceipts.BatchStatus.Pending || block.timestamp < b.challengeDeadline) {
            return;
        }
        receipts.finalizeBatch(id);
        finalBatchIds[_m].push(id);
        for (uint256 i = 0; i < 4; i++) {
            address c = contributors[i];
            if (batchCumulative[id][i] > ghostMaxFinalLeaf[_m][c]) {
                ghostMaxFinalLeaf[_m][c] = batchCumulative[id][i];
            }
        }
    }

    function _leaves(bytes32 _m, uint256[4] memory _cum) internal view returns (bytes32[] memory leaves_) {
        leaves_ = new bytes32[](4);
        for (uint256 i = 0; i < 4; i++) {
            leaves_[i] = rewards.rewardLeaf(_m, contributors[i], _cum[i]);
        }
    }

    function _root(bytes32 _m, uint256[4] memory _cum) internal view returns (bytes32 root_) {
        (root_,) = MerkleBuilder.build(_leaves(_m, _cum), 0);
    }

    function _proof(bytes32 _m, uint256[4] memory _cum, uint256 _i)
        internal
        view
        returns (bytes32[] memory proof_)
    {
        (, proof_) = MerkleBuilder.build(_leaves(_m, _cum), _i);
    }
}
