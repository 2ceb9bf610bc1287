// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {stdJson} from "forge-std/StdJson.sol";
import {L1_TestInit} from "../setup/L1Setup.sol";
import {
    RecordingTarget,
    ReentrantPortalTarget,
    RevertingTarget,
    ReturnBombTarget
} from "../mocks/PortalTargets.sol";
import {TrieBuilder} from "../utils/TrieBuilder.sol";

// Libraries
import {AddressAliasHelper} from "../../src/libraries/AddressAliasHelper.sol";
import {Hashing} from "../../src/libraries/Hashing.sol";
import {Types} from "../../src/libraries/Types.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Interfaces
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IOpenPortal} from "../../src/interfaces/IOpenPortal.sol";
import {IOutputOracle} from "../../src/interfaces/IOutputOracle.sol";

/// @title OpenPortal_TestInit
contract OpenPortal_TestInit is L1_TestInit {
    /// @notice A contract depositor (its deposits are aliased).
    DepositorContract internal depositor;

    function setUp() public virtual override {
        super.setUp();
        depositor = new DepositorContract(portal);
        vm.prank(holder);
        token.transfer(alice, 1_000 ether);
        vm.prank(holder);
        token.transfer(address(depositor), 1_000 ether);
    }
}

/// @title DepositorContract
/// @notice An L1 contract that deposits.
contract DepositorContract {
    IOpenPortal internal immutable portal;

    constructor(IOpenPortal _portal) {
        portal = _portal;
        _portal.token().approve(address(_portal), type(uint256).max);
    }

    function deposit(address _to, uint256 _mint) external {
        portal.depositTransaction(_to, _mint, 0, 100_000, false, "");
    }
}

/// @title OpenPortal_depositTransaction_Test
contract OpenPortal_depositTransaction_Test is OpenPortal_TestInit {
    function test_depositTransaction_eoa_succeeds() public {
        vm.startPrank(alice, alice);
        token.approve(address(portal), 5 ether);
        vm.expectEmit(address(portal));
        emit IOpenPortal.TransactionDeposited(
            alice,
            address(0xB0B),
            0,
            abi.encodePacked(uint256(5 ether), uint256(1 ether), uint64(50_000), false, hex"")
        );
        portal.depositTransaction(address(0xB0B), 5 ether, 1 ether, 50_000, false, "");
        vm.stopPrank();
        assertEq(token.balanceOf(address(portal)), 5 ether);
        assertEq(token.balanceOf(alice), 995 ether);
    }

    function test_depositTransaction_contract_aliasesFrom_succeeds() public {
        address aliased = AddressAliasHelper.applyL1ToL2Alias(address(depositor));
        vm.expectEmit(address(portal));
        emit IOpenPortal.TransactionDeposited(
            aliased, alice, 0, abi.encodePacked(uint256(2 ether), uint256(0), uint64(100_000), false, hex"")
        );
        vm.prank(alice, alice);
        depositor.deposit(alice, 2 ether);
        assertEq(token.balanceOf(address(portal)), 2 ether);
    }

    function test_depositTransaction_delegatedEoa_notAliased_succeeds() public {
        // An EIP-7702 account has code 0xef0100 ++ delegate, but its key signs on L2 too.
        vm.etch(alice, abi.encodePacked(hex"ef0100", address(0x1234)));
        vm.startPrank(alice, makeAddr("relayer"));
        token.approve(address(portal), 1 ether);
        vm.expectEmit(address(portal));
        emit IOpenPortal.TransactionDeposited(
            alice, alice, 0, abi.encodePacked(uint256(1 ether), uint256(0), uint64(21_000), false, hex"")
        );
        portal.depositTransaction(alice, 1 ether, 0, 21_000, false, "");
        vm.stopPrank();
    }

    function test_depositTransaction_creation_succeeds() public {
        bytes memory initCode = hex"600080fd";
        vm.expectEmit(address(portal));
        emit IOpenPortal.TransactionDeposited(
            alice, address(0), 0, abi.encodePacked(uint256(0), uint256(0), uint64(200_000), true, initCode)
        );
        vm.prank(alice, alice);
        portal.depositTransaction(address(0), 0, 0, 200_000, true, initCode);
    }

    function test_depositTransaction_creationWithTarget_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenPortal.OpenPortalBadTarget.selector, address(1)));
        vm.prank(alice, alice);
        portal.depositTransaction(address(1), 0, 0, 200_000, true, hex"00");
    }

    function testFuzz_depositTransaction_gasLimitTooLow_reverts(uint16 _size, uint64 _gas) public {
        bytes memory data = new bytes(_size);
        uint64 minimum = portal.minimumGasLimit(_size);
        _gas = uint64(bound(_gas, 0, minimum - 1));
        vm.expectRevert(abi.encodeWithSelector(IOpenPortal.OpenPortalGasLimitTooLow.selector, _gas, minimum));
        vm.prank(alice, alice);
        portal.depositTransaction(alice, 0, 0, _gas, false, data);
    }

    function test_depositTransaction_gasLimitTooHigh_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenPortal.OpenPortalGasLimitTooHigh.selector, 20_000_001, 20_000_000)
        );
        vm.prank(alice, alice);
        portal.depositTransaction(alice, 0, 0, 20_000_001, false, "");
    }

    function test_depositTransaction_calldataTooLarge_reverts() public {
        bytes memory data = new bytes(120_001);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenPortal.OpenPortalCalldataTooLarge.selector, 120_001, 120_000)
        );
        vm.prank(alice, alice);
        portal.depositTransaction(alice, 0, 0, 10_000_000, false, data);
    }

    function test_depositTransaction_noAllowance_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(portal), 0, 1 ether
            )
        );
        vm.prank(alice, alice);
        portal.depositTransaction(alice, 1 ether, 0, 100_000, false, "");
    }

    function testFuzz_depositTransaction_locksMint_succeeds(
        uint256 _mint,
        uint256 _value,
        bytes calldata _data
    ) public {
        vm.assume(_data.length <= 10_000);
        _mint = bound(_mint, 0, 1_000 ether);
        uint64 gas = portal.minimumGasLimit(uint64(_data.length));
        vm.startPrank(alice, alice);
        token.approve(address(portal), _mint);
        vm.expectEmit(address(portal));
        emit IOpenPortal.TransactionDeposited(
            alice, alice, 0, abi.encodePacked(_mint, _value, gas, false, _data)
        );
        portal.depositTransaction(alice, _mint, _value, gas, false, _data);
        vm.stopPrank();
        assertEq(token.balanceOf(address(portal)), _mint);
        assertEq(token.balanceOf(alice) + _mint, 1_000 ether);
    }
}

