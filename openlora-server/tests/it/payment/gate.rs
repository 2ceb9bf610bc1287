//! The payment gate against the real contracts on anvil: every refusal is clear and leaves the
//! ledger as it was; accepted vouchers survive a restart.

use crate::payment::common::{
    Chain, OPEN, PAYER, PAYER_B, SERVER, STRANGER, address, signer, sqlite_ledger,
};
use alloy::primitives::{Address, B256, U256, keccak256};
use ol_primitives::contracts::inference_escrow::IInferenceEscrow;
use openlora_server::{
    ledger::{ChannelKey, InferenceQuery, Ledger, LedgerCounts},
    payment::{
        AdmitRequest, PaymentConfig, PaymentError, PaymentGate, SetupError, SignedVoucher, Usage,
        fee_for_tokens,
        voucher::{VOUCHER_TYPEHASH, voucher, voucher_digest},
        voucher_domain,
    },
};
use std::time::Duration;

/// 0.001 OPEN per 1,000 tokens.
const PRICE: u128 = 1_000_000_000_000_000;

fn adapter(n: u8) -> B256 {
    keccak256([b'a', n])
}

fn request(header: Option<&str>, adapter: B256) -> AdmitRequest<'_> {
    AdmitRequest {
        voucher_header: header,
        adapter,
        prompt_tokens: 100,
        max_tokens: 400,
        prompt_hash: keccak256("hello"),
    }
}

/// The maximum fee of [`request`]: 500 tokens at PRICE.
fn max_fee() -> u128 {
    PRICE / 2
}

fn config(chain: &Chain) -> PaymentConfig {
    PaymentConfig::new(chain.config, address(SERVER)).with_cache_ttl(Duration::ZERO)
}

async fn gate(chain: &Chain, ledger: &Ledger) -> PaymentGate {
    PaymentGate::new(config(chain), chain.rpc.clone(), ledger.clone()).await.unwrap()
}

/// A chain with a model (adapter 1) and a payer holding 1 OPEN in the escrow.
async fn setup() -> (Chain, B256) {
    let chain = Chain::start().await;
    let model = chain.register_model(adapter(1), PRICE).await;
    chain.deposit(PAYER, OPEN).await;
    (chain, model)
}

async fn assert_refused(
    gate: &PaymentGate,
    req: AdmitRequest<'_>,
    code: &str,
    before: LedgerCounts,
) {
    let channels = gate.ledger().channels(address(SERVER)).await.unwrap();
    let err = gate.admit(req).await.expect_err("refused");
    assert_eq!(err.code(), code, "{err}");
    assert!(err.is_client_error(), "{err}");
    let ledger = gate.ledger();
    assert_eq!(ledger.counts().await.unwrap(), before, "no row added after {err}");
    assert_eq!(
        ledger.channels(address(SERVER)).await.unwrap(),
        channels,
        "no channel changed after {err}"
    );
}

#[tokio::test]
async fn the_escrow_has_our_typehash_domain_and_digest() {
    let chain = Chain::start().await;
    let escrow = chain.config.escrow;
    let typehash = chain.call(escrow, IInferenceEscrow::VOUCHER_TYPEHASHCall {}).await;
    assert_eq!(typehash, VOUCHER_TYPEHASH);
    let domain = voucher_domain(chain.config.chain_id, escrow);
    assert_eq!(
        chain.call(escrow, IInferenceEscrow::DOMAIN_SEPARATORCall {}).await,
        domain.separator()
    );
    let v = voucher(address(PAYER), address(SERVER), B256::repeat_byte(9), U256::from(12_345u64));
    let on_chain =
        chain.call(escrow, IInferenceEscrow::voucherDigestCall { _voucher: v.clone() }).await;
    assert_eq!(on_chain, voucher_digest(&v, &domain));

    // The gate checks the same at start-up and refuses a wrong chain id or escrow address.
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let mut wrong = config(&chain);
    wrong.chain.chain_id = 1;
    let err = PaymentGate::new(wrong, chain.rpc.clone(), ledger.clone()).await.unwrap_err();
    assert!(matches!(err, SetupError::ChainId { configured: 1, .. }), "{err}");
    let mut wrong = config(&chain);
    wrong.chain.escrow = chain.config.registry;
    let err = PaymentGate::new(wrong, chain.rpc.clone(), ledger.clone()).await.unwrap_err();
    assert!(matches!(err, SetupError::Escrow { .. }), "{err}");
    PaymentGate::new(config(&chain), chain.rpc.clone(), ledger).await.unwrap();
}

