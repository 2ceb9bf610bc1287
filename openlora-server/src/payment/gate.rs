//! The payment gate: admits a request on its voucher, settles it on the tokens generated.
//! See the [module doc](super) for the flow.

use crate::{
    ledger::{ChannelKey, Consumption, InferenceRecord, Ledger, VoucherRecord, now_ms},
    payment::{
        ACCEPTED_HEADER, CONSUMED_HEADER, FEE_HEADER, PaymentConfig, PaymentError, PaymentResult,
        SetupError,
        chain::{ChainReader, ModelInfo, PayerState, TtlCache},
        fee_for_tokens,
        redeemer::RedeemTrigger,
        voucher::{SignedVoucher, VOUCHER_TYPEHASH, voucher_domain},
    },
};
use alloy::{
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    sol_types::Eip712Domain,
};
use ol_primitives::contracts::{
    inference_escrow::IInferenceEscrow, model_registry::IModelRegistry,
};
use parking_lot::Mutex;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, OnceLock},
};
use tracing::{debug, info, warn};

/// What the HTTP layer knows about a request when it asks for admission.
#[derive(Debug, Clone, Copy)]
pub struct AdmitRequest<'a> {
    /// The `X-Payment-Voucher` header value, if the request has one.
    pub voucher_header: Option<&'a str>,
    /// The adapter the request names (keccak256 of its file, as the registry holds it).
    pub adapter: B256,
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// The most tokens the request may generate.
    pub max_tokens: u64,
    /// keccak256 of the prompt (recorded in the ledger).
    pub prompt_hash: B256,
}

/// What was generated, for [`PaymentGate::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Tokens generated (capped at the admitted `max_tokens` for the fee).
    pub completion_tokens: u64,
    /// keccak256 of the output.
    pub output_hash: B256,
}

/// A channel's totals after a settlement (for the response headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSummary {
    /// The channel.
    pub key: ChannelKey,
    /// The highest voucher amount accepted.
    pub accepted: U256,
    /// The fees metered so far.
    pub consumed: U256,
}

impl ChannelSummary {
    /// Signed but not yet metered: the payer's credit on the channel.
    pub fn credit(&self) -> U256 {
        self.accepted.saturating_sub(self.consumed)
    }
}

/// A recorded inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// The inference id (answer it to the client; the attribution receipt names it).
    pub inference_id: B256,
    /// The ledger row's position.
    pub seq: i64,
    /// The fee charged, in wei (zero without payment).
    pub fee: U256,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Generated tokens.
    pub tokens_out: u64,
    /// The channel's totals after it (`None` without payment).
    pub channel: Option<ChannelSummary>,
}

impl Settlement {
    /// The payment headers of the response: [`FEE_HEADER`], and for a paid request
    /// [`CONSUMED_HEADER`] and [`ACCEPTED_HEADER`] (so the client knows the least amount its
    /// next voucher needs: consumed + the next request's maximum, and above accepted).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![(FEE_HEADER, self.fee.to_string())];
        if let Some(c) = &self.channel {
            headers.push((CONSUMED_HEADER, c.consumed.to_string()));
            headers.push((ACCEPTED_HEADER, c.accepted.to_string()));
        }
        headers
    }
}

/// The paid part of an admission.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    key: ChannelKey,
    cumulative: U256,
    price_per_1k: U256,
    max_fee: U256,
}

/// A request admitted for service. Pass it to [`PaymentGate::settle`] once generation is done;
/// dropping it (or [`abort`](Self::abort)) releases its reservation: the voucher stays
/// accepted and nothing is charged.
#[derive(Debug)]
pub struct Admission {
    inference_id: B256,
    adapter: B256,
    prompt_tokens: u64,
    max_tokens: u64,
    prompt_hash: B256,
    /// The prompt and output texts recorded with the inference ([`Admission::with_texts`]).
    texts: (Option<String>, Option<String>),
    ticket: Option<Ticket>,
    gate: Arc<Inner>,
    done: bool,
}

impl Admission {
    /// The inference id this request will be recorded under.
    pub const fn inference_id(&self) -> B256 {
        self.inference_id
    }

    /// The payer, if paid.
    pub fn payer(&self) -> Option<Address> {
        self.ticket.map(|t| t.key.payer)
    }

