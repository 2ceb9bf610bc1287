//! Payment errors: what the HTTP layer answers when a request's payment is refused, and what
//! stops the payment layer from starting.

use crate::{
    ledger::{ChannelKey, LedgerError},
    payment::voucher::VoucherError,
};
use alloy::primitives::{Address, B256, U256};

/// Result of the payment gate's calls.
pub type PaymentResult<T> = Result<T, PaymentError>;

/// Why a request's payment was refused (or could not be checked). Nothing is written to the
/// ledger when one of these is returned by [`PaymentGate::admit`](super::PaymentGate::admit).
///
/// [`status`](Self::status) gives the HTTP status (402 for payment that is short or invalid,
/// 400 for a header that does not parse, 503 when the chain or the ledger cannot be reached),
/// [`code`](Self::code) a stable machine-readable reason, and `Display` the message for people.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The request carries no voucher header.
    #[error("payment required: send a signed voucher in the X-Payment-Voucher header")]
    MissingVoucher,
    /// The header does not parse.
    #[error("malformed payment voucher: {0}")]
    Malformed(VoucherError),
    /// The signature is not the payer's (forged, tampered with, or signed for another domain).
    #[error("forged payment voucher: {0}")]
    Forged(VoucherError),
    /// The voucher pays another server.
    #[error("voucher pays server {voucher_server}, this server is {server}")]
    WrongServer {
        /// This server's address.
        server: Address,
        /// The voucher's server.
        voucher_server: Address,
    },
    /// The header names another chain or escrow than this server's.
    #[error("voucher is for {field} {got}, this server uses {expected}")]
    WrongDomain {
        /// `chainId` or `verifyingContract`.
        field: &'static str,
        /// This server's value.
        expected: String,
        /// The header's value.
        got: String,
    },
    /// The voucher's amount is not above what the channel already accepted: a replay of a
    /// voucher already used, or an older one.
    #[error(
        "replayed voucher: cumulative amount {cumulative} is not above {accepted} already accepted on channel {key}"
    )]
    Replayed {
        /// The channel.
        key: ChannelKey,
        /// The voucher's amount.
        cumulative: U256,
        /// The highest amount accepted on the channel.
        accepted: U256,
    },
    /// The voucher does not cover what is owed on the channel plus this request's maximum.
    #[error(
        "voucher too small: cumulative amount {cumulative} < {required} required ({owed} owed on the channel + {max_fee} for this request at most)"
    )]
    Insufficient {
        /// The voucher's amount.
        cumulative: U256,
        /// The least amount accepted.
        required: U256,
        /// Metered plus reserved for requests in flight on the channel.
        owed: U256,
        /// This request's maximum fee.
        max_fee: U256,
    },
    /// The payer's escrow balance does not cover what this server may redeem.
    #[error(
        "escrow under-funded: payer {payer} holds {balance} wei in the escrow, {needed} wei are needed (unredeemed vouchers with this server included); deposit more"
    )]
    Underfunded {
        /// The payer.
        payer: Address,
        /// Its escrow balance.
        balance: U256,
        /// What this server may redeem after accepting the voucher.
        needed: U256,
    },
    /// The payer asked to withdraw and the notice is (nearly) over: what stays does not cover.
    #[error(
        "voucher expired: payer {payer} requested a withdrawal of {requested} wei that unlocks at {unlock_at} (unix s); the {remaining} wei that stay do not cover {needed} wei"
    )]
    WithdrawalPending {
        /// The payer.
        payer: Address,
        /// The amount requested.
        requested: U256,
        /// When it may be withdrawn.
        unlock_at: u64,
        /// The balance minus the request.
        remaining: U256,
        /// What this server may redeem after accepting the voucher.
        needed: U256,
    },
    /// No such model in the ModelRegistry.
    #[error("unknown model {0}: not registered in the ModelRegistry")]
    UnknownModel(B256),
    /// The model's owner deactivated it.
    #[error("model {0} is inactive: its owner does not offer it")]
    ModelInactive(B256),
    /// The voucher's model is not the adapter the request names.
    #[error(
        "voucher pays model {model_id} (adapter {registered}), but the request is for adapter {requested}"
    )]
    ModelMismatch {
        /// The voucher's model.
        model_id: B256,
        /// The adapter registered for it.
        registered: B256,
        /// The adapter the request names.
        requested: B256,
    },
    /// Reading the chain failed.
    #[error("payment check unavailable: chain read failed: {0}")]
    Chain(String),
    /// The ledger failed.
    #[error("payment check unavailable: {0}")]
    Ledger(#[from] LedgerError),
}

impl PaymentError {
    /// The HTTP status to answer with.
    pub const fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::Chain(_) | Self::Ledger(_) => 503,
            _ => 402,
        }
    }

    /// A stable, machine-readable reason (for the error body's `code`).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MissingVoucher => "voucher_missing",
            Self::Malformed(_) => "voucher_malformed",
            Self::Forged(_) => "voucher_forged",
            Self::WrongServer { .. } => "voucher_wrong_server",
            Self::WrongDomain { .. } => "voucher_wrong_domain",
            Self::Replayed { .. } => "voucher_replayed",
            Self::Insufficient { .. } => "voucher_insufficient",
            Self::Underfunded { .. } => "escrow_underfunded",
            Self::WithdrawalPending { .. } => "voucher_expired",
            Self::UnknownModel(_) => "model_unknown",
            Self::ModelInactive(_) => "model_inactive",
            Self::ModelMismatch { .. } => "model_mismatch",
            Self::Chain(_) => "chain_unavailable",
            Self::Ledger(_) => "ledger_unavailable",
        }
    }

    /// Whether the client can fix it (a 4xx), as opposed to the server's side failing.
    pub const fn is_client_error(&self) -> bool {
        self.status() < 500
    }

    /// The response body, in the OpenAI error shape:
    /// `{"error": {"message", "type": "payment_error" | "server_error", "code"}}`.
    pub fn body(&self) -> serde_json::Value {
        let kind = if self.is_client_error() { "payment_error" } else { "server_error" };
        serde_json::json!({
            "error": { "message": self.to_string(), "type": kind, "code": self.code() }
        })
    }
}

/// Why the payment layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The RPC endpoint could not be read.
    #[error("chain RPC failed: {0}")]
    Rpc(String),
    /// The RPC's chain is not the configured one.
    #[error("the RPC serves chain {actual}, the payment config says {configured}")]
    ChainId {
        /// Configured.
        configured: u64,
        /// Served.
        actual: u64,
    },
    /// The configured escrow is not an InferenceEscrow with the expected voucher format.
    #[error("{address} is not the expected InferenceEscrow: {reason}")]
    Escrow {
        /// The configured address.
        address: Address,
        /// What did not match.
        reason: String,
    },
    /// The deployment JSON could not be read.
    #[error("bad deployment JSON: {0}")]
    Deployment(String),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
