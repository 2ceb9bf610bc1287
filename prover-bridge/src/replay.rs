//! Replay: rebuild every L2 block from L1 data alone and check every root.
//!
//! Given an L1 endpoint, the L1 deployment and the L2 genesis, replay reads the batch inbox's
//! `submitBatch` calldata (from the batcher only), the portal's deposit events and the output
//! oracle's proposals; puts frames back together into channels ([`crate::codec`]); and for each
//! block, in order:
//!
//! 1. checks that it extends the chain it rebuilt (number, parent hash);
//! 2. checks its L1 origin: the first transaction is the L1 info deposit naming an L1 block that
//!    exists with that hash, origins never go back, sequence numbers count up within an origin,
//!    and a block adopting new origins carries exactly the deposits derived from those L1
//!    blocks' portal events, in order, and no other deposits ([`crate::deposits`]);
//! 3. re-executes it with the sequencer's own execution and sealing functions
//!    ([`ol_sequencer::memory::MemoryChain`]) and compares the state root and block hash with
//!    what the batch claims (and, with `--compare-rpc`, with the live sequencer);
//! 4. when an output root was posted for it and not deleted, recomputes it and compares.
//!
//! The first mismatch stops replay with an error naming the block, the expected and the actual
//! root. Data the derivation rules skip (frames that do not parse, channels that do not
//! decompress, blocks that do not extend the chain, payloads from another sender) is reported
//! and does not stop it.

use crate::{
    blocks::{attributes, recovered_transactions},
    codec::{BlockEntry, ChannelBank, ChannelBankConfig},
    deployments::L1Deployment,
    deposits::deposits_from_logs,
    error::BridgeError,
    output_root::OutputRoot,
    rpc::connect,
};
use alloy::{
    consensus::Transaction as _,
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
};
use alloy_primitives::B256;
use alloy_sol_types::{SolCall, SolEvent};
use indicatif::{ProgressBar, ProgressStyle};
use ol_primitives::contracts::{
    batch_inbox::IBatchInbox,
    open_portal::IOpenPortal::TransactionDeposited,
    output_oracle::IOutputOracle::{OutputProposed, OutputsDeleted},
};
use ol_sequencer::{
    chainspec::ChainSpec,
    l1::{DEPOSITOR_ACCOUNT, L1Info, L1Origin},
    memory::MemoryChain,
    primitives::{Transaction, TxDeposit},
};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

/// L1 blocks read per `eth_getLogs` call.
const LOG_RANGE: u64 = 2_000;

/// What replay checks against, and how.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The L1 endpoint.
    pub l1_rpc: String,
    /// The L1 contracts.
    pub deployment: L1Deployment,
    /// The L2 chain (its genesis).
    pub spec: Arc<ChainSpec>,
    /// A live sequencer to compare every block with.
    pub compare_rpc: Option<String>,
    /// Show a progress bar.
    pub progress: bool,
}

/// Why replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A root differs from the one L1 (or the live sequencer) holds.
    #[error("MISMATCH at L2 block {block}: {what} expected {expected}, replay computed {actual}")]
    Mismatch {
        /// The L2 block.
        block: u64,
        /// Which root.
        what: &'static str,
        /// The root posted on L1 (or claimed by the batch, or served by the sequencer).
        expected: B256,
        /// The root replay computed.
        actual: B256,
    },
    /// A block breaks a derivation rule (its L1 origin or deposits).
    #[error("INVALID L2 block {block}: {reason}")]
    Invalid {
        /// The L2 block.
        block: u64,
        /// Which rule.
        reason: String,
    },
    /// An output root was posted for a block that L1's batches do not contain.
    #[error(
        "the output root posted for L2 block {block} cannot be checked: L1's batches end at block {derived}"
    )]
    OutputBeyondBatches {
        /// The block of the output.
        block: u64,
        /// The last block derived.
        derived: u64,
    },
    /// Reading L1 failed.
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

/// What replay found.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// L2 blocks rebuilt and checked.
    pub blocks: u64,
    /// Transactions re-executed.
    pub transactions: u64,
    /// Gas re-executed.
    pub gas: u64,
    /// Output roots recomputed and matched.
    pub outputs_checked: u64,
    /// Output roots the guardian deleted (not checked).
    pub outputs_deleted: u64,
    /// Batch payloads read.
    pub payloads: u64,
    /// Compressed bytes of the channels decoded.
    pub compressed_bytes: u64,
    /// RLP bytes of the blocks in them.
    pub rlp_bytes: u64,
    /// What the derivation rules skipped, with reasons.
    pub skipped: Vec<String>,
    /// Time spent.
    pub elapsed: Duration,
    /// The last block rebuilt: number and hash.
    pub head: (u64, B256),
}

