// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.0;

/// @title Predeploys
/// @notice Addresses of the L2 predeploys (OP's addresses) and of the protocol's system accounts.
///         The sequencer writes the predeploys' runtime code (forge's `deployedBytecode`) into the
///         L2 genesis at these addresses; they run no constructor.
library Predeploys {
    /// @notice The L1Block predeploy: the latest L1 origin and the L1-fee parameters.
    address internal constant L1_BLOCK = 0x4200000000000000000000000000000000000015;

    /// @notice The L2ToL1MessagePasser predeploy: records withdrawals, burns their value.
    address internal constant L2_TO_L1_MESSAGE_PASSER = 0x4200000000000000000000000000000000000016;

    /// @notice The system account that sends the L1-attributes deposit of every L2 block.
    address internal constant DEPOSITOR_ACCOUNT = 0xDeaDDEaDDeAdDeAdDEAdDEaddeAddEAdDEAd0001;
}