#[tokio::test]
async fn a_valid_voucher_is_accepted_metered_and_recorded() {
    let (chain, model) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = gate(&chain, &ledger).await;
    let key = ChannelKey { payer: address(PAYER), server: address(SERVER), model_id: model };

    // First request: the voucher covers exactly its maximum.
    let header = chain.header(PAYER, model, max_fee());
    let admission = gate.admit(request(Some(&header), adapter(1))).await.unwrap();
    assert_eq!(admission.max_fee(), U256::from(max_fee()));
    assert_eq!(admission.payer(), Some(address(PAYER)));
    // The voucher is in the ledger before anything is served.
    assert_eq!(ledger.vouchers(&key).await.unwrap().len(), 1);
    let id = admission.inference_id();
    let out = Usage { completion_tokens: 150, output_hash: keccak256("world") };
    let s = gate.settle(admission, out).await.unwrap();
    let fee = fee_for_tokens(U256::from(PRICE), 250);
    assert_eq!(s.fee, fee);
    assert_eq!(s.fee, U256::from(PRICE / 4));
    let summary = s.channel.unwrap();
    assert_eq!((summary.accepted, summary.consumed), (U256::from(max_fee()), fee));
    assert_eq!(summary.credit(), U256::from(max_fee()) - fee);
    let headers = s.response_headers();
    assert_eq!(headers[0], ("x-payment-fee", fee.to_string()));
    assert_eq!(headers[1], ("x-payment-consumed", fee.to_string()));
    assert_eq!(headers[2], ("x-payment-accepted", max_fee().to_string()));

    let row = ledger.inference(id).await.unwrap().unwrap();
    assert_eq!(row.payer, Some(address(PAYER)));
    assert_eq!(row.server, Some(address(SERVER)));
    assert_eq!(row.model_id, Some(model));
    assert_eq!(row.adapter, adapter(1));
    assert_eq!((row.tokens_in, row.tokens_out), (100, 150));
    assert_eq!(row.fee, fee);
    assert_eq!(row.price_per_1k, U256::from(PRICE));
    assert_eq!(row.prompt_hash, keccak256("hello"));
    assert_eq!(row.output_hash, keccak256("world"));
    assert_eq!(row.voucher_cumulative, Some(U256::from(max_fee())));

    // Second request: must cover what was metered plus its own maximum.
    let needed = fee + U256::from(max_fee());
    let short = chain.header(PAYER, model, max_fee() + 1);
    let before = ledger.counts().await.unwrap();
    let err = gate.admit(request(Some(&short), adapter(1))).await.unwrap_err();
    match &err {
        PaymentError::Insufficient { required, .. } => assert_eq!(*required, needed),
        other => panic!("expected Insufficient, got {other}"),
    }
    assert_eq!(err.status(), 402);
    let body = err.body();
    assert_eq!(body["error"]["code"], "voucher_insufficient");
    assert_eq!(body["error"]["type"], "payment_error");
    assert!(body["error"]["message"].as_str().unwrap().contains(&needed.to_string()));
    assert_eq!(ledger.counts().await.unwrap(), before);
    let header = chain.header(PAYER, model, needed.to::<u128>());
    let admission = gate.admit(request(Some(&header), adapter(1))).await.unwrap();
    // Generating more than admitted is charged the admitted maximum.
    let s = gate
        .settle(admission, Usage { completion_tokens: 10_000, output_hash: B256::ZERO })
        .await
        .unwrap();
    assert_eq!(s.fee, U256::from(max_fee()));
    assert_eq!(s.channel.unwrap().consumed, needed);
    assert_eq!(ledger.channel(&key).await.unwrap().unwrap().consumed, needed);
    assert_eq!(ledger.counts().await.unwrap().inferences, 2);
}