/// An output root as posted, and whether the guardian deleted it.
#[derive(Debug, Clone, Copy)]
struct PostedOutput {
    root: B256,
    l2_block: u64,
}

/// Everything replay reads from L1, gathered up front.
#[derive(Debug, Default)]
struct L1Data {
    /// (L1 block, payload) in L1 order, from the batcher only.
    payloads: Vec<(u64, alloy_primitives::Bytes)>,
    /// Deposits per L1 block.
    deposits: HashMap<u64, Vec<TxDeposit>>,
    /// Live outputs by L2 block.
    outputs: BTreeMap<u64, B256>,
    /// Deleted outputs.
    deleted: u64,
    skipped: Vec<String>,
}

async fn logs(
    l1: &DynProvider,
    filter: Filter,
    from: u64,
    to: u64,
) -> Result<Vec<Log>, BridgeError> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start + LOG_RANGE - 1);
        let f = filter.clone().from_block(start).to_block(end);
        out.extend(l1.get_logs(&f).await.map_err(BridgeError::rpc("reading L1 logs"))?);
        start = end + 1;
    }
    Ok(out)
}

async fn read_l1(
    l1: &DynProvider,
    deployment: &L1Deployment,
    head: u64,
) -> Result<L1Data, BridgeError> {
    let from = deployment.start_block;
    let contracts = &deployment.contracts;
    let mut data = L1Data::default();

    // Batches: the inbox's events point at the transactions; their calldata is the payload.
    let batch_logs = logs(
        l1,
        Filter::new()
            .address(contracts.batch_inbox)
            .event_signature(IBatchInbox::BatchSubmitted::SIGNATURE_HASH),
        from,
        head,
    )
    .await?;
    for log in batch_logs {
        let (Some(tx_hash), Some(block)) = (log.transaction_hash, log.block_number) else {
            continue;
        };
        let tx = l1
            .get_transaction_by_hash(tx_hash)
            .await
            .map_err(BridgeError::rpc("reading a batch transaction"))?
            .ok_or_else(|| {
                BridgeError::Decode(format!("batch transaction {tx_hash} is missing"))
            })?;
        if tx.inner.signer() != deployment.roles.batcher {
            data.skipped.push(format!(
                "L1 block {block}: payload from {} (not the batcher) skipped",
                tx.inner.signer()
            ));
            continue;
        }
        match IBatchInbox::submitBatchCall::abi_decode(tx.input()) {
            Ok(call) => data.payloads.push((block, call._data)),
            Err(e) => {
                data.skipped.push(format!("L1 block {block}: batch calldata does not decode: {e}"))
            }
        }
    }

    // Deposits, grouped by L1 block.
    let deposit_logs = logs(
        l1,
        Filter::new()
            .address(contracts.open_portal)
            .event_signature(TransactionDeposited::SIGNATURE_HASH),
        from,
        head,
    )
    .await?;
    let mut by_block: BTreeMap<u64, (B256, Vec<Log>)> = BTreeMap::new();
    for log in deposit_logs {
        let (Some(number), Some(hash)) = (log.block_number, log.block_hash) else { continue };
        by_block.entry(number).or_insert_with(|| (hash, Vec::new())).1.push(log);
    }
    for (number, (hash, logs)) in by_block {
        let (deposits, skipped) = deposits_from_logs(hash, contracts.open_portal, &logs);
        for s in skipped {
            data.skipped.push(format!(
                "L1 block {number}: deposit event {} skipped: {}",
                s.log_index, s.reason
            ));
        }
        data.deposits.insert(number, deposits);
    }

    // Outputs, in L1 order: proposals append, deletions truncate.
    let output_logs = logs(
        l1,
        Filter::new()
            .address(contracts.output_oracle)
            .event_signature(vec![OutputProposed::SIGNATURE_HASH, OutputsDeleted::SIGNATURE_HASH]),
        from,
        head,
    )
    .await?;
    let mut live: Vec<PostedOutput> = Vec::new();
    for log in output_logs {
        if let Ok(event) = OutputProposed::decode_log(&log.inner) {
            live.push(PostedOutput {
                root: event.outputRoot,
                l2_block: event.l2BlockNumber.saturating_to(),
            });
        } else if let Ok(event) = OutputsDeleted::decode_log(&log.inner) {
            let keep = event.newNextOutputIndex.saturating_to::<usize>();
            data.deleted += live.len().saturating_sub(keep) as u64;
            live.truncate(keep);
        }
    }
    data.outputs = live.into_iter().map(|o| (o.l2_block, o.root)).collect();
    Ok(data)
}

