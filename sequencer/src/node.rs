//! The node: the store, the state trie, the pool and the chain head, and the block producer
//! that ties them together.
//!
//! [`Node::open`] opens (or initialises) the database, rebuilds the state trie from it and
//! checks it against the head's state root. [`Node::spawn_miner`] starts block production
//! on its own thread: every `block_time` it takes the L1 info deposit and the deposits of any
//! new L1 origin first ([`crate::l1`]), then the pool's best transactions, executes them
//! ([`crate::execution`]), seals the block, commits it to disk in one transaction, and only then
//! publishes it (head, pool update, subscriptions). A failed
//! commit stops production (fail-stop): the in-memory trie would be ahead of the disk, and a
//! restart rebuilds it from what was committed.

use crate::{
    chainspec::ChainSpec,
    execution::{
        BlockAttributes, ExecutionError, TransactionSource, TxRejection, execute_block, seal_block,
    },
    genesis::genesis_changeset,
    l1::{Epoch, L1FeeParams, L1Info, L1Origin},
    pool::{BestTransactions, Pool, PoolConfig, PoolTransaction, SenderInfo},
    primitives::{SealedBlock, SealedHeader, Transaction, TxDeposit},
    storage::{ExecutedBlock, HistoricalStateDb, Store, StoreError, StoreReader},
    trie::StateTrie,
    validate::ValidTransaction,
};
use alloy_consensus::transaction::Recovered;
use alloy_primitives::{Address, B256, Bytes, Sealed, keccak256};
use parking_lot::{Mutex, RwLock};
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::broadcast;

pub use ol_primitives::predeploys::SEQUENCER_FEE_VAULT;
/// The shortest block time the producer accepts.
pub const MIN_BLOCK_TIME: Duration = Duration::from_millis(100);
/// Blocks kept in the subscription channel for slow subscribers before they miss some.
const EVENT_CHANNEL_CAPACITY: usize = 256;

/// Errors opening or running the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] crate::genesis::GenesisError),
    /// The data directory holds another chain.
    #[error(
        "the data directory holds a chain with genesis {stored}, but the configured genesis is {configured}: use another --datadir or the original genesis"
    )]
    GenesisMismatch {
        /// Genesis hash in the database.
        stored: B256,
        /// Genesis hash of the configuration.
        configured: B256,
    },
    /// The state rebuilt from the database does not match the head's state root.
    #[error(
        "state root mismatch at block {number}: header has {expected}, the stored state gives {actual}"
    )]
    StateRootMismatch {
        /// The head block.
        number: u64,
        /// The header's root.
        expected: B256,
        /// What the stored state hashes to.
        actual: B256,
    },
    /// Executing a block failed.
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// An I/O error (creating the data directory).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

/// How blocks are produced.
#[derive(Debug, Clone)]
pub struct BlockProductionConfig {
    /// Time between blocks (at least [`MIN_BLOCK_TIME`]).
    pub block_time: Duration,
    /// Gas limit of every block.
    pub gas_limit: u64,
    /// Produce a block even when there is nothing to include. Off by default: the chain then
    /// only advances when there are transactions or deposits, so an idle devnet stores
    /// nothing.
    pub empty_blocks: bool,
    /// Receives the priority fees.
    pub fee_recipient: Address,
    /// The L1-fee parameters written with every L1 info deposit.
    pub l1_fees: L1FeeParams,
}

impl Default for BlockProductionConfig {
    fn default() -> Self {
        Self {
            block_time: Duration::from_secs(1),
            gas_limit: crate::genesis::DEFAULT_GAS_LIMIT,
            empty_blocks: false,
            fee_recipient: SEQUENCER_FEE_VAULT,
            l1_fees: L1FeeParams::default(),
        }
    }
}

