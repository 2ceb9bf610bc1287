//! The proposer: posts the output root of L2 blocks whose batches are already on L1.
//!
//! Every `interval` L2 blocks (and, when the chain is idle, the safe head once `max_age` has
//! passed since the last output) it posts `OutputRoot::v0(stateRoot, withdrawalsRoot,
//! blockHash)` of the block to the output oracle. "Safe" is what the batcher has landed on L1.
//! The oracle itself is the progress record (`latestBlockNumber`, strictly increasing), so a
//! restart never posts a block twice.

use crate::{
    error::{BridgeError, BridgeResult},
    output_root::OutputRoot,
    rpc::{send, view},
};
use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider},
};
use alloy_primitives::{Address, U256};
use ol_primitives::contracts::output_oracle::IOutputOracle;
use std::time::{Duration, Instant};

/// The proposer's settings and state.
#[derive(Debug)]
pub struct Proposer {
    /// L1, signing as the proposer.
    pub l1: DynProvider,
    /// L2 (the sequencer).
    pub l2: DynProvider,
    /// The output oracle.
    pub oracle: Address,
    /// Post every this many L2 blocks.
    pub interval: u64,
    /// Post the safe head when no output was posted for this long.
    pub max_age: Duration,
    /// When the last output was posted (by this process).
    pub last_post: Option<Instant>,
}

impl Proposer {
    /// Posts at most one output root whose block is at most `safe`; returns its L2 block.
    pub async fn poll(&mut self, safe: u64) -> BridgeResult<Option<u64>> {
        let latest: U256 =
            view(&self.l1, self.oracle, IOutputOracle::latestBlockNumberCall {}).await?;
        let latest = latest.saturating_to::<u64>();
        if safe <= latest {
            return Ok(None);
        }
        let aligned = safe / self.interval * self.interval;
        let idle = self.last_post.is_none_or(|t| t.elapsed() >= self.max_age);
        let target = if aligned > latest {
            aligned
        } else if idle {
            safe
        } else {
            return Ok(None);
        };
        let block = self
            .l2
            .get_block_by_number(BlockNumberOrTag::Number(target))
            .await
            .map_err(BridgeError::rpc(format!("reading L2 block {target}")))?
            .ok_or_else(|| BridgeError::Decode(format!("L2 block {target} is missing")))?;
        let header = &block.header;
        let withdrawals_root = header.withdrawals_root.ok_or_else(|| {
            BridgeError::Decode(format!("L2 block {target} has no withdrawalsRoot"))
        })?;
        let root = OutputRoot::v0(header.state_root, withdrawals_root, header.hash).hash();
        // A reorg guard: the oracle refuses the output if this L1 block is no longer canonical.
        let l1_head =
            self.l1.get_block_number().await.map_err(BridgeError::rpc("reading the L1 head"))?;
        let guard_number = l1_head.saturating_sub(1);
        let guard = self
            .l1
            .get_block_by_number(BlockNumberOrTag::Number(guard_number))
            .await
            .map_err(BridgeError::rpc("reading an L1 block"))?
            .ok_or_else(|| BridgeError::Decode(format!("L1 block {guard_number} is missing")))?;
        let call = IOutputOracle::proposeL2OutputCall {
            _outputRoot: root,
            _l2BlockNumber: U256::from(target),
            _l1BlockHash: guard.header.hash,
            _l1BlockNumber: U256::from(guard_number),
        };
        let receipt = send(&self.l1, self.oracle, call, U256::ZERO).await?;
        self.last_post = Some(Instant::now());
        tracing::info!(l2_block = target, %root, l1_tx = %receipt.transaction_hash, "output root posted");
        Ok(Some(target))
    }
}
