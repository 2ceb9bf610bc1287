//! The receipt store alone: receipts, the cursor, batches with their proofs and reward trees,
//! status changes, reopening. SQLite always; the same checks against PostgreSQL when
//! `OL_TEST_POSTGRES_URL` names a database to use (its tables are dropped first: give a scratch
//! database), as the OpenLoRA usage ledger's tests do.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use attribution_engine::{
    attribution::{Attribution, ExampleInfluence, Share, Totals, Weights},
    receipts::{
        BatchRecord, BatchStatus, ContributorShare, Receipt, ReceiptError, ReceiptStore,
        StoredReceipt,
        store::{NewBatch, RewardEntry, StoreCounts},
    },
};

const MODEL: B256 = B256::repeat_byte(0x30);
const OTHER_MODEL: B256 = B256::repeat_byte(0x31);

fn who(i: u8) -> Address {
    Address::repeat_byte(0x10 + i)
}

/// A receipt of ledger row `seq` for `model`, listing contributors 0 and 1 (amounts wider than
/// 64 and 128 bits, as wei can be).
fn receipt(seq: i64, model: B256) -> StoredReceipt {
    let fee = U256::from(u128::MAX) * U256::from(seq as u64 + 1);
    let contributors = vec![
        ContributorShare { address: who(0), bps: 7_500, amount: fee / U256::from(4) },
        ContributorShare { address: who(1), bps: 2_500, amount: fee / U256::from(12) },
    ];
    let example = |i: usize, c: u8, score: f64| ExampleInfluence {
        index: i,
        hash: keccak256([i as u8]),
        contributor: who(c),
        datanet: "docs".into(),
        score,
    };
    StoredReceipt {
        ledger_seq: seq,
        receipt: Receipt {
            inferenceId: keccak256(seq.to_be_bytes()),
            modelId: model,
            adapterHash: B256::repeat_byte(0xad),
            outputHash: keccak256(format!("output {seq}")),
            indexRoot: B256::repeat_byte(0x1d),
            methodVersion: 3,
            fee,
            attributionHash: keccak256(format!("attribution {seq}")),
        },
        contributor_pool: fee / U256::from(5),
        contributors,
        attribution: Attribution {
            method: "ekfac".into(),
            method_version: 3,
            index_root: B256::repeat_byte(0x1d),
            manifest_root: B256::repeat_byte(0x3a),
            output_hash: keccak256(format!("output {seq}")),
            top_examples: vec![example(0, 0, 1.5), example(3, 1, -0.25)],
            contributors: Weights {
                top: vec![
                    Share { id: who(0), influence: 1.5, bps: 7_500 },
                    Share { id: who(1), influence: 0.5, bps: 2_500 },
                ],
                rest_bps: 0,
                rest_count: 0,
            },
            datanets: Weights {
                top: vec![Share { id: "docs".into(), influence: 2.0, bps: 10_000 }],
                rest_bps: 0,
                rest_count: 0,
            },
            totals: Totals::ExactGroupSums,
            scan_ms: 0.5,
        },
        leaf: keccak256(format!("leaf {seq}")),
        signature: Bytes::from(vec![seq as u8; 65]),
        batch_seq: None,
        proof: None,
        created_at: 1_000 + seq,
    }
}

/// A batch of `receipts` (all of `model`) with a two-account reward tree.
fn batch(model: B256, receipts: &[&StoredReceipt], nonce: u64) -> NewBatch {
    let amount: U256 = receipts.iter().flat_map(|r| &r.contributors).map(|c| c.amount).sum();
    let root = keccak256(format!("receipts root {nonce}"));
    NewBatch {
        batch: BatchRecord {
            seq: 0,
            model_id: model,
            receipts_root: root,
            rewards_root: keccak256(format!("rewards root {nonce}")),
            amount,
            cumulative: amount,
            receipt_count: receipts.len() as u32,
            data_uri: format!("http://127.0.0.1:8100/batches/{root:#x}"),
            tx_hash: keccak256(format!("tx {nonce}")),
            nonce,
            raw_tx: Bytes::from(vec![0x02, nonce as u8, 0xff]),
            status: BatchStatus::Signed,
            chain_batch_id: None,
            block_number: None,
            detail: None,
            created_at: 2_000,
            updated_at: 2_000,
        },
        receipts: receipts
            .iter()
            .enumerate()
            .map(|(i, r)| (r.receipt.inferenceId, vec![B256::repeat_byte(i as u8 + 1)]))
            .collect(),
        rewards: (0..2)
            .map(|i| RewardEntry {
                batch_seq: 0,
                model_id: model,
                account: who(i),
                cumulative: U256::from(u128::MAX) + U256::from(i),
                proof: vec![B256::repeat_byte(0x50 + i)],
            })
            .collect(),
    }
}

