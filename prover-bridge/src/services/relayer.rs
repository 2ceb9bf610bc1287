//! The relayer: proves and finalizes every L2 withdrawal automatically, paying the L1 gas.
//!
//! It scans the message passer's `MessagePassed` events on L2 (progress stored), keeps each
//! withdrawal with its status, and every round proves those an output root now covers and
//! finalizes those whose period has passed. Both steps are idempotent on chain, so a restart
//! in the middle repeats nothing harmful and loses nothing.

use crate::{
    error::{BridgeError, BridgeResult},
    store::Store,
    withdraw::{StepOutcome, Withdrawal, finalize, prove},
};
use alloy::{
    providers::{DynProvider, Provider},
    rpc::types::Filter,
};
use alloy_primitives::Address;
use alloy_sol_types::SolEvent;
use ol_primitives::{
    contracts::l2_to_l1_message_passer::IL2ToL1MessagePasser::MessagePassed,
    predeploys::L2_TO_L1_MESSAGE_PASSER,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const STATE_KEY: &str = "relayer";

/// A withdrawal's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Seen on L2.
    Initiated,
    /// Proven on L1.
    Proven,
    /// Finalized on L1: done.
    Finalized,
}

/// What the relayer stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RelayerState {
    /// The last L2 block scanned.
    pub scanned_through: u64,
    /// Withdrawals not finalized yet, with their status.
    pub open: Vec<(Withdrawal, Status)>,
    /// How many were finalized.
    pub finalized: u64,
}

/// The relayer's settings.
#[derive(Debug)]
pub struct Relayer {
    /// L1, signing as the relayer.
    pub l1: DynProvider,
    /// L2.
    pub l2: DynProvider,
    /// The portal.
    pub portal: Address,
    /// The output oracle.
    pub oracle: Address,
    /// Progress.
    pub store: Arc<Store>,
}

impl Relayer {
    /// The stored state.
    pub fn state(&self) -> BridgeResult<RelayerState> {
        Ok(self.store.get(STATE_KEY)?.unwrap_or_default())
    }

    /// One round: scan new L2 blocks, prove and finalize what can be.
    pub async fn poll(&self) -> BridgeResult<()> {
        let mut state = self.state()?;
        let head =
            self.l2.get_block_number().await.map_err(BridgeError::rpc("reading the L2 head"))?;
        if head > state.scanned_through {
            let filter = Filter::new()
                .address(L2_TO_L1_MESSAGE_PASSER)
                .event_signature(MessagePassed::SIGNATURE_HASH)
                .from_block(state.scanned_through + 1)
                .to_block(head);
            let logs = self
                .l2
                .get_logs(&filter)
                .await
                .map_err(BridgeError::rpc("reading L2 withdrawals"))?;
            for log in logs {
                let Ok(event) = MessagePassed::decode_log(&log.inner) else { continue };
                let withdrawal = Withdrawal {
                    nonce: event.nonce,
                    sender: event.sender,
                    target: event.target,
                    value: event.value,
                    gas_limit: event.gasLimit,
                    data: event.data.data.clone(),
                    hash: event.withdrawalHash,
                    l2_block: log.block_number.unwrap_or(head),
                };
                if !state.open.iter().any(|(w, _)| w.hash == withdrawal.hash) {
                    tracing::info!(withdrawal = %withdrawal.hash, l2_block = withdrawal.l2_block, "withdrawal seen");
                    state.open.push((withdrawal, Status::Initiated));
                }
            }
            state.scanned_through = head;
            self.store.put(STATE_KEY, &state)?;
        }
        for i in 0..state.open.len() {
            let (withdrawal, status) = state.open[i].clone();
            let next = match status {
                Status::Initiated => {
                    match prove(&self.l1, &self.l2, self.portal, self.oracle, &withdrawal).await? {
                        StepOutcome::Done(_) | StepOutcome::AlreadyDone => Status::Proven,
                        StepOutcome::NotYet => Status::Initiated,
                    }
                }
                Status::Proven => match finalize(&self.l1, self.portal, &withdrawal).await? {
                    StepOutcome::Done(_) | StepOutcome::AlreadyDone => Status::Finalized,
                    StepOutcome::NotYet => Status::Proven,
                },
                Status::Finalized => Status::Finalized,
            };
            if next != status {
                state.open[i].1 = next;
                self.store.put(STATE_KEY, &state)?;
            }
        }
        let before = state.open.len();
        state.open.retain(|(_, s)| *s != Status::Finalized);
        if state.open.len() != before {
            state.finalized += (before - state.open.len()) as u64;
            self.store.put(STATE_KEY, &state)?;
        }
        Ok(())
    }
}
