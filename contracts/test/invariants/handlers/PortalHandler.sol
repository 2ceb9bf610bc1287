// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";
import {TrieBuilder} from "../../utils/TrieBuilder.sol";

// Contracts
import {OpenPortal} from "../../../src/L1/OpenPortal.sol";
import {OpenToken} from "../../../src/L1/OpenToken.sol";
import {OutputOracle} from "../../../src/L1/OutputOracle.sol";
import {SystemConfig} from "../../../src/L1/SystemConfig.sol";

// Libraries
import {Hashing} from "../../../src/libraries/Hashing.sol";
import {Types} from "../../../src/libraries/Types.sol";

/// @title PortalHandler
/// @notice Drives the L1 bridge: deposits, withdrawals initiated on a modelled L2 (which never
///         withdraws more than was deposited), honest outputs committing to a prefix of those
///         withdrawals, forged outputs committing to a withdrawal that was never initiated,
///         proofs (valid, against outputs that do not hold the withdrawal, and forged), deletions
///         by a vigilant guardian (who deletes every forged output before it becomes final),
///         finalizations and time. Every finalization that succeeds is checked against the
///         handler's own records.
contract PortalHandler is Test {
    OpenPortal public portal;
    OpenToken public token;
    OutputOracle public oracle;
    SystemConfig public config;
    address public proposer;
    address public guardian;
    address[2] public depositors;
    address[3] public targets;

    uint256 internal constant MAX_WITHDRAWALS = 8;

    struct Output {
        uint256 count; // honest: withdrawals [0, count) included
        bool forged; // also includes the forged withdrawal
        bytes32 root;
        uint256 postedAt;
    }

    Types.WithdrawalTransaction[] internal withdrawals;
    Types.WithdrawalTransaction internal forgedTx;
    Output[] internal outputs; // by oracle index, overwritten after deletions
    mapping(bytes32 => uint256) internal provenAt;
    mapping(bytes32 => uint256) internal provenIndex;
    mapping(bytes32 => bytes32) internal provenRoot;
    uint256[] internal provenList;

    // Ghosts.
    uint256 public ghostDeposited;
    uint256 public ghostInitiated;
    uint256 public ghostReleased;
    mapping(bytes32 => uint256) public ghostFinalizeCount;
    bytes32[] public finalizedHashes;
    uint256 public ghostEarlyFinalize;
    uint256 public ghostDeadOutputFinalize;
    uint256 public ghostForgedFinalize;
    uint256 public ghostBadProofAccepted;

    constructor(
        OpenPortal _portal,
        OpenToken _token,
        OutputOracle _oracle,
        SystemConfig _config,
        address _holder
    ) {
        portal = _portal;
        token = _token;
        oracle = _oracle;
        config = _config;
        proposer = _config.proposer();
        guardian = _config.guardian();
        for (uint256 i = 0; i < 2; i++) {
            depositors[i] = makeAddr(string.concat("depositor", vm.toString(i)));
            vm.prank(_holder);
            _token.transfer(depositors[i], 1_000_000 ether);
            vm.prank(depositors[i]);
            _token.approve(address(_portal), type(uint256).max);
        }
        for (uint256 i = 0; i < 3; i++) {
            targets[i] = makeAddr(string.concat("target", vm.toString(i)));
        }
        forgedTx = Types.WithdrawalTransaction({
            nonce: type(uint240).max,
            sender: makeAddr("thief"),
            target: makeAddr("thief"),
            value: 1 ether,
            gasLimit: 0,
            data: ""
        });
    }

    function finalizedCount() external view returns (uint256) {
        return finalizedHashes.length;
    }

    function deposit(uint256 _who, uint256 _amount) external {
        address d = depositors[_who % 2];
        _amount = bound(_amount, 0, 10_000 ether);
        vm.prank(d, d);
        portal.depositTransaction(d, _amount, 0, 100_000, false, "");
        ghostDeposited += _amount;
    }

    /// @notice A withdrawal on the modelled L2, limited by what was deposited.
    function initiateWithdrawal(uint256 _target, uint256 _value) external {
        if (withdrawals.length == MAX_WITHDRAWALS || ghostInitiated == ghostDeposited) return;
        uint256 value = bound(_value, 0, ghostDeposited - ghostInitiated);
        withdrawals.push(
            Types.WithdrawalTransaction({
                nonce: (uint256(1) << 240) | withdrawals.length,
                sender: depositors[_target % 2],
                target: targets[_target % 3],
                value: value,
                gasLimit: 100_000,
                data: ""
            })
        );
        ghostInitiated += value;
    }

    function proposeOutput(uint256 _count, uint8 _kind) external {
        // One output in four is forged; honest ones usually hold every withdrawal so far.
        bool _forged = _kind % 4 == 0;
        uint256 count = _kind % 3 == 0 ? bound(_count, 0, withdrawals.length) : withdrawals.length;
        if (_forged) forgedTx.value = bound(_count, 1, ghostDeposited + 1);
        (bytes32 storageRoot,) = _trie(count, _forged, 0);
        bytes32 root = Hashing.hashOutputRootProof(_proof(storageRoot));
        uint256 index = oracle.nextOutputIndex();
        uint256 l2Block = oracle.latestBlockNumber() + 1;
        vm.prank(proposer);
        oracle.proposeL2Output(root, l2Block, bytes32(0), 0);
        Output memory o = Output({count: count, forged: _forged, root: root, postedAt: block.timestamp});
        if (index == outputs.length) outputs.push(o);
        else outputs[index] = o;
    }

    /// @notice Proves an initiated withdrawal against an output that holds it (or, with
    ///         `_wrongOutput`, against one that does not: that must fail).
    function prove(uint256 _w, uint256 _output, uint8 _kind) external {
        bool _wrongOutput = _kind % 4 == 0;
        uint256 live = oracle.nextOutputIndex();
        if (withdrawals.length == 0 || live == 0) return;
        uint256 w = _w % withdrawals.length;
        uint256 index = _output % live;
        Output memory o = outputs[index];
        bool holds = w < o.count;
        if (!_wrongOutput && !holds) {
            // Prove against the latest output that holds it, if any.
            for (uint256 i = live; i > 0; i--) {
                if (w < outputs[i - 1].count) {
                    index = i - 1;
                    o = outputs[index];
                    holds = true;
                    break;
                }
            }
        }
        if (holds == _wrongOutput) return;

        // Proof nodes for w: from the output's own trie if it holds w, otherwise from a trie that does.
        (bytes32 storageRoot, bytes[] memory nodes) =
            holds ? _trie(o.count, o.forged, w) : _trie(w + 1, false, w);
        Types.OutputRootProof memory p = _proof(holds ? storageRoot : _storageRootOf(o));
        Types.WithdrawalTransaction memory wtx = withdrawals[w];
        bytes32 h = Hashing.hashWithdrawal(wtx);
        try portal.proveWithdrawalTransaction(wtx, index, p, nodes) {
            if (!holds) ghostBadProofAccepted++;
            if (provenAt[h] == 0) provenList.push(w);
            provenAt[h] = block.timestamp;
            provenIndex[h] = index;
            provenRoot[h] = o.root;
        } catch {}
    }

    /// @notice Proves the forged withdrawal against a forged output (a valid proof of a lie).
    function proveForged(uint256 _output) external {
        uint256 live = oracle.nextOutputIndex();
        if (live == 0) return;
        uint256 index = _output % live;
        Output memory o = outputs[index];
        if (!o.forged) return;
        (, bytes[] memory nodes) = _trie(o.count, true, o.count);
        bytes32 h = Hashing.hashWithdrawal(forgedTx);
        try portal.proveWithdrawalTransaction(forgedTx, index, _proof(_storageRootOf(o)), nodes) {
            provenAt[h] = block.timestamp;
            provenIndex[h] = index;
            provenRoot[h] = o.root;
        } catch {}
    }

    function finalize(uint256 _w, bool _forged) external {
        Types.WithdrawalTransaction memory wtx;
        if (_forged) wtx = forgedTx;
        else if (provenList.length == 0) return;
        else wtx = withdrawals[provenList[_w % provenList.length]];
        bytes32 h = Hashing.hashWithdrawal(wtx);
        uint256 before = token.balanceOf(wtx.target);
        try portal.finalizeWithdrawalTransaction(wtx) {
            ghostFinalizeCount[h]++;
            finalizedHashes.push(h);
            ghostReleased += token.balanceOf(wtx.target) - before;
            if (_forged) ghostForgedFinalize++;
            uint256 period = config.finalizationPeriodSeconds();
            if (provenAt[h] == 0 || block.timestamp < provenAt[h] + period) ghostEarlyFinalize++;
            uint256 index = provenIndex[h];
            if (index >= oracle.nextOutputIndex() || outputs[index].root != provenRoot[h]) {
                ghostDeadOutputFinalize++;
            } else if (block.timestamp < outputs[index].postedAt + period) {
                ghostEarlyFinalize++;
            }
        } catch {}
    }

    /// @notice The guardian deletes a non-final output (and everything after it).
    function deleteOutputs(uint256 _index, uint8 _kind) external {
        uint256 live = oracle.nextOutputIndex();
        if (live == 0 || _kind % 4 != 0) return;
        vm.prank(guardian);
        try oracle.deleteL2Outputs(_index % live) {} catch {}
    }

    /// @notice Time passes; the guardian never lets a forged output become final.
    function warp(uint256 _seconds) external {
        uint256 period = config.finalizationPeriodSeconds();
        uint256 to = block.timestamp + bound(_seconds, 1, (period * 3) / 2);
        uint256 live = oracle.nextOutputIndex();
        for (uint256 i = 0; i < live; i++) {
            if (outputs[i].forged && outputs[i].postedAt + period <= to) {
                vm.prank(guardian);
                oracle.deleteL2Outputs(i);
                break;
            }
        }
        vm.warp(to);
    }

    function _storageRootOf(Output memory _o) internal view returns (bytes32 root_) {
        (root_,) = _trie(_o.count, _o.forged, 0);
    }

    /// @notice The message passer trie of withdrawals [0, _count) (plus the forged one), the
    ///         msgNonce slot, and the proof of entry `_target` (index _count is the forged one).
    function _trie(uint256 _count, bool _forged, uint256 _target)
        internal
        view
        returns (bytes32 root_, bytes[] memory nodes_)
    {
        uint256 n = _count + 1 + (_forged ? 1 : 0);
        bytes32[] memory keys = new bytes32[](n);
        bytes[] memory values = new bytes[](n);
        for (uint256 i = 0; i < _count; i++) {
            keys[i] = keccak256(abi.encode(Hashing.sentMessageSlot(Hashing.hashWithdrawal(withdrawals[i]))));
            values[i] = hex"01";
        }
        if (_forged) {
            keys[_count] = keccak256(abi.encode(Hashing.sentMessageSlot(Hashing.hashWithdrawal(forgedTx))));
            values[_count] = hex"01";
        }
        // Slot 1 (msgNonce) sits in the same trie.
        keys[n - 1] = keccak256(abi.encode(bytes32(uint256(1))));
        values[n - 1] = abi.encodePacked(bytes1(uint8(_count)));
        if (_count == 0) values[n - 1] = hex"80";
        (root_, nodes_) = TrieBuilder.build(keys, values, _target < n ? _target : n - 1);
    }

    function _proof(bytes32 _storageRoot) internal pure returns (Types.OutputRootProof memory) {
        return Types.OutputRootProof(bytes32(0), keccak256("state"), _storageRoot, keccak256("block"));
    }
}
