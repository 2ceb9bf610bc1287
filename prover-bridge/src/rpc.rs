//! Talking to the chains: JSON-RPC providers (alloy), typed contract calls through the
//! `ol-primitives` bindings, and the sequencer's operator methods.

use crate::error::{BridgeError, BridgeResult};
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use ol_sequencer::{
    l1::{Epoch, L1Origin},
    node::AdvanceOutcome,
};
use serde::Deserialize;

/// A read-only provider.
pub fn connect(url: &str) -> BridgeResult<DynProvider> {
    let url =
        url.parse().map_err(|e| BridgeError::Config(format!("invalid RPC URL {url}: {e}")))?;
    Ok(ProviderBuilder::new().connect_http(url).erased())
}

/// A provider that signs with `signer` (nonces, gas and fees filled in by alloy).
pub fn connect_with_signer(url: &str, signer: PrivateKeySigner) -> BridgeResult<DynProvider> {
    let url =
        url.parse().map_err(|e| BridgeError::Config(format!("invalid RPC URL {url}: {e}")))?;
    Ok(ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased())
}

/// Calls a view function.
pub async fn view<C: SolCall>(
    provider: &DynProvider,
    to: Address,
    call: C,
) -> BridgeResult<C::Return> {
    let request = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
    let out = provider
        .call(request)
        .await
        .map_err(BridgeError::rpc(format!("calling {} on {to}", C::SIGNATURE)))?;
    C::abi_decode_returns(&out)
        .map_err(|e| BridgeError::Decode(format!("{} on {to} returned {out}: {e}", C::SIGNATURE)))
}

/// Sends a transaction calling `call` on `to` and waits for its receipt; a revert is an error
/// (checked first with `eth_call`, so the error carries the revert data).
pub async fn send<C: SolCall>(
    provider: &DynProvider,
    to: Address,
    call: C,
    value: U256,
) -> BridgeResult<TransactionReceipt> {
    let input: Bytes = call.abi_encode().into();
    let request = TransactionRequest::default().with_to(to).with_input(input).with_value(value);
    if let Err(err) = provider.call(request.clone()).await {
        return Err(match err.as_error_resp().and_then(|p| p.as_revert_data()) {
            Some(data) => BridgeError::Reverted { call: C::SIGNATURE, to, data },
            None => BridgeError::Rpc { what: format!("simulating {}", C::SIGNATURE), source: err },
        });
    }
    let receipt = provider
        .send_transaction(request)
        .await
        .map_err(BridgeError::rpc(format!("sending {}", C::SIGNATURE)))?
        .get_receipt()
        .await
        .map_err(|e| BridgeError::Contract(format!("waiting for {}: {e}", C::SIGNATURE)))?;
    if !receipt.status() {
        return Err(BridgeError::Contract(format!(
            "{} on {to} reverted in {}",
            C::SIGNATURE,
            receipt.transaction_hash
        )));
    }
    Ok(receipt)
}

/// `ol_l1Origin`'s answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequencerOrigins {
    /// The head block's L1 origin.
    pub head: Option<L1Origin>,
    /// The newest L1 block handed over.
    pub latest: Option<L1Origin>,
}

/// The sequencer's operator methods (served with `--rpc.admin`).
#[derive(Debug, Clone)]
pub struct SequencerAdmin {
    provider: DynProvider,
}

impl SequencerAdmin {
    /// Talks to the sequencer through `provider`.
    pub fn new(provider: DynProvider) -> Self {
        Self { provider }
    }

    /// The L1 origins the sequencer knows.
    pub async fn l1_origin(&self) -> BridgeResult<SequencerOrigins> {
        self.provider.raw_request("ol_l1Origin".into(), ()).await.map_err(BridgeError::rpc(
            "asking the sequencer for its L1 origin (is it running with --rpc.admin?)",
        ))
    }

    /// Hands over one confirmed L1 block and its deposits.
    pub async fn advance(&self, epoch: &Epoch) -> BridgeResult<AdvanceOutcome> {
        let number = epoch.origin.number;
        self.provider
            .raw_request::<_, AdvanceOutcome>("ol_advanceL1Origin".into(), (epoch,))
            .await
            .map_err(|e| match e.as_error_resp() {
                Some(payload) => BridgeError::Sequencer {
                    what: format!("L1 block {number}"),
                    message: payload.message.to_string(),
                },
                None => {
                    BridgeError::Rpc { what: format!("handing over L1 block {number}"), source: e }
                }
            })
    }
}