/// How far back `eth_getProof` reaches: proofs at an older block revert the state trie block
/// by block from the head, so their cost grows with the distance.
pub const MAX_PROOF_HISTORY: u64 = 100_000;

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The block is ahead of the head.
    #[error("block {0} is not known")]
    UnknownBlock(u64),
    /// The block is further back than [`MAX_PROOF_HISTORY`].
    #[error(
        "proofs reach back {MAX_PROOF_HISTORY} blocks from the head {head}; block {asked} is older"
    )]
    TooOld {
        /// The head.
        head: u64,
        /// The block asked for.
        asked: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trie's own checks failed (a bug, or a corrupt database).
    #[error("{0}")]
    Internal(String),
}

/// Why an epoch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L1OriginError {
    /// The epoch skips L1 blocks.
    #[error(
        "L1 block {got} does not follow the last known L1 origin {last}: send {expected} first"
    )]
    Gap {
        /// The last known origin's number.
        last: u64,
        /// The number expected next.
        expected: u64,
        /// The number offered.
        got: u64,
    },
    /// The epoch's parent is not the last known origin: L1 reorganised below the bridge's
    /// confirmation depth.
    #[error(
        "L1 block {number} has parent {parent}, but the L1 origin at {prev} is {known}: an L1 reorg below the confirmation depth"
    )]
    Reorg {
        /// The offered block.
        number: u64,
        /// Its parent hash.
        parent: B256,
        /// The previous number.
        prev: u64,
        /// The hash the L2 recorded for it.
        known: B256,
    },
}

/// What became of an offered epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AdvanceOutcome {
    /// Queued: the next block adopts it.
    Queued,
    /// The L2 already knows this L1 block (a resend after a restart); nothing changes.
    AlreadyKnown,
}

/// The L1 origins: the one the head block records, and the epochs waiting for a block.
#[derive(Debug, Default)]
struct L1State {
    /// The head's origin and sequence number (none before the first epoch).
    current: Option<(L1Origin, u64)>,
    /// Epochs handed over but not in a block yet, in L1 order.
    pending: Vec<Epoch>,
}

impl L1State {
    /// The newest origin the node knows, adopted or pending.
    fn latest(&self) -> Option<L1Origin> {
        self.pending.last().map(|e| e.origin).or(self.current.map(|(o, _)| o))
    }
}

/// Everything [`Node::open`] needs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the database lives (created if missing).
    pub datadir: PathBuf,
    /// The chain.
    pub spec: Arc<ChainSpec>,
    /// Block production.
    pub block: BlockProductionConfig,
    /// Pool limits.
    pub pool: PoolConfig,
}

/// A block the node committed, as subscribers see it.
pub type CommittedBlock = Arc<ExecutedBlock>;

/// The trie and the block whose state it holds, locked together.
#[derive(Debug)]
struct TrieState {
    /// The world state trie.
    trie: StateTrie,
    /// The block the trie's state belongs to.
    block: u64,
}

/// The running node's shared state.
#[derive(Debug)]
pub struct Node {
    spec: Arc<ChainSpec>,
    config: BlockProductionConfig,
    store: Store,
    trie: RwLock<TrieState>,
    pool: Pool<ValidTransaction>,
    head: RwLock<SealedHeader>,
    l1: Mutex<L1State>,
    events: broadcast::Sender<CommittedBlock>,
    stopping: AtomicBool,
    failed: Mutex<Option<String>>,
}