/// The derivation state carried from block to block.
struct Derivation {
    /// The origin of the last block and its sequence number.
    origin: Option<(L1Origin, u64)>,
    /// L1 block hashes read so far.
    l1_hashes: HashMap<u64, B256>,
}

impl Derivation {
    async fn l1_hash(
        &mut self,
        l1: &DynProvider,
        number: u64,
    ) -> Result<Option<B256>, BridgeError> {
        if let Some(hash) = self.l1_hashes.get(&number) {
            return Ok(Some(*hash));
        }
        let block = l1
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(BridgeError::rpc(format!("reading L1 block {number}")))?;
        let hash = block.map(|b| b.header.hash);
        if let Some(hash) = hash {
            self.l1_hashes.insert(number, hash);
        }
        Ok(hash)
    }

    /// Checks a block's L1 info deposit and its deposits against L1.
    async fn check_origin(
        &mut self,
        l1: &DynProvider,
        data: &L1Data,
        entry: &BlockEntry,
        txs: &[Transaction],
    ) -> Result<(), ReplayError> {
        let invalid = |reason: String| ReplayError::Invalid { block: entry.number, reason };
        let info = match txs.first() {
            Some(Transaction::Deposit(d)) if d.from == DEPOSITOR_ACCOUNT => {
                L1Info::decode(d).map_err(|e| invalid(format!("first transaction: {e}")))?
            }
            _ => {
                if self.origin.is_some() {
                    return Err(invalid(
                        "no L1 info deposit after the chain had an L1 origin".into(),
                    ));
                }
                if txs.iter().any(|t| t.is_deposit()) {
                    return Err(invalid("deposits in a block without an L1 origin".into()));
                }
                return Ok(());
            }
        };
        let number = info.origin.number;
        match self.l1_hash(l1, number).await? {
            Some(hash) if hash == info.origin.hash => {}
            Some(hash) => {
                return Err(ReplayError::Mismatch {
                    block: entry.number,
                    what: "L1 origin hash",
                    expected: hash,
                    actual: info.origin.hash,
                });
            }
            None => return Err(invalid(format!("its L1 origin {number} does not exist on L1"))),
        }
        let user_deposits: Vec<&TxDeposit> = txs
            .iter()
            .skip(1)
            .filter_map(|t| match t {
                Transaction::Deposit(d) => Some(d.inner()),
                _ => None,
            })
            .collect();
        let expected: Vec<&TxDeposit> = match self.origin {
            Some((prev, seq)) if prev.number == number => {
                if info.sequence_number != seq + 1 {
                    return Err(invalid(format!(
                        "sequence number {} after {seq} within L1 origin {number}",
                        info.sequence_number
                    )));
                }
                Vec::new()
            }
            Some((prev, _)) if number < prev.number => {
                return Err(invalid(format!(
                    "L1 origin went back from {} to {number}",
                    prev.number
                )));
            }
            prev => {
                if info.sequence_number != 0 {
                    return Err(invalid(format!(
                        "a new L1 origin {number} with sequence number {}",
                        info.sequence_number
                    )));
                }
                // Every L1 block adopted at once brings its deposits, in L1 order. The first
                // origin brings only its own block's (the rollup starts there).
                let first = prev.map_or(number, |(p, _)| p.number + 1);
                (first..=number).flat_map(|n| data.deposits.get(&n).into_iter().flatten()).collect()
            }
        };
        // Deposits must come right after the L1 info deposit, before any other transaction.
        let leading = txs.iter().skip(1).take_while(|t| t.is_deposit()).count();
        if leading != user_deposits.len() {
            return Err(invalid("a deposit after a user transaction".into()));
        }
        if user_deposits != expected {
            return Err(invalid(format!(
                "carries {} deposits, L1 blocks up to {number} hold {} (a dropped, invented or altered deposit)",
                user_deposits.len(),
                expected.len()
            )));
        }
        self.origin = Some((info.origin, info.sequence_number));
        Ok(())
    }
}

