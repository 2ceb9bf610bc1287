-- The attribution engine's receipt store (SQLite). Same tables and columns as
-- ../postgres/0001_init.sql; only the auto-increment syntax differs. Addresses and hashes are
-- 0x-prefixed lowercase hex, amounts are wei as decimal strings, times are Unix milliseconds.

-- How far the usage ledger has been read: the `seq` of the last inference handled (one row).
CREATE TABLE cursor (
    id         INTEGER PRIMARY KEY,
    ledger_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One signed receipt per paid inference. `batch_seq` and `proof` are set when a batch takes it.
CREATE TABLE receipts (
    inference_id     TEXT   PRIMARY KEY,
    ledger_seq       BIGINT NOT NULL UNIQUE,
    model_id         TEXT   NOT NULL,
    adapter          TEXT   NOT NULL,
    output_hash      TEXT   NOT NULL,
    index_root       TEXT   NOT NULL,
    method_version   BIGINT NOT NULL,
    fee              TEXT   NOT NULL,
    attribution_hash TEXT   NOT NULL,
    contributor_pool TEXT   NOT NULL,
    contributors     TEXT   NOT NULL,
    attribution      TEXT   NOT NULL,
    leaf             TEXT   NOT NULL,
    signature        TEXT   NOT NULL,
    batch_seq        BIGINT,
    proof            TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX receipts_pending ON receipts (model_id, batch_seq, ledger_seq);

-- Who a receipt pays (for lookups by contributor).
CREATE TABLE receipt_contributors (
    inference_id TEXT   NOT NULL,
    contributor  TEXT   NOT NULL,
    bps          BIGINT NOT NULL,
    amount       TEXT   NOT NULL,
    PRIMARY KEY (inference_id, contributor)
);
CREATE INDEX receipt_contributors_by ON receipt_contributors (contributor);

-- Every batch transaction the attestor signed, recorded before it is broadcast.
-- status: signed → sent → confirmed, or failed (reverted or dropped; its receipts go back).
CREATE TABLE batches (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id       TEXT   NOT NULL,
    receipts_root  TEXT   NOT NULL,
    rewards_root   TEXT   NOT NULL,
    amount         TEXT   NOT NULL,
    cumulative     TEXT   NOT NULL,
    receipt_count  BIGINT NOT NULL,
    data_uri       TEXT   NOT NULL,
    tx_hash        TEXT   NOT NULL UNIQUE,
    nonce          BIGINT NOT NULL,
    raw_tx         TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    chain_batch_id BIGINT,
    block_number   BIGINT,
    detail         TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX batches_status ON batches (status);
CREATE INDEX batches_model ON batches (model_id, seq);

-- The reward tree of each batch: every contributor of the model with its cumulative amount
-- after the batch, and its proof (what Rewards.claim takes).
CREATE TABLE rewards (
    batch_seq  BIGINT NOT NULL,
    model_id   TEXT   NOT NULL,
    account    TEXT   NOT NULL,
    cumulative TEXT   NOT NULL,
    proof      TEXT   NOT NULL,
    PRIMARY KEY (batch_seq, account)
);
CREATE INDEX rewards_account ON rewards (account, batch_seq);