impl Node {
    /// Opens the database in `config.datadir` (writing the genesis block to a new one),
    /// rebuilds the state trie and checks it against the head's state root.
    pub fn open(config: NodeConfig) -> Result<Arc<Self>, NodeError> {
        std::fs::create_dir_all(&config.datadir).map_err(|source| NodeError::Io {
            context: format!("cannot create the data directory {}", config.datadir.display()),
            source,
        })?;
        let store = Store::open(&config.datadir.join("chain.redb"))?;
        let genesis_header = config.spec.genesis_header()?;

        if store.head_number()?.is_none() {
            tracing::info!(hash = %genesis_header.hash(), "writing the genesis block");
            store.commit_block(&ExecutedBlock {
                block: SealedBlock {
                    header: genesis_header.clone(),
                    transactions: vec![],
                    senders: vec![],
                },
                receipts: vec![],
                changes: genesis_changeset(&config.spec.genesis),
                l1_origin: None,
            })?;
        }

        let reader = store.reader()?;
        let stored_genesis =
            reader.header(0)?.ok_or_else(|| StoreError::Corrupt("no genesis header".into()))?;
        if stored_genesis.hash() != genesis_header.hash() {
            return Err(NodeError::GenesisMismatch {
                stored: stored_genesis.hash(),
                configured: genesis_header.hash(),
            });
        }
        let head_number =
            reader.head_number()?.ok_or_else(|| StoreError::Corrupt("no head".into()))?;
        let head = reader
            .header(head_number)?
            .ok_or_else(|| StoreError::Corrupt(format!("no header for head {head_number}")))?;

        let started = Instant::now();
        let accounts = reader.all_accounts()?;
        let account_count = accounts.len();
        let trie = StateTrie::from_accounts(accounts);
        let root = trie.root();
        if root != head.state_root {
            return Err(NodeError::StateRootMismatch {
                number: head_number,
                expected: head.state_root,
                actual: root,
            });
        }
        tracing::info!(
            head = head_number,
            hash = %head.hash(),
            accounts = account_count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "state trie rebuilt and checked against the head's state root"
        );

        let current_origin = reader.l1_origin_at_or_before(head_number)?;
        let pool = Pool::new(config.pool);
        pool.set_base_fee(config.spec.next_base_fee(&head));
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        Ok(Arc::new(Self {
            spec: config.spec,
            config: config.block,
            store,
            trie: RwLock::new(TrieState { trie, block: head_number }),
            pool,
            head: RwLock::new(head),
            l1: Mutex::new(L1State { current: current_origin, pending: Vec::new() }),
            events,
            stopping: AtomicBool::new(false),
            failed: Mutex::new(None),
        }))
    }

    /// The chain spec.
    pub fn spec(&self) -> &Arc<ChainSpec> {
        &self.spec
    }

    /// Block production settings.
    pub fn block_config(&self) -> &BlockProductionConfig {
        &self.config
    }

    /// The transaction pool.
    pub fn pool(&self) -> &Pool<ValidTransaction> {
        &self.pool
    }

    /// The latest committed block's header.
    pub fn head(&self) -> SealedHeader {
        self.head.read().clone()
    }

