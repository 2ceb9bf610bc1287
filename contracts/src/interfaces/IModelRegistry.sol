// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {IDatanets} from "./IDatanets.sol";

/// @title IModelRegistry
/// @notice Registered models: LoRA adapters over a base model, trained on Datanets. Each version
///         is its own model id with fixed terms (adapter, manifest, split), so a voucher or a
///         receipt that names a model id names fixed terms; a new version links to the previous
///         one. Owners may change the price and (de)activate their versions.
/// @dev modelId = keccak256(abi.encode(owner, adapterHash)), where adapterHash is the keccak256
///      of the adapter file (the name the OpenLoRA server serves it under). The manifest root is
///      the Merkle root of the training manifest (example hash → contributor), built by the
///      attribution engine.
interface IModelRegistry {
    /// @notice How a model's inference fees are split, in basis points summing to 10,000.
    /// @custom:field ownerBps        To the model owner (also gets the rounding remainder).
    /// @custom:field contributorsBps To the data contributors, through attribution receipts.
    /// @custom:field stakersBps      To the curators and attestors staked in Staking.
    /// @custom:field protocolBps     To the protocol treasury.
    struct FeeSplit {
        uint16 ownerBps;
        uint16 contributorsBps;
        uint16 stakersBps;
        uint16 protocolBps;
    }

    /// @notice What a registration states.
    /// @custom:field baseModelId      Id of the base model (e.g. keccak256 of its HF name and revision).
    /// @custom:field adapterHash      keccak256 of the adapter file.
    /// @custom:field manifestRoot     Merkle root of the training manifest.
    /// @custom:field pricePer1kTokens Price in wei of native OPEN per 1,000 tokens.
    /// @custom:field split            Fee split.
    /// @custom:field datanetIds       Datanets it was trained on: 1 to MAX_DATANETS, strictly increasing.
    /// @custom:field metadataURI      Where the model card is (emitted only).
    struct ModelParams {
        bytes32 baseModelId;
        bytes32 adapterHash;
        bytes32 manifestRoot;
        uint128 pricePer1kTokens;
        FeeSplit split;
        uint256[] datanetIds;
        string metadataURI;
    }

    /// @notice A registered model version.
    /// @custom:field owner            Who registered it (receives the owner's share).
    /// @custom:field version          1 for a first registration, previous + 1 for a new version.
    /// @custom:field active           Whether the owner offers it (advisory for servers; see InferenceEscrow).
    /// @custom:field split            Fee split.
    /// @custom:field pricePer1kTokens Price per 1,000 tokens.
    /// @custom:field baseModelId      Base model id.
    /// @custom:field adapterHash      Adapter hash.
    /// @custom:field manifestRoot     Training manifest root.
    /// @custom:field previousModelId  The version it supersedes (zero for version 1).
    /// @custom:field datanetIds       Datanets it was trained on.
    struct Model {
        address owner;
        uint32 version;
        bool active;
        FeeSplit split;
        uint128 pricePer1kTokens;
        bytes32 baseModelId;
        bytes32 adapterHash;
        bytes32 manifestRoot;
        bytes32 previousModelId;
        uint256[] datanetIds;
    }

