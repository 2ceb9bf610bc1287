//! The ledger alone: round trips, paging, compare-and-set, reopening. SQLite always; the same
//! checks against PostgreSQL when `OL_TEST_POSTGRES_URL` names a database to use (its tables
//! are dropped first: give a scratch database).

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use openlora_server::ledger::{
    Backend, ChannelKey, Consumption, InferenceQuery, InferenceRecord, Ledger, LedgerError,
    RedemptionRecord, RedemptionStatus, VoucherRecord,
};

fn key(payer: u8, model: u8) -> ChannelKey {
    ChannelKey {
        payer: Address::repeat_byte(payer),
        server: Address::repeat_byte(0x5e),
        model_id: B256::repeat_byte(model),
    }
}

fn inference(n: u64, key: Option<ChannelKey>, created_at: i64) -> InferenceRecord {
    InferenceRecord {
        seq: 0,
        id: keccak256(n.to_be_bytes()),
        payer: key.map(|k| k.payer),
        server: key.map(|k| k.server),
        model_id: key.map(|k| k.model_id),
        adapter: B256::repeat_byte(0xad),
        tokens_in: 10 + n,
        tokens_out: 20 + n,
        price_per_1k: U256::from(1_000_000_000_000u64),
        fee: U256::from(u128::MAX) * U256::from(3u8), // wider than 64 and 128 bits
        prompt_hash: keccak256(format!("prompt {n}")),
        output_hash: keccak256(format!("output {n}")),
        prompt: Some(format!("prompt {n}")),
        completion: n.is_multiple_of(2).then(|| format!("output {n}")),
        voucher_cumulative: key.map(|_| U256::from(n) * U256::from(10u8).pow(U256::from(30u8))),
        created_at,
    }
}

/// Everything the ledger offers, on one backend.
async fn exercise(ledger: &Ledger) {
    assert_eq!(ledger.counts().await.unwrap(), Default::default());
    let k = key(1, 1);

    // A voucher on a new channel, then a higher one (compare-and-set on the old amount).
    let v1 = VoucherRecord {
        seq: 0,
        key: k,
        cumulative: U256::from(100u8),
        signature: Bytes::from(vec![7u8; 65]),
        inference_id: B256::repeat_byte(1),
        accepted_at: 1_000,
    };
    ledger.accept_voucher(&v1, None).await.unwrap();
    let again = ledger.accept_voucher(&v1, None).await.unwrap_err();
    assert!(matches!(again, LedgerError::Conflict { .. }), "{again}");
    let v2 = VoucherRecord {
        cumulative: U256::from(250u16),
        inference_id: B256::repeat_byte(2),
        ..v1.clone()
    };
    let stale = ledger.accept_voucher(&v2, Some(U256::from(99u8))).await.unwrap_err();
    assert!(matches!(stale, LedgerError::Conflict { what: "accepted amount", .. }));
    ledger.accept_voucher(&v2, Some(U256::from(100u8))).await.unwrap();
    let ch = ledger.channel(&k).await.unwrap().unwrap();
    assert_eq!((ch.accepted, ch.consumed), (U256::from(250u16), U256::ZERO));
    let vouchers = ledger.vouchers(&k).await.unwrap();
    assert_eq!(vouchers.len(), 2);
    assert_eq!(vouchers[1].cumulative, U256::from(250u16));
    assert_eq!(vouchers[1].signature, v1.signature);
    assert_eq!(
        ledger.voucher(&k, U256::from(100u8)).await.unwrap().unwrap().inference_id,
        B256::repeat_byte(1)
    );

    // Paid inferences move the channel's consumed amount with compare-and-set; free ones don't.
    let paid = inference(1, Some(k), 5_000);
    let c = Consumption { key: k, previous: U256::ZERO, new: U256::from(40u8) };
    let seq1 = ledger.record_inference(&paid, Some(&c)).await.unwrap();
    let stale = Consumption { key: k, previous: U256::ZERO, new: U256::from(80u8) };
    let err =
        ledger.record_inference(&inference(2, Some(k), 5_001), Some(&stale)).await.unwrap_err();
    assert!(matches!(err, LedgerError::Conflict { what: "consumed amount", .. }));
    assert!(ledger.inference(inference(2, Some(k), 0).id).await.unwrap().is_none(), "rolled back");
    let free = inference(3, None, 6_000);
    let seq3 = ledger.record_inference(&free, None).await.unwrap();
    assert!(seq3 > seq1);
    assert_eq!(ledger.channel(&k).await.unwrap().unwrap().consumed, U256::from(40u8));

    let back = ledger.inference(paid.id).await.unwrap().unwrap();
    assert_eq!(back, InferenceRecord { seq: seq1, ..paid.clone() });
    let back = ledger.inference(free.id).await.unwrap().unwrap();
    assert_eq!(back, InferenceRecord { seq: seq3, ..free.clone() });

    // Paging: by seq, by time, by model, after an id.
    for n in 10..40 {
        ledger.record_inference(&inference(n, None, 10_000 + n as i64), None).await.unwrap();
    }
    let mut all = Vec::new();
    let mut q = InferenceQuery { limit: 7, ..Default::default() };
    loop {
        let page = ledger.list_inferences(&q).await.unwrap();
        let Some(last) = page.last() else { break };
        q.after_seq = last.seq;
        all.extend(page);
    }
    assert_eq!(all.len(), 32);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all[0].id, paid.id);
    let recent = ledger
        .list_inferences(&InferenceQuery {
            since_ms: Some(10_030),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 10);
    assert!(recent.iter().all(|r| r.created_at >= 10_030));
    let of_model = ledger
        .list_inferences(&InferenceQuery {
            model_id: Some(k.model_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_model.len(), 1);
    let after = ledger.list_inferences_after_id(free.id, 5).await.unwrap().unwrap();
    assert_eq!(after.len(), 5);
    assert_eq!(after[0].tokens_in, 20);
    assert!(ledger.list_inferences_after_id(B256::ZERO, 5).await.unwrap().is_none());

    // Redemptions: recorded, moved through their states, read back.
    let r = RedemptionRecord {
        seq: 0,
        key: k,
        cumulative: U256::from(250u16),
        tx_hash: B256::repeat_byte(0x77),
        nonce: 3,
        raw_tx: Bytes::from(vec![2u8, 0xf8, 0x01]),
        status: RedemptionStatus::Sent,
        amount: None,
        detail: None,
        created_at: 7_000,
        updated_at: 7_000,
    };
    ledger.insert_redemption(&r).await.unwrap();
    assert!(ledger.insert_redemption(&r).await.is_err(), "tx hashes are unique");
    let sent = ledger.redemptions_with_status(k.server, RedemptionStatus::Sent).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].raw_tx, r.raw_tx);
    ledger
        .set_redemption_status(
            r.tx_hash,
            RedemptionStatus::Confirmed,
            Some(U256::from(250u16)),
            None,
        )
        .await
        .unwrap();
    let all_r = ledger.redemptions(&k).await.unwrap();
    assert_eq!(all_r[0].status, RedemptionStatus::Confirmed);
    assert_eq!(all_r[0].amount, Some(U256::from(250u16)));
    assert_eq!(ledger.confirmed_redeemed(k.server).await.unwrap(), vec![(k, U256::from(250u16))]);

    let counts = ledger.counts().await.unwrap();
    assert_eq!(
        (counts.inferences, counts.channels, counts.vouchers, counts.redemptions),
        (32, 1, 2, 1)
    );
}

