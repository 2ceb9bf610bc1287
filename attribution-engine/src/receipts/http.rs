//! The receipts API: what a contributor needs to claim and what anyone needs to check a
//! receipt against the chain.
//!
//! ```text
//! GET /health                          store counts, attestor, contracts
//! GET /receipts/{inference id}         receipt (contract fields), contributors, signature,
//!                                      leaf, batch and Merkle proof (verifyReceipt's arguments)
//! GET /batches/{batch id | root}       a batch: roots, amount, tx, its receipts' ids
//! GET /contributors/{address}/receipts receipts that list the address
//! GET /contributors/{address}/rewards  its leaves in confirmed batches' reward trees, newest
//!                                      first, with proofs (Rewards.claim's arguments)
//! ```
//!
//! Errors are JSON `{"error": …}` with 400 (malformed id) or 404 (unknown).

use super::{
    ContributorShare, ReceiptStore, StoredReceipt,
    store::{BatchRecord, RewardEntry},
};
use crate::chain::Deployment;
use alloy_primitives::{Address, B256, Bytes, U256};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The store.
    pub store: ReceiptStore,
    /// The attestor (receipts are its signatures).
    pub attestor: Address,
    /// The contracts.
    pub deployment: Deployment,
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/receipts/{id}", get(receipt))
        .route("/rejections", get(rejections))
        .route("/batches/{id}", get(batch))
        .route("/contributors/{address}/receipts", get(contributor_receipts))
        .route("/contributors/{address}/rewards", get(contributor_rewards))
        .with_state(Arc::new(state))
}

/// A receipt as served.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptBody {
    /// The `Receipt` struct's fields, as `verifyReceipt` takes them.
    pub receipt: ReceiptFields,
    /// The listed contributors (preimage of `attributionHash`) and their amounts.
    pub contributors: Vec<ContributorShare>,
    /// The fee's contributor share.
    pub contributor_pool: U256,
    /// Per-Datanet weights, method and top examples.
    pub attribution: serde_json::Value,
    /// The leaf.
    pub leaf: B256,
    /// The attestor's EIP-191 signature of the leaf.
    pub signature: Bytes,
    /// Who signed.
    pub attestor: Address,
    /// The batch, once batched.
    pub batch: Option<BatchBody>,
    /// The Merkle proof in the batch's receipts tree.
    pub proof: Option<Vec<B256>>,
}

/// The contract's `Receipt`, JSON-friendly.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptFields {
    /// inferenceId.
    pub inference_id: B256,
    /// modelId.
    pub model_id: B256,
    /// adapterHash.
    pub adapter_hash: B256,
    /// outputHash.
    pub output_hash: B256,
    /// indexRoot.
    pub index_root: B256,
    /// methodVersion.
    pub method_version: u32,
    /// fee.
    pub fee: U256,
    /// attributionHash.
    pub attribution_hash: B256,
}

/// A batch as served.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchBody {
    /// The contract's batch id, once confirmed.
    pub batch_id: Option<u64>,
    /// signed, sent, confirmed or failed.
    pub status: super::BatchStatus,
    /// The model.
    pub model_id: B256,
    /// Receipts root.
    pub receipts_root: B256,
    /// Rewards root.
    pub rewards_root: B256,
    /// Pool amount handed out.
    pub amount: U256,
    /// The model's cumulative amount after it.
    pub cumulative_amount: U256,
    /// Receipts in it.
    pub receipt_count: u32,
    /// Where it is published.
    pub data_uri: String,
    /// The transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: Option<u64>,
}

