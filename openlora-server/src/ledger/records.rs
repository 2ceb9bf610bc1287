//! The rows the ledger stores, as Rust values. Addresses and hashes are alloy types here and
//! lowercase 0x-hex in the database; amounts are [`U256`] here and decimal strings there.

use alloy::primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};

/// A payment channel of the inference escrow: one payer paying one server for one model. The
/// escrow stores the amount redeemed per channel; vouchers are cumulative per channel.
///
/// Ordered by payer first, so all channels of a payer form one range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChannelKey {
    /// The wallet that pays and signs.
    pub payer: Address,
    /// The server allowed to redeem.
    pub server: Address,
    /// The ModelRegistry id of the model served.
    pub model_id: B256,
}

impl std::fmt::Display for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(payer {}, server {}, model {})", self.payer, self.server, self.model_id)
    }
}

/// One served inference, as the attribution engine reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceRecord {
    /// Position in commit order (assigned by the database; 0 before it is stored). Page with
    /// [`Ledger::list_inferences`](super::Ledger::list_inferences) by passing the last one seen.
    pub seq: i64,
    /// The inference id (the `inferenceId` of attribution receipts).
    pub id: B256,
    /// The paying wallet; `None` when served without payment (`--no-payment`).
    pub payer: Option<Address>,
    /// The server that served it and redeems its voucher; `None` without payment.
    pub server: Option<Address>,
    /// The ModelRegistry id the voucher named; `None` without payment.
    pub model_id: Option<B256>,
    /// The adapter served: the keccak256 of its file, the name the server serves it under.
    pub adapter: B256,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Generated tokens.
    pub tokens_out: u64,
    /// The model's price per 1,000 tokens when the request was admitted, in wei.
    pub price_per_1k: U256,
    /// The fee metered for this inference, in wei (zero without payment).
    pub fee: U256,
    /// keccak256 of the prompt as the server received it.
    pub prompt_hash: B256,
    /// keccak256 of the output the server produced.
    pub output_hash: B256,
    /// The prompt as the server received it (chat: the rendered template); `None` for token-id
    /// prompts and rows recorded before the texts were kept.
    pub prompt: Option<String>,
    /// The output the server produced; `None` for rows recorded before the texts were kept.
    pub completion: Option<String>,
    /// The cumulative amount of the voucher that paid for it; `None` without payment.
    pub voucher_cumulative: Option<U256>,
    /// When it was recorded, Unix milliseconds.
    pub created_at: i64,
}

/// A channel's accounting as stored: what the payer authorized and what was metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The channel.
    pub key: ChannelKey,
    /// The highest voucher amount accepted on it.
    pub accepted: U256,
    /// The sum of the fees metered on it.
    pub consumed: U256,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

/// An accepted voucher, with the signature the server redeems it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherRecord {
    /// Position in acceptance order (0 before it is stored).
    pub seq: i64,
    /// The channel.
    pub key: ChannelKey,
    /// The voucher's cumulative amount.
    pub cumulative: U256,
    /// The payer's 65-byte signature.
    pub signature: Bytes,
    /// The inference it was accepted for.
    pub inference_id: B256,
    /// When it was accepted, Unix milliseconds.
    pub accepted_at: i64,
}

/// Where a redemption transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedemptionStatus {
    /// Signed and recorded; broadcast (or about to be); no receipt yet.
    Sent,
    /// Mined and successful: the channel's redeemed amount is the voucher's.
    Confirmed,
    /// Mined and reverted (another transaction redeemed first, or the escrow was short).
    Reverted,
    /// Gone from the node without a receipt and not rebroadcastable (its nonce was used).
    Dropped,
}

impl RedemptionStatus {
    /// The database spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Confirmed => "confirmed",
            Self::Reverted => "reverted",
            Self::Dropped => "dropped",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => Self::Sent,
            "confirmed" => Self::Confirmed,
            "reverted" => Self::Reverted,
            "dropped" => Self::Dropped,
            _ => return None,
        })
    }
}

/// A redemption transaction the server signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRecord {
    /// Position in creation order (0 before it is stored).
    pub seq: i64,
    /// The channel redeemed.
    pub key: ChannelKey,
    /// The voucher amount redeemed (the channel's redeemed amount once confirmed).
    pub cumulative: U256,
    /// The transaction hash.
    pub tx_hash: B256,
    /// The server account's nonce it uses.
    pub nonce: u64,
    /// The signed transaction (EIP-2718), kept so that a dropped one is rebroadcast unchanged.
    pub raw_tx: Bytes,
    /// Where it stands.
    pub status: RedemptionStatus,
    /// The amount it paid (from the `VoucherRedeemed` event), once confirmed.
    pub amount: Option<U256>,
    /// Why it reverted or was dropped, if it was.
    pub detail: Option<String>,
    /// When it was signed, Unix milliseconds.
    pub created_at: i64,
    /// Last status change, Unix milliseconds.
    pub updated_at: i64,
}