/// @title OpenPortal_depositTransactionWithPermit_Test
contract OpenPortal_depositTransactionWithPermit_Test is OpenPortal_TestInit {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function _sign(uint256 _key, address _owner, uint256 _value, uint256 _deadline)
        internal
        view
        returns (uint8 v_, bytes32 r_, bytes32 s_)
    {
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, _owner, address(portal), _value, token.nonces(_owner), _deadline)
        );
        (v_, r_, s_) =
            vm.sign(_key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function test_depositTransactionWithPermit_succeeds() public {
        (address signer, uint256 key) = makeAddrAndKey("signer");
        vm.prank(holder);
        token.transfer(signer, 10 ether);
        (uint8 v, bytes32 r, bytes32 s) = _sign(key, signer, 10 ether, block.timestamp);
        vm.prank(signer, signer);
        portal.depositTransactionWithPermit(signer, 10 ether, 0, 100_000, false, "", block.timestamp, v, r, s);
        assertEq(token.balanceOf(address(portal)), 10 ether);
        assertEq(token.allowance(signer, address(portal)), 0);
    }

    function test_depositTransactionWithPermit_frontRunPermit_succeeds() public {
        (address signer, uint256 key) = makeAddrAndKey("signer");
        vm.prank(holder);
        token.transfer(signer, 10 ether);
        (uint8 v, bytes32 r, bytes32 s) = _sign(key, signer, 10 ether, block.timestamp);
        // Someone submits the permit first; the deposit still goes through.
        token.permit(signer, address(portal), 10 ether, block.timestamp, v, r, s);
        vm.prank(signer, signer);
        portal.depositTransactionWithPermit(signer, 10 ether, 0, 100_000, false, "", block.timestamp, v, r, s);
        assertEq(token.balanceOf(address(portal)), 10 ether);
    }

    function test_depositTransactionWithPermit_badPermitNoAllowance_reverts() public {
        (address signer,) = makeAddrAndKey("signer");
        vm.prank(holder);
        token.transfer(signer, 10 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(portal), 0, 10 ether
            )
        );
        vm.prank(signer, signer);
        portal.depositTransactionWithPermit(
            signer, 10 ether, 0, 100_000, false, "", 0, 27, bytes32(0), bytes32(0)
        );
    }
}