#[tokio::test]
async fn forged_vouchers_are_refused_and_change_nothing() {
    let (chain, model) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = gate(&chain, &ledger).await;
    let before = ledger.counts().await.unwrap();
    let domain = voucher_domain(chain.config.chain_id, chain.config.escrow);

    // Signed by someone else than the payer it names.
    let v = voucher(address(PAYER), address(SERVER), model, U256::from(OPEN / 10));
    let forged = SignedVoucher::sign(v.clone(), &domain, &signer(STRANGER)).unwrap().to_header();
    assert_refused(&gate, request(Some(&forged), adapter(1)), "voucher_forged", before).await;

    // A real signature with the amount raised afterwards.
    let mut tampered = SignedVoucher::sign(v.clone(), &domain, &signer(PAYER)).unwrap();
    tampered.voucher.cumulativeAmount = U256::from(OPEN);
    assert_refused(
        &gate,
        request(Some(&tampered.to_header()), adapter(1)),
        "voucher_forged",
        before,
    )
    .await;

    // Signed for another chain without saying so: recovers to a stranger.
    let mut elsewhere =
        SignedVoucher::sign(v.clone(), &voucher_domain(1, chain.config.escrow), &signer(PAYER))
            .unwrap();
    elsewhere.chain_id = None;
    assert_refused(
        &gate,
        request(Some(&elsewhere.to_header()), adapter(1)),
        "voucher_forged",
        before,
    )
    .await;
    // ... saying so: a clear domain error.
    elsewhere.chain_id = Some(1);
    assert_refused(
        &gate,
        request(Some(&elsewhere.to_header()), adapter(1)),
        "voucher_wrong_domain",
        before,
    )
    .await;
    let other_escrow = voucher_domain(chain.config.chain_id, Address::repeat_byte(1));
    let wrong_contract = SignedVoucher::sign(v.clone(), &other_escrow, &signer(PAYER)).unwrap();
    assert_refused(
        &gate,
        request(Some(&wrong_contract.to_header()), adapter(1)),
        "voucher_wrong_domain",
        before,
    )
    .await;

    // For another server.
    let other_server = chain.header_for(PAYER, address(STRANGER), model, OPEN / 10);
    let err = gate.admit(request(Some(&other_server), adapter(1))).await.unwrap_err();
    assert!(matches!(err, PaymentError::WrongServer { .. }), "{err}");
    assert_refused(&gate, request(Some(&other_server), adapter(1)), "voucher_wrong_server", before)
        .await;

    // No header, garbage header.
    assert_refused(&gate, request(None, adapter(1)), "voucher_missing", before).await;
    let err = gate.admit(request(Some("not a voucher"), adapter(1))).await.unwrap_err();
    assert_eq!((err.code(), err.status()), ("voucher_malformed", 400));
    assert_eq!(ledger.counts().await.unwrap(), before);
}

#[tokio::test]
async fn replayed_vouchers_are_refused_also_after_a_restart() {
    let (chain, model) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = gate(&chain, &ledger).await;
    let first = chain.header(PAYER, model, OPEN / 100);
    let a = gate.admit(request(Some(&first), adapter(1))).await.unwrap();
    gate.settle(a, Usage { completion_tokens: 1, output_hash: B256::ZERO }).await.unwrap();
    let before = ledger.counts().await.unwrap();

    // The same header again, and an older (smaller) amount.
    let err = gate.admit(request(Some(&first), adapter(1))).await.unwrap_err();
    assert!(matches!(err, PaymentError::Replayed { .. }), "{err}");
    assert_refused(&gate, request(Some(&first), adapter(1)), "voucher_replayed", before).await;
    let older = chain.header(PAYER, model, OPEN / 200);
    assert_refused(&gate, request(Some(&older), adapter(1)), "voucher_replayed", before).await;

    // An admission that is never settled (the server died mid-generation) keeps its voucher.
    let second = chain.header(PAYER, model, OPEN / 50);
    let admitted = gate.admit(request(Some(&second), adapter(1))).await.unwrap();
    std::mem::forget(admitted); // like kill -9: no settle, no drop
    let before = ledger.counts().await.unwrap();
    drop(gate);
    ledger.close().await;

    // Restart: a new gate over the reopened ledger still knows both vouchers.
    let ledger = sqlite_ledger(&dir).await;
    let gate = self::gate(&chain, &ledger).await;
    assert_eq!(ledger.counts().await.unwrap(), before);
    assert_refused(&gate, request(Some(&first), adapter(1)), "voucher_replayed", before).await;
    assert_refused(&gate, request(Some(&second), adapter(1)), "voucher_replayed", before).await;
    // The unsettled request cost nothing: the next voucher need only exceed the accepted one.
    let third = chain.header(PAYER, model, OPEN / 50 + 1);
    let a = gate.admit(request(Some(&third), adapter(1))).await.unwrap();
    gate.settle(a, Usage { completion_tokens: 1, output_hash: B256::ZERO }).await.unwrap();
}