    /// A consistent snapshot of the database.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        self.store.reader()
    }

    /// EIP-1186 account and storage proofs against the state root of block `number`. The
    /// latest block's come straight from the live trie; an older block's from a copy of it with
    /// the changes of the blocks since reverted (read from the history tables), whose root is
    /// checked against that block's header before any proof is handed out.
    pub fn account_proof(
        &self,
        address: Address,
        slots: &[B256],
        number: u64,
    ) -> Result<crate::trie::AccountProof, ProofError> {
        let internal = |e: crate::trie::TrieError| ProofError::Internal(e.to_string());
        // The live trie and a database snapshot at the same block: the trie may be one block
        // ahead while that block's commit is in flight.
        let (mut trie, reader) = loop {
            let guard = self.trie.read();
            if number == guard.block {
                return guard.trie.account_proof(address, slots).map_err(internal);
            }
            if number > guard.block {
                return Err(ProofError::UnknownBlock(number));
            }
            if guard.block - number > MAX_PROOF_HISTORY {
                return Err(ProofError::TooOld { head: guard.block, asked: number });
            }
            let reader = self.store.reader()?;
            if reader.head_number()? == Some(guard.block) {
                break (guard.trie.clone(), reader);
            }
            drop(guard);
            std::thread::sleep(Duration::from_millis(2));
        };
        let head = reader.head_number()?.unwrap_or_default();
        let mut changed: std::collections::BTreeMap<
            Address,
            std::collections::BTreeSet<alloy_primitives::U256>,
        > = Default::default();
        for block in number + 1..=head {
            for (account, keys) in reader.changed_keys(block)? {
                changed.entry(account).or_default().extend(keys);
            }
        }
        let mut updates = Vec::with_capacity(changed.len());
        for (account, keys) in changed {
            let info = reader.account_at(&account, number)?;
            let storage = keys
                .into_iter()
                .map(|key| Ok((key, reader.storage_at(&account, &key, number)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            updates.push((
                account,
                crate::trie::AccountUpdate { info, storage_wiped: false, storage },
            ));
        }
        let root = trie.apply(updates);
        let expected = reader.header(number)?.ok_or(ProofError::UnknownBlock(number))?.state_root;
        if root != expected {
            return Err(ProofError::Internal(format!(
                "the state reverted to block {number} hashes to {root}, its header has {expected}"
            )));
        }
        trie.account_proof(address, slots).map_err(internal)
    }

    /// Receives every block after it is committed.
    pub fn subscribe(&self) -> broadcast::Receiver<CommittedBlock> {
        self.events.subscribe()
    }

    /// The base fee of the next block.
    pub fn next_base_fee(&self) -> u64 {
        self.spec.next_base_fee(&self.head.read())
    }

    /// Hands the node a confirmed L1 block and its deposits: the next block adopts it (its
    /// deposits come first, after the L1 info deposit). This is the API the prover-bridge feeds.
    /// Epochs must come in L1 order, each the child of the previous one; one the node already
    /// knows is acknowledged without effect, so a bridge may resend after any restart.
    pub fn advance_l1_origin(&self, epoch: Epoch) -> Result<AdvanceOutcome, L1OriginError> {
        let mut l1 = self.l1.lock();
        if let Some(last) = l1.latest() {
            let number = epoch.origin.number;
            if number <= last.number {
                return Ok(AdvanceOutcome::AlreadyKnown);
            }
            if number != last.number + 1 {
                return Err(L1OriginError::Gap {
                    last: last.number,
                    expected: last.number + 1,
                    got: number,
                });
            }
            if epoch.origin.parent_hash != last.hash {
                return Err(L1OriginError::Reorg {
                    number,
                    parent: epoch.origin.parent_hash,
                    prev: last.number,
                    known: last.hash,
                });
            }
        }
        tracing::debug!(
            number = epoch.origin.number,
            deposits = epoch.deposits.len(),
            "L1 origin queued"
        );
        l1.pending.push(epoch);
        Ok(AdvanceOutcome::Queued)
    }

    /// The L1 origin of the head block and the newest one queued.
    pub fn l1_origin(&self) -> (Option<L1Origin>, Option<L1Origin>) {
        let l1 = self.l1.lock();
        (l1.current.map(|(o, _)| o), l1.latest())
    }

    /// Why block production stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }

    /// Adds a validated transaction to the pool, checking it against the latest state.
    pub fn add_transaction(&self, tx: ValidTransaction) -> Result<B256, crate::pool::PoolError> {
        let sender = tx.sender();
        let info = self.sender_info(&sender);
        let hash = tx.hash();
        self.pool.add(tx, info, self.next_base_fee())?;
        Ok(hash)
    }

    /// A sender's latest nonce and balance (zero for unknown accounts and on read errors,
    /// which the pool then treats as an empty account).
    pub fn sender_info(&self, sender: &Address) -> SenderInfo {
        match self.store.latest_account(sender) {
            Ok(Some(account)) => SenderInfo::new(account.nonce, account.balance),
            Ok(None) => SenderInfo::default(),
            Err(err) => {
                tracing::error!(%sender, %err, "cannot read a sender's account");
                SenderInfo::default()
            }
        }
    }

    /// Starts block production on its own thread; [`MinerHandle::stop`] ends it after the
    /// block in progress.
    pub fn spawn_miner(self: &Arc<Self>) -> MinerHandle {
        let node = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("ol-miner".into())
            .spawn(move || node.mine_loop())
            .expect("spawning a thread only fails when the OS is out of resources");
        MinerHandle { node: Arc::clone(self), thread: Some(thread) }
    }

    fn mine_loop(&self) {
        let block_time = self.config.block_time.max(MIN_BLOCK_TIME);
        let mut next = Instant::now() + block_time;
        while !self.stopping.load(Ordering::Acquire) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(50)));
                continue;
            }
            next += block_time;
            // After a long block (or a suspended machine), keep the cadence from now on
            // instead of producing a burst of catch-up blocks.
            if next < Instant::now() {
                next = Instant::now() + block_time;
            }
            if let Err(err) = self.produce_block() {
                tracing::error!(%err, "block production failed; stopping it (restart the node to recover)");
                *self.failed.lock() = Some(err.to_string());
                return;
            }
        }
    }

    /// Builds, commits and publishes one block if there is anything to include (or if empty
    /// blocks are on). Returns the committed block.
    pub fn produce_block(&self) -> Result<Option<CommittedBlock>, NodeError> {
        // The block adopts every pending epoch at once (their deposits in L1 order), or carries
        // on with the current origin. Pending epochs stay queued until a block is committed.
        let (pending, current) = {
            let l1 = self.l1.lock();
            (l1.pending.clone(), l1.current)
        };
        let deposits: Vec<TxDeposit> = pending.iter().flat_map(|e| e.deposits.clone()).collect();
        let status = self.pool.status();
        if deposits.is_empty() && status.pending == 0 && !self.config.empty_blocks {
            return Ok(None);
        }
        let l1_info = match (pending.last(), current) {
            (Some(epoch), _) => {
                Some(L1Info { origin: epoch.origin, sequence_number: 0, fees: self.config.l1_fees })
            }
            (None, Some((origin, seq))) => {
                Some(L1Info { origin, sequence_number: seq + 1, fees: self.config.l1_fees })
            }
            (None, None) => None,
        };
        let system_txs: Vec<TxDeposit> =
            l1_info.iter().map(L1Info::deposit).chain(deposits).collect();
        let started = Instant::now();
        let parent = self.head();
        let base_fee = self.spec.next_base_fee(&parent);
        let attributes = BlockAttributes {
            timestamp: unix_now().max(parent.timestamp),
            beneficiary: self.config.fee_recipient,
            gas_limit: self.config.gas_limit,
            // No L1 randomness yet: derived from the parent so that it is deterministic.
            prev_randao: keccak256(parent.hash()),
            parent_beacon_block_root: B256::ZERO,
            extra_data: Bytes::new(),
        };
        let mut source = PoolSource {
            deposits: system_txs.into_iter(),
            best: self.pool.best_transactions(base_fee),
            invalid: Vec::new(),
            current: None,
        };
        let reader = Arc::new(self.store.reader()?);
        let outcome = execute_block(
            &self.spec,
            HistoricalStateDb::latest(reader),
            &parent,
            &attributes,
            &mut source,
        )?;
        let invalid = std::mem::take(&mut source.invalid);
        if !invalid.is_empty() {
            self.pool.remove_transactions(invalid);
        }
        if outcome.transactions.is_empty() && !self.config.empty_blocks {
            return Ok(None);
        }
        let executed_in = started.elapsed();

        let mut executed = {
            let mut trie = self.trie.write();
            let executed = seal_block(outcome, &mut trie.trie);
            trie.block = executed.block.number();
            executed
        };
        executed.l1_origin = l1_info.map(|info| (info.origin, info.sequence_number));
        let sealed_in = started.elapsed() - executed_in;
        self.store.commit_block(&executed)?;
        let committed_in = started.elapsed() - executed_in - sealed_in;

        let header = executed.block.header.clone();
        *self.head.write() = header.clone();
        {
            let mut l1 = self.l1.lock();
            l1.pending.drain(..pending.len());
            l1.current = executed.l1_origin;
        }
        let next_base_fee = self.spec.next_base_fee(&header);
        let changed = executed.changes.accounts.iter().map(|(address, update)| {
            let info = update
                .info
                .map_or_else(SenderInfo::default, |a| SenderInfo::new(a.nonce, a.balance));
            (*address, info)
        });
        let mined = executed.block.transactions.iter().map(Transaction::tx_hash);
        let pool = self.pool.on_block_committed(changed, mined, next_base_fee);
        metrics::gauge!("ol_pool_pending").set(pool.pending as f64);
        metrics::gauge!("ol_pool_queued").set(pool.queued as f64);

        let txs = executed.block.transactions.len();
        metrics::counter!("ol_blocks_total").increment(1);
        metrics::counter!("ol_transactions_total").increment(txs as u64);
        metrics::counter!("ol_gas_total").increment(header.gas_used);
        metrics::gauge!("ol_head_number").set(header.number as f64);
        metrics::histogram!("ol_block_execute_seconds").record(executed_in.as_secs_f64());
        metrics::histogram!("ol_block_seal_seconds").record(sealed_in.as_secs_f64());
        metrics::histogram!("ol_block_commit_seconds").record(committed_in.as_secs_f64());
        tracing::info!(
            number = header.number,
            hash = %header.hash(),
            txs,
            gas_used = header.gas_used,
            base_fee = header.base_fee_per_gas.unwrap_or_default(),
            execute_ms = executed_in.as_millis() as u64,
            seal_ms = sealed_in.as_millis() as u64,
            commit_ms = committed_in.as_millis() as u64,
            "block committed"
        );
        let committed = Arc::new(executed);
        // No subscribers is not an error.
        let _ = self.events.send(Arc::clone(&committed));
        Ok(Some(committed))
    }
}

