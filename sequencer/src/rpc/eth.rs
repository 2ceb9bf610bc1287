//! The `eth_` namespace (plus `txpool_status`): declared as jsonrpsee traits, implemented over
//! the node's store snapshots, trie and pool.

use super::{
    call::CallExecutor,
    convert::{
        ReceiptContext, RpcBlock, RpcReceipt, RpcTransaction, TxLocation, rpc_block, rpc_logs,
        rpc_receipt, rpc_transaction,
    },
    error::{EthResult, EthRpcError},
};
use crate::{
    config::RpcConfig,
    node::Node,
    pool::PoolTransaction,
    primitives::SealedHeader,
    storage::{HistoricalStateDb, StoreReader},
    validate::{ValidationContext, validate_raw_transaction},
};
use alloy_consensus::Transaction as _;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Filter, FilterBlockOption, Log,
    TransactionRequest,
};
use alloy_serde::storage::JsonStorageKey;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::Serialize;
use std::{collections::BTreeSet, sync::Arc};

/// The priority fee suggested when recent blocks give no better hint: 0.001 gwei.
pub const DEFAULT_PRIORITY_FEE: u128 = 1_000_000;
/// How many recent blocks the priority fee suggestion looks at.
const FEE_SUGGESTION_BLOCKS: u64 = 20;
/// The most blocks one `eth_feeHistory` call covers.
const MAX_FEE_HISTORY_BLOCKS: u64 = 1_024;

/// `txpool_status`'s answer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TxpoolStatus {
    /// Executable transactions.
    pub pending: U64,
    /// Transactions waiting for a nonce gap or funds.
    pub queued: U64,
}

/// The `eth_` methods.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// The chain id used for signing replay-protected transactions (EIP-695).
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;

    /// The number of the latest block.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;

    /// Always `false`: the sequencer is the chain's source.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<bool>;

    /// The node manages no keys.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;

    /// An account's balance after a block (default latest).
    #[method(name = "getBalance")]
    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;

    /// An account's nonce after a block; `pending` counts the pool's contiguous transactions.
    #[method(name = "getTransactionCount")]
    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;

    /// An account's code after a block.
    #[method(name = "getCode")]
    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;

    /// A storage slot after a block.
    #[method(name = "getStorageAt")]
    fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256>;

    /// Executes a call on the state after a block; reverts answer code 3 with the data.
    #[method(name = "call", blocking)]
    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes>;

    /// The gas a transaction needs (within 1.5 %).
    #[method(name = "estimateGas", blocking)]
    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64>;

    /// Submits a signed transaction; answers its hash once the pool accepted it.
    #[method(name = "sendRawTransaction")]
    fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256>;

    /// A transaction by hash, from the chain or the pool.
    #[method(name = "getTransactionByHash")]
    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<RpcTransaction>>;

    /// A transaction by block number and index.
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    fn transaction_by_block_number_and_index(
        &self,
        block: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<RpcTransaction>>;

    /// A transaction by block hash and index.
    #[method(name = "getTransactionByBlockHashAndIndex")]
    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<RpcTransaction>>;

    /// The receipt of an included transaction (`null` while it is pending).
    #[method(name = "getTransactionReceipt")]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<RpcReceipt>>;

    /// A block by number or tag.
    #[method(name = "getBlockByNumber")]
    fn block_by_number(&self, block: BlockNumberOrTag, full: bool) -> RpcResult<Option<RpcBlock>>;

    /// A block by hash.
    #[method(name = "getBlockByHash")]
    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<RpcBlock>>;

    /// The number of transactions in a block, by number.
    #[method(name = "getBlockTransactionCountByNumber")]
    fn block_transaction_count_by_number(&self, block: BlockNumberOrTag) -> RpcResult<Option<U64>>;

    /// The number of transactions in a block, by hash.
    #[method(name = "getBlockTransactionCountByHash")]
    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;

    /// Every receipt of a block.
    #[method(name = "getBlockReceipts")]
    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<RpcReceipt>>>;

    /// Logs matching a filter.
    #[method(name = "getLogs")]
    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;

    /// Base fees, gas used ratios and priority fee percentiles of recent blocks.
    #[method(name = "feeHistory")]
    fn fee_history(
        &self,
        block_count: U64,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;

    /// A legacy gas price that gets a transaction into the next block.
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<U256>;

    /// A priority fee that recent blocks paid.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;

    /// Blobs do not exist on this chain: always zero (wallets ask anyway).
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;

    /// EIP-1186 account and storage proofs against the state root of a block (the latest, or
    /// one of the last 100,000).
    #[method(name = "getProof", blocking)]
    fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse>;
}

/// `txpool_` methods.
#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    /// Counts of pending and queued transactions.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<TxpoolStatus>;
}

