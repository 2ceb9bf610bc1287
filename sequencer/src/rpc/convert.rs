//! The chain's stored types turned into the JSON-RPC types clients expect: alloy's block,
//! header, log and receipt types, and op-alloy's transaction (which adds the deposit fields).

use crate::primitives::{Receipt, SealedHeader, Transaction};
use alloy_consensus::{Transaction as _, transaction::Recovered};
use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_eth::{Block, BlockTransactions, Header as RpcHeader, Log};
use op_alloy::consensus::OpReceiptEnvelope;

/// A transaction as the API returns it.
pub type RpcTransaction = op_alloy::rpc_types::Transaction;
/// A receipt as the API returns it.
pub type RpcReceipt = alloy_rpc_types_eth::TransactionReceipt<OpReceiptEnvelope<Log>>;
/// A block as the API returns it.
pub type RpcBlock = Block<RpcTransaction>;

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy)]
pub struct TxLocation<'a> {
    /// Its block's header.
    pub header: &'a SealedHeader,
    /// Its index in the block.
    pub index: u64,
}

/// The price per gas a transaction paid in a block with `base_fee` (zero for deposits).
pub fn effective_gas_price(tx: &Transaction, base_fee: Option<u64>) -> u128 {
    if tx.is_deposit() { 0 } else { tx.effective_gas_price(base_fee) }
}

/// A transaction with its sender; with its location once it is in a block, without while
/// it waits in the pool.
pub fn rpc_transaction(
    tx: Transaction,
    sender: Address,
    location: Option<TxLocation<'_>>,
    receipt: Option<&Receipt>,
) -> RpcTransaction {
    let deposit_nonce = receipt.and_then(|r| match r {
        OpReceiptEnvelope::Deposit(d) => d.receipt.deposit_nonce,
        _ => None,
    });
    let deposit_receipt_version = receipt.and_then(|r| match r {
        OpReceiptEnvelope::Deposit(d) => d.receipt.deposit_receipt_version,
        _ => None,
    });
    let effective = location.map(|l| effective_gas_price(&tx, l.header.base_fee_per_gas));
    RpcTransaction {
        inner: alloy_rpc_types_eth::Transaction {
            inner: Recovered::new_unchecked(tx, sender),
            block_hash: location.map(|l| l.header.hash()),
            block_number: location.map(|l| l.header.number),
            transaction_index: location.map(|l| l.index),
            effective_gas_price: effective,
            block_timestamp: location.map(|l| l.header.timestamp),
        },
        deposit_nonce,
        deposit_receipt_version,
    }
}

/// A header with its hash and size.
pub fn rpc_header(header: &SealedHeader) -> RpcHeader {
    RpcHeader {
        hash: header.hash(),
        inner: header.inner().clone(),
        total_difficulty: Some(U256::ZERO),
        size: None,
    }
}

/// A block with full transactions or only their hashes.
pub fn rpc_block(
    header: &SealedHeader,
    transactions: Vec<(Transaction, Address)>,
    receipts: Option<&[Receipt]>,
    full: bool,
) -> RpcBlock {
    let transactions = if full {
        BlockTransactions::Full(
            transactions
                .into_iter()
                .enumerate()
                .map(|(index, (tx, sender))| {
                    let receipt = receipts.and_then(|r| r.get(index));
                    rpc_transaction(
                        tx,
                        sender,
                        Some(TxLocation { header, index: index as u64 }),
                        receipt,
                    )
                })
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(transactions.iter().map(|(tx, _)| tx.tx_hash()).collect())
    };
    Block {
        header: rpc_header(header),
        uncles: vec![],
        transactions,
        withdrawals: Some(Default::default()),
    }
}

/// The logs of one receipt, with their block-wide indices starting at `first_log_index`.
pub fn rpc_logs(
    receipt: &Receipt,
    header: &SealedHeader,
    tx_hash: B256,
    tx_index: u64,
    first_log_index: u64,
) -> Vec<Log> {
    receipt
        .logs()
        .iter()
        .enumerate()
        .map(|(i, log)| Log {
            inner: log.clone(),
            block_hash: Some(header.hash()),
            block_number: Some(header.number),
            block_timestamp: Some(header.timestamp),
            transaction_hash: Some(tx_hash),
            transaction_index: Some(tx_index),
            log_index: Some(first_log_index + i as u64),
            removed: false,
        })
        .collect()
}

/// Everything a receipt answer is built from.
#[derive(Debug)]
pub struct ReceiptContext<'a> {
    /// The transaction.
    pub tx: &'a Transaction,
    /// Its sender.
    pub sender: Address,
    /// Its receipt.
    pub receipt: &'a Receipt,
    /// Where it is.
    pub location: TxLocation<'a>,
    /// Cumulative gas of the previous transaction in the block.
    pub previous_cumulative_gas: u64,
    /// Number of logs of the block's earlier transactions.
    pub first_log_index: u64,
}

/// A receipt as `eth_getTransactionReceipt` answers it.
pub fn rpc_receipt(ctx: ReceiptContext<'_>) -> RpcReceipt {
    let ReceiptContext { tx, sender, receipt, location, previous_cumulative_gas, first_log_index } =
        ctx;
    let tx_hash = tx.tx_hash();
    let mut logs =
        rpc_logs(receipt, location.header, tx_hash, location.index, first_log_index).into_iter();
    let inner = receipt.clone().map_logs(|_| logs.next().unwrap_or_default());
    // A deposit's nonce field is unused: a deposit creating a contract uses the depositor's
    // nonce from before it, which the receipt records.
    let contract_address = match receipt {
        _ if !tx.kind().is_create() => None,
        OpReceiptEnvelope::Deposit(d) => d.receipt.deposit_nonce.map(|nonce| sender.create(nonce)),
        _ => Some(sender.create(tx.nonce())),
    };
    RpcReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(location.index),
        block_hash: Some(location.header.hash()),
        block_number: Some(location.header.number),
        gas_used: receipt.cumulative_gas_used().saturating_sub(previous_cumulative_gas),
        effective_gas_price: effective_gas_price(tx, location.header.base_fee_per_gas),
        blob_gas_used: None,
        blob_gas_price: None,
        from: sender,
        to: tx.to(),
        contract_address,
    }
}
