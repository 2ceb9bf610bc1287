//! The receipt store: the ledger cursor, every receipt with its signature and proof, every
//! batch transaction (recorded before it is broadcast), and each batch's reward tree.
//!
//! One code path serves SQLite (the default: a file path or a `sqlite:` URL) and PostgreSQL (a
//! `postgres://` URL) through sqlx's `Any` driver, with embedded migrations, as the OpenLoRA
//! usage ledger does. SQLite runs with WAL and `synchronous = FULL`: a committed row survives
//! `kill -9`.

use super::{ContributorShare, Receipt, ReceiptError, ReceiptResult};
use crate::attribution::Attribution;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{AnyPool, Row, any::AnyRow, migrate::Migrator};
use std::str::FromStr;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("src/receipts/migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("src/receipts/migrations/postgres");

/// Where a batch transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Signed and recorded; maybe not broadcast yet.
    Signed,
    /// Broadcast; no receipt yet.
    Sent,
    /// Mined and successful.
    Confirmed,
    /// Reverted, or dropped with its nonce used: its receipts went back to pending.
    Failed,
}

impl BatchStatus {
    /// The database spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Sent => "sent",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "signed" => Self::Signed,
            "sent" => Self::Sent,
            "confirmed" => Self::Confirmed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A receipt as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    /// The inference's position in the usage ledger.
    pub ledger_seq: i64,
    /// The on-chain receipt.
    pub receipt: Receipt,
    /// The fee's contributor share (what the listed contributors split by weight).
    pub contributor_pool: U256,
    /// The listed contributors (the preimage of `attributionHash`) with their amounts.
    pub contributors: Vec<ContributorShare>,
    /// The whole attribution (per-Datanet weights, top examples, method).
    pub attribution: Attribution,
    /// The Merkle leaf.
    pub leaf: B256,
    /// The attestor's EIP-191 signature of the leaf.
    pub signature: Bytes,
    /// The batch that carries it (store `seq`), once batched.
    pub batch_seq: Option<i64>,
    /// Its proof in that batch's receipts tree.
    pub proof: Option<Vec<B256>>,
    /// When it was made, Unix milliseconds.
    pub created_at: i64,
}

/// A paid inference kept without a receipt: what its ledger row holds cannot be attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The inference.
    pub inference_id: B256,
    /// Its usage-ledger row.
    pub ledger_seq: i64,
    /// The model the row names (zero for none).
    pub model_id: B256,
    /// The adapter it was served with.
    pub adapter: B256,
    /// The fee it paid (not attributed).
    pub fee: U256,
    /// Why (the error, as the worker logged it).
    pub reason: String,
    /// When, Unix milliseconds.
    pub created_at: i64,
}

/// A batch transaction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// Store position (0 before it is stored).
    pub seq: i64,
    /// The model.
    pub model_id: B256,
    /// Root of its receipts.
    pub receipts_root: B256,
    /// Root of the model's cumulative rewards after it.
    pub rewards_root: B256,
    /// Pool amount it hands out.
    pub amount: U256,
    /// Sum of the model's batch amounts including this one.
    pub cumulative: U256,
    /// Receipts in it.
    pub receipt_count: u32,
    /// Where it is published.
    pub data_uri: String,
    /// The transaction.
    pub tx_hash: B256,
    /// The attestor's nonce it uses.
    pub nonce: u64,
    /// The signed transaction (EIP-2718), rebroadcast unchanged if the node loses it.
    pub raw_tx: Bytes,
    /// Where it stands.
    pub status: BatchStatus,
    /// The contract's batch id, once confirmed.
    pub chain_batch_id: Option<u64>,
    /// The block it was mined in.
    pub block_number: Option<u64>,
    /// Why it failed.
    pub detail: Option<String>,
    /// Created, Unix milliseconds.
    pub created_at: i64,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

/// One account's entry in a batch's reward tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewardEntry {
    /// The batch (store seq).
    #[serde(skip)]
    pub batch_seq: i64,
    /// The model.
    pub model_id: B256,
    /// The account.
    pub account: Address,
    /// Its cumulative amount after the batch.
    pub cumulative: U256,
    /// Its proof in the reward tree.
    pub proof: Vec<B256>,
}