/// The implementation of the `eth_` and `txpool_` namespaces.
#[derive(Debug, Clone)]
pub struct EthApiImpl {
    node: Arc<Node>,
    config: RpcConfig,
}

impl EthApiImpl {
    /// Answers from `node` within the limits of `config`.
    pub fn new(node: Arc<Node>, config: RpcConfig) -> Self {
        Self { node, config }
    }

    fn reader(&self) -> EthResult<StoreReader> {
        Ok(self.node.reader()?)
    }

    /// The head as this snapshot sees it.
    fn head_number(reader: &StoreReader) -> EthResult<u64> {
        reader.head_number()?.ok_or(EthRpcError::HeaderNotFound)
    }

    /// Resolves a block tag or number to a stored block number.
    fn resolve_number(reader: &StoreReader, tag: BlockNumberOrTag) -> EthResult<u64> {
        let head = Self::head_number(reader)?;
        match tag {
            BlockNumberOrTag::Earliest => Ok(0),
            BlockNumberOrTag::Number(n) if n <= head => Ok(n),
            BlockNumberOrTag::Number(_) => Err(EthRpcError::HeaderNotFound),
            // The sequencer's head is final as far as it knows; the bridge will refine `safe`
            // and `finalized` to what L1 has settled.
            BlockNumberOrTag::Latest
            | BlockNumberOrTag::Pending
            | BlockNumberOrTag::Safe
            | BlockNumberOrTag::Finalized => Ok(head),
        }
    }

    /// Resolves a block id (number, tag or hash) to a stored block number.
    pub fn resolve_block(reader: &StoreReader, id: Option<BlockId>) -> EthResult<u64> {
        Self::resolve_id(reader, id)
    }