/// Everything the store offers, on one backend (empty at the start).
async fn exercise(store: &ReceiptStore) {
    assert_eq!(store.counts().await.unwrap(), StoreCounts::default());
    assert!(store.batches().await.unwrap().is_empty());

    // A free inference moves the cursor alone; receipts move it with them, in one transaction.
    store.advance_cursor(1).await.unwrap();
    let (r2, r3, r4) = (receipt(2, MODEL), receipt(3, MODEL), receipt(4, OTHER_MODEL));
    for r in [&r2, &r3, &r4] {
        store.insert_receipt(r).await.unwrap();
    }
    assert_eq!(store.cursor().await.unwrap(), 4);
    // The cursor never moves back, and a receipt is stored once.
    let back = store.advance_cursor(3).await.unwrap_err();
    assert!(matches!(back, ReceiptError::Corrupt { table: "cursor", .. }), "{back}");
    let twice = store.insert_receipt(&r2).await.unwrap_err();
    assert!(matches!(twice, ReceiptError::Store(_)), "{twice}");
    assert_eq!(store.cursor().await.unwrap(), 4);
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts { receipts: 3, pending: 3, batches: 0, cursor: 4, rejected: 0 }
    );

    // Round trips, exactly.
    assert_eq!(store.receipt(r2.receipt.inferenceId).await.unwrap().as_ref(), Some(&r2));
    assert_eq!(store.receipt(B256::repeat_byte(0xee)).await.unwrap(), None);
    assert_eq!(store.pending_receipts(MODEL).await.unwrap(), vec![r2.clone(), r3.clone()]);
    let mut models = vec![MODEL, OTHER_MODEL];
    models.sort();
    assert_eq!(store.models_with_pending().await.unwrap(), models);
    assert_eq!(store.contributor_receipts(who(1), 2).await.unwrap(), vec![r2.clone(), r3.clone()]);
    assert!(store.contributor_receipts(who(9), 10).await.unwrap().is_empty());

    // A batch takes MODEL's receipts: proofs set, reward tree stored, recorded as signed.
    let new = batch(MODEL, &[&r2, &r3], 7);
    let seq = store.insert_batch(&new).await.unwrap();
    let stored = store.batch(seq).await.unwrap().unwrap();
    assert_eq!(stored, BatchRecord { seq, ..new.batch.clone() });
    assert_eq!(store.unconfirmed_batches().await.unwrap(), vec![stored.clone()]);
    assert_eq!(store.batch_by_root(new.batch.receipts_root).await.unwrap(), Some(stored.clone()));
    assert_eq!(store.latest_batch(MODEL).await.unwrap(), Some(stored.clone()));
    assert_eq!(store.latest_batch(OTHER_MODEL).await.unwrap(), None);
    let batched = store.batch_receipts(seq).await.unwrap();
    assert_eq!(batched.len(), 2);
    assert_eq!(batched[1].proof, Some(vec![B256::repeat_byte(2)]));
    assert_eq!(batched[0].batch_seq, Some(seq));
    assert!(store.pending_receipts(MODEL).await.unwrap().is_empty());
    let rewards = store.rewards(seq).await.unwrap();
    assert_eq!(
        rewards,
        new.rewards.iter().map(|e| RewardEntry { batch_seq: seq, ..e.clone() }).collect::<Vec<_>>()
    );
    // A receipt already in a live batch cannot go into another; nothing of that batch is kept.
    let again = store.insert_batch(&batch(MODEL, &[&r2], 8)).await.unwrap_err();
    assert!(matches!(again, ReceiptError::Corrupt { table: "receipts", .. }), "{again}");
    assert_eq!(store.batches().await.unwrap().len(), 1);

    // Sent, then confirmed: only then do its rewards count for an account.
    assert!(store.account_rewards(who(0)).await.unwrap().is_empty());
    store.mark_sent(seq).await.unwrap();
    assert_eq!(store.batch(seq).await.unwrap().unwrap().status, BatchStatus::Sent);
    store.mark_confirmed(seq, 1, 42).await.unwrap();
    // A late "sent" does not move a confirmed batch back.
    store.mark_sent(seq).await.unwrap();
    let confirmed = store.batch_by_chain_id(1).await.unwrap().unwrap();
    assert_eq!(
        (confirmed.status, confirmed.chain_batch_id, confirmed.block_number),
        (BatchStatus::Confirmed, Some(1), Some(42))
    );
    assert!(store.unconfirmed_batches().await.unwrap().is_empty());
    let mine = store.account_rewards(who(1)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].0.cumulative, mine[0].1.seq), (U256::from(u128::MAX) + U256::from(1), seq));

    // The other model's batch fails: its receipt goes back to pending, its rewards are gone.
    let other = store.insert_batch(&batch(OTHER_MODEL, &[&r4], 9)).await.unwrap();
    store.mark_failed(other, "reverted in block 43").await.unwrap();
    let failed = store.batch(other).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.detail.as_deref()),
        (BatchStatus::Failed, Some("reverted in block 43"))
    );
    assert!(store.rewards(other).await.unwrap().is_empty());
    assert_eq!(store.pending_receipts(OTHER_MODEL).await.unwrap(), vec![r4.clone()]);
    assert_eq!(store.latest_batch(OTHER_MODEL).await.unwrap(), None, "a failed batch is not live");
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts { receipts: 3, pending: 1, batches: 2, cursor: 4, rejected: 0 }
    );
}