impl From<&BatchRecord> for BatchBody {
    fn from(b: &BatchRecord) -> Self {
        Self {
            batch_id: b.chain_batch_id,
            status: b.status,
            model_id: b.model_id,
            receipts_root: b.receipts_root,
            rewards_root: b.rewards_root,
            amount: b.amount,
            cumulative_amount: b.cumulative,
            receipt_count: b.receipt_count,
            data_uri: b.data_uri.clone(),
            tx_hash: b.tx_hash,
            block_number: b.block_number,
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "receipts API failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn health(State(s): State<Arc<ApiState>>) -> Response {
    match s.store.counts().await {
        Ok(c) => Json(json!({
            "status": "ok",
            "attestor": s.attestor,
            "receiptsContract": s.deployment.receipts,
            "rewardsContract": s.deployment.rewards,
            "chainId": s.deployment.chain_id,
            "counts": c,
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}

async fn receipt_body(s: &ApiState, r: StoredReceipt) -> Result<ReceiptBody, Response> {
    let batch = match r.batch_seq {
        Some(seq) => s.store.batch(seq).await.map_err(internal)?.map(|b| BatchBody::from(&b)),
        None => None,
    };
    let x = &r.receipt;
    Ok(ReceiptBody {
        receipt: ReceiptFields {
            inference_id: x.inferenceId,
            model_id: x.modelId,
            adapter_hash: x.adapterHash,
            output_hash: x.outputHash,
            index_root: x.indexRoot,
            method_version: x.methodVersion,
            fee: x.fee,
            attribution_hash: x.attributionHash,
        },
        contributors: r.contributors,
        contributor_pool: r.contributor_pool,
        attribution: serde_json::to_value(&r.attribution).unwrap_or_default(),
        leaf: r.leaf,
        signature: r.signature,
        attestor: s.attestor,
        batch,
        proof: r.proof,
    })
}

async fn receipt(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<B256>() else {
        return error(StatusCode::BAD_REQUEST, format!("{id:?} is not a 32-byte inference id"));
    };
    match s.store.receipt(id).await {
        Ok(Some(r)) => match receipt_body(&s, r).await {
            Ok(body) => Json(body).into_response(),
            Err(resp) => resp,
        },
        Ok(None) => match s.store.rejection(id).await {
            Ok(Some(r)) => error(
                StatusCode::NOT_FOUND,
                format!("no receipt for inference {id}: it was rejected ({})", r.reason),
            ),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no receipt for inference {id}")),
            Err(e) => internal(e),
        },
        Err(e) => internal(e),
    }
}

/// `GET /rejections?after=<ledger seq>&limit=<n>`.
#[derive(Debug, serde::Deserialize)]
struct RejectionsQuery {
    /// Only rejections of ledger rows after this one (default: from the start).
    #[serde(default)]
    after: i64,
    /// At most this many (default 100, at most 1,000).
    limit: Option<i64>,
}

/// Paid inferences kept without a receipt, in ledger order, with their reasons: what an
/// operator looks at before `receipts retry`.
async fn rejections(State(s): State<Arc<ApiState>>, q: Query<RejectionsQuery>) -> Response {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, format!("limit {limit}: between 1 and 1000"));
    }
    match s.store.rejections(q.after, limit).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => internal(e),
    }
}

async fn batch(State(s): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let found = if let Ok(n) = id.parse::<u64>() {
        s.store.batch_by_chain_id(n).await
    } else if let Ok(root) = id.parse::<B256>() {
        s.store.batch_by_root(root).await
    } else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is neither a batch id nor a receipts root"),
        );
    };
    let b = match found {
        Ok(Some(b)) => b,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no batch {id}")),
        Err(e) => return internal(e),
    };
    let receipts = match s.store.batch_receipts(b.seq).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let rewards = match s.store.rewards(b.seq).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    Json(json!({
        "batch": BatchBody::from(&b),
        "receipts": receipts.iter().map(|r| r.receipt.inferenceId).collect::<Vec<_>>(),
        "rewards": rewards,
    }))
    .into_response()
}

fn bad_address(a: &str) -> Response {
    error(StatusCode::BAD_REQUEST, format!("{a:?} is not an address"))
}

async fn contributor_receipts(
    State(s): State<Arc<ApiState>>,
    Path(address): Path<String>,
) -> Response {
    let Ok(address) = address.parse::<Address>() else { return bad_address(&address) };
    let list = match s.store.contributor_receipts(address, 1_000).await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        match receipt_body(&s, r).await {
            Ok(b) => out.push(b),
            Err(resp) => return resp,
        }
    }
    Json(json!({ "contributor": address, "receipts": out })).into_response()
}

/// A reward claim's arguments.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    #[serde(flatten)]
    entry: RewardEntry,
    batch: BatchBody,
}

async fn contributor_rewards(
    State(s): State<Arc<ApiState>>,
    Path(address): Path<String>,
) -> Response {
    let Ok(address) = address.parse::<Address>() else { return bad_address(&address) };
    let all = match s.store.account_rewards(address).await {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    // Newest first. Each tree is cumulative: the newest batch that is final on chain is the
    // one to claim with.
    let claims: Vec<Claim> =
        all.into_iter().map(|(entry, b)| Claim { entry, batch: BatchBody::from(&b) }).collect();
    Json(json!({
        "contributor": address,
        "note": "Rewards.claim(batchId, cumulativeAmount, proof) once the batch is final",
        "claims": claims,
    }))
    .into_response()
}
