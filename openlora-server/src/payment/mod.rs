//! # Paid inference: vouchers, escrow accounting, redemption
//!
//! A wallet deposits native OPEN into the InferenceEscrow and sends each request with an EIP-712
//! voucher ([`voucher`]) for the *cumulative* amount it owes this server for one model. The
//! server checks it, serves, meters, records, and later redeems the latest voucher of each
//! channel on chain ([`redeemer`]).
//!
//! ```text
//!  request + X-Payment-Voucher
//!        │
//!        ▼
//!  PaymentGate::admit ── parse header ─ chain/escrow named? ─ our server? ─ ECDSA signer = payer?
//!        │              ─ model registered, active, same adapter? (ModelRegistry, cached)
//!        │              ─ cumulative > accepted on the channel?            (else: replayed)
//!        │              ─ cumulative ≥ consumed + reserved + max fee?       (else: too small)
//!        │              ─ escrow balance (minus a withdrawal about to unlock) covers all this
//!        │                server may redeem from the payer?  (cached; re-read once on shortfall)
//!        │              ─ reserve the max fee, persist the voucher (ledger, one transaction)
//!        ▼
//!  Admission ── the engine generates ──▶ PaymentGate::settle(admission, usage)
//!        │                                 fee = price × (prompt + completion) / 1000 (≤ max)
//!        │                                 inference row + channel consumed: one transaction
//!        ▼
//!  Settlement (fee, channel totals) ──▶ response
//!
//!  Redeemer (background): per channel, redeem(latest voucher) when worth it or when the payer's
//!  withdrawal approaches; each signed tx is recorded before broadcast, reconciled after restart.
//! ```
//!
//! ## Amounts
//!
//! A request that may generate `max_tokens` costs at most
//! `ceil(price_per_1k × (prompt_tokens + max_tokens) / 1000)` wei ([`fee_for_tokens`]); its
//! fee is the same formula on the tokens actually generated. The price is the ModelRegistry's at
//! admission. A voucher is single-use: each request carries one with a strictly larger
//! cumulative amount. What a payer signed beyond what was metered stays as credit on the
//! channel (the next voucher must only cover metered + in flight + its own maximum); the escrow
//! redeems whole vouchers, so the server redeems the latest accepted amount, which includes that
//! credit.
//!
//! ## Durability
//!
//! A voucher is written to the ledger before [`PaymentGate::admit`] returns, and the inference
//! with its fee before [`PaymentGate::settle`] returns: after `kill -9` a replay of an accepted
//! voucher is still refused and every acknowledged fee is still owed. Refused requests write
//! nothing. A request admitted but never settled (crash, client gone) keeps its voucher
//! accepted; its reservation is released, so it costs the payer nothing beyond credit.
//!
//! ## Limits
//!
//! - One process per server address writes its channels (the gate keeps them in memory; a
//!   second writer gets [`LedgerError::Conflict`](crate::ledger::LedgerError::Conflict)).
//! - The balance check covers what *this* server may redeem; vouchers the payer signed for
//!   other servers are not visible to it.
//! - ERC-1271 payers are not accepted (see [`voucher`]).
//! - `--no-payment`: [`PaymentGate::disabled`] admits everything and records free inferences.

pub mod chain;
pub mod error;
pub mod gate;
pub mod redeemer;
pub mod voucher;

pub use chain::{ModelInfo, Withdrawal};
pub use error::{PaymentError, PaymentResult, SetupError};
pub use gate::{Admission, AdmitRequest, ChannelSummary, PaymentGate, Settlement, Usage};
pub use redeemer::{
    RedeemError, RedeemTrigger, Redeemer, RedeemerConfig, RedeemerHandle, RoundReport,
};
pub use voucher::{SignedVoucher, VOUCHER_HEADER, Voucher, VoucherError, voucher_domain};

use alloy::primitives::{Address, U256};
use serde::Deserialize;
use std::time::Duration;

/// Response header: the fee charged for this inference, in wei.
pub const FEE_HEADER: &str = "x-payment-fee";
/// Response header: the channel's metered total after this inference, in wei.
pub const CONSUMED_HEADER: &str = "x-payment-consumed";
/// Response header: the channel's highest accepted voucher amount, in wei.
pub const ACCEPTED_HEADER: &str = "x-payment-accepted";

/// How long chain reads (balances, withdrawal requests, models) are reused.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);

/// How close to its unlock time a payer's pending withdrawal counts as gone: the server must
/// redeem before the payer can withdraw.
pub const DEFAULT_WITHDRAWAL_MARGIN: Duration = Duration::from_secs(120);