    fn resolve_id(reader: &StoreReader, id: Option<BlockId>) -> EthResult<u64> {
        match id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest)) {
            BlockId::Number(tag) => Self::resolve_number(reader, tag),
            BlockId::Hash(hash) => {
                reader.block_number(&hash.block_hash)?.ok_or(EthRpcError::HeaderNotFound)
            }
        }
    }

    fn header(reader: &StoreReader, number: u64) -> EthResult<SealedHeader> {
        reader.header(number)?.ok_or(EthRpcError::HeaderNotFound)
    }

    /// The state view after block `number` (the plain latest tables when it is the head).
    fn state_at(reader: Arc<StoreReader>, number: u64) -> EthResult<HistoricalStateDb> {
        let head = Self::head_number(&reader)?;
        Ok(if number == head {
            HistoricalStateDb::latest(reader)
        } else {
            HistoricalStateDb::at_block(reader, number)
        })
    }

    fn state_for(&self, block: Option<BlockId>) -> EthResult<(HistoricalStateDb, SealedHeader)> {
        let reader = Arc::new(self.reader()?);
        let number = Self::resolve_id(&reader, block)?;
        let header = Self::header(&reader, number)?;
        Ok((Self::state_at(reader, number)?, header))
    }

    fn block(&self, reader: &StoreReader, number: u64, full: bool) -> EthResult<RpcBlock> {
        let header = Self::header(reader, number)?;
        let transactions = reader.block_transactions(number)?;
        let receipts = if full { Some(reader.block_receipts(number)?) } else { None };
        Ok(rpc_block(&header, transactions, receipts.as_deref(), full))
    }

    fn transaction_at(
        reader: &StoreReader,
        number: u64,
        index: u32,
    ) -> EthResult<Option<RpcTransaction>> {
        let Some((tx, sender)) = reader.transaction(number, index)? else { return Ok(None) };
        let header = Self::header(reader, number)?;
        let receipt = reader.receipt(number, index)?;
        Ok(Some(rpc_transaction(
            tx,
            sender,
            Some(TxLocation { header: &header, index: u64::from(index) }),
            receipt.as_ref(),
        )))
    }

    fn receipts_of_block(reader: &StoreReader, number: u64) -> EthResult<Vec<RpcReceipt>> {
        let header = Self::header(reader, number)?;
        let transactions = reader.block_transactions(number)?;
        let receipts = reader.block_receipts(number)?;
        let mut previous = 0;
        let mut first_log_index = 0;
        Ok(transactions
            .iter()
            .zip(&receipts)
            .enumerate()
            .map(|(index, ((tx, sender), receipt))| {
                let rpc = rpc_receipt(ReceiptContext {
                    tx,
                    sender: *sender,
                    receipt,
                    location: TxLocation { header: &header, index: index as u64 },
                    previous_cumulative_gas: previous,
                    first_log_index,
                });
                previous = receipt.cumulative_gas_used();
                first_log_index += receipt.logs().len() as u64;
                rpc
            })
            .collect())
    }

    fn logs_impl(&self, filter: &Filter) -> EthResult<Vec<Log>> {
        let reader = self.reader()?;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = reader.block_number(&hash)?.ok_or(EthRpcError::HeaderNotFound)?;
                (n, n)
            }
            FilterBlockOption::Range { from_block, to_block } => {
                let head = Self::head_number(&reader)?;
                let resolve = |tag: Option<BlockNumberOrTag>| match tag {
                    None => Ok(head),
                    Some(BlockNumberOrTag::Number(n)) => Ok(n.min(head)),
                    Some(tag) => Self::resolve_number(&reader, tag),
                };
                (resolve(from_block)?, resolve(to_block)?)
            }
        };
        if from > to {
            return Err(EthRpcError::InvalidParams(format!(
                "invalid block range: fromBlock {from} is after toBlock {to}"
            )));
        }
        if to - from >= self.config.max_log_block_range {
            return Err(EthRpcError::LogRangeTooLarge { max: self.config.max_log_block_range });
        }

        // The log index narrows the blocks to read: by address if the filter names any, else
        // by the first topic position it constrains; with neither, the header bloom decides.
        let candidates: Option<BTreeSet<u64>> = if !filter.address.is_empty() {
            let mut set = BTreeSet::new();
            for address in filter.address.iter() {
                set.extend(reader.blocks_with_log_address(address, from, to)?);
            }
            Some(set)
        } else if let Some(topics) = filter.topics.iter().find(|t| !t.is_empty()) {
            let mut set = BTreeSet::new();
            for topic in topics.iter() {
                set.extend(reader.blocks_with_log_topic(topic, from, to)?);
            }
            Some(set)
        } else {
            None
        };
        let blocks: Box<dyn Iterator<Item = u64>> = match candidates {
            Some(set) => Box::new(set.into_iter()),
            None => Box::new(from..=to),
        };

        let mut logs = Vec::new();
        for number in blocks {
            let header = Self::header(&reader, number)?;
            if !filter.matches_bloom(header.logs_bloom) {
                continue;
            }
            let transactions = reader.block_transactions(number)?;
            let receipts = reader.block_receipts(number)?;
            let mut first_log_index = 0;
            for (index, ((tx, _), receipt)) in transactions.iter().zip(&receipts).enumerate() {
                let block_logs =
                    rpc_logs(receipt, &header, tx.tx_hash(), index as u64, first_log_index);
                first_log_index += block_logs.len() as u64;
                logs.extend(block_logs.into_iter().filter(|log| filter.matches(&log.inner)));
                if logs.len() > self.config.max_logs_per_response {
                    return Err(EthRpcError::TooManyLogs {
                        max: self.config.max_logs_per_response,
                    });
                }
            }
        }
        Ok(logs)
    }

    /// The median priority fee of recent blocks' transactions, or the default.
    fn suggested_priority_fee(&self) -> EthResult<u128> {
        let reader = self.reader()?;
        let head = Self::head_number(&reader)?;
        let mut tips = Vec::new();
        for number in head.saturating_sub(FEE_SUGGESTION_BLOCKS - 1)..=head {
            let Some(header) = reader.header(number)? else { continue };
            let base_fee = header.base_fee_per_gas.unwrap_or_default();
            for (tx, _) in reader.block_transactions(number)? {
                if let Some(tip) = tx.effective_tip_per_gas(base_fee) {
                    tips.push(tip);
                }
            }
            if tips.len() > 10_000 {
                break;
            }
        }
        if tips.is_empty() {
            return Ok(DEFAULT_PRIORITY_FEE);
        }
        tips.sort_unstable();
        Ok(tips[tips.len() / 2].max(DEFAULT_PRIORITY_FEE))
    }

    fn fee_history_impl(
        &self,
        block_count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> EthResult<FeeHistory> {
        if let Some(p) = &percentiles
            && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(EthRpcError::InvalidParams(
                "reward percentiles must be ascending values between 0 and 100".into(),
            ));
        }
        let reader = self.reader()?;
        let newest = Self::resolve_number(&reader, newest)?;
        let count = block_count.min(MAX_FEE_HISTORY_BLOCKS).min(newest + 1);
        if count == 0 {
            return Ok(FeeHistory::default());
        }
        let oldest = newest + 1 - count;
        let mut history = FeeHistory { oldest_block: oldest, ..Default::default() };
        let mut rewards = Vec::new();
        let mut last = None;
        for number in oldest..=newest {
            let header = Self::header(&reader, number)?;
            let base_fee = header.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(u128::from(base_fee));
            history.gas_used_ratio.push(header.gas_used as f64 / header.gas_limit.max(1) as f64);
            history.base_fee_per_blob_gas.push(0);
            history.blob_gas_used_ratio.push(0.0);
            if let Some(percentiles) = &percentiles {
                let txs = reader.block_transactions(number)?;
                let receipts = reader.block_receipts(number)?;
                let mut previous = 0;
                let mut tips: Vec<(u128, u64)> = txs
                    .iter()
                    .zip(&receipts)
                    .map(|((tx, _), receipt)| {
                        let used = receipt.cumulative_gas_used() - previous;
                        previous = receipt.cumulative_gas_used();
                        (tx.effective_tip_per_gas(base_fee).unwrap_or_default(), used)
                    })
                    .collect();
                tips.sort_unstable_by_key(|(tip, _)| *tip);
                rewards.push(percentile_rewards(&tips, header.gas_used, percentiles));
            }
            last = Some(header);
        }
        if let Some(last) = last {
            history.base_fee_per_gas.push(u128::from(self.node.spec().next_base_fee(&last)));
            history.base_fee_per_blob_gas.push(0);
        }
        history.reward = percentiles.map(|_| rewards);
        Ok(history)
    }
}

