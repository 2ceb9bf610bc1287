//! The L2 predeploys: contracts at fixed addresses (OP's) that exist from genesis. Their
//! runtime code comes from forge's build of `contracts/src/L2/` (through
//! `contracts/artifacts/`); they have no constructor and start with empty storage.

use alloy_primitives::{Address, Bytes, address};
use alloy_sol_types::sol;

/// OP's `L1Block`: the L1 origin's number, hash, base fee and fee scalars, written by the
/// depositor account each block; op-revm reads the L1-fee parameters from its slots 0–8.
pub const L1_BLOCK: Address = address!("4200000000000000000000000000000000000015");
/// OP's `L2ToL1MessagePasser`: a withdrawal burns native OPEN here and records its hash in
/// `sentMessages` (storage slot 0), which the L1 portal proves against an output root.
pub const L2_TO_L1_MESSAGE_PASSER: Address = address!("4200000000000000000000000000000000000016");
/// OP's `SequencerFeeVault`: the default recipient of priority fees.
pub const SEQUENCER_FEE_VAULT: Address = address!("4200000000000000000000000000000000000011");

mod artifacts {
    #![allow(missing_docs)]
    use super::sol;
    sol!(L1Block, "../contracts/artifacts/L1Block.json");
    sol!(L2ToL1MessagePasser, "../contracts/artifacts/L2ToL1MessagePasser.json");
}

/// The runtime code of `L1Block`.
pub fn l1_block_code() -> Bytes {
    artifacts::L1Block::DEPLOYED_BYTECODE.clone()
}

/// The runtime code of `L2ToL1MessagePasser`.
pub fn message_passer_code() -> Bytes {
    artifacts::L2ToL1MessagePasser::DEPLOYED_BYTECODE.clone()
}

/// Every predeploy with its code, for the genesis.
pub fn predeploys() -> [(Address, Bytes); 2] {
    [(L1_BLOCK, l1_block_code()), (L2_TO_L1_MESSAGE_PASSER, message_passer_code())]
}