/// @title OpenPortal_proveWithdrawalTransaction_Test
contract OpenPortal_proveWithdrawalTransaction_Test is OpenPortal_TestInit {
    using stdJson for string;

    Types.WithdrawalTransaction internal wtx;

    function setUp() public override {
        super.setUp();
        wtx = _withdrawal(0, alice, 3 ether, "");
    }

    function testFuzz_proveWithdrawalTransaction_succeeds(uint8 _others) public {
        uint256 others = bound(_others, 0, 12);
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, others);
        uint256 index = _propose(proof);
        bytes32 h = Hashing.hashWithdrawal(wtx);
        vm.expectEmit(address(portal));
        emit IOpenPortal.WithdrawalProven(h, wtx.sender, wtx.target);
        vm.prank(makeAddr("anyone"));
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
        (bytes32 root, uint128 ts, uint128 idx) = portal.provenWithdrawals(h);
        assertEq(root, Hashing.hashOutputRootProof(proof));
        assertEq(ts, block.timestamp);
        assertEq(idx, index);
    }

    /// @notice A proof produced by a real client (anvil's eth_getProof) verifies.
    function test_proveWithdrawalTransaction_anvilFixture_succeeds() public {
        // Relative to the project root: an absolute path would make the gas snapshot depend on
        // where the repository is checked out.
        string memory json = vm.readFile("contracts/test/fixtures/withdrawal-proof.json");
        Types.WithdrawalTransaction memory fx = Types.WithdrawalTransaction({
            nonce: json.readUint(".nonce"),
            sender: json.readAddress(".sender"),
            target: json.readAddress(".target"),
            value: json.readUint(".value"),
            gasLimit: json.readUint(".gasLimit"),
            data: json.readBytes(".data")
        });
        bytes32 h = Hashing.hashWithdrawal(fx);
        assertEq(h, json.readBytes32(".withdrawalHash"));
        assertEq(Hashing.sentMessageSlot(h), json.readBytes32(".slot"));
        Types.OutputRootProof memory proof = Types.OutputRootProof({
            version: bytes32(0),
            stateRoot: json.readBytes32(".stateRoot"),
            messagePasserStorageRoot: json.readBytes32(".storageRoot"),
            latestBlockhash: json.readBytes32(".blockHash")
        });
        bytes[] memory nodes = json.readBytesArray(".proof");
        uint256 index = _propose(proof);
        portal.proveWithdrawalTransaction(fx, index, proof, nodes);
        (, uint128 ts,) = portal.provenWithdrawals(h);
        assertEq(ts, block.timestamp);

        // The same nodes do not prove a neighbouring withdrawal.
        fx.value += 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalInvalidWithdrawalProof.selector, Hashing.hashWithdrawal(fx)
            )
        );
        portal.proveWithdrawalTransaction(fx, index, proof, nodes);
    }

    function test_proveWithdrawalTransaction_badTarget_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 1);
        uint256 index = _propose(proof);
        address[3] memory bad = [address(portal), address(token), address(0)];
        for (uint256 i = 0; i < 3; i++) {
            wtx.target = bad[i];
            vm.expectRevert(abi.encodeWithSelector(IOpenPortal.OpenPortalBadTarget.selector, bad[i]));
            portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
        }
    }

    function test_proveWithdrawalTransaction_invalidOutputRootProof_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 1);
        uint256 index = _propose(proof);
        bytes32 posted = Hashing.hashOutputRootProof(proof);
        proof.stateRoot = keccak256("other state");
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalInvalidOutputRootProof.selector,
                Hashing.hashOutputRootProof(proof),
                posted
            )
        );
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
    }

    function test_proveWithdrawalTransaction_unsupportedVersion_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 1);
        proof.version = bytes32(uint256(1));
        uint256 index = _propose(proof);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalUnsupportedOutputVersion.selector, bytes32(uint256(1))
            )
        );
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
    }

    function test_proveWithdrawalTransaction_notInTrie_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 4);
        uint256 index = _propose(proof);
        Types.WithdrawalTransaction memory forged = _withdrawal(0, alice, 1_000 ether, "");
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalInvalidWithdrawalProof.selector, Hashing.hashWithdrawal(forged)
            )
        );
        portal.proveWithdrawalTransaction(forged, index, proof, nodes);
    }

    function test_proveWithdrawalTransaction_slotNotOne_reverts() public {
        bytes32[] memory keys = new bytes32[](2);
        bytes[] memory values = new bytes[](2);
        keys[0] = _trieKey(Hashing.hashWithdrawal(wtx));
        values[0] = hex"02";
        keys[1] = keccak256("other");
        values[1] = hex"01";
        (bytes32 storageRoot, bytes[] memory nodes) = TrieBuilder.build(keys, values, 0);
        Types.OutputRootProof memory proof =
            Types.OutputRootProof(bytes32(0), bytes32(0), storageRoot, bytes32(0));
        uint256 index = _propose(proof);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalInvalidWithdrawalProof.selector, Hashing.hashWithdrawal(wtx)
            )
        );
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
    }

    function testFuzz_proveWithdrawalTransaction_tamperedNode_reverts(
        uint256 _node,
        uint256 _byte,
        uint8 _xor
    ) public {
        vm.assume(_xor != 0);
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 6);
        uint256 index = _propose(proof);
        _node = bound(_node, 0, nodes.length - 1);
        _byte = bound(_byte, 0, nodes[_node].length - 1);
        nodes[_node][_byte] = bytes1(uint8(nodes[_node][_byte]) ^ _xor);
        // A failed walk and undecodable RLP end in the same clear error.
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalInvalidWithdrawalProof.selector, Hashing.hashWithdrawal(wtx)
            )
        );
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
    }

    function test_proveWithdrawalTransaction_indexOutOfBounds_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 1);
        vm.expectRevert(abi.encodeWithSelector(IOutputOracle.OutputOracleIndexOutOfBounds.selector, 0, 0));
        portal.proveWithdrawalTransaction(wtx, 0, proof, nodes);
    }

    function test_proveWithdrawalTransaction_alreadyProven_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 2);
        uint256 index = _propose(proof);
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
        vm.warp(block.timestamp + 100);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenPortal.OpenPortalAlreadyProven.selector, Hashing.hashWithdrawal(wtx))
        );
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
    }

    function test_proveWithdrawalTransaction_afterOutputDeleted_succeeds() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 2);
        uint256 index = _propose(proof);
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
        vm.prank(guardian);
        oracle.deleteL2Outputs(index);

        vm.warp(block.timestamp + 100);
        (Types.OutputRootProof memory proof2, bytes[] memory nodes2) = _buildProof(wtx, 5);
        uint256 index2 = _propose(proof2);
        portal.proveWithdrawalTransaction(wtx, index2, proof2, nodes2);
        (bytes32 root, uint128 ts,) = portal.provenWithdrawals(Hashing.hashWithdrawal(wtx));
        assertEq(root, Hashing.hashOutputRootProof(proof2));
        assertEq(ts, block.timestamp);
    }
}