/// A new batch with everything that goes with it, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewBatch {
    /// The batch row (status [`BatchStatus::Signed`]).
    pub batch: BatchRecord,
    /// `(inference id, proof)` of each receipt, in leaf order.
    pub receipts: Vec<(B256, Vec<B256>)>,
    /// The reward tree's entries.
    pub rewards: Vec<RewardEntry>,
}

/// Row counts (for tests and health checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StoreCounts {
    /// Receipts.
    pub receipts: i64,
    /// Receipts not in a live batch.
    pub pending: i64,
    /// Batches (any status).
    pub batches: i64,
    /// The ledger cursor.
    pub cursor: i64,
    /// Paid inferences rejected (no receipt; see [`Rejection`]).
    pub rejected: i64,
}

/// The store: a pool of connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReceiptStore {
    pool: AnyPool,
    postgres: bool,
}

/// The columns of `receipts`, in the order the queries use them (a macro, so that queries stay
/// string literals).
macro_rules! receipt_columns {
    () => {
        "inference_id, ledger_seq, model_id, adapter, output_hash, index_root, method_version, \
         fee, attribution_hash, contributor_pool, contributors, attribution, leaf, signature, \
         batch_seq, proof, created_at"
    };
}

/// The same, qualified with the table alias `r`.
macro_rules! receipt_columns_r {
    () => {
        "r.inference_id, r.ledger_seq, r.model_id, r.adapter, r.output_hash, r.index_root, \
         r.method_version, r.fee, r.attribution_hash, r.contributor_pool, r.contributors, \
         r.attribution, r.leaf, r.signature, r.batch_seq, r.proof, r.created_at"
    };
}

/// The columns of `rejections` [`rejection_from_row`] reads.
macro_rules! rejection_columns {
    () => {
        "inference_id, ledger_seq, model_id, adapter, fee, reason, created_at"
    };
}

/// The columns of `batches`.
macro_rules! batch_columns {
    () => {
        "seq, model_id, receipts_root, rewards_root, amount, cumulative, receipt_count, \
         data_uri, tx_hash, nonce, raw_tx, status, chain_batch_id, block_number, detail, \
         created_at, updated_at"
    };
}

impl ReceiptStore {
    /// Opens (creating if needed) the store and applies the migrations. `url` is a file path,
    /// a `sqlite:` URL or a `postgres://` URL.
    pub async fn open(url: &str) -> ReceiptResult<Self> {
        use openlora_server::ledger::{Backend, LedgerError, open_pool};
        let (pool, backend, _) =
            open_pool(url, &SQLITE_MIGRATOR, &POSTGRES_MIGRATOR).await.map_err(|e| match e {
                LedgerError::UnsupportedUrl(url) => ReceiptError::UnsupportedUrl(url),
                other => ReceiptError::Ledger(other),
            })?;
        let postgres = backend == Backend::Postgres;
        Ok(Self { pool, postgres })
    }

