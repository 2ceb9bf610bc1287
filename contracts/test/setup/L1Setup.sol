// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";
import {DeployL1} from "../../script/DeployL1.s.sol";
import {TrieBuilder} from "../utils/TrieBuilder.sol";

// Contracts
import {BatchInbox} from "../../src/L1/BatchInbox.sol";
import {OpenPortal} from "../../src/L1/OpenPortal.sol";
import {OpenToken} from "../../src/L1/OpenToken.sol";
import {OutputOracle} from "../../src/L1/OutputOracle.sol";
import {SystemConfig} from "../../src/L1/SystemConfig.sol";

// Libraries
import {Hashing} from "../../src/libraries/Hashing.sol";
import {Types} from "../../src/libraries/Types.sol";

/// @title L1_TestInit
/// @notice Deploys the L1 suite with the production script (DeployL1.deploy) and offers helpers
///         to post outputs whose message passer storage holds given withdrawals.
contract L1_TestInit is Test {
    OpenToken internal token;
    SystemConfig internal config;
    OutputOracle internal oracle;
    BatchInbox internal inbox;
    OpenPortal internal portal;

    address internal owner = makeAddr("owner");
    address internal holder = makeAddr("holder");
    address internal batcher = makeAddr("batcher");
    address internal proposer = makeAddr("proposer");
    address internal guardian = makeAddr("guardian");
    address internal alice = makeAddr("alice");
    uint256 internal constant PERIOD = 1 days;

    /// @notice Runs the deploy script and its checks.
    function setUp() public virtual {
        vm.warp(1_700_000_000);
        DeployL1 script = new DeployL1();
        DeployL1.Config memory cfg = DeployL1.Config({
            owner: owner,
            openHolder: holder,
            batcher: batcher,
            proposer: proposer,
            guardian: guardian,
            finalizationPeriodSeconds: PERIOD
        });
        DeployL1.Deployment memory d = script.deploy(cfg);
        script.check(d, cfg);
        token = d.openToken;
        config = d.systemConfig;
        oracle = d.outputOracle;
        inbox = d.batchInbox;
        portal = d.portal;
    }

    /// @notice Locks `_amount` OPEN in the portal through a deposit from the holder.
    function _fundPortal(uint256 _amount) internal {
        vm.startPrank(holder, holder);
        token.approve(address(portal), _amount);
        portal.depositTransaction(holder, _amount, 0, 100_000, false, "");
        vm.stopPrank();
    }

    /// @notice A plain withdrawal to `_target`.
    function _withdrawal(uint256 _nonce, address _target, uint256 _value, bytes memory _data)
        internal
        pure
        returns (Types.WithdrawalTransaction memory)
    {
        return Types.WithdrawalTransaction({
            nonce: (uint256(1) << 240) | _nonce,
            sender: address(0xA11CE),
            target: _target,
            value: _value,
            gasLimit: 200_000,
            data: _data
        });
    }

    /// @notice The secure-trie key of a withdrawal's sentMessages slot.
    function _trieKey(bytes32 _withdrawalHash) internal pure returns (bytes32) {
        return keccak256(abi.encode(Hashing.sentMessageSlot(_withdrawalHash)));
    }

    /// @notice Builds a message passer storage trie holding `_tx` plus `_others` unrelated
    ///         withdrawals, and the output root proof around it.
    function _buildProof(Types.WithdrawalTransaction memory _tx, uint256 _others)
        internal
        pure
        returns (Types.OutputRootProof memory proof_, bytes[] memory nodes_)
    {
        bytes32[] memory keys = new bytes32[](_others + 1);
        bytes[] memory values = new bytes[](_others + 1);
        keys[0] = _trieKey(Hashing.hashWithdrawal(_tx));
        values[0] = hex"01";
        for (uint256 i = 1; i <= _others; i++) {
            keys[i] = _trieKey(keccak256(abi.encode("other", i)));
            values[i] = hex"01";
        }
        bytes32 storageRoot;
        (storageRoot, nodes_) = TrieBuilder.build(keys, values, 0);
        proof_ = Types.OutputRootProof({
            version: bytes32(0),
            stateRoot: keccak256("state"),
            messagePasserStorageRoot: storageRoot,
            latestBlockhash: keccak256("block")
        });
    }

    /// @notice Posts an output for `_proof` at the next L2 block and returns its index.
    function _propose(Types.OutputRootProof memory _proof) internal returns (uint256 index_) {
        index_ = oracle.nextOutputIndex();
        uint256 l2Block = oracle.latestBlockNumber() + 10;
        vm.prank(proposer);
        oracle.proposeL2Output(Hashing.hashOutputRootProof(_proof), l2Block, bytes32(0), 0);
    }

    /// @notice Posts an output holding `_tx` and proves it; returns the output index.
    function _proposeAndProve(Types.WithdrawalTransaction memory _tx) internal returns (uint256 index_) {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(_tx, 3);
        index_ = _propose(proof);
        portal.proveWithdrawalTransaction(_tx, index_, proof, nodes);
    }
}