    /// @notice A model version was registered.
    /// @param modelId         Its id.
    /// @param owner           Its owner.
    /// @param adapterHash     Its adapter hash (also in `params`, indexed here for lookups).
    /// @param version         Its version number.
    /// @param previousModelId The version it supersedes (zero for version 1).
    /// @param params          Everything it states, including the metadata URI (not stored).
    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        bytes32 indexed adapterHash,
        uint32 version,
        bytes32 previousModelId,
        ModelParams params
    );

    /// @notice A model was activated or deactivated.
    /// @param modelId The model.
    /// @param active  Its new state.
    event ModelActiveSet(bytes32 indexed modelId, bool active);

    /// @notice A model's price changed.
    /// @param modelId          The model.
    /// @param pricePer1kTokens The new price.
    event ModelPriceSet(bytes32 indexed modelId, uint256 pricePer1kTokens);

    /// @notice The split does not sum to 10,000.
    /// @param sum The sum given.
    error ModelRegistryInvalidSplit(uint256 sum);

    /// @notice This owner already registered this adapter.
    /// @param modelId The existing model.
    error ModelRegistryModelExists(bytes32 modelId);

    /// @notice No such model.
    /// @param modelId The id.
    error ModelRegistryUnknownModel(bytes32 modelId);

    /// @notice Only the model's owner.
    /// @param modelId The model.
    /// @param caller  The caller.
    error ModelRegistryNotOwner(bytes32 modelId, address caller);

    /// @notice A model names 1 to MAX_DATANETS Datanets.
    /// @param count   The number given.
    /// @param maximum MAX_DATANETS.
    error ModelRegistryBadDatanetCount(uint256 count, uint256 maximum);

    /// @notice Datanet ids must be strictly increasing (sorted, no duplicates).
    /// @param datanetId The id out of order.
    error ModelRegistryDatanetsNotSorted(uint256 datanetId);

    /// @notice No such Datanet.
    /// @param datanetId The id.
    error ModelRegistryUnknownDatanet(uint256 datanetId);

    /// @notice The adapter hash and manifest root are commitments: never zero.
    error ModelRegistryEmptyHash();

    /// @notice A version can be superseded once; the lineage is a chain.
    /// @param previousModelId The version.
    /// @param successor       Its existing successor.
    error ModelRegistryAlreadySuperseded(bytes32 previousModelId, bytes32 successor);

    /// @notice Most Datanets a model may name.
    /// @return 32.
    function MAX_DATANETS() external view returns (uint256);

    /// @notice The Datanets contract the Datanet ids refer to.
    /// @return The Datanets contract.
    function datanets() external view returns (IDatanets);

    /// @notice The id a model registered by `_owner` for `_adapterHash` gets.
    /// @param _owner       The owner.
    /// @param _adapterHash The adapter hash.
    /// @return keccak256(abi.encode(_owner, _adapterHash)).
    function computeModelId(address _owner, bytes32 _adapterHash) external pure returns (bytes32);

    /// @notice Registers version 1 of a model, owned by the caller.
    /// @param _params What it states.
    /// @return modelId_ Its id.
    function registerModel(ModelParams calldata _params) external returns (bytes32 modelId_);

    /// @notice Registers a new version of `_previousModelId` (owner only); the new version is active,
    ///         the previous one keeps its state.
    /// @param _previousModelId The version it supersedes.
    /// @param _params          What it states.
    /// @return modelId_ Its id.
    function publishVersion(bytes32 _previousModelId, ModelParams calldata _params)
        external
        returns (bytes32 modelId_);

    /// @notice Activates or deactivates a model. Only its owner.
    /// @param _modelId The model.
    /// @param _active  The new state.
    function setActive(bytes32 _modelId, bool _active) external;

    /// @notice Changes a model's price. Only its owner.
    /// @param _modelId          The model.
    /// @param _pricePer1kTokens The new price.
    function setPrice(bytes32 _modelId, uint128 _pricePer1kTokens) external;

    /// @notice A model.
    /// @param _modelId The id.
    /// @return The model (reverts if unknown).
    function getModel(bytes32 _modelId) external view returns (Model memory);

    /// @notice The owner and split that fees for a model are paid by (one call on the fee path).
    /// @param _modelId The id.
    /// @return owner_ The owner.
    /// @return split_ The split.
    function feeTerms(bytes32 _modelId) external view returns (address owner_, FeeSplit memory split_);

    /// @notice Whether a model exists.
    /// @param _modelId The id.
    /// @return True if registered.
    function exists(bytes32 _modelId) external view returns (bool);

    /// @notice The version that superseded a model, or zero.
    /// @param _modelId The id.
    /// @return The successor's id.
    function successorOf(bytes32 _modelId) external view returns (bytes32);
}