    /// Whether it is PostgreSQL.
    pub const fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Row counts.
    pub async fn counts(&self) -> ReceiptResult<StoreCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM receipts) AS r, \
             (SELECT COUNT(*) FROM receipts WHERE batch_seq IS NULL) AS p, \
             (SELECT COUNT(*) FROM batches) AS b, \
             (SELECT COUNT(*) FROM rejections) AS x",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(StoreCounts {
            receipts: row.try_get("r")?,
            pending: row.try_get("p")?,
            batches: row.try_get("b")?,
            cursor: self.cursor().await?,
            rejected: row.try_get("x")?,
        })
    }

    /// The `seq` of the last ledger row handled (0: none).
    pub async fn cursor(&self) -> ReceiptResult<i64> {
        let row = sqlx::query("SELECT ledger_seq FROM cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("ledger_seq")?,
            None => 0,
        })
    }

    /// Moves the cursor past a ledger row that needs no receipt (a free inference).
    pub async fn advance_cursor(&self, ledger_seq: i64) -> ReceiptResult<()> {
        let mut tx = self.pool.begin().await?;
        set_cursor(&mut tx, ledger_seq).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a receipt and moves the cursor to its ledger row, in one transaction.
    pub async fn insert_receipt(&self, r: &StoredReceipt) -> ReceiptResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_receipt_rows(&mut tx, r).await?;
        set_cursor(&mut tx, r.ledger_seq).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the receipt of an inference that had been rejected and removes its rejection, in
    /// one transaction; the cursor, already past its row, stays where it is.
    pub async fn replace_rejection(&self, r: &StoredReceipt) -> ReceiptResult<()> {
        let mut tx = self.pool.begin().await?;
        let id = r.receipt.inferenceId;
        let removed = sqlx::query("DELETE FROM rejections WHERE inference_id = $1")
            .bind(hex(id))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed != 1 {
            return Err(ReceiptError::NotRejected(id));
        }
        insert_receipt_rows(&mut tx, r).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records why a retried rejection is still rejected.
    pub async fn update_rejection_reason(
        &self,
        inference: B256,
        reason: &str,
    ) -> ReceiptResult<()> {
        let changed = sqlx::query("UPDATE rejections SET reason = $1 WHERE inference_id = $2")
            .bind(reason)
            .bind(hex(inference))
            .execute(&self.pool)
            .await?
            .rows_affected();
        if changed != 1 {
            return Err(ReceiptError::NotRejected(inference));
        }
        Ok(())
    }

    /// Stores a rejection and moves the cursor to its ledger row, in one transaction.
    pub async fn insert_rejection(&self, r: &Rejection) -> ReceiptResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rejections (inference_id, ledger_seq, model_id, adapter, fee, reason, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hex(r.inference_id))
        .bind(r.ledger_seq)
        .bind(hex(r.model_id))
        .bind(hex(r.adapter))
        .bind(r.fee.to_string())
        .bind(&r.reason)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await?;
        set_cursor(&mut tx, r.ledger_seq).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The rejection of an inference, if it was rejected.
    pub async fn rejection(&self, inference: B256) -> ReceiptResult<Option<Rejection>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            rejection_columns!(),
            " FROM rejections WHERE inference_id = $1"
        ))
        .bind(hex(inference))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| rejection_from_row(&row)).transpose()
    }

    /// Rejections in ledger order: at most `limit` of those after ledger row `after_seq`.
    pub async fn rejections(&self, after_seq: i64, limit: i64) -> ReceiptResult<Vec<Rejection>> {
        sqlx::query(concat!(
            "SELECT ",
            rejection_columns!(),
            " FROM rejections WHERE ledger_seq > $1 ORDER BY ledger_seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rejection_from_row)
        .collect()
    }

    /// One receipt by inference id.
    pub async fn receipt(&self, inference: B256) -> ReceiptResult<Option<StoredReceipt>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            receipt_columns!(),
            " FROM receipts WHERE inference_id = $1"
        ))
        .bind(hex(inference))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(receipt_from_row).transpose()
    }

    /// Receipts of `model` not in a live batch, oldest first.
    pub async fn pending_receipts(&self, model: B256) -> ReceiptResult<Vec<StoredReceipt>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            receipt_columns!(),
            " FROM receipts WHERE model_id = $1 AND batch_seq IS NULL \
             ORDER BY ledger_seq"
        ))
        .bind(hex(model))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    /// Models with receipts not in a live batch.
    pub async fn models_with_pending(&self) -> ReceiptResult<Vec<B256>> {
        let rows = sqlx::query(
            "SELECT DISTINCT model_id FROM receipts WHERE batch_seq IS NULL ORDER BY model_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| text(r, "receipts", "model_id")).collect()
    }

    /// Receipts of a batch, in leaf order.
    pub async fn batch_receipts(&self, batch_seq: i64) -> ReceiptResult<Vec<StoredReceipt>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            receipt_columns!(),
            " FROM receipts WHERE batch_seq = $1 ORDER BY ledger_seq"
        ))
        .bind(batch_seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    /// Receipts that list `contributor`, oldest first (at most `limit`).
    pub async fn contributor_receipts(
        &self,
        contributor: Address,
        limit: i64,
    ) -> ReceiptResult<Vec<StoredReceipt>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            receipt_columns_r!(),
            " FROM receipts r JOIN receipt_contributors c \
             ON c.inference_id = r.inference_id WHERE c.contributor = $1 \
             ORDER BY r.ledger_seq LIMIT $2"
        ))
        .bind(hex_address(contributor))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    /// Records a signed batch, assigns its receipts their batch and proofs, and stores its reward
    /// tree, in one transaction. Answers the batch's `seq`.
    pub async fn insert_batch(&self, new: &NewBatch) -> ReceiptResult<i64> {
        let b = &new.batch;
        let mut tx = self.pool.begin().await?;
        let seq: i64 = sqlx::query(
            "INSERT INTO batches (model_id, receipts_root, rewards_root, amount, cumulative, \
             receipt_count, data_uri, tx_hash, nonce, raw_tx, status, chain_batch_id, \
             block_number, detail, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING seq",
        )
        .bind(hex(b.model_id))
        .bind(hex(b.receipts_root))
        .bind(hex(b.rewards_root))
        .bind(b.amount.to_string())
        .bind(b.cumulative.to_string())
        .bind(i64::from(b.receipt_count))
        .bind(b.data_uri.clone())
        .bind(hex(b.tx_hash))
        .bind(to_i64(b.nonce))
        .bind(b.raw_tx.to_string())
        .bind(b.status.as_str())
        .bind(b.chain_batch_id.map(to_i64))
        .bind(b.block_number.map(to_i64))
        .bind(b.detail.clone())
        .bind(b.created_at)
        .bind(b.updated_at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("seq")?;
        for (id, proof) in &new.receipts {
            let changed = sqlx::query(
                "UPDATE receipts SET batch_seq = $2, proof = $3 \
                 WHERE inference_id = $1 AND batch_seq IS NULL",
            )
            .bind(hex(*id))
            .bind(seq)
            .bind(to_json(proof))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                return Err(ReceiptError::Corrupt {
                    table: "receipts",
                    column: "batch_seq",
                    value: format!("{id} is not pending"),
                });
            }
        }
        for e in &new.rewards {
            sqlx::query(
                "INSERT INTO rewards (batch_seq, model_id, account, cumulative, proof) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(seq)
            .bind(hex(e.model_id))
            .bind(hex_address(e.account))
            .bind(e.cumulative.to_string())
            .bind(to_json(&e.proof))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(seq)
    }

    /// Moves a batch to `Sent` (after a broadcast) unless it has moved on already.
    pub async fn mark_sent(&self, seq: i64) -> ReceiptResult<()> {
        sqlx::query("UPDATE batches SET status = 'sent', updated_at = $2 WHERE seq = $1 AND status = 'signed'")
            .bind(seq)
            .bind(openlora_server::ledger::now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a batch confirmed with its contract batch id and block.
    pub async fn mark_confirmed(
        &self,
        seq: i64,
        chain_batch_id: u64,
        block: u64,
    ) -> ReceiptResult<()> {
        sqlx::query(
            "UPDATE batches SET status = 'confirmed', chain_batch_id = $2, block_number = $3, \
             updated_at = $4 WHERE seq = $1",
        )
        .bind(seq)
        .bind(to_i64(chain_batch_id))
        .bind(to_i64(block))
        .bind(openlora_server::ledger::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a batch failed and gives its receipts back (they go into a later batch), in one
    /// transaction.
    pub async fn mark_failed(&self, seq: i64, detail: &str) -> ReceiptResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE batches SET status = 'failed', detail = $2, updated_at = $3 WHERE seq = $1",
        )
        .bind(seq)
        .bind(detail.to_owned())
        .bind(openlora_server::ledger::now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE receipts SET batch_seq = NULL, proof = NULL WHERE batch_seq = $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM rewards WHERE batch_seq = $1").bind(seq).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Batches in `Signed` or `Sent`, oldest first.
    pub async fn unconfirmed_batches(&self) -> ReceiptResult<Vec<BatchRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            batch_columns!(),
            " FROM batches WHERE status IN ('signed', 'sent') ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// Every batch, oldest first.
    pub async fn batches(&self) -> ReceiptResult<Vec<BatchRecord>> {
        let rows = sqlx::query(concat!("SELECT ", batch_columns!(), " FROM batches ORDER BY seq"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// A batch by store seq.
    pub async fn batch(&self, seq: i64) -> ReceiptResult<Option<BatchRecord>> {
        let row = sqlx::query(concat!("SELECT ", batch_columns!(), " FROM batches WHERE seq = $1"))
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// A confirmed batch by its contract batch id.
    pub async fn batch_by_chain_id(&self, id: u64) -> ReceiptResult<Option<BatchRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            batch_columns!(),
            " FROM batches WHERE chain_batch_id = $1 AND status = 'confirmed'"
        ))
        .bind(to_i64(id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// The latest live (not failed) batch by receipts root.
    pub async fn batch_by_root(&self, root: B256) -> ReceiptResult<Option<BatchRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            batch_columns!(),
            " FROM batches WHERE receipts_root = $1 AND status <> 'failed' \
             ORDER BY seq DESC LIMIT 1"
        ))
        .bind(hex(root))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// The model's latest live batch (its reward tree is the model's cumulative state).
    pub async fn latest_batch(&self, model: B256) -> ReceiptResult<Option<BatchRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            batch_columns!(),
            " FROM batches WHERE model_id = $1 AND status <> 'failed' \
             ORDER BY seq DESC LIMIT 1"
        ))
        .bind(hex(model))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// The reward tree of a batch.
    pub async fn rewards(&self, batch_seq: i64) -> ReceiptResult<Vec<RewardEntry>> {
        let rows = sqlx::query(
            "SELECT batch_seq, model_id, account, cumulative, proof FROM rewards \
             WHERE batch_seq = $1 ORDER BY account",
        )
        .bind(batch_seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reward_from_row).collect()
    }

    /// An account's entries in the reward trees of confirmed batches, newest first.
    pub async fn account_rewards(
        &self,
        account: Address,
    ) -> ReceiptResult<Vec<(RewardEntry, BatchRecord)>> {
        let rows = sqlx::query(
            "SELECT w.batch_seq FROM rewards w JOIN batches b ON b.seq = w.batch_seq \
             WHERE w.account = $1 AND b.status = 'confirmed' ORDER BY w.batch_seq DESC",
        )
        .bind(hex_address(account))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get("batch_seq")?;
            let Some(batch) = self.batch(seq).await? else { continue };
            if let Some(e) = self.rewards(seq).await?.into_iter().find(|e| e.account == account) {
                out.push((e, batch));
            }
        }
        Ok(out)
    }
}

fn rejection_from_row(row: &sqlx::any::AnyRow) -> ReceiptResult<Rejection> {
    const T: &str = "rejections";
    Ok(Rejection {
        inference_id: text(row, T, "inference_id")?,
        ledger_seq: row.try_get("ledger_seq")?,
        model_id: text(row, T, "model_id")?,
        adapter: text(row, T, "adapter")?,
        fee: amount(row, T, "fee")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The rows of one receipt (the receipt and its contributors), inside `tx`.
async fn insert_receipt_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &StoredReceipt,
) -> ReceiptResult<()> {
    let x = &r.receipt;
    sqlx::query(concat!(
        "INSERT INTO receipts (",
        receipt_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(hex(x.inferenceId))
    .bind(r.ledger_seq)
    .bind(hex(x.modelId))
    .bind(hex(x.adapterHash))
    .bind(hex(x.outputHash))
    .bind(hex(x.indexRoot))
    .bind(i64::from(x.methodVersion))
    .bind(x.fee.to_string())
    .bind(hex(x.attributionHash))
    .bind(r.contributor_pool.to_string())
    .bind(to_json(&r.contributors))
    .bind(to_json(&r.attribution))
    .bind(hex(r.leaf))
    .bind(r.signature.to_string())
    .bind(r.batch_seq)
    .bind(r.proof.as_ref().map(to_json))
    .bind(r.created_at)
    .execute(&mut **tx)
    .await?;
    for c in &r.contributors {
        sqlx::query(
            "INSERT INTO receipt_contributors (inference_id, contributor, bps, amount) \
                 VALUES ($1, $2, $3, $4)",
        )
        .bind(hex(x.inferenceId))
        .bind(hex_address(c.address))
        .bind(i64::from(c.bps))
        .bind(c.amount.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn set_cursor(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ledger_seq: i64,
) -> ReceiptResult<()> {
    let now = openlora_server::ledger::now_ms();
    // The cursor only moves forward: a stale writer cannot move it back.
    let changed = sqlx::query(
        "UPDATE cursor SET ledger_seq = $1, updated_at = $2 WHERE id = 1 AND ledger_seq < $1",
    )
    .bind(ledger_seq)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        let exists = sqlx::query("SELECT ledger_seq FROM cursor WHERE id = 1")
            .fetch_optional(&mut **tx)
            .await?;
        match exists {
            None => {
                sqlx::query("INSERT INTO cursor (id, ledger_seq, updated_at) VALUES (1, $1, $2)")
                    .bind(ledger_seq)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
            }
            Some(row) => {
                let at: i64 = row.try_get("ledger_seq")?;
                return Err(ReceiptError::Corrupt {
                    table: "cursor",
                    column: "ledger_seq",
                    value: format!("already at {at}, asked to move to {ledger_seq}"),
                });
            }
        }
    }
    Ok(())
}

fn hex(h: B256) -> String {
    format!("{h:#x}")
}

fn hex_address(a: Address) -> String {
    format!("{a:#x}")
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn text<T: FromStr>(row: &AnyRow, table: &'static str, column: &'static str) -> ReceiptResult<T> {
    let value: String = row.try_get(column)?;
    value.parse().map_err(|_| ReceiptError::Corrupt { table, column, value })
}

fn amount(row: &AnyRow, table: &'static str, column: &'static str) -> ReceiptResult<U256> {
    let value: String = row.try_get(column)?;
    U256::from_str_radix(&value, 10).map_err(|_| ReceiptError::Corrupt { table, column, value })
}

fn json<T: DeserializeOwned>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> ReceiptResult<T> {
    let value: String = row.try_get(column)?;
    serde_json::from_str(&value).map_err(|_| ReceiptError::Corrupt { table, column, value })
}

fn unsigned(row: &AnyRow, table: &'static str, column: &'static str) -> ReceiptResult<u64> {
    let v: i64 = row.try_get(column)?;
    u64::try_from(v).map_err(|_| ReceiptError::Corrupt { table, column, value: v.to_string() })
}

fn receipt_from_row(row: &AnyRow) -> ReceiptResult<StoredReceipt> {
    const T: &str = "receipts";
    let proof: Option<String> = row.try_get("proof")?;
    let proof = proof
        .map(|p| {
            serde_json::from_str(&p).map_err(|_| ReceiptError::Corrupt {
                table: T,
                column: "proof",
                value: p,
            })
        })
        .transpose()?;
    Ok(StoredReceipt {
        ledger_seq: row.try_get("ledger_seq")?,
        receipt: Receipt {
            inferenceId: text(row, T, "inference_id")?,
            modelId: text(row, T, "model_id")?,
            adapterHash: text(row, T, "adapter")?,
            outputHash: text(row, T, "output_hash")?,
            indexRoot: text(row, T, "index_root")?,
            methodVersion: u32::try_from(unsigned(row, T, "method_version")?).unwrap_or(u32::MAX),
            fee: amount(row, T, "fee")?,
            attributionHash: text(row, T, "attribution_hash")?,
        },
        contributor_pool: amount(row, T, "contributor_pool")?,
        contributors: json(row, T, "contributors")?,
        attribution: json(row, T, "attribution")?,
        leaf: text(row, T, "leaf")?,
        signature: text(row, T, "signature")?,
        batch_seq: row.try_get("batch_seq")?,
        proof,
        created_at: row.try_get("created_at")?,
    })
}

fn batch_from_row(row: &AnyRow) -> ReceiptResult<BatchRecord> {
    const T: &str = "batches";
    let status: String = row.try_get("status")?;
    let opt_u64 = |column: &'static str| -> ReceiptResult<Option<u64>> {
        let v: Option<i64> = row.try_get(column)?;
        v.map(|v| {
            u64::try_from(v).map_err(|_| ReceiptError::Corrupt {
                table: T,
                column,
                value: v.to_string(),
            })
        })
        .transpose()
    };
    Ok(BatchRecord {
        seq: row.try_get("seq")?,
        model_id: text(row, T, "model_id")?,
        receipts_root: text(row, T, "receipts_root")?,
        rewards_root: text(row, T, "rewards_root")?,
        amount: amount(row, T, "amount")?,
        cumulative: amount(row, T, "cumulative")?,
        receipt_count: u32::try_from(unsigned(row, T, "receipt_count")?).unwrap_or(u32::MAX),
        data_uri: row.try_get("data_uri")?,
        tx_hash: text(row, T, "tx_hash")?,
        nonce: unsigned(row, T, "nonce")?,
        raw_tx: text(row, T, "raw_tx")?,
        status: BatchStatus::parse(&status).ok_or(ReceiptError::Corrupt {
            table: T,
            column: "status",
            value: status.clone(),
        })?,
        chain_batch_id: opt_u64("chain_batch_id")?,
        block_number: opt_u64("block_number")?,
        detail: row.try_get("detail")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn reward_from_row(row: &AnyRow) -> ReceiptResult<RewardEntry> {
    const T: &str = "rewards";
    Ok(RewardEntry {
        batch_seq: row.try_get("batch_seq")?,
        model_id: text(row, T, "model_id")?,
        account: text(row, T, "account")?,
        cumulative: amount(row, T, "cumulative")?,
        proof: json(row, T, "proof")?,
    })
}
