// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Types} from "../libraries/Types.sol";
import {IOutputOracle} from "./IOutputOracle.sol";
import {ISystemConfig} from "./ISystemConfig.sol";

/// @title IOpenPortal
/// @notice The L1 end of the bridge. Deposits lock L1 OPEN here and emit OP's
///         TransactionDeposited event, from which the bridge builds a 0x7E deposit transaction that
///         mints the same amount of native OPEN on L2. Withdrawals started in the L2
///         L2ToL1MessagePasser are proven here against an output root with a storage proof, then
///         finalized after the finalization period, releasing L1 OPEN to their target.
/// @dev Deposit event: TransactionDeposited(from, to, version = 0, opaqueData) with
///      opaqueData = abi.encodePacked(uint256 mint, uint256 value, uint64 gasLimit,
///      bool isCreation, bytes data) — OP's layout. `mint` is the OPEN locked by the deposit and
///      credited to `from` on L2; `value` is then sent from `from` to `to` on L2. `from` is the
///      L1 sender, aliased (AddressAliasHelper) when the sender is a contract.
///      Withdrawal proof: the storage slot keccak256(abi.encode(withdrawalHash, uint256(0))) of the
///      message passer must hold 1 under `messagePasserStorageRoot`; the proof is the storage
///      proof `eth_getProof` returns for that slot (RLP trie nodes, root first).
interface IOpenPortal {
    /// @notice A proof of a withdrawal.
    /// @custom:field outputRoot    The output root the withdrawal was proven against.
    /// @custom:field timestamp     L1 timestamp of the proof.
    /// @custom:field l2OutputIndex Index of that output in the OutputOracle.
    struct ProvenWithdrawal {
        bytes32 outputRoot;
        uint128 timestamp;
        uint128 l2OutputIndex;
    }

    /// @notice A deposit to L2 (OP's event, version 0).
    /// @param from       L2 sender (aliased if the L1 sender is a contract).
    /// @param to         L2 recipient (zero for a contract creation).
    /// @param version    Encoding version of `opaqueData` (0).
    /// @param opaqueData abi.encodePacked(mint, value, gasLimit, isCreation, data).
    event TransactionDeposited(
        address indexed from, address indexed to, uint256 indexed version, bytes opaqueData
    );

    /// @notice A withdrawal was proven.
    /// @param withdrawalHash The withdrawal's hash.
    /// @param from           Its L2 sender.
    /// @param to             Its L1 target.
    event WithdrawalProven(bytes32 indexed withdrawalHash, address indexed from, address indexed to);

    /// @notice A withdrawal was finalized: its value was released to the target.
    /// @param withdrawalHash The withdrawal's hash.
    /// @param success        Whether the call to the target (if any) succeeded. The value is
    ///                       delivered either way.
    event WithdrawalFinalized(bytes32 indexed withdrawalHash, bool success);

    /// @notice The target may not be the portal, the OPEN token or the zero address; a creation
    ///         deposit must name no target.
    /// @param target The target.
    error OpenPortalBadTarget(address target);

    /// @notice The deposit gas limit is below the intrinsic minimum for its data.
    /// @param gasLimit The gas limit given.
    /// @param minimum  The minimum for the data size.
    error OpenPortalGasLimitTooLow(uint64 gasLimit, uint64 minimum);

    /// @notice The deposit gas limit is above MAX_DEPOSIT_GAS_LIMIT.
    /// @param gasLimit The gas limit given.
    /// @param maximum  The maximum.
    error OpenPortalGasLimitTooHigh(uint64 gasLimit, uint64 maximum);

    /// @notice The deposit data is larger than MAX_DEPOSIT_DATA_SIZE.
    /// @param size    The data size.
    /// @param maximum The maximum.
    error OpenPortalCalldataTooLarge(uint256 size, uint256 maximum);

