// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Contracts
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

// Libraries
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {TrieProof} from "@openzeppelin/contracts/utils/cryptography/TrieProof.sol";
import {AddressAliasHelper} from "../libraries/AddressAliasHelper.sol";
import {Hashing} from "../libraries/Hashing.sol";
import {Types} from "../libraries/Types.sol";

// Interfaces
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IOpenPortal} from "../interfaces/IOpenPortal.sol";
import {IOutputOracle} from "../interfaces/IOutputOracle.sol";
import {ISystemConfig} from "../interfaces/ISystemConfig.sol";

/// @title OpenPortal
/// @notice Locks L1 OPEN for deposits to the L2 (where OPEN is the native coin) and releases it
///         for withdrawals proven against the L2's output roots. Invariant: the OPEN held here is
///         the sum of deposits' `mint` minus the sum of finalized withdrawals' `value`.
/// @dev Every state-changing entry point is nonReentrant (one transient-storage lock), and
///      finalization marks the withdrawal finalized before it transfers or calls anything.
contract OpenPortal is IOpenPortal, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Semantic version.
    /// @custom:semver 1.0.0
    string public constant version = "1.0.0";

    /// @inheritdoc IOpenPortal
    uint256 public constant DEPOSIT_VERSION = 0;

    /// @inheritdoc IOpenPortal
    uint64 public constant MAX_DEPOSIT_GAS_LIMIT = 20_000_000;

    /// @inheritdoc IOpenPortal
    uint256 public constant MAX_DEPOSIT_DATA_SIZE = 120_000;

    /// @notice Value of `l2Sender()` outside a withdrawal call (OP's).
    address internal constant DEFAULT_L2_SENDER = 0x000000000000000000000000000000000000dEaD;

    /// @notice Gas kept back, beyond the 1/64 rule, for the CALL itself and the code after it.
    uint256 internal constant CALL_GAS_BUFFER = 40_000;

    /// @notice Prefix of an EIP-7702 delegated account's code; such a sender is an EOA.
    bytes3 internal constant DELEGATION_PREFIX = 0xef0100;

    /// @inheritdoc IOpenPortal
    IERC20 public immutable token;

    /// @inheritdoc IOpenPortal
    IOutputOracle public immutable oracle;

    /// @inheritdoc IOpenPortal
    ISystemConfig public immutable systemConfig;

    /// @inheritdoc IOpenPortal
    mapping(bytes32 => ProvenWithdrawal) public provenWithdrawals;

    /// @inheritdoc IOpenPortal
    mapping(bytes32 => bool) public finalizedWithdrawals;

    /// @notice The L2 sender during a withdrawal's call (transient: cleared after the transaction).
    address internal transient _l2Sender;

    /// @notice Binds the portal to the token, the oracle and the configuration.
    /// @param _token        L1 OPEN.
    /// @param _oracle       The OutputOracle.
    /// @param _systemConfig The SystemConfig.
    constructor(IERC20 _token, IOutputOracle _oracle, ISystemConfig _systemConfig) {
        token = _token;
        oracle = _oracle;
        systemConfig = _systemConfig;
    }

    /// @inheritdoc IOpenPortal
    function l2Sender() external view returns (address) {
        address sender = _l2Sender;
        return sender == address(0) ? DEFAULT_L2_SENDER : sender;
    }

    /// @inheritdoc IOpenPortal
    function minimumGasLimit(uint64 _byteCount) public pure returns (uint64) {
        return _byteCount * 40 + 21_000;
    }

    /// @inheritdoc IOpenPortal
    function depositTransaction(
        address _to,
        uint256 _mint,
        uint256 _value,
        uint64 _gasLimit,
        bool _isCreation,
        bytes calldata _data
    ) external nonReentrant {
        _deposit(_to, _mint, _value, _gasLimit, _isCreation, _data);
    }

    /// @inheritdoc IOpenPortal
    function depositTransactionWithPermit(
        address _to,
        uint256 _mint,
        uint256 _value,
        uint64 _gasLimit,
        bool _isCreation,
        bytes calldata _data,
        uint256 _deadline,
        uint8 _v,
        bytes32 _r,
        bytes32 _s
    ) external nonReentrant {
        // A permit can be front-run (its signature is public once broadcast); the transfer below
        // still fails unless the allowance is in place, so a failed permit is not fatal.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), _mint, _deadline, _v, _r, _s) {}
            catch {}
        _deposit(_to, _mint, _value, _gasLimit, _isCreation, _data);
    }

    /// @inheritdoc IOpenPortal
    function proveWithdrawalTransaction(
        Types.WithdrawalTransaction calldata _tx,
        uint256 _l2OutputIndex,
        Types.OutputRootProof calldata _outputRootProof,
        bytes[] calldata _withdrawalProof
    ) external nonReentrant {
        _checkTarget(_tx.target);
        if (_outputRootProof.version != bytes32(0)) {
            revert OpenPortalUnsupportedOutputVersion(_outputRootProof.version);
        }

        bytes32 outputRoot = oracle.getL2Output(_l2OutputIndex).outputRoot;
        bytes32 computed = Hashing.hashOutputRootProof(_outputRootProof);
        if (computed != outputRoot) revert OpenPortalInvalidOutputRootProof(computed, outputRoot);

        bytes32 withdrawalHash = Hashing.hashWithdrawal(_tx);
        if (finalizedWithdrawals[withdrawalHash]) revert OpenPortalAlreadyFinalized(withdrawalHash);
        ProvenWithdrawal storage proven = provenWithdrawals[withdrawalHash];
        // A proof may be replaced only if the output it named is gone (deleted, or deleted and
        // replaced by another root); otherwise re-proving would let anyone reset its timer.
        if (proven.timestamp != 0 && _isOutputLive(proven.l2OutputIndex, proven.outputRoot)) {
            revert OpenPortalAlreadyProven(withdrawalHash);
        }

        // TrieProof reverts (rather than returning false) on some malformed or non-matching
        // proofs; the external self-call turns every failure into one clear error.
        try this.checkWithdrawalProof(
            _outputRootProof.messagePasserStorageRoot, withdrawalHash, _withdrawalProof
        ) returns (
            bool valid
        ) {
            if (!valid) revert OpenPortalInvalidWithdrawalProof(withdrawalHash);
        } catch {
            revert OpenPortalInvalidWithdrawalProof(withdrawalHash);
        }

        provenWithdrawals[withdrawalHash] = ProvenWithdrawal({
            outputRoot: outputRoot,
            timestamp: uint128(block.timestamp),
            l2OutputIndex: uint128(_l2OutputIndex)
        });

        emit WithdrawalProven(withdrawalHash, _tx.sender, _tx.target);
    }

    /// @inheritdoc IOpenPortal
    function finalizeWithdrawalTransaction(Types.WithdrawalTransaction calldata _tx) external nonReentrant {
        bytes32 withdrawalHash = Hashing.hashWithdrawal(_tx);
        if (finalizedWithdrawals[withdrawalHash]) revert OpenPortalAlreadyFinalized(withdrawalHash);

        ProvenWithdrawal memory proven = provenWithdrawals[withdrawalHash];
        if (proven.timestamp == 0) revert OpenPortalNotProven(withdrawalHash);

        uint256 period = systemConfig.finalizationPeriodSeconds();
        uint256 maturesAt = uint256(proven.timestamp) + period;
        if (block.timestamp < maturesAt) revert OpenPortalProofNotMatured(proven.timestamp, maturesAt);

        // Reverts if the output was deleted and its index is not live any more.
        Types.OutputProposal memory output = oracle.getL2Output(proven.l2OutputIndex);
        if (output.outputRoot != proven.outputRoot) {
            revert OpenPortalOutputRootChanged(proven.outputRoot, output.outputRoot);
        }
        uint256 finalizesAt = uint256(output.timestamp) + period;
        if (block.timestamp < finalizesAt) {
            revert OpenPortalOutputNotFinalized(proven.l2OutputIndex, finalizesAt);
        }

        // Effects before any interaction.
        finalizedWithdrawals[withdrawalHash] = true;

        // Interactions: the value first, so it is delivered whatever the call does.
        if (_tx.value != 0) token.safeTransfer(_tx.target, _tx.value);

        bool success = true;
        if (_tx.data.length != 0) {
            // A gas limit no block could hold can never be honoured (and must not overflow here).
            uint256 required = _tx.gasLimit > type(uint64).max
                ? type(uint256).max
                : (_tx.gasLimit * 64) / 63 + CALL_GAS_BUFFER;
            if (gasleft() < required) revert OpenPortalInsufficientGas(gasleft(), required);
            _l2Sender = _tx.sender;
            success = _callNoReturnData(_tx.target, _tx.gasLimit, _tx.data);
            _l2Sender = address(0);
        }

        emit WithdrawalFinalized(withdrawalHash, success);
    }

    /// @inheritdoc IOpenPortal
    function checkWithdrawalProof(bytes32 _storageRoot, bytes32 _withdrawalHash, bytes[] calldata _proof)
        external
        pure
        returns (bool)
    {
        // The secure storage trie is keyed by keccak256(slot); `true` is stored as RLP(1) = 0x01.
        bytes memory key = abi.encodePacked(keccak256(abi.encode(Hashing.sentMessageSlot(_withdrawalHash))));
        return TrieProof.verify(hex"01", _storageRoot, key, _proof);
    }

    /// @notice Checks, locks and emits a deposit.
    /// @param _to         L2 recipient.
    /// @param _mint       OPEN to lock.
    /// @param _value      L2 call value.
    /// @param _gasLimit   L2 gas limit.
    /// @param _isCreation Whether it is a contract creation.
    /// @param _data       L2 calldata or init code.
    function _deposit(
        address _to,
        uint256 _mint,
        uint256 _value,
        uint64 _gasLimit,
        bool _isCreation,
        bytes calldata _data
    ) internal {
        if (_isCreation && _to != address(0)) revert OpenPortalBadTarget(_to);
        if (_data.length > MAX_DEPOSIT_DATA_SIZE) {
            revert OpenPortalCalldataTooLarge(_data.length, MAX_DEPOSIT_DATA_SIZE);
        }
        uint64 minimum = minimumGasLimit(uint64(_data.length));
        if (_gasLimit < minimum) revert OpenPortalGasLimitTooLow(_gasLimit, minimum);
        if (_gasLimit > MAX_DEPOSIT_GAS_LIMIT) {
            revert OpenPortalGasLimitTooHigh(_gasLimit, MAX_DEPOSIT_GAS_LIMIT);
        }

        address from = _isSenderEOA() ? msg.sender : AddressAliasHelper.applyL1ToL2Alias(msg.sender);

        if (_mint != 0) token.safeTransferFrom(msg.sender, address(this), _mint);

        emit TransactionDeposited(
            from, _to, DEPOSIT_VERSION, abi.encodePacked(_mint, _value, _gasLimit, _isCreation, _data)
        );
    }

    /// @notice Whether the caller is an externally owned account (then `from` is not aliased):
    ///         either the transaction's origin, or an EIP-7702 delegated EOA.
    /// @return True for an EOA.
    function _isSenderEOA() internal view returns (bool) {
        if (msg.sender == tx.origin) return true;
        bytes memory code = msg.sender.code;
        return code.length == 23 && bytes3(code) == DELEGATION_PREFIX;
    }

    /// @notice Reverts for targets a withdrawal may not name.
    /// @param _target The L1 target.
    function _checkTarget(address _target) internal view {
        // The portal itself and the token would let a withdrawal's call act with the portal's
        // authority (for example, `token.transfer` of the locked OPEN).
        if (_target == address(this) || _target == address(token) || _target == address(0)) {
            revert OpenPortalBadTarget(_target);
        }
    }

    /// @notice Whether the output at `_index` is live and still holds `_root`.
    /// @param _index The output index.
    /// @param _root  The root expected there.
    /// @return True if it is.
    function _isOutputLive(uint256 _index, bytes32 _root) internal view returns (bool) {
        if (_index >= oracle.nextOutputIndex()) return false;
        return oracle.getL2Output(_index).outputRoot == _root;
    }

    /// @notice Calls `_target` with exactly `_gas` gas and copies no return data (a target cannot
    ///         make the portal pay for a huge return buffer).
    /// @param _target The target.
    /// @param _gas    Gas to forward.
    /// @param _data   Calldata.
    /// @return success_ Whether the call succeeded.
    function _callNoReturnData(address _target, uint256 _gas, bytes memory _data)
        internal
        returns (bool success_)
    {
        assembly ("memory-safe") {
            success_ := call(_gas, _target, 0, add(_data, 32), mload(_data), 0, 0)
        }
    }
}
