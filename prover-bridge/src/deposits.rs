//! Deposits derived from L1: the portal's `TransactionDeposited` events of an L1 block turned
//! into `0x7E` deposit transactions, OP's way. The bridge hands them to the sequencer; replay
//! derives them again from L1 alone and checks that every L2 block adopting an L1 origin
//! carries exactly these, so the sequencer can neither invent nor drop a deposit.
//!
//! Per event, in log order: `from` and `to` from the indexed topics, version 0, and
//! `opaqueData = abi.encodePacked(uint256 mint, uint256 value, uint64 gasLimit, bool isCreation,
//! bytes data)`; the source hash is OP's user-deposit hash of (L1 block hash, log index). An
//! event that does not decode (wrong version, data shorter than 73 bytes, `isCreation` neither 0
//! nor 1, `mint` over 2^128) is skipped with its reason: it creates no deposit, and replay
//! skips it the same way.

use alloy::rpc::types::Log;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolEvent;
use ol_primitives::contracts::open_portal::IOpenPortal::TransactionDeposited;
use ol_sequencer::primitives::TxDeposit;
use op_alloy::consensus::UserDepositSource;

/// A portal event that did not become a deposit, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDeposit {
    /// Its log index in the L1 block.
    pub log_index: u64,
    /// Why it was skipped.
    pub reason: String,
}

/// The deposits of one L1 block from its portal logs (already filtered to the portal's
/// address), in log order.
pub fn deposits_from_logs(
    block_hash: B256,
    portal: Address,
    logs: &[Log],
) -> (Vec<TxDeposit>, Vec<SkippedDeposit>) {
    let mut deposits = Vec::new();
    let mut skipped = Vec::new();
    for log in logs {
        if log.address() != portal || log.topic0() != Some(&TransactionDeposited::SIGNATURE_HASH) {
            continue;
        }
        let log_index = log.log_index.unwrap_or_default();
        match decode_deposit(block_hash, log_index, &log.inner) {
            Ok(deposit) => deposits.push(deposit),
            Err(reason) => skipped.push(SkippedDeposit { log_index, reason }),
        }
    }
    (deposits, skipped)
}

/// One `TransactionDeposited` event as a deposit transaction.
pub fn decode_deposit(
    block_hash: B256,
    log_index: u64,
    log: &alloy_primitives::Log,
) -> Result<TxDeposit, String> {
    let event =
        TransactionDeposited::decode_log(log).map_err(|e| format!("undecodable event: {e}"))?;
    if event.version != U256::ZERO {
        return Err(format!("unknown deposit version {}", event.version));
    }
    let data = event.opaqueData.as_ref();
    if data.len() < 73 {
        return Err(format!("opaque data of {} bytes, at least 73 expected", data.len()));
    }
    let mint = U256::from_be_slice(&data[..32]);
    let mint = u128::try_from(mint).map_err(|_| format!("mint {mint} exceeds 2^128"))?;
    let value = U256::from_be_slice(&data[32..64]);
    let mut gas = [0u8; 8];
    gas.copy_from_slice(&data[64..72]);
    let to = match data[72] {
        0 => TxKind::Call(event.to),
        1 => TxKind::Create,
        other => return Err(format!("isCreation byte {other} is neither 0 nor 1")),
    };
    Ok(TxDeposit {
        source_hash: UserDepositSource::new(block_hash, log_index).source_hash(),
        from: event.from,
        to,
        mint,
        value,
        gas_limit: u64::from_be_bytes(gas),
        is_system_transaction: false,
        input: Bytes::copy_from_slice(&data[73..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{LogData, address};

    fn event(version: u64, opaque: Vec<u8>) -> alloy_primitives::Log {
        let data = TransactionDeposited {
            from: address!("00000000000000000000000000000000000000aa"),
            to: address!("00000000000000000000000000000000000000bb"),
            version: U256::from(version),
            opaqueData: opaque.into(),
        };
        alloy_primitives::Log { address: Address::ZERO, data: data.encode_log_data() }
    }

    fn opaque(mint: u64, value: u64, gas: u64, creation: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&U256::from(mint).to_be_bytes::<32>());
        out.extend_from_slice(&U256::from(value).to_be_bytes::<32>());
        out.extend_from_slice(&gas.to_be_bytes());
        out.push(creation);
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn a_deposit_decodes_with_ops_source_hash() {
        let hash = B256::repeat_byte(7);
        let deposit = decode_deposit(hash, 3, &event(0, opaque(5, 2, 100_000, 0, b"hi"))).unwrap();
        assert_eq!(deposit.mint, 5);
        assert_eq!(deposit.value, U256::from(2));
        assert_eq!(deposit.gas_limit, 100_000);
        assert_eq!(deposit.to, TxKind::Call(address!("00000000000000000000000000000000000000bb")));
        assert_eq!(deposit.input.as_ref(), b"hi");
        assert_eq!(deposit.source_hash, UserDepositSource::new(hash, 3).source_hash());
        let create = decode_deposit(hash, 4, &event(0, opaque(0, 0, 60_000, 1, &[0x60]))).unwrap();
        assert_eq!(create.to, TxKind::Create);
    }

    #[test]
    fn bad_deposit_events_are_skipped_with_a_reason() {
        let table: Vec<(alloy_primitives::Log, &str)> = vec![
            (event(1, opaque(1, 1, 1, 0, &[])), "unknown deposit version"),
            (event(0, vec![0; 72]), "at least 73"),
            (event(0, opaque(1, 1, 1, 2, &[])), "neither 0 nor 1"),
            (
                alloy_primitives::Log {
                    address: Address::ZERO,
                    data: LogData::new_unchecked(
                        vec![TransactionDeposited::SIGNATURE_HASH],
                        Bytes::new(),
                    ),
                },
                "undecodable",
            ),
        ];
        for (log, expected) in table {
            let err = decode_deposit(B256::ZERO, 0, &log).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