#[tokio::test]
async fn sqlite_ledger_round_trips_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(ledger.backend(), Backend::Sqlite);
    exercise(&ledger).await;
    let before = ledger.counts().await.unwrap();
    let page =
        ledger.list_inferences(&InferenceQuery { limit: 100, ..Default::default() }).await.unwrap();
    ledger.close().await;
    drop(ledger);

    // Reopen (migrations already applied) and find everything as it was.
    let reopened = Ledger::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(reopened.counts().await.unwrap(), before);
    let again = reopened
        .list_inferences(&InferenceQuery { limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(again, page);
    // A sqlite: URL to the same file works too.
    let by_url = Ledger::open(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(by_url.counts().await.unwrap(), before);
}

#[tokio::test]
async fn sqlite_in_memory_ledger_works() {
    let ledger = Ledger::open("sqlite::memory:").await.unwrap();
    exercise(&ledger).await;
}

#[tokio::test]
async fn bad_urls_are_refused() {
    assert!(matches!(Ledger::open("mysql://x/y").await, Err(LedgerError::UnsupportedUrl(_))));
    let err =
        Ledger::open("sqlite:///nonexistent-dir-for-sure/x/ledger.db?mode=rwc").await.unwrap_err();
    assert!(matches!(err, LedgerError::Connect { .. }), "{err}");
}

/// Runs only with `OL_TEST_POSTGRES_URL` (e.g. `postgres://ol:ol@127.0.0.1/ol_test`).
#[tokio::test]
async fn postgres_ledger_round_trips_when_configured() {
    let Ok(url) = std::env::var("OL_TEST_POSTGRES_URL") else {
        eprintln!("OL_TEST_POSTGRES_URL not set: PostgreSQL ledger test skipped");
        return;
    };
    reset_postgres(&url).await;
    let ledger = Ledger::open(&url).await.unwrap();
    assert_eq!(ledger.backend(), Backend::Postgres);
    exercise(&ledger).await;
    let before = ledger.counts().await.unwrap();
    ledger.close().await;
    let reopened = Ledger::open(&url).await.unwrap();
    assert_eq!(reopened.counts().await.unwrap(), before);
    reopened.close().await;
    reset_postgres(&url).await;
}

/// Drops the ledger's tables so that each run starts empty.
async fn reset_postgres(url: &str) {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    conn.execute(
        "DROP TABLE IF EXISTS inferences, channels, vouchers, redemptions, _sqlx_migrations",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();
}