/// @title OpenPortal_finalizeWithdrawalTransaction_Test
contract OpenPortal_finalizeWithdrawalTransaction_Test is OpenPortal_TestInit {
    Types.WithdrawalTransaction internal wtx;

    function setUp() public override {
        super.setUp();
        _fundPortal(100 ether);
        wtx = _withdrawal(0, alice, 3 ether, "");
    }

    function test_finalizeWithdrawalTransaction_succeeds() public {
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        bytes32 h = Hashing.hashWithdrawal(wtx);
        vm.expectEmit(address(portal));
        emit IOpenPortal.WithdrawalFinalized(h, true);
        vm.prank(makeAddr("relayer"));
        portal.finalizeWithdrawalTransaction(wtx);
        assertTrue(portal.finalizedWithdrawals(h));
        assertEq(token.balanceOf(alice), 1_003 ether);
        assertEq(token.balanceOf(address(portal)), 97 ether);
    }

    function test_finalizeWithdrawalTransaction_twice_reverts() public {
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        portal.finalizeWithdrawalTransaction(wtx);
        bytes32 h = Hashing.hashWithdrawal(wtx);
        vm.expectRevert(abi.encodeWithSelector(IOpenPortal.OpenPortalAlreadyFinalized.selector, h));
        portal.finalizeWithdrawalTransaction(wtx);
    }

    function test_finalizeWithdrawalTransaction_reproveAfterFinalize_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 3);
        uint256 index = _propose(proof);
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
        vm.warp(block.timestamp + PERIOD);
        portal.finalizeWithdrawalTransaction(wtx);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalAlreadyFinalized.selector, Hashing.hashWithdrawal(wtx)
            )
        );
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
    }

    function test_finalizeWithdrawalTransaction_notProven_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenPortal.OpenPortalNotProven.selector, Hashing.hashWithdrawal(wtx))
        );
        portal.finalizeWithdrawalTransaction(wtx);
    }

    function testFuzz_finalizeWithdrawalTransaction_tooEarly_reverts(uint256 _elapsed) public {
        _proposeAndProve(wtx);
        uint256 provenAt = block.timestamp;
        _elapsed = bound(_elapsed, 0, PERIOD - 1);
        vm.warp(provenAt + _elapsed);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalProofNotMatured.selector, provenAt, provenAt + PERIOD
            )
        );
        portal.finalizeWithdrawalTransaction(wtx);
    }

    function test_finalizeWithdrawalTransaction_outputDeleted_reverts() public {
        uint256 index = _proposeAndProve(wtx);
        vm.prank(guardian);
        oracle.deleteL2Outputs(index);
        vm.warp(block.timestamp + PERIOD);
        vm.expectRevert(
            abi.encodeWithSelector(IOutputOracle.OutputOracleIndexOutOfBounds.selector, index, index)
        );
        portal.finalizeWithdrawalTransaction(wtx);
    }

    function test_finalizeWithdrawalTransaction_outputReplaced_reverts() public {
        uint256 index = _proposeAndProve(wtx);
        bytes32 provenRoot = oracle.getL2Output(index).outputRoot;
        vm.prank(guardian);
        oracle.deleteL2Outputs(index);
        vm.prank(proposer);
        oracle.proposeL2Output(keccak256("replacement"), 10, bytes32(0), 0);
        vm.warp(block.timestamp + PERIOD);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalOutputRootChanged.selector, provenRoot, keccak256("replacement")
            )
        );
        portal.finalizeWithdrawalTransaction(wtx);
    }

    /// @notice The same root re-posted later (after a deletion) restarts the output's own clock.
    function test_finalizeWithdrawalTransaction_outputRepostedLater_reverts() public {
        (Types.OutputRootProof memory proof, bytes[] memory nodes) = _buildProof(wtx, 3);
        uint256 index = _propose(proof);
        portal.proveWithdrawalTransaction(wtx, index, proof, nodes);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(guardian);
        oracle.deleteL2Outputs(index);
        uint256 repostedAt = block.timestamp;
        _propose(proof);
        vm.warp(repostedAt + PERIOD - 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalOutputNotFinalized.selector, index, repostedAt + PERIOD
            )
        );
        portal.finalizeWithdrawalTransaction(wtx);
        vm.warp(repostedAt + PERIOD);
        portal.finalizeWithdrawalTransaction(wtx);
    }

    function test_finalizeWithdrawalTransaction_periodRaised_reverts() public {
        _proposeAndProve(wtx);
        uint256 provenAt = block.timestamp;
        vm.prank(owner);
        config.setFinalizationPeriodSeconds(2 * PERIOD);
        vm.warp(provenAt + PERIOD);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenPortal.OpenPortalProofNotMatured.selector, provenAt, provenAt + 2 * PERIOD
            )
        );
        portal.finalizeWithdrawalTransaction(wtx);
    }

    function test_finalizeWithdrawalTransaction_callsTarget_succeeds() public {
        RecordingTarget target = new RecordingTarget(portal);
        wtx = _withdrawal(1, address(target), 2 ether, hex"c0ffee");
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        assertEq(portal.l2Sender(), 0x000000000000000000000000000000000000dEaD);
        portal.finalizeWithdrawalTransaction(wtx);
        assertEq(target.calls(), 1);
        assertEq(target.seenL2Sender(), wtx.sender);
        assertEq(target.seenData(), hex"c0ffee");
        assertEq(token.balanceOf(address(target)), 2 ether);
        assertEq(portal.l2Sender(), 0x000000000000000000000000000000000000dEaD);
    }

    function test_finalizeWithdrawalTransaction_targetReverts_deliversValue_succeeds() public {
        address target = address(new RevertingTarget());
        wtx = _withdrawal(2, target, 2 ether, hex"01");
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        vm.expectEmit(address(portal));
        emit IOpenPortal.WithdrawalFinalized(Hashing.hashWithdrawal(wtx), false);
        portal.finalizeWithdrawalTransaction(wtx);
        assertTrue(portal.finalizedWithdrawals(Hashing.hashWithdrawal(wtx)));
        assertEq(token.balanceOf(target), 2 ether);
    }

    /// @notice A target returning 200 kB (within its own gas) costs the portal nothing extra,
    ///         since the portal copies no return data.
    function test_finalizeWithdrawalTransaction_returnBomb_succeeds() public {
        address target = address(new ReturnBombTarget());
        wtx = _withdrawal(3, target, 0, hex"01");
        wtx.gasLimit = 300_000;
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        vm.expectEmit(address(portal));
        emit IOpenPortal.WithdrawalFinalized(Hashing.hashWithdrawal(wtx), true);
        uint256 before = gasleft();
        portal.finalizeWithdrawalTransaction{gas: 500_000}(wtx);
        // The callee's own memory costs ~100k; copying 200 kB into the portal would double it.
        assertLt(before - gasleft(), 200_000);
    }

    function test_finalizeWithdrawalTransaction_insufficientGas_reverts() public {
        wtx = _withdrawal(4, address(new RecordingTarget(portal)), 0, hex"01");
        wtx.gasLimit = 5_000_000;
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        vm.expectPartialRevert(IOpenPortal.OpenPortalInsufficientGas.selector);
        portal.finalizeWithdrawalTransaction{gas: 1_000_000}(wtx);
        assertFalse(portal.finalizedWithdrawals(Hashing.hashWithdrawal(wtx)));
        portal.finalizeWithdrawalTransaction{gas: 6_000_000}(wtx);
        assertTrue(portal.finalizedWithdrawals(Hashing.hashWithdrawal(wtx)));
    }

    function test_finalizeWithdrawalTransaction_hugeGasLimit_reverts() public {
        wtx = _withdrawal(5, address(new RecordingTarget(portal)), 0, hex"01");
        wtx.gasLimit = type(uint256).max;
        _proposeAndProve(wtx);
        vm.warp(block.timestamp + PERIOD);
        vm.expectPartialRevert(IOpenPortal.OpenPortalInsufficientGas.selector);
        portal.finalizeWithdrawalTransaction(wtx);
    }

    /// @notice A target that re-enters (finalize, prove or deposit) is stopped by the lock; its
    ///         call fails, the outer withdrawal is finalized once and the other one is not.
    function test_finalizeWithdrawalTransaction_reentrancy_reverts() public {
        for (uint8 mode = 0; mode < 3; mode++) {
            ReentrantPortalTarget target = new ReentrantPortalTarget(portal);
            Types.WithdrawalTransaction memory other = _withdrawal(100 + mode, alice, 1 ether, "");
            _proposeAndProve(other);
            target.arm(mode, other);
            Types.WithdrawalTransaction memory outer =
                _withdrawal(200 + mode, address(target), 1 ether, hex"01");
            _proposeAndProve(outer);
            vm.warp(block.timestamp + PERIOD);

            portal.finalizeWithdrawalTransaction(outer);
            assertFalse(target.reentered());
            assertEq(
                target.reentryError(),
                abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
            );
            assertTrue(portal.finalizedWithdrawals(Hashing.hashWithdrawal(outer)));
            assertFalse(portal.finalizedWithdrawals(Hashing.hashWithdrawal(other)));
        }
    }
}