/// How often a shortfall may force a re-read of one payer's escrow state (a deposit shows
/// within this much time, whatever the cache TTL).
pub const DEFAULT_SHORTFALL_REFRESH: Duration = Duration::from_secs(1);

/// The wei a request costs for `tokens` tokens at `price_per_1k` wei per 1,000 tokens,
/// rounded up.
pub fn fee_for_tokens(price_per_1k: U256, tokens: u64) -> U256 {
    let product = price_per_1k.saturating_mul(U256::from(tokens));
    let thousand = U256::from(1_000u64);
    let (q, r) = product.div_rem(thousand);
    if r.is_zero() { q } else { q.saturating_add(U256::from(1u64)) }
}

/// Where the contracts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainConfig {
    /// The L2 chain id (the voucher domain's `chainId`).
    pub chain_id: u64,
    /// The InferenceEscrow (the voucher domain's `verifyingContract`).
    pub escrow: Address,
    /// The ModelRegistry.
    pub registry: Address,
}

impl ChainConfig {
    /// Reads `deployments/<network>/l2.json` as `DeployL2.s.sol` writes it.
    pub fn from_deployment_json(json: &str) -> Result<Self, SetupError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Contracts {
            inference_escrow: Address,
            model_registry: Address,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct L2 {
            chain_id: u64,
            contracts: Contracts,
        }
        let l2: L2 =
            serde_json::from_str(json).map_err(|e| SetupError::Deployment(e.to_string()))?;
        Ok(Self {
            chain_id: l2.chain_id,
            escrow: l2.contracts.inference_escrow,
            registry: l2.contracts.model_registry,
        })
    }
}

/// The payment gate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentConfig {
    /// Where the contracts are.
    pub chain: ChainConfig,
    /// This server's address: vouchers must name it; the redeemer's key.
    pub server: Address,
    /// How long chain reads are reused ([`DEFAULT_CACHE_TTL`]).
    pub cache_ttl: Duration,
    /// How close to unlock a pending withdrawal counts as gone ([`DEFAULT_WITHDRAWAL_MARGIN`]).
    pub withdrawal_margin: Duration,
    /// A shortfall re-reads the payer's escrow state if it is at least this old
    /// ([`DEFAULT_SHORTFALL_REFRESH`]): bounds the chain reads an unfunded payer can cause.
    pub shortfall_refresh: Duration,
}

impl PaymentConfig {
    /// Defaults for everything but the contracts and the server.
    pub const fn new(chain: ChainConfig, server: Address) -> Self {
        Self {
            chain,
            server,
            cache_ttl: DEFAULT_CACHE_TTL,
            withdrawal_margin: DEFAULT_WITHDRAWAL_MARGIN,
            shortfall_refresh: DEFAULT_SHORTFALL_REFRESH,
        }
    }

    /// Sets how long chain reads are reused.
    pub const fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Sets how old a payer's cached state must be for a shortfall to re-read it.
    pub const fn with_shortfall_refresh(mut self, interval: Duration) -> Self {
        self.shortfall_refresh = interval;
        self
    }

    /// Sets how close to unlock a pending withdrawal counts as gone.
    pub const fn with_withdrawal_margin(mut self, margin: Duration) -> Self {
        self.withdrawal_margin = margin;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_up() {
        let p = U256::from(1_000u64);
        assert_eq!(fee_for_tokens(p, 0), U256::ZERO);
        assert_eq!(fee_for_tokens(p, 7), U256::from(7u64));
        assert_eq!(fee_for_tokens(U256::from(3u64), 1), U256::from(1u64));
        assert_eq!(fee_for_tokens(U256::from(3u64), 1_000), U256::from(3u64));
        assert_eq!(fee_for_tokens(U256::from(3u64), 1_001), U256::from(4u64));
        assert_eq!(fee_for_tokens(U256::ZERO, 10_000), U256::ZERO);
        assert_eq!(
            fee_for_tokens(U256::MAX, 2),
            U256::MAX / U256::from(1_000u64) + U256::from(1u64)
        );
    }

    #[test]
    fn deployment_json_is_read() {
        let json = r#"{"chainId": 1337420, "startBlock": 0,
            "contracts": {"InferenceEscrow": "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853",
                          "ModelRegistry": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
                          "Rewards": "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"}}"#;
        let c = ChainConfig::from_deployment_json(json).unwrap();
        assert_eq!(c.chain_id, 1_337_420);
        assert_eq!(
            c.escrow,
            "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853".parse::<Address>().unwrap()
        );
        assert!(ChainConfig::from_deployment_json("{}").is_err());
    }
}