    /// The model id the voucher pays for, if paid.
    pub fn model_id(&self) -> Option<B256> {
        self.ticket.map(|t| t.key.model_id)
    }

    /// The most this request may cost (zero without payment).
    pub fn max_fee(&self) -> U256 {
        self.ticket.map_or(U256::ZERO, |t| t.max_fee)
    }

    /// The price per 1,000 tokens it is charged at (zero without payment).
    pub fn price_per_1k(&self) -> U256 {
        self.ticket.map_or(U256::ZERO, |t| t.price_per_1k)
    }

    /// The accepted voucher's cumulative amount, if paid.
    pub fn cumulative(&self) -> Option<U256> {
        self.ticket.map(|t| t.cumulative)
    }

    /// The admitted generation limit.
    pub const fn max_tokens(&self) -> u64 {
        self.max_tokens
    }

    /// Records the prompt (`None` for token-id prompts) and the output with the inference, for
    /// the attribution engine; without this the ledger row has only their hashes.
    pub fn with_texts(mut self, prompt: Option<String>, completion: String) -> Self {
        self.texts = (prompt, Some(completion));
        self
    }

    /// Gives the request up without charging (the voucher stays accepted).
    pub fn abort(self) {}
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let (Some(t), Some(paid)) = (self.ticket, self.gate.paid.as_ref()) {
            let mut book = paid.book.lock();
            if let Some(ch) = book.get_mut(&t.key) {
                ch.reserved = ch.reserved.saturating_sub(t.max_fee);
            }
            debug!(inference = %self.inference_id, channel = %t.key, "admission released unsettled");
        }
    }
}

/// What the gate knows of a channel.
#[derive(Debug, Clone, Copy, Default)]
struct ChannelState {
    /// The highest accepted voucher amount.
    accepted: U256,
    /// Fees metered.
    consumed: U256,
    /// Maximum fees of requests admitted and not settled (memory only).
    reserved: U256,
    /// Redeemed on chain, as last known.
    redeemed: U256,
    /// Whether the ledger has the channel's row.
    stored: bool,
}

/// The gate of a server that takes payment.
#[derive(Debug)]
struct Paid {
    config: PaymentConfig,
    domain: Eip712Domain,
    chain: ChainReader,
    book: Mutex<BTreeMap<ChannelKey, ChannelState>>,
    /// One writer at a time per channel (admissions and settlements of the channel queue here).
    writers: Mutex<HashMap<ChannelKey, Arc<tokio::sync::Mutex<()>>>>,
    payers: TtlCache<Address, PayerState>,
    models: TtlCache<B256, Option<ModelInfo>>,
    trigger: OnceLock<RedeemTrigger>,
}

#[derive(Debug)]
struct Inner {
    ledger: Ledger,
    paid: Option<Paid>,
}

/// Admits paid requests and records every inference. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct PaymentGate {
    inner: Arc<Inner>,
}

/// Why a reservation failed: a shortfall may go away after re-reading the chain.
enum Refusal {
    Shortfall(Box<PaymentError>),
    Final(Box<PaymentError>),
}

