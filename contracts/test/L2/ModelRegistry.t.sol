// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing
import {L2_TestInit} from "../setup/L2Setup.sol";

// Interfaces
import {IModelRegistry} from "../../src/interfaces/IModelRegistry.sol";

/// @title ModelRegistry_TestInit
contract ModelRegistry_TestInit is L2_TestInit {
    uint256 internal dn;

    function setUp() public virtual override {
        super.setUp();
        dn = _createDatanet(_openRules());
    }
}

/// @title ModelRegistry_registerModel_Test
contract ModelRegistry_registerModel_Test is ModelRegistry_TestInit {
    function test_registerModel_succeeds() public {
        IModelRegistry.ModelParams memory p = _params(dn, keccak256("adapter"), _split());
        bytes32 expectedId = keccak256(abi.encode(modelOwner, keccak256("adapter")));
        vm.expectEmit(address(registry));
        emit IModelRegistry.ModelRegistered(expectedId, modelOwner, keccak256("adapter"), 1, bytes32(0), p);
        vm.prank(modelOwner);
        bytes32 modelId = registry.registerModel(p);
        assertEq(modelId, expectedId);
        assertEq(registry.computeModelId(modelOwner, keccak256("adapter")), modelId);

        IModelRegistry.Model memory m = registry.getModel(modelId);
        assertEq(m.owner, modelOwner);
        assertEq(m.version, 1);
        assertTrue(m.active);
        assertEq(m.split.contributorsBps, 3_000);
        assertEq(m.pricePer1kTokens, 1e15);
        assertEq(m.adapterHash, keccak256("adapter"));
        assertEq(m.manifestRoot, keccak256("manifest"));
        assertEq(m.baseModelId, keccak256("llama-3.2-1b"));
        assertEq(m.datanetIds.length, 1);
        assertEq(m.datanetIds[0], dn);
        (address owner, IModelRegistry.FeeSplit memory split) = registry.feeTerms(modelId);
        assertEq(owner, modelOwner);
        assertEq(split.ownerBps, 5_000);
        assertTrue(registry.exists(modelId));
    }

    function testFuzz_registerModel_badSplit_reverts(uint16 _a, uint16 _b, uint16 _c, uint16 _d) public {
        uint256 sum = uint256(_a) + _b + _c + _d;
        vm.assume(sum != 10_000);
        IModelRegistry.FeeSplit memory s = IModelRegistry.FeeSplit(_a, _b, _c, _d);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidSplit.selector, sum));
        vm.prank(modelOwner);
        registry.registerModel(_params(dn, keccak256("adapter"), s));
    }

    function test_registerModel_duplicate_reverts() public {
        vm.startPrank(modelOwner);
        bytes32 modelId = registry.registerModel(_params(dn, keccak256("adapter"), _split()));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryModelExists.selector, modelId));
        registry.registerModel(_params(dn, keccak256("adapter"), _split()));
        vm.stopPrank();
        // Another owner may register the same adapter under its own id.
        vm.prank(server);
        assertTrue(registry.registerModel(_params(dn, keccak256("adapter"), _split())) != modelId);
    }

    function test_registerModel_badDatanets_reverts() public {
        IModelRegistry.ModelParams memory p = _params(dn, keccak256("adapter"), _split());
        p.datanetIds = new uint256[](0);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryBadDatanetCount.selector, 0, 32));
        vm.prank(modelOwner);
        registry.registerModel(p);

        p.datanetIds = new uint256[](33);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryBadDatanetCount.selector, 33, 32));
        vm.prank(modelOwner);
        registry.registerModel(p);

        p.datanetIds = new uint256[](2);
        p.datanetIds[0] = dn;
        p.datanetIds[1] = dn;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryDatanetsNotSorted.selector, dn));
        vm.prank(modelOwner);
        registry.registerModel(p);

        p.datanetIds[1] = dn + 5;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownDatanet.selector, dn + 5));
        vm.prank(modelOwner);
        registry.registerModel(p);
    }

    function test_registerModel_emptyHashes_reverts() public {
        IModelRegistry.ModelParams memory p = _params(dn, bytes32(0), _split());
        vm.expectRevert(IModelRegistry.ModelRegistryEmptyHash.selector);
        vm.prank(modelOwner);
        registry.registerModel(p);
        p.adapterHash = keccak256("adapter");
        p.manifestRoot = bytes32(0);
        vm.expectRevert(IModelRegistry.ModelRegistryEmptyHash.selector);
        vm.prank(modelOwner);
        registry.registerModel(p);
    }

    function test_getModel_unknown_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, bytes32(0)));
        registry.getModel(bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, bytes32(0)));
        registry.feeTerms(bytes32(0));
    }
}

/// @title ModelRegistry_versions_Test
contract ModelRegistry_versions_Test is ModelRegistry_TestInit {
    bytes32 internal v1;

    function setUp() public override {
        super.setUp();
        vm.prank(modelOwner);
        v1 = registry.registerModel(_params(dn, keccak256("adapter-v1"), _split()));
    }

    function test_publishVersion_chains_succeeds() public {
        vm.prank(modelOwner);
        bytes32 v2 = registry.publishVersion(v1, _params(dn, keccak256("adapter-v2"), _split()));
        vm.prank(modelOwner);
        bytes32 v3 = registry.publishVersion(v2, _params(dn, keccak256("adapter-v3"), _split()));
        assertEq(registry.getModel(v2).version, 2);
        assertEq(registry.getModel(v3).version, 3);
        assertEq(registry.getModel(v3).previousModelId, v2);
        assertEq(registry.successorOf(v1), v2);
        assertEq(registry.successorOf(v2), v3);
        assertTrue(registry.getModel(v1).active);
    }

    function test_publishVersion_twice_reverts() public {
        vm.prank(modelOwner);
        bytes32 v2 = registry.publishVersion(v1, _params(dn, keccak256("adapter-v2"), _split()));
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryAlreadySuperseded.selector, v1, v2)
        );
        vm.prank(modelOwner);
        registry.publishVersion(v1, _params(dn, keccak256("adapter-v2b"), _split()));
    }

    function test_publishVersion_notOwner_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotOwner.selector, v1, server));
        vm.prank(server);
        registry.publishVersion(v1, _params(dn, keccak256("adapter-v2"), _split()));
    }

    function test_setActive_succeeds() public {
        vm.expectEmit(address(registry));
        emit IModelRegistry.ModelActiveSet(v1, false);
        vm.prank(modelOwner);
        registry.setActive(v1, false);
        assertFalse(registry.getModel(v1).active);
        vm.prank(modelOwner);
        registry.setActive(v1, true);
        assertTrue(registry.getModel(v1).active);
    }

    function test_setPrice_succeeds() public {
        vm.expectEmit(address(registry));
        emit IModelRegistry.ModelPriceSet(v1, 7);
        vm.prank(modelOwner);
        registry.setPrice(v1, 7);
        assertEq(registry.getModel(v1).pricePer1kTokens, 7);
    }

    function testFuzz_ownerOnly_notOwner_reverts(address _caller) public {
        vm.assume(_caller != modelOwner);
        vm.startPrank(_caller);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotOwner.selector, v1, _caller));
        registry.setActive(v1, false);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryNotOwner.selector, v1, _caller));
        registry.setPrice(v1, 1);
        vm.stopPrank();
    }
}
