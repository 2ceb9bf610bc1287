//! `eth_call` and `eth_estimateGas`: a transaction request executed on the state after some
//! block, with the same EVM as block execution but nothing committed. As geth does, a request
//! without a gas price runs with the base-fee check off, and the nonce check is off.

use super::error::{EthResult, EthRpcError};
use crate::{chainspec::ChainSpec, primitives::SealedHeader, storage::HistoricalStateDb};
use alloy_evm::{Evm, EvmFactory};
use alloy_op_evm::{OpEvmFactory, OpTx, evm_env_for_op_block};
use alloy_primitives::{Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use op_revm::{OpHaltReason, OpTransaction, transaction::deposit::DepositTransactionParts};
use revm::{
    context::TxEnv,
    context_interface::result::{EVMError, ExecutionResult, HaltReason, OutOfGasError},
    database::CacheDB,
};

/// The transfer cost: what a call with no data to an account without code needs.
const TRANSFER_GAS: u64 = 21_000;
/// `eth_estimateGas` stops bisecting when the bounds are this close (relative), as reth does:
/// the answer is at most 1.5 % above the minimum, and an estimate needs ~6 runs, not ~30.
const ESTIMATE_ERROR_RATIO: f64 = 0.015;

/// What one call produced.
#[derive(Debug)]
pub struct CallOutcome {
    /// Gas used (after refunds).
    pub gas_used: u64,
    /// Return data.
    pub output: Bytes,
}

/// Runs calls against one state snapshot.
#[derive(Debug)]
pub struct CallExecutor<'a> {
    spec: &'a ChainSpec,
    header: &'a SealedHeader,
    db: CacheDB<HistoricalStateDb>,
    gas_cap: u64,
}

impl<'a> CallExecutor<'a> {
    /// Calls run on `state` in the environment of block `header`; no call gets more than
    /// `gas_cap` gas.
    pub fn new(
        spec: &'a ChainSpec,
        header: &'a SealedHeader,
        state: HistoricalStateDb,
        gas_cap: u64,
    ) -> Self {
        Self { spec, header, db: CacheDB::new(state), gas_cap: gas_cap.min(header.gas_limit) }
    }

    fn tx_env(&self, request: &TransactionRequest, gas_limit: u64) -> EthResult<OpTx> {
        let has_price = request.gas_price.is_some() || request.max_fee_per_gas.is_some();
        let (gas_price, tip) = match (request.gas_price, request.max_fee_per_gas) {
            (Some(price), None) => (price, None),
            (None, Some(max_fee)) => (max_fee, Some(request.max_priority_fee_per_gas.unwrap_or(0))),
            (None, None) => (0, request.max_priority_fee_per_gas.map(|_| 0)),
            (Some(_), Some(_)) => {
                return Err(EthRpcError::InvalidParams(
                    "both gasPrice and maxFeePerGas specified".into(),
                ));
            }
        };
        let _ = has_price;
        let tx_type = if request.authorization_list.is_some() {
            4
        } else if tip.is_some() {
            2
        } else if request.access_list.is_some() {
            1
        } else {
            0
        };
        let base = TxEnv {
            tx_type,
            caller: request.from.unwrap_or_default(),
            gas_limit,
            gas_price,
            gas_priority_fee: tip,
            kind: request.to.unwrap_or(TxKind::Create),
            value: request.value.unwrap_or_default(),
            data: request.input.input().cloned().unwrap_or_default(),
            nonce: request.nonce.unwrap_or_default(),
            chain_id: Some(self.spec.chain_id),
            access_list: request.access_list.clone().unwrap_or_default(),
            authorization_list: request
                .authorization_list
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(revm::context::either::Either::Left)
                .collect(),
            ..Default::default()
        };
        Ok(OpTx(OpTransaction {
            base,
            // op-revm prices the L1 data of every non-deposit transaction from its encoding; a
            // call has none, so its L1 cost is that of an empty payload.
            enveloped_tx: Some(Bytes::new()),
            deposit: DepositTransactionParts::default(),
        }))
    }