impl PaymentGate {
    /// A gate that takes payment. Checks that the RPC serves the configured chain and that the
    /// escrow has the expected voucher typehash and domain separator, then loads the server's
    /// channels from the ledger.
    pub async fn new(
        config: PaymentConfig,
        provider: DynProvider,
        ledger: Ledger,
    ) -> Result<Self, SetupError> {
        let c = config.chain;
        let actual = provider.get_chain_id().await.map_err(|e| SetupError::Rpc(e.to_string()))?;
        if actual != c.chain_id {
            return Err(SetupError::ChainId { configured: c.chain_id, actual });
        }
        let chain = ChainReader { provider, escrow: c.escrow, registry: c.registry };
        let domain = voucher_domain(c.chain_id, c.escrow);
        let escrow_err = |reason: String| SetupError::Escrow { address: c.escrow, reason };
        let typehash = chain
            .call(c.escrow, IInferenceEscrow::VOUCHER_TYPEHASHCall {})
            .await
            .map_err(escrow_err)?;
        if typehash != VOUCHER_TYPEHASH {
            return Err(escrow_err(format!(
                "VOUCHER_TYPEHASH is {typehash}, expected {VOUCHER_TYPEHASH}"
            )));
        }
        let separator = chain
            .call(c.escrow, IInferenceEscrow::DOMAIN_SEPARATORCall {})
            .await
            .map_err(escrow_err)?;
        if separator != domain.separator() {
            return Err(escrow_err(format!(
                "DOMAIN_SEPARATOR is {separator}, expected {} for chain {} and this address",
                domain.separator(),
                c.chain_id
            )));
        }
        chain
            .call(c.registry, IModelRegistry::existsCall { _modelId: B256::ZERO })
            .await
            .map_err(|e| SetupError::Rpc(format!("ModelRegistry at {}: {e}", c.registry)))?;

        let mut book = BTreeMap::new();
        for ch in ledger.channels(config.server).await? {
            book.insert(
                ch.key,
                ChannelState {
                    accepted: ch.accepted,
                    consumed: ch.consumed,
                    reserved: U256::ZERO,
                    redeemed: U256::ZERO,
                    stored: true,
                },
            );
        }
        for (key, redeemed) in ledger.confirmed_redeemed(config.server).await? {
            if let Some(ch) = book.get_mut(&key) {
                ch.redeemed = redeemed;
            }
        }
        info!(server = %config.server, chain_id = c.chain_id, escrow = %c.escrow, channels = book.len(), "payment gate ready");
        let paid = Paid {
            domain,
            chain,
            book: Mutex::new(book),
            writers: Mutex::new(HashMap::new()),
            payers: TtlCache::new(config.cache_ttl),
            models: TtlCache::new(config.cache_ttl),
            trigger: OnceLock::new(),
            config,
        };
        Ok(Self { inner: Arc::new(Inner { ledger, paid: Some(paid) }) })
    }

    /// A gate for `--no-payment`: every request is admitted, every inference recorded free.
    pub fn disabled(ledger: Ledger) -> Self {
        Self { inner: Arc::new(Inner { ledger, paid: None }) }
    }

    /// Whether requests must pay.
    pub fn is_enabled(&self) -> bool {
        self.inner.paid.is_some()
    }

    /// This server's address, when taking payment.
    pub fn server(&self) -> Option<Address> {
        self.inner.paid.as_ref().map(|p| p.config.server)
    }

