//! The redeemer against the real escrow on anvil: funds move, restarts and dropped transactions
//! never redeem twice.

use crate::payment::common::{Chain, OPEN, PAYER, SERVER, address, signer, sqlite_ledger};
use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{B256, U256, keccak256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
};
use openlora_server::{
    ledger::{ChannelKey, Ledger, RedemptionStatus},
    payment::{
        AdmitRequest, PaymentConfig, PaymentGate, Redeemer, RedeemerConfig, RoundReport, Usage,
    },
};
use std::time::{Duration, Instant};

const PRICE: u128 = 1_000_000_000_000_000;

/// A chain with a model, a payer with 1 OPEN deposited, and `n` settled inferences on the
/// channel (vouchers of 0.01 OPEN each step). Answers the channel and its accepted amount.
async fn served(chain: &Chain, ledger: &Ledger, n: u128) -> (ChannelKey, U256) {
    let adapter = keccak256("adapter");
    let model = chain.register_model(adapter, PRICE).await;
    chain.deposit(PAYER, OPEN).await;
    let cfg = PaymentConfig::new(chain.config, address(SERVER)).with_cache_ttl(Duration::ZERO);
    let gate = PaymentGate::new(cfg, chain.rpc.clone(), ledger.clone()).await.unwrap();
    for i in 1..=n {
        let header = chain.header(PAYER, model, i * OPEN / 100);
        let req = AdmitRequest {
            voucher_header: Some(&header),
            adapter,
            prompt_tokens: 10,
            max_tokens: 100,
            prompt_hash: B256::ZERO,
        };
        let a = gate.admit(req).await.unwrap();
        gate.settle(a, Usage { completion_tokens: 50, output_hash: B256::ZERO }).await.unwrap();
    }
    let key = ChannelKey { payer: address(PAYER), server: address(SERVER), model_id: model };
    (key, U256::from(n * OPEN / 100))
}

async fn more(chain: &Chain, ledger: &Ledger, key: &ChannelKey, cumulative: u128) {
    let cfg = PaymentConfig::new(chain.config, address(SERVER)).with_cache_ttl(Duration::ZERO);
    let gate = PaymentGate::new(cfg, chain.rpc.clone(), ledger.clone()).await.unwrap();
    let header = chain.header(PAYER, key.model_id, cumulative);
    let req = AdmitRequest {
        voucher_header: Some(&header),
        adapter: keccak256("adapter"),
        prompt_tokens: 10,
        max_tokens: 100,
        prompt_hash: B256::ZERO,
    };
    let a = gate.admit(req).await.unwrap();
    gate.settle(a, Usage { completion_tokens: 50, output_hash: B256::ZERO }).await.unwrap();
}

fn redeemer(chain: &Chain, ledger: &Ledger, config: RedeemerConfig) -> Redeemer {
    Redeemer::new(config, chain.config, chain.rpc.clone(), signer(SERVER), ledger.clone())
}

/// Runs rounds until none is left pending (anvil's automine mines a moment after the send, so
/// one round may still see the transaction in the pool); answers what they did together.
async fn until_settled(r: &Redeemer) -> RoundReport {
    let mut all = RoundReport::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut round = r.run_round().await.unwrap();
        all.confirmed.append(&mut round.confirmed);
        all.reverted.append(&mut round.reverted);
        all.dropped.append(&mut round.dropped);
        all.rebroadcast.append(&mut round.rebroadcast);
        all.sent.append(&mut round.sent);
        all.failed.append(&mut round.failed);
        all.waiting = round.waiting;
        all.pending = round.pending;
        if round.pending == 0 {
            return all;
        }
        assert!(Instant::now() < deadline, "still pending: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn server_nonce(chain: &Chain) -> u64 {
    chain.rpc.get_transaction_count(address(SERVER)).pending().await.unwrap()
}

#[tokio::test]
async fn redemption_moves_the_funds_once() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let (key, accepted) = served(&chain, &ledger, 3).await;
    let escrow_before = chain.escrow_balance(key.payer).await;
    let rewards_before = chain.balance(chain.rewards).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());

    let report = r.run_round().await.unwrap();
    assert_eq!(report.sent.len(), 1, "{report:?}");
    assert_eq!(report.sent[0].1, accepted);
    let report = until_settled(&r).await;
    assert_eq!(report.confirmed, vec![(key, accepted, accepted)]);
    assert!(report.sent.is_empty(), "{report:?}");

    assert_eq!(chain.redeemed(&key).await, accepted);
    assert_eq!(chain.escrow_balance(key.payer).await, escrow_before - accepted);
    assert_eq!(chain.balance(chain.rewards).await, rewards_before + accepted);
    let rows = ledger.redemptions(&key).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, RedemptionStatus::Confirmed);
    assert_eq!(rows[0].amount, Some(accepted));

    // Nothing more to do: no transaction.
    let nonce = server_nonce(&chain).await;
    let report = r.run_round().await.unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(server_nonce(&chain).await, nonce);

    // A later voucher redeems only the difference.
    more(&chain, &ledger, &key, 5 * OPEN / 100).await;
    assert_eq!(r.run_round().await.unwrap().sent.len(), 1);
    let report = until_settled(&r).await;
    let newer = U256::from(5 * OPEN / 100);
    assert_eq!(report.confirmed, vec![(key, newer, newer - accepted)]);
    assert_eq!(chain.escrow_balance(key.payer).await, escrow_before - newer);
}

