//! The chain's data types, named once: op-alloy's transaction and receipt envelopes (Ethereum's
//! legacy, EIP-2930, EIP-1559 and EIP-7702 transactions plus OP's `0x7E` deposit) and alloy's
//! header, and the blocks the node builds out of them.

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Sealed};
pub use op_alloy::consensus::{
    OpReceiptEnvelope as Receipt, OpTxEnvelope as Transaction, OpTxType as TxType, TxDeposit,
};

/// A header together with its hash.
pub type SealedHeader = Sealed<Header>;

/// A block as the chain stores it: the sealed header, the transactions in order and the sender
/// of each (recovered from its signature, or the `from` of a deposit).
#[derive(Debug, Clone)]
pub struct SealedBlock {
    /// The header and its hash.
    pub header: SealedHeader,
    /// The transactions, in execution order.
    pub transactions: Vec<Transaction>,
    /// `senders[i]` sent `transactions[i]`.
    pub senders: Vec<Address>,
}

impl SealedBlock {
    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// The block hash.
    pub fn hash(&self) -> B256 {
        self.header.hash()
    }
}
