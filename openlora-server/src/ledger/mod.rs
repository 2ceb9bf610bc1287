//! # The usage ledger
//!
//! Every inference the server answers, paid or free, is one row of `inferences`: id, payer,
//! server, model, adapter, tokens in and out, price, fee, prompt hash, output hash, the voucher
//! that paid, time, and the prompt and output texts (which attribution scores). The attribution
//! engine reads it with [`Ledger::list_inferences`], paging by the commit-ordered `seq` column.
//! Next to it the payment layer keeps its durable state:
//!
//! ```text
//!  admission ──accept_voucher──▶ vouchers (+ channels.accepted, compare-and-set)   one transaction
//!  settlement ─record_inference─▶ inferences (+ channels.consumed, compare-and-set) one transaction
//!  redeemer ───insert_redemption─▶ redemptions (signed tx recorded before broadcast)
//!            ──set_redemption_status─▶ sent → confirmed | reverted | dropped
//! ```
//!
//! One code path serves both databases through sqlx's `Any` driver:
//!
//! - **SQLite** (the default): [`Ledger::open`] with a file path (created if missing) or a
//!   `sqlite:` URL. WAL journal, `synchronous = FULL`: a committed row survives `kill -9` and
//!   power loss.
//! - **PostgreSQL**: [`Ledger::open`] with a `postgres://` URL. Inserts into `inferences` take a
//!   table lock so that `seq` follows commit order (a reader paging by `seq` never skips a row
//!   committed late). Built without TLS: use a local socket or an SSL-terminating proxy, or add
//!   sqlx's `tls-rustls` feature.
//!
//! Migrations are embedded ([`sqlx::migrate!`]), one folder per database
//! (`src/ledger/migrations/{sqlite,postgres}`), and run by [`Ledger::open`].
//!
//! Values: addresses and hashes are lowercase `0x` hex, amounts are wei in decimal strings (a
//! `U256` does not fit a 64-bit column), times are Unix milliseconds.
//!
//! Only one process may write a server's channels at a time (the payment gate keeps them in
//! memory); the compare-and-set updates turn a second writer into [`LedgerError::Conflict`]
//! instead of lost updates.

mod records;

pub use records::{
    ChannelKey, ChannelRecord, InferenceRecord, RedemptionRecord, RedemptionStatus, VoucherRecord,
};

use alloy::primitives::{Address, B256, Bytes, U256};
use sqlx::{
    AnyPool, Row,
    any::{AnyPoolOptions, AnyRow},
    migrate::Migrator,
};
use std::{
    str::FromStr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Migrations for SQLite, embedded at build time.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("src/ledger/migrations/sqlite");
/// Migrations for PostgreSQL, embedded at build time.
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("src/ledger/migrations/postgres");

/// The most rows one [`Ledger::list_inferences`] call answers.
pub const MAX_PAGE: u32 = 10_000;

/// Result of ledger operations.
pub type LedgerResult<T> = Result<T, LedgerError>;

/// What can go wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The URL names no database this build supports.
    #[error("unsupported database URL {0:?}: give a file path, a sqlite: URL or a postgres:// URL")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot open the database at {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The embedded migrations could not be applied.
    #[error("ledger migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("ledger query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value does not parse (the database was edited by hand, or by another program).
    #[error("ledger holds an invalid {column} in {table}: {value:?}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// A compare-and-set on a channel found another value than this process last wrote: another
    /// process writes the same server's channels.
    #[error("ledger conflict on channel {key}: {what} changed under us (another writer?)")]
    Conflict {
        /// The channel.
        key: ChannelKey,
        /// Which value.
        what: &'static str,
    },
    /// A number does not fit the column.
    #[error("{what} = {value} does not fit the ledger's 64-bit column")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

/// Which database a [`Ledger`] is backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (file or memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// How many rows each table holds (for health checks, metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerCounts {
    /// Rows of `inferences`.
    pub inferences: i64,
    /// Rows of `channels`.
    pub channels: i64,
    /// Rows of `vouchers`.
    pub vouchers: i64,
    /// Rows of `redemptions`.
    pub redemptions: i64,
}

/// Which inferences [`Ledger::list_inferences`] answers: those with `seq > after_seq` (and the
/// filters), oldest first, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceQuery {
    /// Answer rows after this position (0 for the start). Pass the last row's `seq` to page on.
    pub after_seq: i64,
    /// Only rows recorded at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Only rows of this model.
    pub model_id: Option<B256>,
    /// At most this many rows (capped at [`MAX_PAGE`]).
    pub limit: u32,
}

