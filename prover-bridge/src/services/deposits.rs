//! The deposit watcher: hands every confirmed L1 block, with the deposits its portal events
//! carry, to the sequencer as the next L1 origin.
//!
//! It keeps no progress of its own: the sequencer knows the newest L1 block it was handed
//! (`ol_l1Origin`, persisted with its blocks), and the watcher continues from the block after
//! it, so a restart of either side resends what was lost and nothing twice (the sequencer
//! acknowledges a block it knows without effect). Only blocks `confirmations` deep are handed
//! over, so an L1 reorg above that depth never reaches the L2; one below it makes the sequencer
//! refuse the next block (its parent differs), which stops the watcher with a clear error.

use crate::{
    deposits::deposits_from_logs,
    error::{BridgeError, BridgeResult},
    rpc::SequencerAdmin,
};
use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider},
    rpc::types::Filter,
};
use alloy_primitives::Address;
use alloy_sol_types::SolEvent;
use ol_primitives::contracts::open_portal::IOpenPortal::TransactionDeposited;
use ol_sequencer::l1::{Epoch, L1Origin};

/// Most L1 blocks handed over in one round.
const MAX_BLOCKS_PER_ROUND: u64 = 256;

/// The deposit watcher's settings.
#[derive(Debug, Clone)]
pub struct DepositWatcher {
    /// L1.
    pub l1: DynProvider,
    /// The sequencer's operator API.
    pub sequencer: SequencerAdmin,
    /// The portal on L1.
    pub portal: Address,
    /// The first L1 block of the rollup (the deployment's start block).
    pub start_block: u64,
    /// How deep an L1 block must be before it is handed over.
    pub confirmations: u64,
}

impl DepositWatcher {
    /// Hands over every newly confirmed L1 block; returns how many.
    pub async fn poll(&self) -> BridgeResult<u64> {
        let origins = self.sequencer.l1_origin().await?;
        let next = origins.latest.map_or(self.start_block, |o| o.number + 1);
        let head =
            self.l1.get_block_number().await.map_err(BridgeError::rpc("reading the L1 head"))?;
        let Some(safe) = head.checked_sub(self.confirmations) else { return Ok(0) };
        if safe < next {
            return Ok(0);
        }
        let last = safe.min(next + MAX_BLOCKS_PER_ROUND - 1);
        let filter = Filter::new()
            .address(self.portal)
            .event_signature(TransactionDeposited::SIGNATURE_HASH)
            .from_block(next)
            .to_block(last);
        let logs =
            self.l1.get_logs(&filter).await.map_err(BridgeError::rpc("reading portal deposits"))?;
        for number in next..=last {
            let block = self
                .l1
                .get_block_by_number(BlockNumberOrTag::Number(number))
                .await
                .map_err(BridgeError::rpc(format!("reading L1 block {number}")))?
                .ok_or_else(|| BridgeError::Decode(format!("L1 block {number} is missing")))?;
            let header = &block.header;
            let block_logs: Vec<_> =
                logs.iter().filter(|l| l.block_number == Some(number)).cloned().collect();
            // Logs come with the block hash they were read under; if it differs from the
            // header, L1 reorganised between the two reads: try again next round.
            if block_logs.iter().any(|l| l.block_hash != Some(header.hash)) {
                tracing::warn!(number, "L1 changed while reading it; retrying");
                return Ok(number - next);
            }
            let (deposits, skipped) = deposits_from_logs(header.hash, self.portal, &block_logs);
            for s in &skipped {
                tracing::warn!(l1_block = number, log_index = s.log_index, reason = %s.reason, "deposit event skipped");
            }
            let epoch = Epoch {
                origin: L1Origin {
                    number,
                    hash: header.hash,
                    parent_hash: header.parent_hash,
                    timestamp: header.timestamp,
                    base_fee: header.base_fee_per_gas.map(u128::from).unwrap_or_default(),
                    blob_base_fee: 1,
                },
                deposits,
            };
            self.sequencer.advance(&epoch).await?;
            if !epoch.deposits.is_empty() {
                tracing::info!(
                    l1_block = number,
                    deposits = epoch.deposits.len(),
                    "deposits handed to the sequencer"
                );
            }
        }
        Ok(last - next + 1)
    }
}