    /// @notice The output root preimage does not hash to the posted output root.
    /// @param computed   Hash of the preimage given.
    /// @param outputRoot The output root at the index.
    error OpenPortalInvalidOutputRootProof(bytes32 computed, bytes32 outputRoot);

    /// @notice Only version-0 output roots are understood.
    /// @param version The version given.
    error OpenPortalUnsupportedOutputVersion(bytes32 version);

    /// @notice The storage proof does not show the withdrawal in the message passer.
    /// @param withdrawalHash The withdrawal's hash.
    error OpenPortalInvalidWithdrawalProof(bytes32 withdrawalHash);

    /// @notice The withdrawal is already proven against an output that is still live.
    /// @param withdrawalHash The withdrawal's hash.
    error OpenPortalAlreadyProven(bytes32 withdrawalHash);

    /// @notice The withdrawal was never proven.
    /// @param withdrawalHash The withdrawal's hash.
    error OpenPortalNotProven(bytes32 withdrawalHash);

    /// @notice The finalization period has not passed since the proof.
    /// @param provenAt  L1 timestamp of the proof.
    /// @param maturesAt When it may finalize.
    error OpenPortalProofNotMatured(uint256 provenAt, uint256 maturesAt);

    /// @notice The output proven against is not final yet.
    /// @param l2OutputIndex Index of the output.
    /// @param finalizesAt   When it becomes final.
    error OpenPortalOutputNotFinalized(uint256 l2OutputIndex, uint256 finalizesAt);

    /// @notice The output proven against was deleted and its index now holds another root.
    /// @param proven  The root proven against.
    /// @param current The root at the index now.
    error OpenPortalOutputRootChanged(bytes32 proven, bytes32 current);

    /// @notice The withdrawal was already finalized.
    /// @param withdrawalHash The withdrawal's hash.
    error OpenPortalAlreadyFinalized(bytes32 withdrawalHash);

    /// @notice Not enough gas left to give the target call its full gas limit.
    /// @param available gasleft() before the call.
    /// @param required  The gas needed.
    error OpenPortalInsufficientGas(uint256 available, uint256 required);

    /// @notice Encoding version of TransactionDeposited's opaqueData.
    /// @return 0.
    function DEPOSIT_VERSION() external view returns (uint256);

    /// @notice Upper bound of a deposit's L2 gas limit.
    /// @return The bound.
    function MAX_DEPOSIT_GAS_LIMIT() external view returns (uint64);

    /// @notice Upper bound of a deposit's data size in bytes.
    /// @return The bound.
    function MAX_DEPOSIT_DATA_SIZE() external view returns (uint256);

    /// @notice The L1 OPEN token the portal locks and releases.
    /// @return The token.
    function token() external view returns (IERC20);

    /// @notice The oracle withdrawals are proven against.
    /// @return The OutputOracle.
    function oracle() external view returns (IOutputOracle);

    /// @notice The configuration that holds the finalization period.
    /// @return The SystemConfig.
    function systemConfig() external view returns (ISystemConfig);

    /// @notice The proof recorded for a withdrawal hash.
    /// @param _withdrawalHash The withdrawal's hash.
    /// @return outputRoot    The output root proven against (zero if never proven).
    /// @return timestamp     L1 timestamp of the proof.
    /// @return l2OutputIndex Index of the output.
    function provenWithdrawals(bytes32 _withdrawalHash)
        external
        view
        returns (bytes32 outputRoot, uint128 timestamp, uint128 l2OutputIndex);

    /// @notice Whether a withdrawal was finalized.
    /// @param _withdrawalHash The withdrawal's hash.
    /// @return True once finalized.
    function finalizedWithdrawals(bytes32 _withdrawalHash) external view returns (bool);

    /// @notice The L2 sender of the withdrawal whose call is running, for targets that
    ///         authenticate it; 0x000000000000000000000000000000000000dEaD outside such a call.
    /// @return The L2 sender.
    function l2Sender() external view returns (address);