#[tokio::test]
async fn a_restart_with_a_redemption_in_flight_does_not_redeem_twice() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let (key, accepted) = served(&chain, &ledger, 2).await;
    chain.set_automine(false).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());
    let report = r.run_round().await.unwrap();
    assert_eq!(report.sent.len(), 1);
    let tx = report.sent[0].2;
    // The process dies with its transaction in the pool.
    drop(r);
    ledger.close().await;

    let ledger = sqlite_ledger(&dir).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());
    let report = r.run_round().await.unwrap();
    // The channel is not even looked at (not sent, not simulated) while its redemption is
    // pending: nodes that simulate against the mined state would not catch the duplicate.
    assert_eq!(
        report,
        RoundReport { pending: 1, ..Default::default() },
        "nothing new while pending"
    );
    chain.mine().await;
    let report = until_settled(&r).await;
    assert_eq!(report.confirmed, vec![(key, accepted, accepted)]);
    assert_eq!(r.run_round().await.unwrap(), Default::default());
    assert_eq!(server_nonce(&chain).await, 1, "one transaction in all");
    let rows = ledger.redemptions(&key).await.unwrap();
    assert_eq!((rows.len(), rows[0].tx_hash), (1, tx));
    assert_eq!(chain.redeemed(&key).await, accepted);
}

#[tokio::test]
async fn a_dropped_redemption_is_rebroadcast_unchanged_after_a_restart() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let (key, accepted) = served(&chain, &ledger, 2).await;
    chain.set_automine(false).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());
    let tx = r.run_round().await.unwrap().sent[0].2;
    // The node loses it, and the process dies.
    chain.drop_all_transactions().await;
    assert!(chain.rpc.get_transaction_by_hash(tx).await.unwrap().is_none());
    drop(r);
    ledger.close().await;

    chain.set_automine(true).await;
    let ledger = sqlite_ledger(&dir).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());
    let report = r.run_round().await.unwrap();
    assert_eq!(report.rebroadcast, vec![tx], "{report:?}");
    assert!(report.sent.is_empty());
    let report = until_settled(&r).await;
    assert_eq!(report.confirmed, vec![(key, accepted, accepted)]);
    assert_eq!(chain.redeemed(&key).await, accepted);
    assert_eq!(server_nonce(&chain).await, 1);
    assert_eq!(ledger.redemptions(&key).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_dropped_redemption_whose_nonce_was_reused_is_marked_and_redone() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let (key, accepted) = served(&chain, &ledger, 1).await;
    chain.set_automine(false).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());
    let first = r.run_round().await.unwrap().sent[0].2;
    chain.drop_all_transactions().await;
    chain.set_automine(true).await;
    // Someone else (the operator's wallet) uses the server key's nonce.
    let wallet = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer(SERVER)))
        .connect_http(chain.anvil.url.parse().unwrap());
    let tx = TransactionRequest::default().with_to(address(SERVER)).with_value(U256::from(1));
    assert!(wallet.send_transaction(tx).await.unwrap().get_receipt().await.unwrap().status());

    let report = r.run_round().await.unwrap();
    assert_eq!(report.dropped, vec![(key, first)], "{report:?}");
    assert_eq!(report.sent.len(), 1, "the channel is redeemed anew");
    let report = until_settled(&r).await;
    assert_eq!(report.confirmed, vec![(key, accepted, accepted)]);
    let statuses: Vec<_> =
        ledger.redemptions(&key).await.unwrap().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![RedemptionStatus::Dropped, RedemptionStatus::Confirmed]);
    assert_eq!(chain.redeemed(&key).await, accepted);
}

#[tokio::test]
async fn small_amounts_wait_unless_the_payer_is_withdrawing_and_doomed_ones_are_not_sent() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let (key, accepted) = served(&chain, &ledger, 1).await;
    let config = RedeemerConfig { min_amount: U256::from(OPEN), ..Default::default() };
    let r = redeemer(&chain, &ledger, config);
    let report = r.run_round().await.unwrap();
    assert_eq!((report.waiting, report.sent.len()), (1, 0));

    // The payer announces a withdrawal: redeem now, small or not.
    chain.request_withdrawal(PAYER, OPEN).await;
    assert_eq!(r.run_round().await.unwrap().sent.len(), 1);
    assert_eq!(until_settled(&r).await.confirmed.len(), 1);
    assert_eq!(chain.redeemed(&key).await, accepted);

    // A voucher the escrow can no longer pay (the payer withdrew everything) is not sent.
    more(&chain, &ledger, &key, 2 * OPEN / 100).await;
    chain.advance(301).await;
    chain.withdraw(PAYER).await;
    let nonce = server_nonce(&chain).await;
    let r = redeemer(&chain, &ledger, RedeemerConfig::default());
    let report = r.run_round().await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].1.contains("holds 0"), "{}", report.failed[0].1);
    assert!(report.sent.is_empty());
    assert_eq!(server_nonce(&chain).await, nonce);
    assert_eq!(ledger.redemptions(&key).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_spawned_redeemer_redeems_in_the_background() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let (key, accepted) = served(&chain, &ledger, 2).await;
    let config = RedeemerConfig { interval: Duration::from_millis(100), ..Default::default() };
    let handle = redeemer(&chain, &ledger, config).spawn();
    handle.trigger().nudge();
    let deadline = Instant::now() + Duration::from_secs(20);
    while chain.redeemed(&key).await != accepted
        || ledger.redemptions(&key).await.unwrap().first().map(|r| r.status)
            != Some(RedemptionStatus::Confirmed)
    {
        assert!(Instant::now() < deadline, "not redeemed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown().await;
}