    /// The voucher domain, when taking payment.
    pub fn domain(&self) -> Option<&Eip712Domain> {
        self.inner.paid.as_ref().map(|p| &p.domain)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// Lets the gate wake the redeemer when a payer's withdrawal is pending (so vouchers are
    /// redeemed before it unlocks). Only the first call has an effect.
    pub fn attach_redeemer(&self, trigger: RedeemTrigger) {
        if let Some(paid) = &self.inner.paid {
            let _ = paid.trigger.set(trigger);
        }
    }

    /// A channel's totals as the gate knows them.
    pub fn channel(&self, key: &ChannelKey) -> Option<ChannelSummary> {
        let paid = self.inner.paid.as_ref()?;
        let book = paid.book.lock();
        book.get(key).map(|ch| ChannelSummary {
            key: *key,
            accepted: ch.accepted,
            consumed: ch.consumed,
        })
    }

    /// Checks a request's payment and reserves its maximum fee; the voucher is in the ledger
    /// when this returns `Ok`. On `Err` nothing was written.
    pub async fn admit(&self, req: AdmitRequest<'_>) -> PaymentResult<Admission> {
        let inference_id = B256::random();
        let mut admission = Admission {
            inference_id,
            adapter: req.adapter,
            prompt_tokens: req.prompt_tokens,
            max_tokens: req.max_tokens,
            prompt_hash: req.prompt_hash,
            texts: (None, None),
            ticket: None,
            gate: self.inner.clone(),
            done: false,
        };
        let Some(paid) = &self.inner.paid else { return Ok(admission) };
        let result = paid.admit(&self.inner.ledger, &req, inference_id).await;
        match result {
            Ok(ticket) => {
                admission.ticket = Some(ticket);
                debug!(inference = %inference_id, channel = %ticket.key, cumulative = %ticket.cumulative, max_fee = %ticket.max_fee, "voucher accepted");
                Ok(admission)
            }
            Err(e) => {
                admission.done = true;
                if e.is_client_error() {
                    debug!(code = e.code(), reason = %e, "payment refused");
                } else {
                    warn!(code = e.code(), reason = %e, "payment check failed");
                }
                Err(e)
            }
        }
    }

    /// Meters an admitted request and records it: the inference row and the channel's new
    /// consumed amount are one ledger transaction, committed when this returns `Ok`.
    pub async fn settle(
        &self,
        mut admission: Admission,
        usage: Usage,
    ) -> PaymentResult<Settlement> {
        // The admission carries the state of the gate that admitted it.
        let inner = admission.gate.clone();
        let tokens_out = if usage.completion_tokens > admission.max_tokens {
            warn!(inference = %admission.inference_id, generated = usage.completion_tokens, max = admission.max_tokens, "more tokens than admitted; charging the maximum");
            admission.max_tokens
        } else {
            usage.completion_tokens
        };
        let (prompt, completion) = std::mem::take(&mut admission.texts);
        let mut record = InferenceRecord {
            seq: 0,
            id: admission.inference_id,
            payer: None,
            server: None,
            model_id: None,
            adapter: admission.adapter,
            tokens_in: admission.prompt_tokens,
            tokens_out: usage.completion_tokens,
            price_per_1k: U256::ZERO,
            fee: U256::ZERO,
            prompt_hash: admission.prompt_hash,
            output_hash: usage.output_hash,
            prompt,
            completion,
            voucher_cumulative: None,
            created_at: now_ms(),
        };
        let (Some(t), Some(paid)) = (admission.ticket, inner.paid.as_ref()) else {
            let seq = inner.ledger.record_inference(&record, None).await?;
            admission.done = true;
            return Ok(Settlement {
                inference_id: record.id,
                seq,
                fee: U256::ZERO,
                tokens_in: record.tokens_in,
                tokens_out: record.tokens_out,
                channel: None,
            });
        };
        let fee =
            fee_for_tokens(t.price_per_1k, admission.prompt_tokens.saturating_add(tokens_out))
                .min(t.max_fee);
        record.payer = Some(t.key.payer);
        record.server = Some(t.key.server);
        record.model_id = Some(t.key.model_id);
        record.price_per_1k = t.price_per_1k;
        record.fee = fee;
        record.voucher_cumulative = Some(t.cumulative);

        let writer = paid.writer(&t.key);
        let _guard = writer.lock().await;
        let previous = paid.book.lock().get(&t.key).map_or(U256::ZERO, |ch| ch.consumed);
        let consumption = Consumption { key: t.key, previous, new: previous.saturating_add(fee) };
        // On error the admission is dropped unsettled, which releases its reservation.
        let seq = inner.ledger.record_inference(&record, Some(&consumption)).await?;
        let summary = {
            let mut book = paid.book.lock();
            let ch = book.entry(t.key).or_default();
            ch.consumed = consumption.new;
            ch.reserved = ch.reserved.saturating_sub(t.max_fee);
            ChannelSummary { key: t.key, accepted: ch.accepted, consumed: ch.consumed }
        };
        admission.done = true;
        debug!(inference = %record.id, channel = %t.key, %fee, consumed = %summary.consumed, "inference settled");
        Ok(Settlement {
            inference_id: record.id,
            seq,
            fee,
            tokens_in: record.tokens_in,
            tokens_out: record.tokens_out,
            channel: Some(summary),
        })
    }
}

impl Paid {
    fn writer(&self, key: &ChannelKey) -> Arc<tokio::sync::Mutex<()>> {
        self.writers.lock().entry(*key).or_default().clone()
    }

    async fn model(&self, model_id: B256) -> PaymentResult<Option<ModelInfo>> {
        if let Some(m) = self.models.get(&model_id) {
            return Ok(m);
        }
        let m = self.chain.model(model_id).await.map_err(PaymentError::Chain)?;
        self.models.insert(model_id, m);
        Ok(m)
    }

    async fn payer(&self, payer: Address, fresh: bool) -> PaymentResult<PayerState> {
        if !fresh && let Some(p) = self.payers.get(&payer) {
            return Ok(p);
        }
        let p = self.chain.payer(payer).await.map_err(PaymentError::Chain)?;
        self.payers.insert(payer, p);
        Ok(p)
    }

