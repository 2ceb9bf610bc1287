//! L2 blocks as the batcher reads them (`debug_getRawBlock`) and as channels carry them
//! ([`BlockEntry`](crate::codec::BlockEntry)), and back to what execution takes.

use crate::{
    codec::BlockEntry,
    error::{BridgeError, BridgeResult},
};
use alloy::providers::{DynProvider, Provider};
use alloy_consensus::transaction::Recovered;
use alloy_eips::{Decodable2718, Encodable2718};
use alloy_primitives::{Bytes, Sealed};
use alloy_rlp::Decodable;
use ol_sequencer::{execution::BlockAttributes, primitives::Transaction};

/// A block's entry for a channel: its attributes, transactions and the claimed roots.
pub fn entry_from_block(block: alloy_consensus::Block<Transaction>) -> BlockEntry {
    let transactions =
        block.body.transactions.iter().map(|tx| Bytes::from(tx.encoded_2718())).collect();
    let sealed = Sealed::new(block.header);
    let block_hash = sealed.hash();
    let header = sealed.into_inner();
    BlockEntry {
        number: header.number,
        parent_hash: header.parent_hash,
        timestamp: header.timestamp,
        beneficiary: header.beneficiary,
        gas_limit: header.gas_limit,
        prev_randao: header.mix_hash,
        parent_beacon_block_root: header.parent_beacon_block_root.unwrap_or_default(),
        extra_data: header.extra_data,
        transactions,
        block_hash,
        state_root: header.state_root,
    }
}

/// Reads L2 block `number` through `debug_getRawBlock` as a channel entry.
pub async fn fetch_entry(l2: &DynProvider, number: u64) -> BridgeResult<BlockEntry> {
    let raw: Bytes = l2
        .raw_request("debug_getRawBlock".into(), (format!("{number:#x}"),))
        .await
        .map_err(BridgeError::rpc(format!("reading raw L2 block {number}")))?;
    let block = alloy_consensus::Block::<Transaction>::decode(&mut raw.as_ref())
        .map_err(|e| BridgeError::Decode(format!("raw L2 block {number}: {e}")))?;
    Ok(entry_from_block(block))
}

/// The attributes an entry's block is executed with.
pub fn attributes(entry: &BlockEntry) -> BlockAttributes {
    BlockAttributes {
        timestamp: entry.timestamp,
        beneficiary: entry.beneficiary,
        gas_limit: entry.gas_limit,
        prev_randao: entry.prev_randao,
        parent_beacon_block_root: entry.parent_beacon_block_root,
        extra_data: entry.extra_data.clone(),
    }
}

/// Decodes an entry's transactions (EIP-2718); the first undecodable one is an error naming
/// its index.
pub fn transactions(entry: &BlockEntry) -> Result<Vec<Transaction>, String> {
    entry
        .transactions
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            Transaction::decode_2718_exact(raw.as_ref())
                .map_err(|e| format!("transaction {i} does not decode: {e}"))
        })
        .collect()
}

/// Decodes and recovers an entry's transactions (senders on all cores).
pub fn recovered_transactions(entry: &BlockEntry) -> Result<Vec<Recovered<Transaction>>, String> {
    let txs = transactions(entry)?;
    ol_sequencer::validate::recover_senders(txs).map_err(|(i, e)| format!("transaction {i}: {e}"))
}