#[tokio::test]
async fn sqlite_store_round_trips_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("receipts.db");
    let store = ReceiptStore::open(path.to_str().unwrap()).await.unwrap();
    assert!(!store.is_postgres());
    exercise(&store).await;
    let before = store.counts().await.unwrap();
    store.close().await;
    let reopened = ReceiptStore::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(reopened.counts().await.unwrap(), before);
    reopened.close().await;
    let by_url = ReceiptStore::open(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(by_url.counts().await.unwrap(), before);
}

#[tokio::test]
async fn bad_store_urls_are_refused() {
    for url in ["mysql://x/y", "", "receipts.db?mode=ro"] {
        let err = ReceiptStore::open(url).await.unwrap_err();
        assert!(matches!(err, ReceiptError::UnsupportedUrl(_)), "{url:?}: {err}");
    }
}

/// Runs only with `OL_TEST_POSTGRES_URL` (e.g. `postgres://ol:ol@127.0.0.1/ol_test`).
#[tokio::test]
async fn postgres_store_round_trips_when_configured() {
    let Ok(url) = std::env::var("OL_TEST_POSTGRES_URL") else {
        eprintln!("OL_TEST_POSTGRES_URL not set: PostgreSQL receipt store test skipped");
        return;
    };
    reset_postgres(&url).await;
    let store = ReceiptStore::open(&url).await.unwrap();
    assert!(store.is_postgres());
    exercise(&store).await;
    let before = store.counts().await.unwrap();
    store.close().await;
    let reopened = ReceiptStore::open(&url).await.unwrap();
    assert_eq!(reopened.counts().await.unwrap(), before);
    reopened.close().await;
    reset_postgres(&url).await;
}

/// Drops the store's tables so that each run starts empty.
async fn reset_postgres(url: &str) {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    conn.execute(
        "DROP TABLE IF EXISTS rewards, receipt_contributors, receipts, batches, cursor, \
         _sqlx_migrations",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();
}