/// Registers the descriptions of the node's metrics (shown by the Prometheus exporter).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("ol_blocks_total", "Blocks committed");
    describe_counter!("ol_transactions_total", "Transactions included in committed blocks");
    describe_counter!("ol_gas_total", "Gas used by committed blocks");
    describe_counter!(
        "ol_rpc_transactions_accepted_total",
        "Transactions accepted by eth_sendRawTransaction"
    );
    describe_gauge!("ol_head_number", "Number of the latest committed block");
    describe_gauge!("ol_pool_pending", "Executable transactions in the pool after the last block");
    describe_gauge!("ol_pool_queued", "Transactions waiting for a nonce gap or funds");
    describe_histogram!("ol_block_execute_seconds", "Time executing a block's transactions");
    describe_histogram!(
        "ol_block_seal_seconds",
        "Time computing a block's state root and other roots"
    );
    describe_histogram!("ol_block_commit_seconds", "Time writing a block to disk (durably)");
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Feeds a block: the L1 info deposit and the adopted epochs' deposits first, then the pool's
/// best transactions.
struct PoolSource {
    deposits: std::vec::IntoIter<TxDeposit>,
    best: BestTransactions<ValidTransaction>,
    /// Transactions revm refused: removed from the pool after the block.
    invalid: Vec<B256>,
    /// The pool transaction handed out last.
    current: Option<ValidTransaction>,
}