#[tokio::test]
async fn an_underfunded_payer_is_refused_until_it_deposits() {
    let chain = Chain::start().await;
    let model = chain.register_model(adapter(1), PRICE).await;
    chain.deposit(PAYER_B, max_fee() - 1).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    // Long cache: the deposit below is only seen because a shortfall re-reads the chain.
    let cfg = config(&chain)
        .with_cache_ttl(Duration::from_secs(3_600))
        .with_shortfall_refresh(Duration::from_millis(200));
    let gate = PaymentGate::new(cfg, chain.rpc.clone(), ledger.clone()).await.unwrap();
    let before = ledger.counts().await.unwrap();

    let header = chain.header(PAYER_B, model, max_fee());
    let err = gate.admit(request(Some(&header), adapter(1))).await.unwrap_err();
    match &err {
        PaymentError::Underfunded { balance, needed, .. } => {
            assert_eq!((*balance, *needed), (U256::from(max_fee() - 1), U256::from(max_fee())));
        }
        other => panic!("expected Underfunded, got {other}"),
    }
    assert_eq!(err.code(), "escrow_underfunded");
    assert_eq!(ledger.counts().await.unwrap(), before);
    // A payer with nothing at all.
    let nothing = chain.header(STRANGER, model, max_fee());
    assert_refused(&gate, request(Some(&nothing), adapter(1)), "escrow_underfunded", before).await;

    chain.deposit(PAYER_B, 1).await;
    // A shortfall re-reads the payer at most every `shortfall_refresh`.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let a = gate.admit(request(Some(&header), adapter(1))).await.unwrap();
    gate.settle(a, Usage { completion_tokens: 400, output_hash: B256::ZERO }).await.unwrap();
    // The escrow is now exactly used up by this server's vouchers.
    let more = chain.header(PAYER_B, model, max_fee() * 2);
    assert_refused(
        &gate,
        request(Some(&more), adapter(1)),
        "escrow_underfunded",
        ledger.counts().await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn vouchers_expire_with_the_payers_withdrawal() {
    let (chain, model) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = gate(&chain, &ledger).await; // withdrawal margin 120 s, notice 300 s

    // Withdrawal of almost everything announced: during the notice the server can still redeem.
    chain.request_withdrawal(PAYER, OPEN - max_fee()).await;
    let a = gate
        .admit(request(Some(&chain.header(PAYER, model, max_fee())), adapter(1)))
        .await
        .unwrap();
    gate.settle(a, Usage { completion_tokens: 400, output_hash: B256::ZERO }).await.unwrap();
    let h2 = chain.header(PAYER, model, max_fee() * 2);
    let a = gate.admit(request(Some(&h2), adapter(1))).await.unwrap();
    gate.settle(a, Usage { completion_tokens: 400, output_hash: B256::ZERO }).await.unwrap();

    // Close to unlock: only what stays after the withdrawal counts.
    chain.advance(200).await;
    let before = ledger.counts().await.unwrap();
    let h3 = chain.header(PAYER, model, max_fee() * 3);
    let err = gate.admit(request(Some(&h3), adapter(1))).await.unwrap_err();
    match &err {
        PaymentError::WithdrawalPending { remaining, needed, .. } => {
            assert_eq!(*remaining, U256::from(max_fee()));
            assert_eq!(*needed, U256::from(max_fee() * 3));
        }
        other => panic!("expected WithdrawalPending, got {other}"),
    }
    assert_refused(&gate, request(Some(&h3), adapter(1)), "voucher_expired", before).await;

    // Withdrawn: what is left is short (and plainly under-funded).
    chain.advance(200).await;
    chain.withdraw(PAYER).await;
    assert_eq!(chain.escrow_balance(address(PAYER)).await, U256::from(max_fee()));
    assert_refused(&gate, request(Some(&h3), adapter(1)), "escrow_underfunded", before).await;
}

#[tokio::test]
async fn unknown_inactive_and_mismatched_models_are_refused() {
    let (chain, model) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = gate(&chain, &ledger).await;
    let before = ledger.counts().await.unwrap();

    let unknown = chain.header(PAYER, B256::repeat_byte(0x42), OPEN / 10);
    let err = gate.admit(request(Some(&unknown), adapter(1))).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::UnknownModel(id) if id == B256::repeat_byte(0x42)),
        "{err}"
    );
    assert_refused(&gate, request(Some(&unknown), adapter(1)), "model_unknown", before).await;

    let header = chain.header(PAYER, model, OPEN / 10);
    assert_refused(&gate, request(Some(&header), adapter(2)), "model_mismatch", before).await;

    chain.set_active(model, false).await;
    assert_refused(&gate, request(Some(&header), adapter(1)), "model_inactive", before).await;
    chain.set_active(model, true).await;
    let a = gate.admit(request(Some(&header), adapter(1))).await.unwrap();
    drop(a);
}