    /// @notice The smallest L2 gas limit a deposit with `_byteCount` bytes of data may ask for.
    /// @param _byteCount Size of the deposit data.
    /// @return 21,000 + 40 gas per byte (OP's rule).
    function minimumGasLimit(uint64 _byteCount) external pure returns (uint64);

    /// @notice Whether `_proof` shows `sentMessages[_withdrawalHash] == true` under a message passer
    ///         storage root. The check proveWithdrawalTransaction makes; the bridge may call it
    ///         first. Reverts on RLP that cannot be decoded.
    /// @param _storageRoot    The messagePasserStorageRoot of an output.
    /// @param _withdrawalHash The withdrawal's hash.
    /// @param _proof          The storage proof (RLP nodes, root first), as eth_getProof returns it.
    /// @return True if the proof is valid.
    function checkWithdrawalProof(bytes32 _storageRoot, bytes32 _withdrawalHash, bytes[] calldata _proof)
        external
        pure
        returns (bool);

    /// @notice Locks `_mint` OPEN (transferFrom the caller, who approved the portal) and emits a
    ///         deposit that mints `_mint` native OPEN to the sender on L2 and sends `_value` to `_to`.
    /// @param _to         L2 recipient (zero if `_isCreation`).
    /// @param _mint       OPEN to lock here and mint on L2.
    /// @param _value      Native OPEN the L2 transaction sends to `_to` from the sender's L2 balance.
    /// @param _gasLimit   L2 gas limit.
    /// @param _isCreation Whether the L2 transaction creates a contract with `_data` as init code.
    /// @param _data       L2 calldata or init code.
    function depositTransaction(
        address _to,
        uint256 _mint,
        uint256 _value,
        uint64 _gasLimit,
        bool _isCreation,
        bytes calldata _data
    ) external;

    /// @notice depositTransaction with an EIP-2612 permit for `_mint`, so one transaction suffices.
    ///         A permit that fails (for example, front-run) is ignored if the allowance is already there.
    /// @param _to         L2 recipient (zero if `_isCreation`).
    /// @param _mint       OPEN to lock here and mint on L2.
    /// @param _value      Native OPEN the L2 transaction sends to `_to`.
    /// @param _gasLimit   L2 gas limit.
    /// @param _isCreation Whether the L2 transaction creates a contract.
    /// @param _data       L2 calldata or init code.
    /// @param _deadline   Permit deadline.
    /// @param _v          Permit signature v.
    /// @param _r          Permit signature r.
    /// @param _s          Permit signature s.
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
    ) external;

    /// @notice Proves that a withdrawal was initiated on L2: checks the output root preimage
    ///         against the posted output and the storage proof against its message passer root.
    ///         Anyone may prove any withdrawal. A withdrawal proven against an output that was later
    ///         deleted may be proven again (which restarts its waiting period).
    /// @param _tx              The withdrawal.
    /// @param _l2OutputIndex   Index of the output to prove against.
    /// @param _outputRootProof The output root's preimage.
    /// @param _withdrawalProof The storage proof of the sentMessages slot (RLP nodes, root first).
    function proveWithdrawalTransaction(
        Types.WithdrawalTransaction calldata _tx,
        uint256 _l2OutputIndex,
        Types.OutputRootProof calldata _outputRootProof,
        bytes[] calldata _withdrawalProof
    ) external;

    /// @notice Finalizes a proven withdrawal once both the proof and its output are older than the
    ///         finalization period and the output is still the one proven against: transfers `value`
    ///         OPEN to the target, then, if `data` is not empty, calls the target with exactly
    ///         `gasLimit` gas. A failing call does not revert: the withdrawal stays finalized (once),
    ///         the value stays delivered, and the event reports `success = false`.
    /// @param _tx The withdrawal.
    function finalizeWithdrawalTransaction(Types.WithdrawalTransaction calldata _tx) external;
}