/// Replays the whole chain from L1; `Ok` only if every root matched.
pub async fn replay(config: &ReplayConfig) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    let l1 = connect(&config.l1_rpc)?;
    let compare = config.compare_rpc.as_deref().map(connect).transpose()?;
    let head = l1.get_block_number().await.map_err(BridgeError::rpc("reading the L1 head"))?;
    let data = read_l1(&l1, &config.deployment, head).await?;
    let mut report = ReplayReport {
        payloads: data.payloads.len() as u64,
        outputs_deleted: data.deleted,
        ..Default::default()
    };
    report.skipped.extend(data.skipped.iter().cloned());

    let mut chain = MemoryChain::from_genesis(Arc::clone(&config.spec))
        .map_err(|e| BridgeError::Config(format!("genesis: {e}")))?;
    let mut derivation = Derivation { origin: None, l1_hashes: HashMap::new() };
    let mut bank = ChannelBank::new(ChannelBankConfig::default());
    let bar = if config.progress { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} replay {elapsed_precise} L2 block {pos} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );

    for (l1_block, payload) in &data.payloads {
        for ignored in bank.ingest(*l1_block, payload) {
            report.skipped.push(format!("L1 block {l1_block}: {ignored}"));
        }
        for channel in bank.take_ready() {
            report.compressed_bytes += channel.compressed_len as u64;
            report.rlp_bytes += channel.blocks.iter().map(|b| b.rlp_len() as u64).sum::<u64>();
            for entry in channel.blocks {
                let head = chain.head();
                if entry.number <= head.number {
                    report.skipped.push(format!(
                        "L2 block {} again (already derived), skipped",
                        entry.number
                    ));
                    continue;
                }
                if entry.number != head.number + 1 || entry.parent_hash != head.hash() {
                    report.skipped.push(format!(
                        "L2 block {} does not extend block {} ({}), skipped",
                        entry.number,
                        head.number,
                        head.hash()
                    ));
                    continue;
                }
                let txs = crate::blocks::transactions(&entry)
                    .map_err(|reason| ReplayError::Invalid { block: entry.number, reason })?;
                derivation.check_origin(&l1, &data, &entry, &txs).await?;
                let recovered = recovered_transactions(&entry)
                    .map_err(|reason| ReplayError::Invalid { block: entry.number, reason })?;
                let executed = chain.execute(&attributes(&entry), recovered).map_err(|e| {
                    ReplayError::Invalid { block: entry.number, reason: e.to_string() }
                })?;
                let header = &executed.block.header;
                if header.state_root != entry.state_root {
                    return Err(ReplayError::Mismatch {
                        block: entry.number,
                        what: "state root",
                        expected: entry.state_root,
                        actual: header.state_root,
                    });
                }
                if header.hash() != entry.block_hash {
                    return Err(ReplayError::Mismatch {
                        block: entry.number,
                        what: "block hash",
                        expected: entry.block_hash,
                        actual: header.hash(),
                    });
                }
                if let Some(live) = &compare {
                    let served = live
                        .get_block_by_number(BlockNumberOrTag::Number(entry.number))
                        .await
                        .map_err(BridgeError::rpc(format!(
                            "reading L2 block {} from --compare-rpc",
                            entry.number
                        )))?;
                    let served = served.map(|b| b.header.hash).unwrap_or_default();
                    if served != header.hash() {
                        return Err(ReplayError::Mismatch {
                            block: entry.number,
                            what: "block hash (live sequencer)",
                            expected: served,
                            actual: header.hash(),
                        });
                    }
                }
                if let Some(posted) = data.outputs.get(&entry.number) {
                    // The header's withdrawalsRoot is the message passer's storage root.
                    let passer_root = header.withdrawals_root.unwrap_or_default();
                    let actual =
                        OutputRoot::v0(header.state_root, passer_root, header.hash()).hash();
                    if actual != *posted {
                        return Err(ReplayError::Mismatch {
                            block: entry.number,
                            what: "output root",
                            expected: *posted,
                            actual,
                        });
                    }
                    report.outputs_checked += 1;
                }
                report.blocks += 1;
                report.transactions += executed.block.transactions.len() as u64;
                report.gas += header.gas_used;
                bar.set_position(entry.number);
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{:.0} blocks/s, {:.1} Mgas/s",
                    report.blocks as f64 / secs,
                    report.gas as f64 / secs / 1e6
                ));
            }
        }
    }
    bar.finish_and_clear();
    let head = chain.head();
    report.head = (head.number, head.hash());
    if let Some((&block, _)) = data.outputs.range(head.number + 1..).next() {
        return Err(ReplayError::OutputBeyondBatches { block, derived: head.number });
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