    /// Re-reads what the escrow redeemed on each of the payer's channels.
    async fn refresh_redeemed(&self, payer: Address) -> PaymentResult<()> {
        let keys: Vec<ChannelKey> =
            self.book.lock().range(payer_range(payer)).map(|(k, _)| *k).collect();
        for key in keys {
            let redeemed = self.chain.redeemed(&key).await.map_err(PaymentError::Chain)?;
            if let Some(ch) = self.book.lock().get_mut(&key) {
                ch.redeemed = redeemed;
            }
        }
        Ok(())
    }

    async fn admit(
        &self,
        ledger: &Ledger,
        req: &AdmitRequest<'_>,
        inference_id: B256,
    ) -> PaymentResult<Ticket> {
        let header = req.voucher_header.ok_or(PaymentError::MissingVoucher)?;
        let sv = SignedVoucher::from_header(header).map_err(PaymentError::Malformed)?;
        let chain = self.config.chain;
        if let Some(id) = sv.chain_id
            && id != chain.chain_id
        {
            return Err(PaymentError::WrongDomain {
                field: "chainId",
                expected: chain.chain_id.to_string(),
                got: id.to_string(),
            });
        }
        if let Some(c) = sv.verifying_contract
            && c != chain.escrow
        {
            return Err(PaymentError::WrongDomain {
                field: "verifyingContract",
                expected: chain.escrow.to_string(),
                got: c.to_string(),
            });
        }
        let v = &sv.voucher;
        if v.server != self.config.server {
            return Err(PaymentError::WrongServer {
                server: self.config.server,
                voucher_server: v.server,
            });
        }
        sv.verify(&self.domain).map_err(PaymentError::Forged)?;

        let model_id = v.modelId;
        // Registrations, (de)activations and price changes show within the cache TTL.
        let model = self.model(model_id).await?.ok_or(PaymentError::UnknownModel(model_id))?;
        if !model.active {
            return Err(PaymentError::ModelInactive(model_id));
        }
        if model.adapter_hash != req.adapter {
            return Err(PaymentError::ModelMismatch {
                model_id,
                registered: model.adapter_hash,
                requested: req.adapter,
            });
        }
        let max_fee =
            fee_for_tokens(model.price_per_1k, req.prompt_tokens.saturating_add(req.max_tokens));
        let key = ChannelKey { payer: v.payer, server: v.server, model_id };
        let cumulative = v.cumulativeAmount;

        let writer = self.writer(&key);
        let result = {
            let _guard = writer.lock().await;
            self.reserve_and_store(ledger, &key, &sv, max_fee, inference_id).await
        };
        drop(writer);
        if result.is_err() {
            self.prune_writer(&key);
        }
        result?;
        Ok(Ticket { key, cumulative, price_per_1k: model.price_per_1k, max_fee })
    }

    /// Forgets the writer lock of a channel that has no state and no other user (so refused
    /// vouchers from throwaway keys do not grow the map).
    fn prune_writer(&self, key: &ChannelKey) {
        let mut writers = self.writers.lock();
        if writers.get(key).is_some_and(|w| Arc::strong_count(w) == 1)
            && !self.book.lock().contains_key(key)
        {
            writers.remove(key);
        }
    }

