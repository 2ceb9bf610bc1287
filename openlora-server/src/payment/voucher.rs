//! # Payment vouchers
//!
//! A voucher is the InferenceEscrow's EIP-712 struct, signed by the payer:
//!
//! ```text
//! Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)
//! domain { name: "OpenLedger InferenceEscrow", version: "1", chainId, verifyingContract: escrow }
//! digest = keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(voucher))
//! ```
//!
//! The struct is the binding `ol-primitives` generates from the escrow's ABI
//! ([`Voucher`]); its EIP-712 typehash is checked against the contract's constant
//! ([`VOUCHER_TYPEHASH`], tested offline and against a deployed escrow).
//!
//! ## The header
//!
//! A paid request carries one header, [`VOUCHER_HEADER`] (`X-Payment-Voucher`), whose value is
//! the base64url encoding (RFC 4648 §5, padding optional; the standard alphabet is accepted too)
//! of a UTF-8 JSON object:
//!
//! ```json
//! {
//!   "payer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
//!   "server": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
//!   "modelId": "0x…32 bytes…",
//!   "cumulativeAmount": "1500000000000000",
//!   "signature": "0x…65 bytes r‖s‖v…",
//!   "chainId": 1337420,
//!   "verifyingContract": "0x…escrow…"
//! }
//! ```
//!
//! - `cumulativeAmount` is wei as a decimal string (or `0x` hex): everything the payer owes
//!   this server for this model so far, this request's maximum included.
//! - `signature` is the 65-byte `r ‖ s ‖ v` ECDSA signature of the digest, `v` 27 or 28, low
//!   `s` (what the escrow's `redeem` accepts; `cast wallet sign --data` and
//!   `eth_signTypedData_v4` produce it).
//! - `chainId` and `verifyingContract` are optional: when present they must be the server's
//!   domain, which turns a voucher signed for another chain or escrow into a clear error instead
//!   of a signature that recovers to a stranger.
//! - Unknown fields are rejected. A raw JSON object (first character `{`) is accepted as well,
//!   for hand-written requests. The header is at most [`MAX_HEADER_LEN`] bytes.
//!
//! ERC-1271 (contract) payers, which the escrow accepts on chain, are not accepted here: the
//! server only recovers ECDSA signatures, so a contract wallet's voucher reads as forged.

use alloy::{
    primitives::{Address, B256, Bytes, U256, b256},
    signers::SignerSync,
    sol_types::{Eip712Domain, SolStruct},
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

pub use ol_primitives::contracts::inference_escrow::IInferenceEscrow::Voucher;

/// The request header that carries a voucher.
pub const VOUCHER_HEADER: &str = "x-payment-voucher";

/// The longest header value accepted, in bytes (a voucher encodes to about 500).
pub const MAX_HEADER_LEN: usize = 4096;

/// `keccak256("Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)")`,
/// the escrow's `VOUCHER_TYPEHASH`.
pub const VOUCHER_TYPEHASH: B256 =
    b256!("0xac89a7edb21c37c85db7d8bbfac1823070a0d30ced9dd0d13487f1f67550ad49");

/// The escrow's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "OpenLedger InferenceEscrow";

/// The escrow's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of the escrow at `escrow` on chain `chain_id`.
pub fn voucher_domain(chain_id: u64, escrow: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed(DOMAIN_NAME)),
        Some(Cow::Borrowed(DOMAIN_VERSION)),
        Some(U256::from(chain_id)),
        Some(escrow),
        None,
    )
}

/// The digest a payer signs for `voucher` in `domain` (the escrow's `voucherDigest`).
pub fn voucher_digest(voucher: &Voucher, domain: &Eip712Domain) -> B256 {
    voucher.eip712_signing_hash(domain)
}

