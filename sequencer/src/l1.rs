//! The L2's view of L1: each block's **L1 origin** (the L1 block it builds on) and the system
//! deposit that records it, OP's way.
//!
//! The prover-bridge watches L1 and hands the sequencer one [`Epoch`] per confirmed L1 block:
//! the block's identity and the user deposits its portal events carry. The first L2 block
//! after a new epoch *adopts* it: its first transaction is the L1 info deposit (from the
//! depositor account to the `L1Block` predeploy, `setL1BlockValuesIsthmus` with OP's packed
//! calldata, sequence number 0), followed by the user deposits of every epoch adopted at once,
//! in L1 order. Later L2 blocks of the same origin carry the L1 info deposit with sequence
//! numbers 1, 2, … So every block names its origin in its own transactions, and replay can
//! check it against L1 and re-derive the deposits from L1 logs alone.
//!
//! ```text
//!   L1 block n (confirmed) ── bridge ── Epoch { origin n, deposits } ──▶ Node::advance_l1_origin
//!   next L2 block: [ L1 info (n, seq 0) | deposits of n | pool txs ]
//!   next L2 block: [ L1 info (n, seq 1) | pool txs ]
//! ```

use crate::primitives::TxDeposit;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, address};
use ol_primitives::predeploys::L1_BLOCK;
use op_alloy::consensus::L1InfoDepositSource;
use serde::{Deserialize, Serialize};

/// The system account that sends the L1 info deposit (OP's depositor account).
pub const DEPOSITOR_ACCOUNT: Address = address!("DeaDDEaDDeAdDeAdDEAdDEaddeAddEAdDEAd0001");
/// Gas limit of the L1 info deposit (OP's Regolith system transaction gas).
pub const L1_INFO_GAS: u64 = 1_000_000;
/// Selector of `setL1BlockValuesIsthmus()`.
pub const SET_L1_BLOCK_VALUES_ISTHMUS: [u8; 4] = [0x09, 0x89, 0x99, 0xbe];
/// Length of the L1 info deposit's calldata.
pub const L1_INFO_CALLDATA_LEN: usize = 176;

/// An L1 block as the L2 records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Origin {
    /// L1 block number.
    pub number: u64,
    /// L1 block hash.
    pub hash: B256,
    /// Its parent's hash (for the continuity check).
    pub parent_hash: B256,
    /// L1 block timestamp.
    pub timestamp: u64,
    /// L1 base fee.
    pub base_fee: u128,
    /// L1 blob base fee.
    pub blob_base_fee: u128,
}

/// One confirmed L1 block for the sequencer: its identity and its deposits, in log order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Epoch {
    /// The L1 block.
    pub origin: L1Origin,
    /// The user deposits its portal events carry, in log order.
    pub deposits: Vec<TxDeposit>,
}

/// The L1-fee parameters the sequencer writes with every L1 info deposit. All zero by default:
/// users then pay no L1 data fee (the devnet's L1 is free); a production chain sets OP-style
/// scalars so that fees cover the batcher's L1 costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct L1FeeParams {
    /// Weight of the L1 base fee in the L1 data fee.
    pub base_fee_scalar: u32,
    /// Weight of the L1 blob base fee in the L1 data fee.
    pub blob_base_fee_scalar: u32,
    /// Isthmus operator fee scalar.
    pub operator_fee_scalar: u32,
    /// Isthmus operator fee constant.
    pub operator_fee_constant: u64,
    /// Commitment to the batcher's address (OP's `batcherHash`).
    pub batcher_hash: B256,
}

/// What an L1 info deposit says: the origin, the sequence number within it, the fee
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Info {
    /// The L1 origin (its parent hash is not part of the calldata and reads as zero).
    pub origin: L1Origin,
    /// 0 for the block that adopted the origin, then 1, 2, …
    pub sequence_number: u64,
    /// The fee parameters.
    pub fees: L1FeeParams,
}

/// Errors decoding an L1 info deposit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L1InfoError {
    /// The transaction is not a deposit from the depositor account to `L1Block`.
    #[error("not an L1 info deposit")]
    NotL1Info,
    /// The calldata has the wrong selector or length.
    #[error("L1 info calldata of {0} bytes does not start with setL1BlockValuesIsthmus")]
    BadCalldata(usize),
}