#[tokio::test]
async fn concurrent_requests_on_one_channel_each_need_their_own_voucher() {
    let (chain, model) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = gate(&chain, &ledger).await;
    let fee = max_fee();
    // Ten requests in flight at once, each voucher covering all maxima before it.
    let headers: Vec<String> = (1..=10u128).map(|i| chain.header(PAYER, model, fee * i)).collect();
    let mut admissions = Vec::new();
    for h in &headers {
        admissions.push(gate.admit(request(Some(h), adapter(1))).await.unwrap());
    }
    // One more in flight with a voucher that does not cover the reservations.
    let short = chain.header(PAYER, model, fee * 10 + 1);
    let err = gate.admit(request(Some(&short), adapter(1))).await.unwrap_err();
    assert_eq!(err.code(), "voucher_insufficient", "{err}");
    let settles = admissions.into_iter().map(|a| {
        let gate = gate.clone();
        tokio::spawn(async move {
            gate.settle(a, Usage { completion_tokens: 150, output_hash: B256::ZERO }).await.unwrap()
        })
    });
    let mut total = U256::ZERO;
    for s in settles {
        total += s.await.unwrap().fee;
    }
    let key = ChannelKey { payer: address(PAYER), server: address(SERVER), model_id: model };
    let stored = ledger.channel(&key).await.unwrap().unwrap();
    assert_eq!(stored.consumed, total);
    assert_eq!(stored.accepted, U256::from(fee * 10));
    let rows =
        ledger.list_inferences(&InferenceQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 10);

    // Dropping an admission releases its reservation (on a fresh channel, where it shows).
    let model2 = chain.register_model(adapter(2), PRICE).await;
    let a = gate.admit(request(Some(&chain.header(PAYER, model2, fee)), adapter(2))).await.unwrap();
    let held = chain.header(PAYER, model2, fee + 1);
    let err = gate.admit(request(Some(&held), adapter(2))).await.unwrap_err();
    assert_eq!(err.code(), "voucher_insufficient", "{err}");
    a.abort();
    gate.admit(request(Some(&held), adapter(2))).await.unwrap();
}

#[tokio::test]
async fn without_payment_every_request_is_recorded_free() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = sqlite_ledger(&dir).await;
    let gate = PaymentGate::disabled(ledger.clone());
    assert!(!gate.is_enabled());
    let a = gate.admit(request(None, adapter(3))).await.unwrap();
    let id = a.inference_id();
    let s = gate
        .settle(a, Usage { completion_tokens: 7, output_hash: keccak256("out") })
        .await
        .unwrap();
    assert_eq!((s.fee, s.channel), (U256::ZERO, None));
    // A header is ignored.
    let a = gate.admit(request(Some("whatever"), adapter(3))).await.unwrap();
    gate.settle(a, Usage { completion_tokens: 1, output_hash: B256::ZERO }).await.unwrap();
    let row = ledger.inference(id).await.unwrap().unwrap();
    assert_eq!((row.payer, row.model_id, row.fee), (None, None, U256::ZERO));
    assert_eq!((row.adapter, row.tokens_in, row.tokens_out), (adapter(3), 100, 7));
    assert_eq!(ledger.counts().await.unwrap().inferences, 2);
}