/// Why a voucher header was refused before any accounting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// The header is longer than [`MAX_HEADER_LEN`].
    #[error("voucher header is {0} bytes, at most {MAX_HEADER_LEN} are accepted")]
    TooLong(usize),
    /// The header is neither base64url nor a JSON object.
    #[error("voucher header is not base64url-encoded JSON: {0}")]
    Encoding(String),
    /// The JSON does not have the voucher's shape.
    #[error("voucher JSON is invalid: {0}")]
    Json(String),
    /// `cumulativeAmount` is not a decimal or 0x-hex uint256.
    #[error("voucher cumulativeAmount {0:?} is not a uint256 (decimal or 0x hex)")]
    Amount(String),
    /// The signature is not 65 bytes.
    #[error("voucher signature is {0} bytes, expected 65 (r ‖ s ‖ v)")]
    SignatureLength(usize),
    /// `v` is not 27 or 28.
    #[error("voucher signature has v = {0}, expected 27 or 28")]
    SignatureV(u8),
    /// `s` is in the upper half of the curve order (malleable; the escrow rejects it).
    #[error("voucher signature has a high s value (not canonical)")]
    SignatureHighS,
    /// No public key recovers from the signature.
    #[error("voucher signature does not recover a key: {0}")]
    SignatureInvalid(String),
    /// The signature recovers to another address than the voucher's payer.
    #[error("voucher is signed by {recovered}, not by its payer {payer}")]
    WrongSigner {
        /// The voucher's payer.
        payer: Address,
        /// Whom the signature recovers to.
        recovered: Address,
    },
    /// Signing failed (client side).
    #[error("signing the voucher failed: {0}")]
    Signing(String),
}

/// A voucher with its signature, as carried by the header.
#[derive(Clone)]
pub struct SignedVoucher {
    /// The signed struct.
    pub voucher: Voucher,
    /// The payer's 65-byte signature.
    pub signature: Bytes,
    /// The chain the client says it signed for (optional in the header).
    pub chain_id: Option<u64>,
    /// The escrow the client says it signed for (optional in the header).
    pub verifying_contract: Option<Address>,
}

impl std::fmt::Debug for SignedVoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedVoucher")
            .field("payer", &self.voucher.payer)
            .field("server", &self.voucher.server)
            .field("model_id", &self.voucher.modelId)
            .field("cumulative_amount", &self.voucher.cumulativeAmount)
            .field("signature", &self.signature)
            .field("chain_id", &self.chain_id)
            .field("verifying_contract", &self.verifying_contract)
            .finish()
    }
}

/// The header's JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VoucherJson {
    payer: Address,
    server: Address,
    model_id: B256,
    cumulative_amount: String,
    signature: Bytes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verifying_contract: Option<Address>,
}

/// Builds a voucher struct.
pub const fn voucher(
    payer: Address,
    server: Address,
    model_id: B256,
    cumulative_amount: U256,
) -> Voucher {
    Voucher { payer, server, modelId: model_id, cumulativeAmount: cumulative_amount }
}

impl SignedVoucher {
    /// Signs `voucher` for `domain` with `signer` (the client side; tests and tools use it).
    /// The header then names the domain's chain and escrow.
    pub fn sign<S: SignerSync + ?Sized>(
        voucher: Voucher,
        domain: &Eip712Domain,
        signer: &S,
    ) -> Result<Self, VoucherError> {
        let digest = voucher_digest(&voucher, domain);
        let signature =
            signer.sign_hash_sync(&digest).map_err(|e| VoucherError::Signing(e.to_string()))?;
        Ok(Self {
            voucher,
            signature: Bytes::copy_from_slice(&signature.as_bytes()),
            chain_id: domain.chain_id.and_then(|c| u64::try_from(c).ok()),
            verifying_contract: domain.verifying_contract,
        })
    }

