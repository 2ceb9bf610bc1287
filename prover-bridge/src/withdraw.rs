//! Withdrawals, L2 → L1: a user's `initiateWithdrawal` on the L2 message passer (which burns
//! the native OPEN) is proven on L1 against a posted output root with the storage proof of its
//! `sentMessages` slot (`eth_getProof` at the output's block), then finalized after the
//! finalization period, releasing L1 OPEN from the portal.
//!
//! [`find_withdrawals`] reads them from an L2 transaction; [`prove`] and [`finalize`] are one
//! step each and idempotent (a second call reports that the step is done). The CLI
//! (`ol-bridge withdraw prove|finalize`) and the relayer service both use them.

use crate::{
    error::{BridgeError, BridgeResult},
    output_root::OutputRoot,
    rpc::{send, view},
};
use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider},
};
use alloy_primitives::{B256, U256, keccak256};
use alloy_sol_types::{SolEvent, SolInterface, SolValue};
use ol_primitives::{
    contracts::{
        l2_to_l1_message_passer::IL2ToL1MessagePasser::MessagePassed,
        open_portal::{IOpenPortal, Types as PortalTypes},
        output_oracle::IOutputOracle,
    },
    predeploys::L2_TO_L1_MESSAGE_PASSER,
};
use serde::{Deserialize, Serialize};

/// A withdrawal as the L1 portal takes it, with where it happened on L2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The message passer's versioned nonce.
    pub nonce: U256,
    /// The L2 sender.
    pub sender: alloy_primitives::Address,
    /// The L1 target.
    pub target: alloy_primitives::Address,
    /// OPEN released on L1.
    pub value: U256,
    /// Gas for the L1 call.
    pub gas_limit: U256,
    /// Data of the L1 call.
    pub data: alloy_primitives::Bytes,
    /// Its hash (the message passer's `sentMessages` key).
    pub hash: B256,
    /// The L2 block it happened in.
    pub l2_block: u64,
}

impl Withdrawal {
    fn transaction(&self) -> PortalTypes::WithdrawalTransaction {
        PortalTypes::WithdrawalTransaction {
            nonce: self.nonce,
            sender: self.sender,
            target: self.target,
            value: self.value,
            gasLimit: self.gas_limit,
            data: self.data.clone(),
        }
    }

    /// The storage slot of `sentMessages[hash]` in the message passer.
    pub fn slot(&self) -> B256 {
        keccak256((self.hash, U256::ZERO).abi_encode())
    }
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Done now, in this L1 transaction.
    Done(B256),
    /// It was done before.
    AlreadyDone,
    /// Not possible yet: no output root covers the withdrawal, or the period has not passed.
    NotYet,
}

/// The withdrawals an L2 transaction initiated.
pub async fn find_withdrawals(l2: &DynProvider, tx: B256) -> BridgeResult<Vec<Withdrawal>> {
    let receipt = l2
        .get_transaction_receipt(tx)
        .await
        .map_err(BridgeError::rpc(format!("reading the L2 receipt of {tx}")))?
        .ok_or_else(|| BridgeError::Config(format!("no L2 transaction {tx} (not mined yet?)")))?;
    let block = receipt.block_number.unwrap_or_default();
    Ok(receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == L2_TO_L1_MESSAGE_PASSER)
        .filter_map(|log| MessagePassed::decode_log(&log.inner).ok())
        .map(|event| Withdrawal {
            nonce: event.nonce,
            sender: event.sender,
            target: event.target,
            value: event.value,
            gas_limit: event.gasLimit,
            data: event.data.data.clone(),
            hash: event.withdrawalHash,
            l2_block: block,
        })
        .collect())
}