/// The tip at each gas-weighted percentile of a block's transactions (sorted by tip).
fn percentile_rewards(tips: &[(u128, u64)], gas_used: u64, percentiles: &[f64]) -> Vec<u128> {
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    let mut out = Vec::with_capacity(percentiles.len());
    let mut index = 0;
    let mut cumulative = tips[0].1;
    for p in percentiles {
        let threshold = (gas_used as f64 * p / 100.0) as u64;
        while cumulative < threshold && index + 1 < tips.len() {
            index += 1;
            cumulative += tips[index].1;
        }
        out.push(tips[index].0);
    }
    out
}

impl EthApiServer for EthApiImpl {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.spec().chain_id))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node.head().number))
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(vec![])
    }

    fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let (state, _) = self.state_for(block)?;
        Ok(state
            .account_state(&address)
            .map_err(EthRpcError::from)?
            .map_or(U256::ZERO, |a| a.balance))
    }

    fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let pending = matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending)));
        let (state, _) = self.state_for(block)?;
        let nonce =
            state.account_state(&address).map_err(EthRpcError::from)?.map_or(0, |a| a.nonce);
        let nonce = if pending {
            self.node.pool().pending_nonce(&address).map_or(nonce, |p| p.max(nonce))
        } else {
            nonce
        };
        Ok(U256::from(nonce))
    }

    fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let (state, _) = self.state_for(block)?;
        let Some(account) = state.account_state(&address).map_err(EthRpcError::from)? else {
            return Ok(Bytes::new());
        };
        Ok(state.reader().code(&account.code_hash).map_err(EthRpcError::from)?.unwrap_or_default())
    }

    fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        let (state, _) = self.state_for(block)?;
        let value = state
            .storage_value(&address, &U256::from_be_bytes(slot.as_b256().0))
            .map_err(EthRpcError::from)?;
        Ok(B256::from(value))
    }

    fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes> {
        let (state, header) = self.state_for(block)?;
        let mut executor = CallExecutor::new(self.node.spec(), &header, state, self.config.gas_cap);
        Ok(executor.call(&request, None)?.output)
    }

    fn estimate_gas(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<U64> {
        let (state, header) = self.state_for(block)?;
        let mut executor = CallExecutor::new(self.node.spec(), &header, state, self.config.gas_cap);
        Ok(U64::from(executor.estimate_gas(&request)?))
    }

    fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256> {
        let ctx = ValidationContext {
            chain_id: self.node.spec().chain_id,
            block_gas_limit: self.node.block_config().gas_limit,
            spec: self.node.spec().eth_spec_id(),
        };
        let tx = validate_raw_transaction(&bytes, &ctx).map_err(EthRpcError::from)?;
        let hash = self.node.add_transaction(tx).map_err(EthRpcError::from)?;
        metrics::counter!("ol_rpc_transactions_accepted_total").increment(1);
        Ok(hash)
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<RpcTransaction>> {
        let reader = self.reader()?;
        if let Some((number, index)) =
            reader.transaction_location(&hash).map_err(EthRpcError::from)?
        {
            return Ok(Self::transaction_at(&reader, number, index)?);
        }
        Ok(self
            .node
            .pool()
            .get(&hash)
            .map(|tx| rpc_transaction(tx.transaction().clone(), tx.sender(), None, None)))
    }

    fn transaction_by_block_number_and_index(
        &self,
        block: BlockNumberOrTag,
        index: U64,
    ) -> RpcResult<Option<RpcTransaction>> {
        let reader = self.reader()?;
        let Ok(number) = Self::resolve_number(&reader, block) else { return Ok(None) };
        let Ok(index) = u32::try_from(index.to::<u64>()) else { return Ok(None) };
        Ok(Self::transaction_at(&reader, number, index)?)
    }

    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: U64,
    ) -> RpcResult<Option<RpcTransaction>> {
        let reader = self.reader()?;
        let Some(number) = reader.block_number(&hash).map_err(EthRpcError::from)? else {
            return Ok(None);
        };
        let Ok(index) = u32::try_from(index.to::<u64>()) else { return Ok(None) };
        Ok(Self::transaction_at(&reader, number, index)?)
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<RpcReceipt>> {
        let reader = self.reader()?;
        let Some((number, index)) =
            reader.transaction_location(&hash).map_err(EthRpcError::from)?
        else {
            return Ok(None);
        };
        let header = Self::header(&reader, number)?;
        let (tx, sender) =
            reader.transaction(number, index).map_err(EthRpcError::from)?.ok_or_else(|| {
                EthRpcError::Internal(format!("transaction {hash} indexed but missing"))
            })?;
        let receipt = reader
            .receipt(number, index)
            .map_err(EthRpcError::from)?
            .ok_or_else(|| EthRpcError::Internal(format!("receipt of {hash} missing")))?;
        // The log index of the first log needs the earlier receipts' log counts.
        let mut first_log_index = 0;
        let mut previous = 0;
        for i in 0..index {
            if let Some(r) = reader.receipt(number, i).map_err(EthRpcError::from)? {
                first_log_index += r.logs().len() as u64;
                previous = r.cumulative_gas_used();
            }
        }
        Ok(Some(rpc_receipt(ReceiptContext {
            tx: &tx,
            sender,
            receipt: &receipt,
            location: TxLocation { header: &header, index: u64::from(index) },
            previous_cumulative_gas: previous,
            first_log_index,
        })))
    }

    fn block_by_number(&self, block: BlockNumberOrTag, full: bool) -> RpcResult<Option<RpcBlock>> {
        let reader = self.reader()?;
        match Self::resolve_number(&reader, block) {
            Ok(number) => Ok(Some(self.block(&reader, number, full)?)),
            Err(EthRpcError::HeaderNotFound) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<RpcBlock>> {
        let reader = self.reader()?;
        match reader.block_number(&hash).map_err(EthRpcError::from)? {
            Some(number) => Ok(Some(self.block(&reader, number, full)?)),
            None => Ok(None),
        }
    }

    fn block_transaction_count_by_number(&self, block: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let reader = self.reader()?;
        let Ok(number) = Self::resolve_number(&reader, block) else { return Ok(None) };
        Ok(Some(U64::from(reader.block_transaction_count(number).map_err(EthRpcError::from)?)))
    }

    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let reader = self.reader()?;
        let Some(number) = reader.block_number(&hash).map_err(EthRpcError::from)? else {
            return Ok(None);
        };
        Ok(Some(U64::from(reader.block_transaction_count(number).map_err(EthRpcError::from)?)))
    }

    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<RpcReceipt>>> {
        let reader = self.reader()?;
        match Self::resolve_id(&reader, Some(block)) {
            Ok(number) => Ok(Some(Self::receipts_of_block(&reader, number)?)),
            Err(EthRpcError::HeaderNotFound) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        Ok(self.logs_impl(&filter)?)
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        Ok(self.fee_history_impl(block_count.to(), newest_block, reward_percentiles)?)
    }

    fn gas_price(&self) -> RpcResult<U256> {
        let tip = self.suggested_priority_fee()?;
        Ok(U256::from(u128::from(self.node.next_base_fee()) + tip))
    }

    fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(self.suggested_priority_fee()?))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::ZERO)
    }

    fn proof(
        &self,
        address: Address,
        keys: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let reader = self.reader()?;
        let asked = Self::resolve_id(&reader, block)?;
        drop(reader);
        let slots: Vec<B256> = keys.iter().map(|k| k.as_b256()).collect();
        let proof = self.node.account_proof(address, &slots, asked).map_err(|e| match e {
            crate::node::ProofError::UnknownBlock(_) => EthRpcError::HeaderNotFound,
            crate::node::ProofError::TooOld { .. } => EthRpcError::InvalidParams(e.to_string()),
            crate::node::ProofError::Store(e) => EthRpcError::Store(e),
            crate::node::ProofError::Internal(e) => EthRpcError::Internal(e),
        })?;
        let (balance, nonce, code_hash) = proof
            .account
            .as_ref()
            .map_or((U256::ZERO, 0, alloy_primitives::KECCAK256_EMPTY), |a| {
                (a.balance, a.nonce, a.code_hash)
            });
        Ok(EIP1186AccountProofResponse {
            address,
            balance,
            code_hash,
            nonce,
            storage_hash: proof.storage_hash,
            account_proof: proof.account_proof,
            storage_proof: keys
                .into_iter()
                .zip(proof.storage_proofs)
                .map(|(key, p)| EIP1186StorageProof { key, value: p.value, proof: p.proof })
                .collect(),
        })
    }
}

impl TxpoolApiServer for EthApiImpl {
    fn status(&self) -> RpcResult<TxpoolStatus> {
        let status = self.node.pool().status();
        Ok(TxpoolStatus { pending: U64::from(status.pending), queued: U64::from(status.queued) })
    }
}
