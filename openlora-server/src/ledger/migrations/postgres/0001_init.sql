-- The usage ledger (PostgreSQL). Same tables and columns as ../sqlite/0001_init.sql; only the
-- auto-increment syntax differs. Addresses and hashes are 0x-prefixed lowercase hex, amounts are
-- wei as decimal strings (they do not fit 64 bits), times are Unix milliseconds.

-- One row per served inference, paid or free (--no-payment). `seq` orders rows in commit
-- order: readers page with `seq > cursor`.
CREATE TABLE inferences (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    payer        TEXT,
    server       TEXT,
    model_id     TEXT,
    adapter      TEXT    NOT NULL,
    tokens_in    BIGINT  NOT NULL,
    tokens_out   BIGINT  NOT NULL,
    price_per_1k TEXT    NOT NULL,
    fee          TEXT    NOT NULL,
    prompt_hash  TEXT    NOT NULL,
    output_hash  TEXT    NOT NULL,
    voucher      TEXT,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX inferences_created_at ON inferences (created_at);
CREATE INDEX inferences_model ON inferences (model_id, seq);

-- Per (payer, server, model) channel: the highest accepted voucher amount and the fees metered
-- so far. Updated with compare-and-set on the old value.
CREATE TABLE channels (
    payer      TEXT   NOT NULL,
    server     TEXT   NOT NULL,
    model_id   TEXT   NOT NULL,
    accepted   TEXT   NOT NULL,
    consumed   TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (payer, server, model_id)
);

-- Every accepted voucher, written before the request it pays for is served.
CREATE TABLE vouchers (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payer        TEXT   NOT NULL,
    server       TEXT   NOT NULL,
    model_id     TEXT   NOT NULL,
    cumulative   TEXT   NOT NULL,
    signature    TEXT   NOT NULL,
    inference_id TEXT   NOT NULL,
    accepted_at  BIGINT NOT NULL,
    UNIQUE (payer, server, model_id, cumulative)
);

-- Every redemption transaction the server signed, recorded before it is broadcast.
CREATE TABLE redemptions (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payer      TEXT   NOT NULL,
    server     TEXT   NOT NULL,
    model_id   TEXT   NOT NULL,
    cumulative TEXT   NOT NULL,
    tx_hash    TEXT   NOT NULL UNIQUE,
    nonce      BIGINT NOT NULL,
    raw_tx     TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    amount     TEXT,
    detail     TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX redemptions_status ON redemptions (server, status);
CREATE INDEX redemptions_channel ON redemptions (payer, server, model_id);