    /// Executes `request` with `gas_limit` (default: the cap) and classifies the result.
    pub fn call(
        &mut self,
        request: &TransactionRequest,
        gas_limit: Option<u64>,
    ) -> EthResult<CallOutcome> {
        let gas_limit = gas_limit.or(request.gas).unwrap_or(self.gas_cap).min(self.gas_cap);
        match self.run(request, gas_limit)? {
            ExecutionResult::Success { gas, output, .. } => {
                Ok(CallOutcome { gas_used: gas.tx_gas_used(), output: output.into_data() })
            }
            ExecutionResult::Revert { output, .. } => Err(reverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(halted(reason, gas_limit)),
        }
    }

    fn run(
        &mut self,
        request: &TransactionRequest,
        gas_limit: u64,
    ) -> EthResult<ExecutionResult<OpHaltReason>> {
        let tx = self.tx_env(request, gas_limit)?;
        let mut env =
            evm_env_for_op_block(self.header.inner(), &self.spec.hardforks, self.spec.chain_id);
        env.cfg_env.disable_nonce_check = true;
        env.cfg_env.disable_eip3607 = true;
        if tx.base.gas_price == 0 {
            env.cfg_env.disable_base_fee = true;
        }
        let mut evm = OpEvmFactory::<OpTx>::default().create_evm(&mut self.db, env);
        match evm.transact(tx) {
            Ok(result) => Ok(result.result),
            Err(EVMError::Database(err)) => Err(EthRpcError::Store(err)),
            Err(EVMError::Transaction(err)) => Err(EthRpcError::CallInvalid(err.to_string())),
            Err(err) => Err(EthRpcError::Internal(err.to_string())),
        }
    }

    /// The least gas limit (within 1.5 %) with which `request` succeeds.
    pub fn estimate_gas(&mut self, request: &TransactionRequest) -> EthResult<u64> {
        let mut cap = request.gas.unwrap_or(self.gas_cap).min(self.gas_cap);
        // A caller paying for gas cannot use more than its balance buys.
        let price = request.gas_price.or(request.max_fee_per_gas).unwrap_or(0);
        if price > 0 {
            let from = request.from.unwrap_or_default();
            let balance = revm::database_interface::DatabaseRef::basic_ref(&self.db, from)
                .map_err(EthRpcError::Store)?
                .map(|a| a.balance)
                .unwrap_or_default();
            let available = balance.saturating_sub(request.value.unwrap_or_default());
            let affordable = available / U256::from(price);
            cap = cap.min(affordable.saturating_to::<u64>());
        }

        // A plain transfer to an account without code costs exactly the transfer gas.
        if let Some(TxKind::Call(to)) = request.to
            && request.input.input().is_none_or(|d| d.is_empty())
            && request.authorization_list.is_none()
            && request.access_list.is_none()
        {
            let code = revm::database_interface::DatabaseRef::basic_ref(&self.db, to)
                .map_err(EthRpcError::Store)?
                .map(|a| a.code_hash);
            if code.is_none_or(|hash| hash == revm::primitives::KECCAK_EMPTY) && cap >= TRANSFER_GAS
            {
                self.call(request, Some(TRANSFER_GAS))?;
                return Ok(TRANSFER_GAS);
            }
        }

        let gas_used = match self.run(request, cap)? {
            ExecutionResult::Success { gas, .. } => gas.tx_gas_used(),
            ExecutionResult::Revert { output, .. } => return Err(reverted(output)),
            ExecutionResult::Halt { reason, .. } => {
                return Err(match reason {
                    OpHaltReason::Base(HaltReason::OutOfGas(_)) => {
                        EthRpcError::GasRequiredExceedsAllowance(cap)
                    }
                    other => halted(other, cap),
                });
            }
        };
        // The used gas is a lower bound (refunds and the 63/64 rule can make the needed limit
        // higher); bisect between it and the cap, trying a close guess first.
        let mut lo = gas_used.saturating_sub(1);
        let mut hi = cap;
        let mut mid = (gas_used.saturating_add(2_300).saturating_mul(64) / 63).min(hi);
        while lo + 1 < hi && ((hi - lo) as f64) / (hi as f64) > ESTIMATE_ERROR_RATIO {
            match self.run(request, mid)? {
                ExecutionResult::Success { .. } => hi = mid,
                ExecutionResult::Revert { .. } | ExecutionResult::Halt { .. } => lo = mid,
            }
            mid = lo + (hi - lo) / 2;
        }
        Ok(hi)
    }
}

fn reverted(output: Bytes) -> EthRpcError {
    EthRpcError::Reverted { reason: alloy_sol_types::decode_revert_reason(&output), data: output }
}

fn halted(reason: OpHaltReason, gas_limit: u64) -> EthRpcError {
    match reason {
        OpHaltReason::Base(HaltReason::OutOfGas(OutOfGasError::Basic))
        | OpHaltReason::Base(HaltReason::OutOfGas(_)) => {
            EthRpcError::Halted(format!("out of gas: gas required exceeds allowance: {gas_limit}"))
        }
        other => EthRpcError::Halted(format!("execution halted: {other:?}")),
    }
}
