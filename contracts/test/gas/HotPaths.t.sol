// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {console2} from "forge-std/console2.sol";
import {Vm} from "forge-std/Vm.sol";
import {L2_TestInit} from "../setup/L2Setup.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";

// Interfaces
import {IDatanets} from "../../src/interfaces/IDatanets.sol";
import {IInferenceEscrow} from "../../src/interfaces/IInferenceEscrow.sol";
import {IStaking} from "../../src/interfaces/IStaking.sol";

/// @title HotPaths_Gas_Test
/// @notice Gas of the hot paths as a transaction pays it: the contracts' accounts and storage are
///         made cold first (vm.cool), the callee's execution gas is read with vm.lastCallGas, and
///         the intrinsic cost (21,000 + calldata) is added. Each test also bounds the figure, so a
///         regression fails the build. Run with -vv to print the numbers (see BENCHMARKS.md).
contract HotPaths_Gas_Test is L2_TestInit {
    bytes32 internal modelId;
    uint256 internal datanetId;
    address internal contributor = makeAddr("contributor");

    // A reward tree of 1,024 contributors (proofs of 10 hashes), finalized.
    uint256 internal constant TREE = 1024;
    uint256 internal finalBatchId;
    bytes32[] internal leaves;

    function setUp() public override {
        super.setUp();
        IDatanets.Rules memory rules = _openRules();
        rules.contributionStake = 0.1 ether;
        rules.maxContributionSize = 1 << 30;
        datanetId = _createDatanet(rules);
        modelId = _registerModel(_split());
        vm.deal(contributor, 10 ether);
        _stake(attestor, IStaking.Role.Attestor, MIN_ATTESTOR);
        _deposit(1_000 ether);
        // One redemption so the channel and the pools exist (the steady state of a server).
        _redeem(modelId, 100 ether);

        leaves = new bytes32[](TREE);
        for (uint256 i = 0; i < TREE; i++) {
            leaves[i] = rewards.rewardLeaf(modelId, _contributor(i), 0.01 ether);
        }
        (bytes32 root,) = MerkleBuilder.build(leaves, 0);
        finalBatchId = _post(modelId, root, 10.24 ether);
        vm.warp(block.timestamp + WINDOW);
        receipts.finalizeBatch(finalBatchId);
    }

    function _contributor(uint256 _i) internal pure returns (address) {
        return address(uint160(0xC0000 + _i));
    }

    /// @notice 21,000 + calldata (16 gas per non-zero byte, 4 per zero byte) + the callee's gas.
    function _txGas(bytes memory _calldata) internal view returns (uint256 exec_, uint256 tx_) {
        Vm.Gas memory g = vm.lastCallGas();
        exec_ = g.gasTotalUsed;
        uint256 data;
        for (uint256 i = 0; i < _calldata.length; i++) {
            data += _calldata[i] == 0 ? 4 : 16;
        }
        tx_ = 21_000 + data + exec_;
    }

    function _coolAll() internal {
        address[6] memory a = [
            address(datanets),
            address(escrow),
            address(rewards),
            address(receipts),
            address(staking),
            address(registry)
        ];
        for (uint256 i = 0; i < a.length; i++) {
            vm.cool(a[i]);
        }
    }

    function _report(string memory _name, uint256 _exec, uint256 _tx) internal pure {
        console2.log(_name);
        console2.log("  execution gas", _exec);
        console2.log("  transaction gas", _tx);
    }

    function test_contribute_gas_succeeds() public {
        bytes memory data = abi.encodeCall(
            IDatanets.contribute,
            (
                datanetId,
                keccak256("example-0001.jsonl"),
                48_213,
                "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
            )
        );
        _coolAll();
        vm.prank(contributor);
        (bool ok,) = address(datanets).call{value: 0.1 ether}(data);
        assertTrue(ok);
        (uint256 exec, uint256 txGas) = _txGas(data);
        _report("Datanets.contribute (new contributor, 0.1 OPEN stake)", exec, txGas);
        assertLt(txGas, 170_000);
    }

    function test_redeem_gas_succeeds() public {
        IInferenceEscrow.Voucher memory v = IInferenceEscrow.Voucher(payer, server, modelId, 100.5 ether);
        bytes memory data = abi.encodeCall(IInferenceEscrow.redeem, (v, _sign(payerKey, v)));
        _coolAll();
        vm.prank(server);
        (bool ok,) = address(escrow).call(data);
        assertTrue(ok);
        (uint256 exec, uint256 txGas) = _txGas(data);
        _report("InferenceEscrow.redeem (existing channel, fee split into Rewards)", exec, txGas);
        assertLt(txGas, 110_000);
    }

    function test_redeem_firstOnChannel_gas_succeeds() public {
        address server2 = makeAddr("server2");
        IInferenceEscrow.Voucher memory v = IInferenceEscrow.Voucher(payer, server2, modelId, 0.5 ether);
        bytes memory data = abi.encodeCall(IInferenceEscrow.redeem, (v, _sign(payerKey, v)));
        _coolAll();
        vm.prank(server2);
        (bool ok,) = address(escrow).call(data);
        assertTrue(ok);
        (uint256 exec, uint256 txGas) = _txGas(data);
        _report("InferenceEscrow.redeem (first redemption on a channel)", exec, txGas);
        assertLt(txGas, 130_000);
    }

    function test_postBatch_gas_succeeds() public {
        bytes memory data = abi.encodeCall(
            receipts.postBatch,
            (
                modelId,
                keccak256("receipts"),
                keccak256("rewards"),
                10 ether,
                5_000,
                "ipfs://bafybeibatch000000000000000000000000000000000000000000"
            )
        );
        _coolAll();
        vm.prank(attestor);
        (bool ok,) = address(receipts).call(data);
        assertTrue(ok);
        (uint256 exec, uint256 txGas) = _txGas(data);
        _report("AttributionReceipts.postBatch (previous batch already final)", exec, txGas);
        assertLt(txGas, 200_000);
    }

    function test_postBatch_finalizesPrevious_gas_succeeds() public {
        _post(modelId, keccak256("r1"), 1 ether);
        vm.warp(block.timestamp + WINDOW);
        bytes memory data = abi.encodeCall(
            receipts.postBatch,
            (
                modelId,
                keccak256("receipts"),
                keccak256("rewards"),
                1 ether,
                5_000,
                "ipfs://bafybeibatch000000000000000000000000000000000000000000"
            )
        );
        _coolAll();
        vm.prank(attestor);
        (bool ok,) = address(receipts).call(data);
        assertTrue(ok);
        (uint256 exec, uint256 txGas) = _txGas(data);
        _report("AttributionReceipts.postBatch (finalizes the previous batch too)", exec, txGas);
        assertLt(txGas, 210_000);
    }

    function test_claim_gas_succeeds() public {
        (, bytes32[] memory proof) = MerkleBuilder.build(leaves, 517);
        assertEq(proof.length, 10);
        bytes memory data = abi.encodeCall(rewards.claim, (finalBatchId, 0.01 ether, proof));
        _coolAll();
        vm.prank(_contributor(517));
        (bool ok,) = address(rewards).call(data);
        assertTrue(ok);
        (uint256 exec, uint256 txGas) = _txGas(data);
        _report("Rewards.claim (first claim, 1,024-leaf tree, 10-hash proof)", exec, txGas);
        assertLt(txGas, 110_000);
    }
}