    /// Parses a header value (see the module doc for the format).
    pub fn from_header(value: &str) -> Result<Self, VoucherError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(VoucherError::TooLong(value.len()));
        }
        let value = value.trim();
        let json: Cow<'_, [u8]> = if value.starts_with('{') {
            Cow::Borrowed(value.as_bytes())
        } else {
            let url_safe: String = value
                .trim_end_matches('=')
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            Cow::Owned(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(url_safe.as_bytes())
                    .map_err(|e| VoucherError::Encoding(e.to_string()))?,
            )
        };
        let parsed: VoucherJson =
            serde_json::from_slice(&json).map_err(|e| VoucherError::Json(e.to_string()))?;
        let amount = parsed.cumulative_amount.trim();
        let cumulative =
            if let Some(hex) = amount.strip_prefix("0x").or_else(|| amount.strip_prefix("0X")) {
                U256::from_str_radix(hex, 16)
            } else {
                U256::from_str_radix(amount, 10)
            }
            .map_err(|_| VoucherError::Amount(parsed.cumulative_amount.clone()))?;
        if amount.is_empty() {
            return Err(VoucherError::Amount(parsed.cumulative_amount));
        }
        Ok(Self {
            voucher: voucher(parsed.payer, parsed.server, parsed.model_id, cumulative),
            signature: parsed.signature,
            chain_id: parsed.chain_id,
            verifying_contract: parsed.verifying_contract,
        })
    }

    /// The header value: base64url (no padding) of the JSON.
    pub fn to_header(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.to_json())
    }

    /// The JSON the header encodes.
    pub fn to_json(&self) -> String {
        let json = VoucherJson {
            payer: self.voucher.payer,
            server: self.voucher.server,
            model_id: self.voucher.modelId,
            cumulative_amount: self.voucher.cumulativeAmount.to_string(),
            signature: self.signature.clone(),
            chain_id: self.chain_id,
            verifying_contract: self.verifying_contract,
        };
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(&json).unwrap_or_default()
    }

    /// The address the signature recovers to for `domain`, after the escrow's own checks (65
    /// bytes, `v` 27 or 28, low `s`).
    pub fn recover(&self, domain: &Eip712Domain) -> Result<Address, VoucherError> {
        let bytes: &[u8; 65] = self
            .signature
            .as_ref()
            .try_into()
            .map_err(|_| VoucherError::SignatureLength(self.signature.len()))?;
        let v = bytes[64];
        if v != 27 && v != 28 {
            return Err(VoucherError::SignatureV(v));
        }
        let signature = alloy::primitives::Signature::from_raw_array(bytes)
            .map_err(|e| VoucherError::SignatureInvalid(e.to_string()))?;
        if signature.normalize_s().is_some() {
            return Err(VoucherError::SignatureHighS);
        }
        signature
            .recover_address_from_prehash(&voucher_digest(&self.voucher, domain))
            .map_err(|e| VoucherError::SignatureInvalid(e.to_string()))
    }

    /// Checks that the payer signed this voucher for `domain`.
    pub fn verify(&self, domain: &Eip712Domain) -> Result<(), VoucherError> {
        let recovered = self.recover(domain)?;
        if recovered != self.voucher.payer {
            return Err(VoucherError::WrongSigner { payer: self.voucher.payer, recovered });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{primitives::keccak256, signers::local::PrivateKeySigner};

    fn domain() -> Eip712Domain {
        voucher_domain(1_337_420, Address::repeat_byte(0xee))
    }

    fn signed(signer: &PrivateKeySigner, amount: u64) -> SignedVoucher {
        let v = voucher(
            signer.address(),
            Address::repeat_byte(0x5e),
            B256::repeat_byte(7),
            U256::from(amount),
        );
        SignedVoucher::sign(v, &domain(), signer).unwrap()
    }

    #[test]
    fn typehash_is_the_contracts() {
        let string =
            "Voucher(address payer,address server,bytes32 modelId,uint256 cumulativeAmount)";
        assert_eq!(keccak256(string), VOUCHER_TYPEHASH);
        let v = voucher(Address::ZERO, Address::ZERO, B256::ZERO, U256::ZERO);
        assert_eq!(v.eip712_type_hash(), VOUCHER_TYPEHASH);
        assert_eq!(Voucher::eip712_encode_type(), string);
    }

    #[test]
    fn header_round_trips_and_verifies() {
        let signer = PrivateKeySigner::random();
        let sv = signed(&signer, 1_500);
        let header = sv.to_header();
        assert!(!header.contains('='));
        let back = SignedVoucher::from_header(&header).unwrap();
        assert_eq!(back.voucher.cumulativeAmount, U256::from(1_500));
        assert_eq!(back.voucher.payer, signer.address());
        assert_eq!(back.chain_id, Some(1_337_420));
        assert_eq!(back.verifying_contract, Some(Address::repeat_byte(0xee)));
        back.verify(&domain()).unwrap();
        // Raw JSON and padded standard base64 are accepted too.
        SignedVoucher::from_header(&sv.to_json()).unwrap().verify(&domain()).unwrap();
        let std_b64 = base64::engine::general_purpose::STANDARD.encode(sv.to_json());
        SignedVoucher::from_header(&std_b64).unwrap().verify(&domain()).unwrap();
    }

    #[test]
    fn hex_amounts_parse() {
        let signer = PrivateKeySigner::random();
        let json = signed(&signer, 255).to_json().replace("\"255\"", "\"0xff\"");
        let back = SignedVoucher::from_header(&json).unwrap();
        assert_eq!(back.voucher.cumulativeAmount, U256::from(255));
        back.verify(&domain()).unwrap();
    }

    #[test]
    fn malformed_headers_are_refused_clearly() {
        let signer = PrivateKeySigner::random();
        let json = signed(&signer, 1).to_json();
        assert!(matches!(SignedVoucher::from_header("!!!"), Err(VoucherError::Encoding(_))));
        assert!(matches!(SignedVoucher::from_header("{}"), Err(VoucherError::Json(_))));
        let extra = json.replacen('{', "{\"deadline\":1,", 1);
        assert!(matches!(SignedVoucher::from_header(&extra), Err(VoucherError::Json(_))));
        let bad_amount = json.replace("\"cumulativeAmount\":\"1\"", "\"cumulativeAmount\":\"-1\"");
        assert!(matches!(SignedVoucher::from_header(&bad_amount), Err(VoucherError::Amount(_))));
        let empty_amount = json.replace("\"cumulativeAmount\":\"1\"", "\"cumulativeAmount\":\"\"");
        assert!(matches!(SignedVoucher::from_header(&empty_amount), Err(VoucherError::Amount(_))));
        let long = "A".repeat(MAX_HEADER_LEN + 1);
        assert_eq!(
            SignedVoucher::from_header(&long).unwrap_err(),
            VoucherError::TooLong(MAX_HEADER_LEN + 1)
        );
    }

    #[test]
    fn forged_and_malleable_signatures_are_refused() {
        let signer = PrivateKeySigner::random();
        let mut sv = signed(&signer, 10);
        // Another amount than signed: recovers to a stranger.
        sv.voucher.cumulativeAmount = U256::from(11);
        assert!(matches!(sv.verify(&domain()), Err(VoucherError::WrongSigner { .. })));
        // Another domain than signed.
        let sv = signed(&signer, 10);
        let other = voucher_domain(1, Address::repeat_byte(0xee));
        assert!(matches!(sv.verify(&other), Err(VoucherError::WrongSigner { .. })));
        // v as 0/1, high s, wrong length.
        let mut raw = sv.signature.to_vec();
        raw[64] -= 27;
        let low_v = SignedVoucher { signature: raw.into(), ..sv.clone() };
        assert!(matches!(low_v.verify(&domain()), Err(VoucherError::SignatureV(_))));
        let sig = alloy::primitives::Signature::from_raw(&sv.signature).unwrap();
        let order = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let high = alloy::primitives::Signature::new(sig.r(), order - sig.s(), !sig.v());
        // The high-s twin still recovers the payer: only the canonical check refuses it.
        assert!(high.normalize_s().is_some());
        let high_s = SignedVoucher { signature: high.as_bytes().to_vec().into(), ..sv.clone() };
        assert_eq!(high_s.verify(&domain()), Err(VoucherError::SignatureHighS));
        let short = SignedVoucher { signature: Bytes::from_static(&[1, 2, 3]), ..sv };
        assert_eq!(short.verify(&domain()), Err(VoucherError::SignatureLength(3)));
    }
}