    /// With the channel's writer lock held: checks and reserves against the payer's escrow
    /// (re-reading the chain once on a shortfall), then stores the voucher.
    async fn reserve_and_store(
        &self,
        ledger: &Ledger,
        key: &ChannelKey,
        sv: &SignedVoucher,
        max_fee: U256,
        inference_id: B256,
    ) -> PaymentResult<()> {
        let cumulative = sv.voucher.cumulativeAmount;
        let mut state = self.payer(key.payer, false).await?;
        let mut refreshed = false;
        let (previous, stored) = loop {
            match self.reserve(key, cumulative, max_fee, &state) {
                Ok(previous) => break previous,
                // Maybe the payer deposited, or our view of redemptions is stale: read again,
                // at most once per request and once per `shortfall_refresh` per payer.
                Err(Refusal::Shortfall(_))
                    if !refreshed && state.fetched.elapsed() >= self.config.shortfall_refresh =>
                {
                    refreshed = true;
                    state = self.payer(key.payer, true).await?;
                    self.refresh_redeemed(key.payer).await?;
                }
                Err(Refusal::Shortfall(e) | Refusal::Final(e)) => return Err(*e),
            }
        };
        let record = VoucherRecord {
            seq: 0,
            key: *key,
            cumulative,
            signature: sv.signature.clone(),
            inference_id,
            accepted_at: now_ms(),
        };
        if let Err(e) = ledger.accept_voucher(&record, stored.then_some(previous)).await {
            // Undo the reservation: the writer lock is held, nothing else moved the channel.
            let mut book = self.book.lock();
            if let Some(ch) = book.get_mut(key) {
                ch.accepted = previous;
                ch.reserved = ch.reserved.saturating_sub(max_fee);
                if !stored && ch.reserved.is_zero() {
                    book.remove(key);
                }
            }
            return Err(e.into());
        }
        if let Some(ch) = self.book.lock().get_mut(key) {
            ch.stored = true;
        }
        if state.withdrawal.is_some()
            && let Some(trigger) = self.trigger.get()
        {
            trigger.nudge();
        }
        Ok(())
    }

    /// Checks the voucher against the channel and the payer's escrow, and reserves. Answers
    /// the channel's previous accepted amount and whether its row is stored.
    fn reserve(
        &self,
        key: &ChannelKey,
        cumulative: U256,
        max_fee: U256,
        state: &PayerState,
    ) -> Result<(U256, bool), Refusal> {
        let mut book = self.book.lock();
        let ch = book.get(key).copied().unwrap_or_default();
        if cumulative <= ch.accepted {
            return Err(Refusal::Final(Box::new(PaymentError::Replayed {
                key: *key,
                cumulative,
                accepted: ch.accepted,
            })));
        }
        let owed = ch.consumed.saturating_add(ch.reserved);
        let required = owed.saturating_add(max_fee);
        if cumulative < required {
            return Err(Refusal::Final(Box::new(PaymentError::Insufficient {
                cumulative,
                required,
                owed,
                max_fee,
            })));
        }
        // Everything this server may redeem from the payer once this voucher is accepted.
        let mut needed = cumulative.saturating_sub(ch.redeemed);
        for (k, other) in book.range(payer_range(key.payer)) {
            if k != key {
                needed = needed.saturating_add(other.accepted.saturating_sub(other.redeemed));
            }
        }
        if let Some(w) = state.withdrawal_due(self.config.withdrawal_margin) {
            let remaining = state.balance.saturating_sub(w.amount);
            if needed > remaining {
                return Err(Refusal::Shortfall(Box::new(PaymentError::WithdrawalPending {
                    payer: key.payer,
                    requested: w.amount,
                    unlock_at: w.unlock_at,
                    remaining,
                    needed,
                })));
            }
        }
        if needed > state.balance {
            return Err(Refusal::Shortfall(Box::new(PaymentError::Underfunded {
                payer: key.payer,
                balance: state.balance,
                needed,
            })));
        }
        let entry = book.entry(*key).or_default();
        entry.accepted = cumulative;
        entry.reserved = entry.reserved.saturating_add(max_fee);
        Ok((ch.accepted, ch.stored))
    }
}

/// All channel keys of one payer.
fn payer_range(payer: Address) -> std::ops::RangeInclusive<ChannelKey> {
    ChannelKey { payer, server: Address::ZERO, model_id: B256::ZERO }..=ChannelKey {
        payer,
        server: Address::repeat_byte(0xff),
        model_id: B256::repeat_byte(0xff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The futures the HTTP layer awaits must be `Send` (axum handlers, `tokio::spawn`).
    #[allow(dead_code, clippy::let_underscore_future)]
    fn futures_are_send(
        gate: &PaymentGate,
        admission: Admission,
        redeemer: &crate::payment::Redeemer,
    ) {
        fn is_send<T: Send>(_: T) {}
        let req = AdmitRequest {
            voucher_header: None,
            adapter: B256::ZERO,
            prompt_tokens: 0,
            max_tokens: 0,
            prompt_hash: B256::ZERO,
        };
        is_send(gate.admit(req));
        is_send(gate.settle(admission, Usage { completion_tokens: 0, output_hash: B256::ZERO }));
        is_send(redeemer.run_round());
        is_send(gate.clone());
    }
}
