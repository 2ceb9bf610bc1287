// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {Test} from "forge-std/Test.sol";

// Contracts
import {L1Block} from "../../src/L2/L1Block.sol";

// Libraries
import {Predeploys} from "../../src/libraries/Predeploys.sol";

// Interfaces
import {IL1Block} from "../../src/interfaces/IL1Block.sol";

/// @title L1Block_TestInit
/// @notice Places the runtime code at the predeploy address, as the sequencer's genesis does,
///         and builds OP's packed L1-attributes calldata.
contract L1Block_TestInit is Test {
    L1Block internal l1Block = L1Block(Predeploys.L1_BLOCK);
    address internal depositor = Predeploys.DEPOSITOR_ACCOUNT;

    struct Attrs {
        uint32 baseFeeScalar;
        uint32 blobBaseFeeScalar;
        uint64 sequenceNumber;
        uint64 timestamp;
        uint64 number;
        uint256 basefee;
        uint256 blobBaseFee;
        bytes32 hash;
        bytes32 batcherHash;
        uint32 operatorFeeScalar;
        uint64 operatorFeeConstant;
    }

    function setUp() public virtual {
        vm.etch(address(l1Block), vm.getDeployedCode("L1Block.sol:L1Block"));
    }

    function _ecotone(Attrs memory _a) internal pure returns (bytes memory) {
        return abi.encodePacked(
            bytes4(keccak256("setL1BlockValuesEcotone()")),
            _a.baseFeeScalar,
            _a.blobBaseFeeScalar,
            _a.sequenceNumber,
            _a.timestamp,
            _a.number,
            _a.basefee,
            _a.blobBaseFee,
            _a.hash,
            _a.batcherHash
        );
    }

    function _isthmus(Attrs memory _a) internal pure returns (bytes memory) {
        bytes memory ecotone = _ecotone(_a);
        // Same fields after the selector, plus the operator fee parameters.
        bytes memory body = new bytes(ecotone.length - 4);
        for (uint256 i = 0; i < body.length; i++) {
            body[i] = ecotone[i + 4];
        }
        return abi.encodePacked(
            bytes4(keccak256("setL1BlockValuesIsthmus()")), body, _a.operatorFeeScalar, _a.operatorFeeConstant
        );
    }

    /// @notice Big-endian bytes [_from, _to) of a storage word.
    function _bytesOf(bytes32 _word, uint256 _from, uint256 _to) internal pure returns (uint256 v_) {
        for (uint256 i = _from; i < _to; i++) {
            v_ = (v_ << 8) | uint8(_word[i]);
        }
    }
}

