// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Interfaces
import {IDatanets} from "../interfaces/IDatanets.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Models (LoRA adapters) with their base model, adapter hash, training Datanets, training
///         manifest root, price and fee split; versions chained by `previousModelId`; owners
///         change prices and (de)activate versions. It holds no funds.
contract ModelRegistry is IModelRegistry {
    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IModelRegistry
    uint256 public constant MAX_DATANETS = 32;

    /// @notice Basis points in a whole.
    uint256 internal constant BPS = 10_000;

    /// @inheritdoc IModelRegistry
    IDatanets public immutable datanets;

    /// @notice Models by id.
    mapping(bytes32 => Model) internal models;

    /// @inheritdoc IModelRegistry
    mapping(bytes32 => bytes32) public successorOf;

    /// @notice Binds the registry to the Datanets contract.
    /// @param _datanets The Datanets the models name.
    constructor(IDatanets _datanets) {
        datanets = _datanets;
    }

    /// @inheritdoc IModelRegistry
    function computeModelId(address _owner, bytes32 _adapterHash) public pure returns (bytes32) {
        return keccak256(abi.encode(_owner, _adapterHash));
    }

    /// @inheritdoc IModelRegistry
    function registerModel(ModelParams calldata _params) external returns (bytes32 modelId_) {
        modelId_ = _register(_params, 1, bytes32(0));
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(bytes32 _previousModelId, ModelParams calldata _params)
        external
        returns (bytes32 modelId_)
    {
        Model storage previous = _owned(_previousModelId);
        bytes32 successor = successorOf[_previousModelId];
        if (successor != bytes32(0)) revert ModelRegistryAlreadySuperseded(_previousModelId, successor);
        modelId_ = _register(_params, previous.version + 1, _previousModelId);
        successorOf[_previousModelId] = modelId_;
    }

    /// @inheritdoc IModelRegistry
    function setActive(bytes32 _modelId, bool _active) external {
        _owned(_modelId).active = _active;
        emit ModelActiveSet(_modelId, _active);
    }

    /// @inheritdoc IModelRegistry
    function setPrice(bytes32 _modelId, uint128 _pricePer1kTokens) external {
        _owned(_modelId).pricePer1kTokens = _pricePer1kTokens;
        emit ModelPriceSet(_modelId, _pricePer1kTokens);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 _modelId) external view returns (Model memory) {
        return _model(_modelId);
    }

    /// @inheritdoc IModelRegistry
    function feeTerms(bytes32 _modelId) external view returns (address owner_, FeeSplit memory split_) {
        Model storage m = _model(_modelId);
        return (m.owner, m.split);
    }

    /// @inheritdoc IModelRegistry
    function exists(bytes32 _modelId) external view returns (bool) {
        return models[_modelId].owner != address(0);
    }

    /// @notice Checks and stores a model version owned by the caller.
    /// @param _params          What it states.
    /// @param _version         Its version number.
    /// @param _previousModelId The version it supersedes.
    /// @return modelId_ Its id.
    function _register(ModelParams calldata _params, uint32 _version, bytes32 _previousModelId)
        internal
        returns (bytes32 modelId_)
    {
        if (_params.adapterHash == bytes32(0) || _params.manifestRoot == bytes32(0)) {
            revert ModelRegistryEmptyHash();
        }
        FeeSplit calldata split = _params.split;
        uint256 sum = uint256(split.ownerBps) + split.contributorsBps + split.stakersBps + split.protocolBps;
        if (sum != BPS) revert ModelRegistryInvalidSplit(sum);
        _checkDatanets(_params.datanetIds);

        modelId_ = computeModelId(msg.sender, _params.adapterHash);
        Model storage m = models[modelId_];
        if (m.owner != address(0)) revert ModelRegistryModelExists(modelId_);

        m.owner = msg.sender;
        m.version = _version;
        m.active = true;
        m.split = split;
        m.pricePer1kTokens = _params.pricePer1kTokens;
        m.baseModelId = _params.baseModelId;
        m.adapterHash = _params.adapterHash;
        m.manifestRoot = _params.manifestRoot;
        m.previousModelId = _previousModelId;
        m.datanetIds = _params.datanetIds;

        emit ModelRegistered(modelId_, msg.sender, _params.adapterHash, _version, _previousModelId, _params);
    }

    /// @notice Reverts unless the ids are 1..MAX_DATANETS existing Datanets, strictly increasing.
    /// @param _ids The Datanet ids.
    function _checkDatanets(uint256[] calldata _ids) internal view {
        uint256 n = _ids.length;
        if (n == 0 || n > MAX_DATANETS) revert ModelRegistryBadDatanetCount(n, MAX_DATANETS);
        for (uint256 i = 0; i < n; i++) {
            if (i != 0 && _ids[i] <= _ids[i - 1]) revert ModelRegistryDatanetsNotSorted(_ids[i]);
            if (!datanets.exists(_ids[i])) revert ModelRegistryUnknownDatanet(_ids[i]);
        }
    }

    /// @notice A model, or a revert if unknown.
    /// @param _modelId The id.
    /// @return m_ The model.
    function _model(bytes32 _modelId) internal view returns (Model storage m_) {
        m_ = models[_modelId];
        if (m_.owner == address(0)) revert ModelRegistryUnknownModel(_modelId);
    }

    /// @notice A model the caller owns, or a revert.
    /// @param _modelId The id.
    /// @return m_ The model.
    function _owned(bytes32 _modelId) internal view returns (Model storage m_) {
        m_ = _model(_modelId);
        if (m_.owner != msg.sender) revert ModelRegistryNotOwner(_modelId, msg.sender);
    }
}
