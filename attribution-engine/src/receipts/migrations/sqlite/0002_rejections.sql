-- Paid inferences that cannot be attributed from what the ledger row holds (a prompt or
-- completion text missing or not matching its hash, a model that is not registered, an adapter
-- that is not the one the model registers): kept with the reason instead of a receipt, so that
-- one such row does not stop the receipts of the rows after it. Their fees are not attributed.
CREATE TABLE rejections (
    inference_id TEXT   PRIMARY KEY,
    ledger_seq   BIGINT NOT NULL UNIQUE,
    model_id     TEXT   NOT NULL,
    adapter      TEXT   NOT NULL,
    fee          TEXT   NOT NULL,
    reason       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