impl L1Info {
    /// OP's packed calldata of `setL1BlockValuesIsthmus()`.
    pub fn calldata(&self) -> Bytes {
        let mut out = Vec::with_capacity(L1_INFO_CALLDATA_LEN);
        out.extend_from_slice(&SET_L1_BLOCK_VALUES_ISTHMUS);
        out.extend_from_slice(&self.fees.base_fee_scalar.to_be_bytes());
        out.extend_from_slice(&self.fees.blob_base_fee_scalar.to_be_bytes());
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.extend_from_slice(&self.origin.timestamp.to_be_bytes());
        out.extend_from_slice(&self.origin.number.to_be_bytes());
        out.extend_from_slice(&U256::from(self.origin.base_fee).to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(self.origin.blob_base_fee).to_be_bytes::<32>());
        out.extend_from_slice(self.origin.hash.as_slice());
        out.extend_from_slice(self.fees.batcher_hash.as_slice());
        out.extend_from_slice(&self.fees.operator_fee_scalar.to_be_bytes());
        out.extend_from_slice(&self.fees.operator_fee_constant.to_be_bytes());
        debug_assert_eq!(out.len(), L1_INFO_CALLDATA_LEN);
        out.into()
    }

    /// The deposit transaction that records this in the `L1Block` predeploy.
    pub fn deposit(&self) -> TxDeposit {
        TxDeposit {
            source_hash: L1InfoDepositSource::new(self.origin.hash, self.sequence_number)
                .source_hash(),
            from: DEPOSITOR_ACCOUNT,
            to: TxKind::Call(L1_BLOCK),
            mint: 0,
            value: U256::ZERO,
            gas_limit: L1_INFO_GAS,
            is_system_transaction: false,
            input: self.calldata(),
        }
    }

    /// Reads an L1 info deposit back (what replay does with each block's first transaction).
    pub fn decode(deposit: &TxDeposit) -> Result<Self, L1InfoError> {
        if deposit.from != DEPOSITOR_ACCOUNT || deposit.to != TxKind::Call(L1_BLOCK) {
            return Err(L1InfoError::NotL1Info);
        }
        let data = deposit.input.as_ref();
        if data.len() != L1_INFO_CALLDATA_LEN || data[..4] != SET_L1_BLOCK_VALUES_ISTHMUS {
            return Err(L1InfoError::BadCalldata(data.len()));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let u128_at = |i: usize| U256::from_be_slice(&data[i..i + 32]).saturating_to::<u128>();
        Ok(Self {
            fees: L1FeeParams {
                base_fee_scalar: u32_at(4),
                blob_base_fee_scalar: u32_at(8),
                operator_fee_scalar: u32_at(164),
                operator_fee_constant: u64_at(168),
                batcher_hash: B256::from_slice(&data[132..164]),
            },
            sequence_number: u64_at(12),
            origin: L1Origin {
                timestamp: u64_at(20),
                number: u64_at(28),
                base_fee: u128_at(36),
                blob_base_fee: u128_at(68),
                hash: B256::from_slice(&data[100..132]),
                parent_hash: B256::ZERO,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_info_round_trips_and_has_ops_layout() {
        let info = L1Info {
            origin: L1Origin {
                number: 0x0102_0304,
                hash: B256::repeat_byte(0xab),
                parent_hash: B256::ZERO,
                timestamp: 1_700_000_000,
                base_fee: 7_000_000_000,
                blob_base_fee: 1,
            },
            sequence_number: 3,
            fees: L1FeeParams {
                base_fee_scalar: 1368,
                blob_base_fee_scalar: 810_949,
                ..Default::default()
            },
        };
        let deposit = info.deposit();
        assert_eq!(deposit.input.len(), L1_INFO_CALLDATA_LEN);
        // Offsets from IL1Block's NatSpec: number at 28..36, hash at 100..132.
        assert_eq!(deposit.input[28..36], 0x0102_0304u64.to_be_bytes());
        assert_eq!(deposit.input[100..132], [0xab; 32]);
        assert_eq!(L1Info::decode(&deposit).unwrap(), info);
        let mut other = deposit.clone();
        other.from = Address::ZERO;
        assert_eq!(L1Info::decode(&other), Err(L1InfoError::NotL1Info));
    }
}