/// @title L1Block_setL1BlockValuesIsthmus_Test
contract L1Block_setL1BlockValuesIsthmus_Test is L1Block_TestInit {
    function test_selectors_matchOp_succeeds() public pure {
        assertEq(IL1Block.setL1BlockValuesIsthmus.selector, bytes4(0x098999be));
        assertEq(IL1Block.setL1BlockValuesEcotone.selector, bytes4(0x440a5e20));
    }

    function testFuzz_setL1BlockValuesIsthmus_storesOpLayout_succeeds(Attrs memory _a) public {
        bytes memory data = _isthmus(_a);
        assertEq(data.length, 176);
        vm.prank(depositor);
        (bool ok,) = address(l1Block).call(data);
        assertTrue(ok);

        assertEq(l1Block.baseFeeScalar(), _a.baseFeeScalar);
        assertEq(l1Block.blobBaseFeeScalar(), _a.blobBaseFeeScalar);
        assertEq(l1Block.sequenceNumber(), _a.sequenceNumber);
        assertEq(l1Block.timestamp(), _a.timestamp);
        assertEq(l1Block.number(), _a.number);
        assertEq(l1Block.basefee(), _a.basefee);
        assertEq(l1Block.blobBaseFee(), _a.blobBaseFee);
        assertEq(l1Block.hash(), _a.hash);
        assertEq(l1Block.batcherHash(), _a.batcherHash);
        assertEq(l1Block.operatorFeeScalar(), _a.operatorFeeScalar);
        assertEq(l1Block.operatorFeeConstant(), _a.operatorFeeConstant);
        assertEq(l1Block.l1FeeOverhead(), 0);
        assertEq(l1Block.l1FeeScalar(), 0);

        // The raw slots op-revm reads, at op-revm's byte offsets.
        address a = address(l1Block);
        bytes32 s0 = vm.load(a, bytes32(uint256(0)));
        assertEq(_bytesOf(s0, 24, 32), _a.number);
        assertEq(_bytesOf(s0, 16, 24), _a.timestamp);
        assertEq(uint256(vm.load(a, bytes32(uint256(1)))), _a.basefee); // L1_BASE_FEE_SLOT
        assertEq(vm.load(a, bytes32(uint256(2))), _a.hash);
        bytes32 s3 = vm.load(a, bytes32(uint256(3))); // ECOTONE_L1_FEE_SCALARS_SLOT
        assertEq(_bytesOf(s3, 16, 20), _a.baseFeeScalar); // BASE_FEE_SCALAR_OFFSET = 16
        assertEq(_bytesOf(s3, 20, 24), _a.blobBaseFeeScalar); // BLOB_BASE_FEE_SCALAR_OFFSET = 20
        assertEq(_bytesOf(s3, 24, 32), _a.sequenceNumber);
        assertEq(_bytesOf(s3, 0, 16), 0);
        assertEq(vm.load(a, bytes32(uint256(4))), _a.batcherHash);
        assertEq(uint256(vm.load(a, bytes32(uint256(7)))), _a.blobBaseFee); // ECOTONE_L1_BLOB_BASE_FEE_SLOT
        bytes32 s8 = vm.load(a, bytes32(uint256(8))); // OPERATOR_FEE_SCALARS_SLOT
        assertEq(_bytesOf(s8, 20, 24), _a.operatorFeeScalar); // OPERATOR_FEE_SCALAR_OFFSET = 20
        assertEq(_bytesOf(s8, 24, 32), _a.operatorFeeConstant); // OPERATOR_FEE_CONSTANT_OFFSET = 24
        assertEq(_bytesOf(s8, 0, 20), 0);
    }

    function testFuzz_setL1BlockValuesIsthmus_notDepositor_reverts(address _caller) public {
        vm.assume(_caller != depositor);
        Attrs memory a;
        vm.expectRevert(abi.encodeWithSelector(IL1Block.L1BlockNotDepositor.selector, _caller));
        vm.prank(_caller);
        (bool ok,) = address(l1Block).call(_isthmus(a));
        ok;
    }

    function test_setL1BlockValuesIsthmus_shortCalldata_reverts() public {
        Attrs memory a;
        vm.expectRevert(abi.encodeWithSelector(IL1Block.L1BlockCalldataTooShort.selector, 164, 176));
        vm.prank(depositor);
        (bool ok,) = address(l1Block)
            .call(
                abi.encodePacked(
                    bytes4(keccak256("setL1BlockValuesIsthmus()")), _sliceAfterSelector(_ecotone(a))
                )
            );
        ok;
    }

    function _sliceAfterSelector(bytes memory _b) internal pure returns (bytes memory out_) {
        out_ = new bytes(_b.length - 4);
        for (uint256 i = 0; i < out_.length; i++) {
            out_[i] = _b[i + 4];
        }
    }
}

/// @title L1Block_setL1BlockValuesEcotone_Test
contract L1Block_setL1BlockValuesEcotone_Test is L1Block_TestInit {
    function testFuzz_setL1BlockValuesEcotone_keepsOperatorFee_succeeds(Attrs memory _a, Attrs memory _b)
        public
    {
        vm.startPrank(depositor);
        (bool ok,) = address(l1Block).call(_isthmus(_a));
        assertTrue(ok);
        bytes memory data = _ecotone(_b);
        assertEq(data.length, 164);
        (ok,) = address(l1Block).call(data);
        assertTrue(ok);
        vm.stopPrank();

        assertEq(l1Block.number(), _b.number);
        assertEq(l1Block.hash(), _b.hash);
        assertEq(l1Block.baseFeeScalar(), _b.baseFeeScalar);
        assertEq(l1Block.operatorFeeScalar(), _a.operatorFeeScalar);
        assertEq(l1Block.operatorFeeConstant(), _a.operatorFeeConstant);
    }

    function test_setL1BlockValuesEcotone_notDepositor_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IL1Block.L1BlockNotDepositor.selector, address(this)));
        l1Block.setL1BlockValuesEcotone();
    }

    function test_DEPOSITOR_ACCOUNT_succeeds() public view {
        assertEq(l1Block.DEPOSITOR_ACCOUNT(), 0xDeaDDEaDDeAdDeAdDEAdDEaddeAddEAdDEAd0001);
        assertEq(l1Block.version(), "1.0.0");
    }
}