/// Proves `withdrawal` on L1 against the first output root at or after its block.
pub async fn prove(
    l1: &DynProvider,
    l2: &DynProvider,
    portal: alloy_primitives::Address,
    oracle: alloy_primitives::Address,
    withdrawal: &Withdrawal,
) -> BridgeResult<StepOutcome> {
    let proven =
        view(l1, portal, IOpenPortal::provenWithdrawalsCall { _withdrawalHash: withdrawal.hash })
            .await?;
    if proven.timestamp != 0 {
        return Ok(StepOutcome::AlreadyDone);
    }
    let latest: U256 = view(l1, oracle, IOutputOracle::latestBlockNumberCall {}).await?;
    if latest < U256::from(withdrawal.l2_block) {
        return Ok(StepOutcome::NotYet);
    }
    let index: U256 = view(
        l1,
        oracle,
        IOutputOracle::getL2OutputIndexAfterCall {
            _l2BlockNumber: U256::from(withdrawal.l2_block),
        },
    )
    .await?;
    let output = view(l1, oracle, IOutputOracle::getL2OutputCall { _l2OutputIndex: index }).await?;
    let l2_block = u64::try_from(output.l2BlockNumber).unwrap_or(u64::MAX);
    let header = l2
        .get_block_by_number(BlockNumberOrTag::Number(l2_block))
        .await
        .map_err(BridgeError::rpc(format!("reading L2 block {l2_block}")))?
        .ok_or_else(|| BridgeError::Decode(format!("L2 block {l2_block} is missing")))?
        .header;
    let proof = l2
        .get_proof(L2_TO_L1_MESSAGE_PASSER, vec![withdrawal.slot()])
        .block_id(l2_block.into())
        .await
        .map_err(BridgeError::rpc(format!("eth_getProof at L2 block {l2_block}")))?;
    let root = OutputRoot::v0(header.state_root, proof.storage_hash, header.hash);
    if root.hash() != output.outputRoot {
        return Err(BridgeError::Contract(format!(
            "the output root posted for L2 block {l2_block} is {}, but that block gives {}: a wrong output (the guardian should delete it)",
            output.outputRoot,
            root.hash()
        )));
    }
    let call = IOpenPortal::proveWithdrawalTransactionCall {
        _tx: withdrawal.transaction(),
        _l2OutputIndex: index,
        _outputRootProof: PortalTypes::OutputRootProof {
            version: root.version,
            stateRoot: root.state_root,
            messagePasserStorageRoot: root.message_passer_storage_root,
            latestBlockhash: root.block_hash,
        },
        _withdrawalProof: proof.storage_proof.first().map(|p| p.proof.clone()).unwrap_or_default(),
    };
    let receipt = send(l1, portal, call, U256::ZERO).await?;
    tracing::info!(withdrawal = %withdrawal.hash, l2_block, output_index = %index, l1_tx = %receipt.transaction_hash, "withdrawal proven");
    Ok(StepOutcome::Done(receipt.transaction_hash))
}

/// Finalizes a proven `withdrawal` once the finalization period has passed.
pub async fn finalize(
    l1: &DynProvider,
    portal: alloy_primitives::Address,
    withdrawal: &Withdrawal,
) -> BridgeResult<StepOutcome> {
    if view(l1, portal, IOpenPortal::finalizedWithdrawalsCall { _withdrawalHash: withdrawal.hash })
        .await?
    {
        return Ok(StepOutcome::AlreadyDone);
    }
    let call = IOpenPortal::finalizeWithdrawalTransactionCall { _tx: withdrawal.transaction() };
    match send(l1, portal, call, U256::ZERO).await {
        Ok(receipt) => {
            tracing::info!(withdrawal = %withdrawal.hash, l1_tx = %receipt.transaction_hash, "withdrawal finalized");
            Ok(StepOutcome::Done(receipt.transaction_hash))
        }
        Err(BridgeError::Reverted { data, .. }) => {
            use IOpenPortal::IOpenPortalErrors as E;
            match E::abi_decode(&data) {
                // The period has not passed yet (the portal says when it will).
                Ok(E::OpenPortalProofNotMatured(_) | E::OpenPortalOutputNotFinalized(_)) => {
                    Ok(StepOutcome::NotYet)
                }
                Ok(other) => Err(BridgeError::Contract(format!(
                    "finalizing withdrawal {} reverts: {other:?}",
                    withdrawal.hash
                ))),
                Err(_) => Err(BridgeError::Contract(format!(
                    "finalizing withdrawal {} reverts with {data}",
                    withdrawal.hash
                ))),
            }
        }
        Err(err) => Err(err),
    }
}