impl Default for InferenceQuery {
    fn default() -> Self {
        Self { after_seq: 0, since_ms: None, model_id: None, limit: 1_000 }
    }
}

/// A channel's metered amount moving from `previous` to `new` (compare-and-set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumption {
    /// The channel.
    pub key: ChannelKey,
    /// The consumed amount this process last stored.
    pub previous: U256,
    /// The consumed amount after this inference.
    pub new: U256,
}

/// The usage ledger: a pool of connections to SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
}

impl Ledger {
    /// Opens (creating if needed) the ledger and applies the migrations.
    ///
    /// `url` is a file path (SQLite, created if missing), a `sqlite:` URL (`sqlite::memory:`,
    /// `sqlite:///abs/path.db?mode=rwc`, ...), or a `postgres://user:pass@host/db` URL.
    pub async fn open(url: &str) -> LedgerResult<Self> {
        let (pool, backend, url) = open_pool(url, &SQLITE_MIGRATOR, &POSTGRES_MIGRATOR).await?;
        tracing::info!(%url, ?backend, "usage ledger open");
        Ok(Self { pool, backend })
    }

    /// The database behind it.
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for queries in flight).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Row counts of every table.
    pub async fn counts(&self) -> LedgerResult<LedgerCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM inferences) AS i, (SELECT COUNT(*) FROM channels) AS c, \
             (SELECT COUNT(*) FROM vouchers) AS v, (SELECT COUNT(*) FROM redemptions) AS r",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(LedgerCounts {
            inferences: row.try_get("i")?,
            channels: row.try_get("c")?,
            vouchers: row.try_get("v")?,
            redemptions: row.try_get("r")?,
        })
    }

    // ---- channels and vouchers -------------------------------------------------------------

    /// Every channel of `server`.
    pub async fn channels(&self, server: Address) -> LedgerResult<Vec<ChannelRecord>> {
        let rows = sqlx::query(
            "SELECT payer, server, model_id, accepted, consumed, updated_at FROM channels \
             WHERE server = $1",
        )
        .bind(hex_address(server))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// One channel, if anything was accepted on it.
    pub async fn channel(&self, key: &ChannelKey) -> LedgerResult<Option<ChannelRecord>> {
        let row = sqlx::query(
            "SELECT payer, server, model_id, accepted, consumed, updated_at FROM channels \
             WHERE payer = $1 AND server = $2 AND model_id = $3",
        )
        .bind(hex_address(key.payer))
        .bind(hex_address(key.server))
        .bind(hex_b256(key.model_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// Records an accepted voucher and raises the channel's accepted amount from `previous`
    /// (`None`: the channel is new) to the voucher's, in one transaction. Answers the voucher's
    /// `seq`.
    pub async fn accept_voucher(
        &self,
        voucher: &VoucherRecord,
        previous: Option<U256>,
    ) -> LedgerResult<i64> {
        let key = &voucher.key;
        let now = voucher.accepted_at;
        let mut tx = self.pool.begin().await?;
        // The channel write comes first: it takes SQLite's write lock at once, so this
        // transaction never has to upgrade a read lock (which busy waits cannot resolve).
        let changed = match previous {
            None => sqlx::query(
                "INSERT INTO channels (payer, server, model_id, accepted, consumed, updated_at) \
                 VALUES ($1, $2, $3, $4, '0', $5) ON CONFLICT DO NOTHING",
            )
            .bind(hex_address(key.payer))
            .bind(hex_address(key.server))
            .bind(hex_b256(key.model_id))
            .bind(voucher.cumulative.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Some(previous) => sqlx::query(
                "UPDATE channels SET accepted = $4, updated_at = $5 \
                 WHERE payer = $1 AND server = $2 AND model_id = $3 AND accepted = $6",
            )
            .bind(hex_address(key.payer))
            .bind(hex_address(key.server))
            .bind(hex_b256(key.model_id))
            .bind(voucher.cumulative.to_string())
            .bind(now)
            .bind(previous.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if changed != 1 {
            return Err(LedgerError::Conflict { key: *key, what: "accepted amount" });
        }
        let seq: i64 = sqlx::query(
            "INSERT INTO vouchers (payer, server, model_id, cumulative, signature, inference_id, \
             accepted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
        )
        .bind(hex_address(key.payer))
        .bind(hex_address(key.server))
        .bind(hex_b256(key.model_id))
        .bind(voucher.cumulative.to_string())
        .bind(voucher.signature.to_string())
        .bind(hex_b256(voucher.inference_id))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("seq")?;
        tx.commit().await?;
        Ok(seq)
    }

    /// The accepted vouchers of a channel, in acceptance order.
    pub async fn vouchers(&self, key: &ChannelKey) -> LedgerResult<Vec<VoucherRecord>> {
        let rows = sqlx::query(
            "SELECT seq, payer, server, model_id, cumulative, signature, inference_id, \
             accepted_at FROM vouchers WHERE payer = $1 AND server = $2 AND model_id = $3 \
             ORDER BY seq",
        )
        .bind(hex_address(key.payer))
        .bind(hex_address(key.server))
        .bind(hex_b256(key.model_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(voucher_from_row).collect()
    }

    /// The accepted voucher of a channel with this cumulative amount.
    pub async fn voucher(
        &self,
        key: &ChannelKey,
        cumulative: U256,
    ) -> LedgerResult<Option<VoucherRecord>> {
        let row = sqlx::query(
            "SELECT seq, payer, server, model_id, cumulative, signature, inference_id, \
             accepted_at FROM vouchers WHERE payer = $1 AND server = $2 AND model_id = $3 \
             AND cumulative = $4",
        )
        .bind(hex_address(key.payer))
        .bind(hex_address(key.server))
        .bind(hex_b256(key.model_id))
        .bind(cumulative.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(voucher_from_row).transpose()
    }

    // ---- inferences ------------------------------------------------------------------------

    /// Records one inference and, for a paid one, moves its channel's consumed amount, in one
    /// transaction. Answers the row's `seq` (the `seq` field of `record` is ignored).
    pub async fn record_inference(
        &self,
        record: &InferenceRecord,
        consumption: Option<&Consumption>,
    ) -> LedgerResult<i64> {
        let tokens_in = to_i64("tokens_in", record.tokens_in)?;
        let tokens_out = to_i64("tokens_out", record.tokens_out)?;
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Serializes inserters (readers are not blocked) so that `seq` follows commit order.
            sqlx::query("LOCK TABLE inferences IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        if let Some(c) = consumption {
            let changed = sqlx::query(
                "UPDATE channels SET consumed = $4, updated_at = $5 \
                 WHERE payer = $1 AND server = $2 AND model_id = $3 AND consumed = $6",
            )
            .bind(hex_address(c.key.payer))
            .bind(hex_address(c.key.server))
            .bind(hex_b256(c.key.model_id))
            .bind(c.new.to_string())
            .bind(record.created_at)
            .bind(c.previous.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                return Err(LedgerError::Conflict { key: c.key, what: "consumed amount" });
            }
        }
        let seq: i64 = sqlx::query(
            "INSERT INTO inferences (id, payer, server, model_id, adapter, tokens_in, tokens_out, \
             price_per_1k, fee, prompt_hash, output_hash, voucher, created_at, prompt, completion) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             RETURNING seq",
        )
        .bind(hex_b256(record.id))
        .bind(record.payer.map(hex_address))
        .bind(record.server.map(hex_address))
        .bind(record.model_id.map(hex_b256))
        .bind(hex_b256(record.adapter))
        .bind(tokens_in)
        .bind(tokens_out)
        .bind(record.price_per_1k.to_string())
        .bind(record.fee.to_string())
        .bind(hex_b256(record.prompt_hash))
        .bind(hex_b256(record.output_hash))
        .bind(record.voucher_cumulative.map(|v| v.to_string()))
        .bind(record.created_at)
        .bind(record.prompt.clone())
        .bind(record.completion.clone())
        .fetch_one(&mut *tx)
        .await?
        .try_get("seq")?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Inferences matching `query`, oldest first (by `seq`). To read everything, start with
    /// `after_seq: 0` and pass the last row's `seq` until a page comes back empty.
    pub async fn list_inferences(
        &self,
        query: &InferenceQuery,
    ) -> LedgerResult<Vec<InferenceRecord>> {
        let limit = i64::from(query.limit.min(MAX_PAGE));
        let rows = sqlx::query(
            "SELECT seq, id, payer, server, model_id, adapter, tokens_in, tokens_out, \
             price_per_1k, fee, prompt_hash, output_hash, voucher, created_at, prompt, completion \
             FROM inferences \
             WHERE seq > $1 AND created_at >= $2 AND ($3 = '' OR model_id = $3) \
             ORDER BY seq LIMIT $4",
        )
        .bind(query.after_seq)
        .bind(query.since_ms.unwrap_or(i64::MIN))
        .bind(query.model_id.map(hex_b256).unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(inference_from_row).collect()
    }

    /// Inferences recorded after the one with id `id` (exclusive), oldest first.
    pub async fn list_inferences_after_id(
        &self,
        id: B256,
        limit: u32,
    ) -> LedgerResult<Option<Vec<InferenceRecord>>> {
        let Some(record) = self.inference(id).await? else { return Ok(None) };
        let query = InferenceQuery { after_seq: record.seq, limit, ..Default::default() };
        self.list_inferences(&query).await.map(Some)
    }

    /// One inference by id.
    pub async fn inference(&self, id: B256) -> LedgerResult<Option<InferenceRecord>> {
        let row = sqlx::query(
            "SELECT seq, id, payer, server, model_id, adapter, tokens_in, tokens_out, \
             price_per_1k, fee, prompt_hash, output_hash, voucher, created_at, prompt, completion \
             FROM inferences \
             WHERE id = $1",
        )
        .bind(hex_b256(id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(inference_from_row).transpose()
    }

    // ---- redemptions -----------------------------------------------------------------------

    /// Records a signed redemption transaction (status as given, normally
    /// [`RedemptionStatus::Sent`]) before it is broadcast. Answers its `seq`.
    pub async fn insert_redemption(&self, r: &RedemptionRecord) -> LedgerResult<i64> {
        let seq: i64 = sqlx::query(
            "INSERT INTO redemptions (payer, server, model_id, cumulative, tx_hash, nonce, raw_tx, \
             status, amount, detail, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
        )
        .bind(hex_address(r.key.payer))
        .bind(hex_address(r.key.server))
        .bind(hex_b256(r.key.model_id))
        .bind(r.cumulative.to_string())
        .bind(hex_b256(r.tx_hash))
        .bind(to_i64("nonce", r.nonce)?)
        .bind(r.raw_tx.to_string())
        .bind(r.status.as_str())
        .bind(r.amount.map(|a| a.to_string()))
        .bind(r.detail.clone())
        .bind(r.created_at)
        .bind(r.updated_at)
        .fetch_one(&self.pool)
        .await?
        .try_get("seq")?;
        Ok(seq)
    }

    /// Moves a redemption to `status`, with the amount paid (confirmed) or why (reverted,
    /// dropped).
    pub async fn set_redemption_status(
        &self,
        tx_hash: B256,
        status: RedemptionStatus,
        amount: Option<U256>,
        detail: Option<&str>,
    ) -> LedgerResult<()> {
        sqlx::query(
            "UPDATE redemptions SET status = $2, amount = $3, detail = $4, updated_at = $5 \
             WHERE tx_hash = $1",
        )
        .bind(hex_b256(tx_hash))
        .bind(status.as_str())
        .bind(amount.map(|a| a.to_string()))
        .bind(detail.map(str::to_owned))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The redemptions of `server` in `status`, oldest first.
    pub async fn redemptions_with_status(
        &self,
        server: Address,
        status: RedemptionStatus,
    ) -> LedgerResult<Vec<RedemptionRecord>> {
        let rows = sqlx::query(
            "SELECT seq, payer, server, model_id, cumulative, tx_hash, nonce, raw_tx, status, \
             amount, detail, created_at, updated_at FROM redemptions \
             WHERE server = $1 AND status = $2 ORDER BY seq",
        )
        .bind(hex_address(server))
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(redemption_from_row).collect()
    }

    /// Every redemption of a channel, oldest first.
    pub async fn redemptions(&self, key: &ChannelKey) -> LedgerResult<Vec<RedemptionRecord>> {
        let rows = sqlx::query(
            "SELECT seq, payer, server, model_id, cumulative, tx_hash, nonce, raw_tx, status, \
             amount, detail, created_at, updated_at FROM redemptions \
             WHERE payer = $1 AND server = $2 AND model_id = $3 ORDER BY seq",
        )
        .bind(hex_address(key.payer))
        .bind(hex_address(key.server))
        .bind(hex_b256(key.model_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(redemption_from_row).collect()
    }

    /// The highest confirmed redemption of each of `server`'s channels.
    pub async fn confirmed_redeemed(
        &self,
        server: Address,
    ) -> LedgerResult<Vec<(ChannelKey, U256)>> {
        let mut best: std::collections::BTreeMap<ChannelKey, U256> = Default::default();
        for r in self.redemptions_with_status(server, RedemptionStatus::Confirmed).await? {
            let e = best.entry(r.key).or_default();
            *e = (*e).max(r.cumulative);
        }
        Ok(best.into_iter().collect())
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Splits a ledger URL into the URL sqlx gets, its backend, and whether it is in memory.
/// Opens a pool over the database `url` names (a file path, a `sqlite:` URL or a
/// `postgres://` URL; see [`Ledger::open`]) and applies the migrations of its backend: the
/// one way this project's sqlx stores (this ledger, the attribution engine's receipt store)
/// connect. SQLite connections run in WAL mode with full fsync, foreign keys on and a 10 s
/// busy timeout. Returns the pool, the backend and the URL with its password removed.
pub async fn open_pool(
    url: &str,
    sqlite: &Migrator,
    postgres: &Migrator,
) -> LedgerResult<(AnyPool, Backend, String)> {
    let (url, backend, memory) = normalize_url(url)?;
    sqlx::any::install_default_drivers();
    let max = match (backend, memory) {
        // Every connection to `sqlite::memory:` is a database of its own.
        (Backend::Sqlite, true) => 1,
        (Backend::Sqlite, false) => 4,
        (Backend::Postgres, _) => 8,
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|source| LedgerError::Connect { url: redact(&url), source })?;
    match backend {
        Backend::Sqlite => sqlite.run(&pool).await?,
        Backend::Postgres => postgres.run(&pool).await?,
    }
    Ok((pool, backend, redact(&url)))
}

fn normalize_url(url: &str) -> LedgerResult<(String, Backend, bool)> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((url.to_owned(), Backend::Postgres, false));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let memory = rest.contains(":memory:") || rest.contains("mode=memory");
        return Ok((url.to_owned(), Backend::Sqlite, memory));
    }
    if url.is_empty() || url.contains("://") || url.contains('?') || url.contains('#') {
        return Err(LedgerError::UnsupportedUrl(url.to_owned()));
    }
    Ok((format!("sqlite://{url}?mode=rwc"), Backend::Sqlite, false))
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => {
                    format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn to_i64(what: &'static str, value: u64) -> LedgerResult<i64> {
    i64::try_from(value).map_err(|_| LedgerError::OutOfRange { what, value })
}

/// An address as stored: lowercase `0x` hex.
fn hex_address(a: Address) -> String {
    format!("{a:#x}")
}

/// A hash as stored: lowercase `0x` hex.
fn hex_b256(h: B256) -> String {
    format!("{h:#x}")
}

fn get_text(row: &AnyRow, column: &'static str) -> LedgerResult<String> {
    Ok(row.try_get::<String, _>(column)?)
}

fn parse<T: FromStr>(table: &'static str, column: &'static str, value: String) -> LedgerResult<T> {
    value.parse().map_err(|_| LedgerError::Corrupt { table, column, value })
}

fn parse_amount(table: &'static str, column: &'static str, value: String) -> LedgerResult<U256> {
    U256::from_str_radix(&value, 10).map_err(|_| LedgerError::Corrupt { table, column, value })
}

fn text<T: FromStr>(row: &AnyRow, table: &'static str, column: &'static str) -> LedgerResult<T> {
    parse(table, column, get_text(row, column)?)
}

fn opt_text<T: FromStr>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> LedgerResult<Option<T>> {
    row.try_get::<Option<String>, _>(column)?.map(|v| parse(table, column, v)).transpose()
}

fn amount(row: &AnyRow, table: &'static str, column: &'static str) -> LedgerResult<U256> {
    parse_amount(table, column, get_text(row, column)?)
}

fn opt_amount(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> LedgerResult<Option<U256>> {
    row.try_get::<Option<String>, _>(column)?.map(|v| parse_amount(table, column, v)).transpose()
}

fn unsigned(row: &AnyRow, table: &'static str, column: &'static str) -> LedgerResult<u64> {
    let v: i64 = row.try_get(column)?;
    u64::try_from(v).map_err(|_| LedgerError::Corrupt { table, column, value: v.to_string() })
}

fn key_from_row(row: &AnyRow, table: &'static str) -> LedgerResult<ChannelKey> {
    Ok(ChannelKey {
        payer: text(row, table, "payer")?,
        server: text(row, table, "server")?,
        model_id: text(row, table, "model_id")?,
    })
}

fn channel_from_row(row: &AnyRow) -> LedgerResult<ChannelRecord> {
    const T: &str = "channels";
    Ok(ChannelRecord {
        key: key_from_row(row, T)?,
        accepted: amount(row, T, "accepted")?,
        consumed: amount(row, T, "consumed")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn voucher_from_row(row: &AnyRow) -> LedgerResult<VoucherRecord> {
    const T: &str = "vouchers";
    Ok(VoucherRecord {
        seq: row.try_get("seq")?,
        key: key_from_row(row, T)?,
        cumulative: amount(row, T, "cumulative")?,
        signature: text::<Bytes>(row, T, "signature")?,
        inference_id: text(row, T, "inference_id")?,
        accepted_at: row.try_get("accepted_at")?,
    })
}

fn inference_from_row(row: &AnyRow) -> LedgerResult<InferenceRecord> {
    const T: &str = "inferences";
    Ok(InferenceRecord {
        seq: row.try_get("seq")?,
        id: text(row, T, "id")?,
        payer: opt_text(row, T, "payer")?,
        server: opt_text(row, T, "server")?,
        model_id: opt_text(row, T, "model_id")?,
        adapter: text(row, T, "adapter")?,
        tokens_in: unsigned(row, T, "tokens_in")?,
        tokens_out: unsigned(row, T, "tokens_out")?,
        price_per_1k: amount(row, T, "price_per_1k")?,
        fee: amount(row, T, "fee")?,
        prompt_hash: text(row, T, "prompt_hash")?,
        output_hash: text(row, T, "output_hash")?,
        prompt: row.try_get("prompt")?,
        completion: row.try_get("completion")?,
        voucher_cumulative: opt_amount(row, T, "voucher")?,
        created_at: row.try_get("created_at")?,
    })
}

fn redemption_from_row(row: &AnyRow) -> LedgerResult<RedemptionRecord> {
    const T: &str = "redemptions";
    let status: String = row.try_get("status")?;
    Ok(RedemptionRecord {
        seq: row.try_get("seq")?,
        key: key_from_row(row, T)?,
        cumulative: amount(row, T, "cumulative")?,
        tx_hash: text(row, T, "tx_hash")?,
        nonce: unsigned(row, T, "nonce")?,
        raw_tx: text::<Bytes>(row, T, "raw_tx")?,
        status: RedemptionStatus::parse(&status).ok_or(LedgerError::Corrupt {
            table: T,
            column: "status",
            value: status.clone(),
        })?,
        amount: opt_amount(row, T, "amount")?,
        detail: row.try_get("detail")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        let (u, b, m) = normalize_url("/tmp/ledger.db").unwrap();
        assert_eq!(
            (u.as_str(), b, m),
            ("sqlite:///tmp/ledger.db?mode=rwc", Backend::Sqlite, false)
        );
        let (u, b, m) = normalize_url("ledger.db").unwrap();
        assert_eq!((u.as_str(), b, m), ("sqlite://ledger.db?mode=rwc", Backend::Sqlite, false));
        assert!(normalize_url("sqlite::memory:").unwrap().2);
        assert_eq!(normalize_url("postgres://u:p@h/db").unwrap().1, Backend::Postgres);
        assert!(matches!(normalize_url("mysql://h/db"), Err(LedgerError::UnsupportedUrl(_))));
        assert!(matches!(normalize_url(""), Err(LedgerError::UnsupportedUrl(_))));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://ol:secret@db:5432/x"), "postgres://ol:***@db:5432/x");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact("sqlite:///a.db"), "sqlite:///a.db");
    }

    #[test]
    fn hex_is_lowercase_and_prefixed() {
        let a: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
        assert_eq!(hex_address(a), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
        assert_eq!(hex_b256(B256::repeat_byte(0xab)).len(), 66);
    }
}