impl TransactionSource for PoolSource {
    fn next_transaction(&mut self) -> Option<Recovered<Transaction>> {
        if let Some(deposit) = self.deposits.next() {
            let from = deposit.from;
            self.current = None;
            return Some(Recovered::new_unchecked(
                Transaction::Deposit(Sealed::new(deposit)),
                from,
            ));
        }
        let tx = self.best.next()?;
        let recovered = tx.recovered().clone();
        self.current = Some(tx);
        Some(recovered)
    }

    fn on_rejected(&mut self, tx: &Recovered<Transaction>, reason: &TxRejection) -> bool {
        match &self.current {
            Some(pooled) => {
                self.best.mark_invalid(pooled);
                if matches!(reason, TxRejection::Invalid(_)) {
                    tracing::debug!(hash = %pooled.hash(), %reason, "dropping an invalid transaction");
                    self.invalid.push(pooled.hash());
                }
            }
            None => {
                tracing::error!(hash = %tx.inner().tx_hash(), %reason, "a deposit was rejected");
            }
        }
        true
    }
}

/// The block producer's thread.
#[derive(Debug)]
pub struct MinerHandle {
    node: Arc<Node>,
    thread: Option<JoinHandle<()>>,
}

impl MinerHandle {
    /// Stops block production after the block in progress and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.node.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // A panicked miner has already logged; nothing else to do.
            let _ = thread.join();
        }
    }
}

impl Drop for MinerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
