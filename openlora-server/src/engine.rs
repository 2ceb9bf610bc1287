//! The serving engine: continuous batching of requests for many adapters over one base model.
//!
//! ```text
//!  EngineHandle (any thread, Clone)            engine thread                 loader thread
//!  ─────────────────────────────────           ─────────────                 ─────────────
//!  submit(req) ── tokenize, check ──► Msg ──►  waiting queue                 
//!  add_adapter_* ── parse, validate ─► Msg ──► host LRU (warm)               
//!  remove_adapter ─────────────────► Msg ──►  evict                        
//!                                              loop:                        
//!                                               admit waiting requests ──► LoadJob (disk → host)
//!                                                 (adapter in slot? in host?   │
//!                                                  KV blocks free?)  ◄── Loaded┘
//!                                               one forward: decode tokens of
//!                                                 running + prompts of admitted
//!                                               sample, detokenize, stream events
//!  RequestStream ◄───────── Token / Done / Error events (tokio mpsc, async or blocking)
//!  folder watcher thread: polls a folder, adds new adapter folders, removes vanished ones
//! ```
//!
//! Adapters live in three tiers: disk (their folder, or bytes kept in memory when added as
//! bytes without a store), host memory (an LRU within `host_cache_bytes`), and device slots
//! (`max_loras` preallocated slots per targeted module and layer). A request whose adapter is
//! not in host memory waits in the queue while the loader thread reads it; other requests keep
//! running. Slots are reused least-recently-used among those no running request holds.

use crate::{
    adapter::{
        AdapterError, AdapterId, AdapterInfo, AdapterSpec, AdapterWeights, load_adapter_dir,
        parse_adapter, write_adapter_files,
    },
    config::{ConfigError, LlamaConfig},
    kv::{BlockTable, KvCache},
    lora::{AutoBackend, BgmvBackend, GatherBackend, GroupedBackend, LoraBackend, ModuleKind},
    metrics::{EngineMetrics, MetricsSnapshot},
    model::{Llama, LoraLayout, LoraStep, ModelError, StepBatch},
    sampling::{Sampler, SamplingParams, TextStream},
};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::{Path, PathBuf},
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};
use tch::{Device, Kind};
use tokenizers::Tokenizer;
use tokio::sync::mpsc as tmpsc;
use tracing::{debug, info, warn};

/// Errors of the engine API.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No adapter with this id is registered.
    #[error("unknown adapter {0}")]
    UnknownAdapter(AdapterId),
    /// The prompt leaves no room to generate within the context length.
    #[error(
        "prompt has {prompt} tokens, but the context length is {max}: prompt plus at least one \
         generated token must fit"
    )]
    PromptTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// `max_position_embeddings`.
        max: usize,
    },
    /// Prompt plus `max_tokens` exceeds the whole KV cache.
    #[error(
        "request needs {need} KV-cache tokens (prompt + max_tokens), but the cache holds {have}"
    )]
    ExceedsKvCache {
        /// Tokens needed.
        need: usize,
        /// Cache capacity in tokens.
        have: usize,
    },
    /// A parameter is out of range or the prompt is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The adapter could not be parsed or does not fit the model.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The adapter was registered, but reading it again from its source failed.
    #[error("adapter {id} could not be loaded: {reason}")]
    AdapterLoad {
        /// The adapter.
        id: AdapterId,
        /// Why.
        reason: String,
    },
    /// The adapter was removed while the request waited for it.
    #[error("adapter {0} was removed before the request could run")]
    AdapterRemoved(AdapterId),
    /// The model folder is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The model failed to build or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The tokenizer failed to load or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The engine has stopped.
    #[error("the engine has shut down")]
    Shutdown,
    /// Anything else (I/O on the adapter store, CUDA setup, ...).
    #[error("{0}")]
    Other(String),
}

/// Which batched LoRA kernel the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendKind {
    /// Grouped matmuls for adapters with many rows in the step (prompts), the BGMV kernel for
    /// the rest (decode tokens).
    #[default]
    Auto,
    /// The BGMV CPU kernel over the slots in place (f32/f64 on CPU; else as `gather`).
    Bgmv,
    /// Gather A/B by slot with `index_select`, then `bmm`: libtorch ops only, any device.
    Gather,
    /// Group rows by adapter, plain matmuls per group (SGMV-style).
    Grouped,
    /// The NVRTC kernels through cudarc (feature `cuda`).
    #[cfg(feature = "cuda")]
    Cuda,
}

impl BackendKind {
    /// The backend object.
    pub fn build(self) -> Result<Box<dyn LoraBackend>, EngineError> {
        Ok(match self {
            Self::Bgmv => Box::new(BgmvBackend),
            Self::Gather => Box::new(GatherBackend),
            Self::Grouped => Box::new(GroupedBackend),
            Self::Auto => Box::new(AutoBackend::default()),
            #[cfg(feature = "cuda")]
            Self::Cuda => Box::new(
                crate::cuda::CudaBackend::open(0).map_err(|e| EngineError::Other(e.to_string()))?,
            ),
        })
    }
}

/// Engine settings. `EngineConfig::new(model_dir)` gives defaults; fields are public.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The Hugging Face model folder.
    pub model_dir: PathBuf,
    /// Compute device.
    pub device: Device,
    /// Weight and activation dtype (`Float` by default; `Double` for exactness checks).
    pub dtype: Kind,
    /// Device adapter slots.
    pub max_loras: usize,
    /// Highest adapter rank accepted.
    pub max_lora_rank: usize,
    /// Modules adapters may target.
    pub lora_modules: Vec<ModuleKind>,
    /// How device slots store adapters: `None` for the model's dtype, `Some(Kind::BFloat16)` to
    /// halve what each row's LoRA reads (the adapter is then served rounded to bf16).
    pub lora_dtype: Option<Kind>,
    /// Host-memory adapter cache budget in bytes.
    pub host_cache_bytes: usize,
    /// Most sequences in the running batch.
    pub max_batch: usize,
    /// Most tokens in one step (decode tokens plus admitted prompts); one prompt always fits.
    pub max_batched_tokens: usize,
    /// Tokens per KV-cache block.
    pub kv_block_size: usize,
    /// KV-cache size in tokens (default: `max_batch` full contexts).
    pub kv_cache_tokens: Option<usize>,
    /// Folder where adapters added as bytes are written (`<store>/<id>/`); without it they are
    /// kept in memory.
    pub adapter_store: Option<PathBuf>,
    /// Folder to watch for adapter subfolders.
    pub watch_dir: Option<PathBuf>,
    /// How often the watched folder is scanned.
    pub watch_interval: Duration,
    /// The LoRA kernel.
    pub backend: BackendKind,
    /// Names an adapter's `base_model_name_or_path` may give (default: the config's
    /// `_name_or_path` and the folder's name). Empty: no name check (dimensions are still
    /// checked).
    pub model_names: Option<Vec<String>>,
    /// libtorch intra-op threads for the engine (None: libtorch's default).
    pub threads: Option<i32>,
}

impl EngineConfig {
    /// Defaults: CPU, f32, 32 slots of rank ≤ 16 on all seven modules, 1 GiB host cache,
    /// batches of 32 sequences and 2,048 tokens, 16-token KV blocks.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            device: Device::Cpu,
            dtype: Kind::Float,
            max_loras: 32,
            max_lora_rank: 16,
            lora_modules: ModuleKind::ALL.to_vec(),
            lora_dtype: None,
            host_cache_bytes: 1 << 30,
            max_batch: 32,
            max_batched_tokens: 2048,
            kv_block_size: 16,
            kv_cache_tokens: None,
            adapter_store: None,
            watch_dir: None,
            watch_interval: Duration::from_millis(500),
            backend: BackendKind::default(),
            model_names: None,
            threads: None,
        }
    }
}

/// A prompt: text (tokenized by the model's tokenizer) or token ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Plain text.
    Text(String),
    /// Token ids.
    Tokens(Vec<u32>),
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The adapter (`None`: the base model).
    pub adapter: Option<AdapterId>,
    /// The prompt.
    pub prompt: Prompt,
    /// Decoding parameters.
    pub params: SamplingParams,
}

/// A request checked and tokenized by [`EngineHandle::prepare`], ready to queue.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    adapter: Option<AdapterId>,
    prompt: Vec<u32>,
    params: SamplingParams,
}

impl PreparedRequest {
    /// The adapter.
    pub const fn adapter(&self) -> Option<AdapterId> {
        self.adapter
    }

    /// The prompt's token ids (the BOS token for an empty prompt).
    pub fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    /// The decoding parameters, `max_tokens` clamped to what the context leaves.
    pub const fn params(&self) -> &SamplingParams {
        &self.params
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// End-of-sequence token or a stop sequence.
    Stop,
    /// `max_tokens` (or the context length) reached.
    Length,
}

/// Token counts of one request (what the usage ledger bills).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens (including an EOS token or the one that completed a stop sequence).
    pub completion_tokens: usize,
}

/// What a request's stream carries.
#[derive(Debug)]
pub enum Event {
    /// A generated token and the text it settled (may be empty while held back).
    Token {
        /// Token id.
        id: u32,
        /// Text delta.
        text: String,
    },
    /// The end: no more events follow.
    Done {
        /// Why.
        finish_reason: FinishReason,
        /// Counts.
        usage: Usage,
        /// Milliseconds from submit to the first token.
        ttft_ms: f64,
    },
    /// The request failed after it was accepted; no more events follow.
    Error(EngineError),
}

/// A whole completion, collected from a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Generated text (without a stop sequence that ended it).
    pub text: String,
    /// Generated token ids.
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Counts.
    pub usage: Usage,
    /// Milliseconds from submit to the first token.
    pub ttft_ms: f64,
}

/// The events of one request. Dropping it cancels the request.
#[derive(Debug)]
pub struct RequestStream {
    /// Engine-assigned request id.
    pub id: u64,
    /// Prompt tokens (after tokenization).
    pub prompt_tokens: usize,
    rx: tmpsc::UnboundedReceiver<Event>,
}

impl RequestStream {
    /// The next event (async); `None` after `Done`/`Error`.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event, blocking the thread (not for use inside an async runtime).
    pub fn blocking_next(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }

    fn fold(acc: &mut (String, Vec<u32>), event: Event) -> Result<Option<Completion>, EngineError> {
        match event {
            Event::Token { id, text } => {
                acc.0.push_str(&text);
                acc.1.push(id);
                Ok(None)
            }
            Event::Done { finish_reason, usage, ttft_ms } => Ok(Some(Completion {
                text: std::mem::take(&mut acc.0),
                tokens: std::mem::take(&mut acc.1),
                finish_reason,
                usage,
                ttft_ms,
            })),
            Event::Error(e) => Err(e),
        }
    }

    /// Waits for the whole completion (async).
    pub async fn collect(mut self) -> Result<Completion, EngineError> {
        let mut acc = Default::default();
        while let Some(ev) = self.next().await {
            if let Some(done) = Self::fold(&mut acc, ev)? {
                return Ok(done);
            }
        }
        Err(EngineError::Shutdown)
    }

    /// Waits for the whole completion, blocking the thread.
    pub fn collect_blocking(mut self) -> Result<Completion, EngineError> {
        let mut acc = Default::default();
        while let Some(ev) = self.blocking_next() {
            if let Some(done) = Self::fold(&mut acc, ev)? {
                return Ok(done);
            }
        }
        Err(EngineError::Shutdown)
    }
}

/// Where an adapter is right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Only on disk (or as registered bytes).
    Disk,
    /// In the host-memory cache.
    Host,
    /// In a device slot (and so also ready to run).
    Device,
}

/// An adapter as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdapterStatus {
    /// What the files say.
    #[serde(flatten)]
    pub info: AdapterInfo,
    /// Its folder, if it has one.
    pub path: Option<PathBuf>,
    /// Where it is cached.
    pub tier: Tier,
}

#[derive(Debug, Clone)]
enum Source {
    Dir(PathBuf),
    Memory { config: Arc<Vec<u8>>, weights: Arc<Vec<u8>> },
}

#[derive(Debug, Clone)]
struct Entry {
    info: AdapterInfo,
    source: Source,
}

type Registry = Arc<RwLock<HashMap<AdapterId, Entry>>>;
type Tiers = Arc<Mutex<HashMap<AdapterId, Tier>>>;

enum Msg {
    Submit(Box<Seq>),
    Warm(AdapterId, AdapterWeights),
    Loaded { id: AdapterId, result: Result<AdapterWeights, String>, micros: u64 },
    Remove(AdapterId),
    Shutdown,
}

struct LoadJob {
    id: AdapterId,
    source: Source,
}

struct Shared {
    tx: mpsc::Sender<Msg>,
    registry: Registry,
    tiers: Tiers,
    spec: AdapterSpec,
    dtype: Kind,
    tokenizer: Arc<Tokenizer>,
    tokenizer_config: Option<serde_json::Value>,
    model_name: String,
    metrics: Arc<EngineMetrics>,
    next_id: AtomicU64,
    kv_tokens: usize,
    store: Option<PathBuf>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(thread) = self.thread.lock().take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// The running engine; clone it freely (all clones talk to one engine thread, which stops when
/// the last clone is dropped or [`EngineHandle::shutdown`] is called).
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("model", &self.shared.model_name)
            .finish_non_exhaustive()
    }
}

/// Starts engines.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Loads the model and tokenizer, then starts the engine, loader and (optionally) watcher
    /// threads. Errors in the model folder are returned here.
    pub fn start(cfg: EngineConfig) -> Result<EngineHandle, EngineError> {
        if let Some(n) = cfg.threads {
            tch::set_num_threads(n);
        }
        if cfg.max_batch == 0 || cfg.max_batched_tokens == 0 || cfg.kv_block_size == 0 {
            return Err(EngineError::Other(
                "max_batch, max_batched_tokens and kv_block_size must be positive".into(),
            ));
        }
        let model_cfg = LlamaConfig::from_file(&cfg.model_dir.join("config.json"))?;
        let tokenizer =
            Tokenizer::from_file(cfg.model_dir.join("tokenizer.json")).map_err(|e| {
                EngineError::Tokenizer(format!(
                    "{}: {e}",
                    cfg.model_dir.join("tokenizer.json").display()
                ))
            })?;
        let layout = (cfg.max_loras > 0).then(|| LoraLayout {
            max_loras: cfg.max_loras,
            max_rank: cfg.max_lora_rank,
            modules: cfg.lora_modules.clone(),
            slot_dtype: cfg.lora_dtype,
        });
        let model = Llama::load(&cfg.model_dir, &model_cfg, layout, cfg.dtype, cfg.device)?;
        let kv_tokens =
            cfg.kv_cache_tokens.unwrap_or(cfg.max_batch * model_cfg.max_position_embeddings);
        let kv = model.new_kv_cache(kv_tokens.div_ceil(cfg.kv_block_size), cfg.kv_block_size);
        let backend = cfg.backend.build()?;
        let folder_name = cfg.model_dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let model_name = model_cfg
            .name_or_path
            .clone()
            .or(folder_name.clone())
            .unwrap_or_else(|| "model".into());
        let model_names = cfg.model_names.clone().unwrap_or_else(|| {
            let mut names = vec![model_name.clone()];
            names.extend(folder_name);
            names.push(cfg.model_dir.display().to_string());
            names
        });
        let spec = AdapterSpec {
            model: model_cfg.clone(),
            model_names,
            max_rank: cfg.max_lora_rank,
            modules: cfg.lora_modules.clone(),
        };
        let (tx, rx) = mpsc::channel();
        let (load_tx, load_rx) = mpsc::channel::<LoadJob>();
        let metrics = Arc::new(EngineMetrics::default());
        let registry: Registry = Default::default();
        let tiers: Tiers = Default::default();
        {
            let (tx, spec, dtype) = (tx.clone(), spec.clone(), cfg.dtype);
            std::thread::Builder::new()
                .name("openlora-loader".into())
                .spawn(move || loader(load_rx, tx, spec, dtype))
                .map_err(|e| EngineError::Other(format!("cannot start the loader thread: {e}")))?;
        }
        let tokenizer = Arc::new(tokenizer);
        let worker = Worker {
            eos: model_cfg.eos_token_id,
            model,
            kv,
            backend,
            tokenizer: tokenizer.clone(),
            rx,
            load_tx,
            registry: registry.clone(),
            tiers: tiers.clone(),
            metrics: metrics.clone(),
            host: HostCache {
                entries: HashMap::new(),
                used: 0,
                budget: cfg.host_cache_bytes,
                tick: 0,
            },
            slots: SlotTable::new(cfg.max_loras),
            loading: HashSet::new(),
            waiting: VecDeque::new(),
            running: Vec::new(),
            max_batch: cfg.max_batch,
            max_batched_tokens: cfg.max_batched_tokens,
            seed_base: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        };
        let threads = cfg.threads;
        let thread = std::thread::Builder::new()
            .name("openlora-engine".into())
            .spawn(move || {
                if let Some(n) = threads {
                    tch::set_num_threads(n);
                }
                worker.run()
            })
            .map_err(|e| EngineError::Other(format!("cannot start the engine thread: {e}")))?;
        let tokenizer_config = std::fs::read(cfg.model_dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let shared = Arc::new(Shared {
            tx,
            registry,
            tiers,
            spec,
            dtype: cfg.dtype,
            tokenizer,
            tokenizer_config,
            model_name,
            metrics,
            next_id: AtomicU64::new(1),
            kv_tokens: kv_tokens.div_ceil(cfg.kv_block_size) * cfg.kv_block_size,
            store: cfg.adapter_store.clone(),
            thread: Mutex::new(Some(thread)),
        });
        if let Some(dir) = cfg.watch_dir.clone() {
            let weak = Arc::downgrade(&shared);
            let interval = cfg.watch_interval;
            std::thread::Builder::new()
                .name("openlora-watch".into())
                .spawn(move || watch(weak, dir, interval))
                .map_err(|e| EngineError::Other(format!("cannot start the watcher thread: {e}")))?;
        }
        info!(model = %shared.model_name, backend = ?cfg.backend, slots = cfg.max_loras, "engine started");
        Ok(EngineHandle { shared })
    }
}

impl EngineHandle {
    /// Queues a request; events arrive on the returned stream. Unknown adapters, over-long
    /// prompts and bad parameters are refused here, before anything is queued.
    pub fn submit(&self, req: GenerateRequest) -> Result<RequestStream, EngineError> {
        let prepared = self.prepare(req)?;
        self.submit_prepared(prepared)
    }

    /// Checks and tokenizes a request without queueing it (what [`submit`](Self::submit) does
    /// first): the adapter is registered, the parameters are valid, the prompt fits the context
    /// (`max_tokens` is clamped to what it leaves) and the KV cache. A caller that must decide
    /// something on the exact token counts before any work is queued (the payment gate) calls
    /// this, then [`submit_prepared`](Self::submit_prepared).
    pub fn prepare(&self, req: GenerateRequest) -> Result<PreparedRequest, EngineError> {
        let s = &self.shared;
        req.params.validate().map_err(EngineError::InvalidRequest)?;
        if let Some(id) = req.adapter
            && !s.registry.read().contains_key(&id)
        {
            return Err(EngineError::UnknownAdapter(id));
        }
        let cfg = &s.spec.model;
        let mut prompt = match req.prompt {
            Prompt::Text(text) => s
                .tokenizer
                .encode(text, false)
                .map_err(|e| EngineError::Tokenizer(e.to_string()))?
                .get_ids()
                .to_vec(),
            Prompt::Tokens(ids) => ids,
        };
        if prompt.is_empty() {
            prompt.extend(cfg.bos_token_id);
        }
        if prompt.is_empty() {
            return Err(EngineError::InvalidRequest("the prompt is empty".into()));
        }
        if let Some(bad) = prompt.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(EngineError::InvalidRequest(format!(
                "token {bad} outside the vocabulary {}",
                cfg.vocab_size
            )));
        }
        let ctx = cfg.max_position_embeddings;
        if prompt.len() >= ctx {
            return Err(EngineError::PromptTooLong { prompt: prompt.len(), max: ctx });
        }
        let mut params = req.params;
        params.max_tokens = params.max_tokens.min(ctx - prompt.len());
        let need = prompt.len() + params.max_tokens;
        if need > s.kv_tokens {
            return Err(EngineError::ExceedsKvCache { need, have: s.kv_tokens });
        }
        Ok(PreparedRequest { adapter: req.adapter, prompt, params })
    }

    /// Queues a request [`prepare`](Self::prepare) checked. Fails only if the adapter was
    /// removed since, or the engine stopped.
    pub fn submit_prepared(&self, req: PreparedRequest) -> Result<RequestStream, EngineError> {
        let s = &self.shared;
        if let Some(id) = req.adapter
            && !s.registry.read().contains_key(&id)
        {
            return Err(EngineError::UnknownAdapter(id));
        }
        let id = s.next_id.fetch_add(1, Ordering::Relaxed);
        let (events, rx) = tmpsc::unbounded_channel();
        let prompt_tokens = req.prompt.len();
        let seq = Seq {
            id,
            adapter: req.adapter,
            prompt: req.prompt,
            generated: Vec::new(),
            sampler: None,
            params: req.params,
            text: TextStream::default(),
            events,
            blocks: None,
            slot: -1,
            submitted: Instant::now(),
            ttft_ms: 0.0,
        };
        s.tx.send(Msg::Submit(Box::new(seq))).map_err(|_| EngineError::Shutdown)?;
        EngineMetrics::add(&s.metrics.requests, "openlora_requests_total", 1);
        Ok(RequestStream { id, prompt_tokens, rx })
    }

    fn register(&self, info: AdapterInfo, source: Source, weights: AdapterWeights) -> AdapterInfo {
        let id = info.id;
        let mut registry = self.shared.registry.write();
        if let Some(existing) = registry.get(&id) {
            return existing.info.clone();
        }
        registry.insert(id, Entry { info: info.clone(), source });
        self.shared.tiers.lock().insert(id, Tier::Disk);
        drop(registry);
        let _ = self.shared.tx.send(Msg::Warm(id, weights));
        info!(adapter = %id, rank = info.rank, modules = ?info.target_modules, "adapter added");
        info
    }

    /// Adds the PEFT adapter in folder `dir` (validated now; kept warm in host memory). Adding
    /// an adapter already registered returns its info unchanged.
    pub fn add_adapter_dir(&self, dir: &Path) -> Result<AdapterInfo, EngineError> {
        let (info, tensors) =
            load_adapter_dir(dir, None, &self.shared.spec, self.shared.dtype, Device::Cpu)?;
        Ok(self.register(info, Source::Dir(dir.to_owned()), tensors))
    }

    /// Adds an adapter from its two files' bytes. With an adapter store configured the files
    /// are written to `<store>/<id>/`; otherwise the bytes are kept in memory.
    pub fn add_adapter_bytes(
        &self,
        config: &[u8],
        weights: &[u8],
    ) -> Result<AdapterInfo, EngineError> {
        let (info, tensors) =
            parse_adapter(config, weights, &self.shared.spec, self.shared.dtype, Device::Cpu)?;
        let source = match &self.shared.store {
            Some(store) => {
                let dir = store.join(info.id.to_string());
                write_adapter_files(&dir, config, weights)?;
                Source::Dir(dir)
            }
            None => Source::Memory {
                config: Arc::new(config.to_vec()),
                weights: Arc::new(weights.to_vec()),
            },
        };
        Ok(self.register(info, source, tensors))
    }

    /// Removes an adapter: new requests for it are refused, queued ones fail, running ones
    /// finish. Files are left where they are.
    pub fn remove_adapter(&self, id: &AdapterId) -> Result<AdapterInfo, EngineError> {
        let entry =
            self.shared.registry.write().remove(id).ok_or(EngineError::UnknownAdapter(*id))?;
        self.shared.tiers.lock().remove(id);
        let _ = self.shared.tx.send(Msg::Remove(*id));
        info!(adapter = %id, "adapter removed");
        Ok(entry.info)
    }

    /// Every registered adapter, sorted by id.
    pub fn list_adapters(&self) -> Vec<AdapterStatus> {
        let registry = self.shared.registry.read();
        let tiers = self.shared.tiers.lock();
        let mut out: Vec<AdapterStatus> = registry
            .values()
            .map(|e| AdapterStatus {
                info: e.info.clone(),
                path: match &e.source {
                    Source::Dir(p) => Some(p.clone()),
                    Source::Memory { .. } => None,
                },
                tier: tiers.get(&e.info.id).copied().unwrap_or(Tier::Disk),
            })
            .collect();
        out.sort_by_key(|s| s.info.id);
        out
    }

    /// One adapter's status.
    pub fn adapter(&self, id: &AdapterId) -> Option<AdapterStatus> {
        self.list_adapters().into_iter().find(|s| s.info.id == *id)
    }

    /// The model's tokenizer (for chat templates and token counting).
    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.shared.tokenizer
    }

    /// The model folder's `tokenizer_config.json`, if it has one (HF's special tokens and
    /// `chat_template`).
    pub fn tokenizer_config(&self) -> Option<&serde_json::Value> {
        self.shared.tokenizer_config.as_ref()
    }

    /// The Jinja chat template of `tokenizer_config.json` (`messages`, `add_generation_prompt`),
    /// for the HTTP layer to render chat requests into a prompt.
    pub fn chat_template(&self) -> Option<&str> {
        self.tokenizer_config()?.get("chat_template")?.as_str()
    }

    /// The end-of-sequence token, as text (from `tokenizer_config.json` or the config's id).
    pub fn eos_token(&self) -> Option<String> {
        if let Some(t) =
            self.tokenizer_config().and_then(|c| c.get("eos_token")).and_then(|t| t.as_str())
        {
            return Some(t.to_owned());
        }
        self.shared.spec.model.eos_token_id.and_then(|id| self.shared.tokenizer.id_to_token(id))
    }

    /// The base model's config.
    pub fn model_config(&self) -> &LlamaConfig {
        &self.shared.spec.model
    }

    /// The base model's name (`_name_or_path` or the folder name).
    pub fn model_name(&self) -> &str {
        &self.shared.model_name
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Stops the engine now: queued and running requests get [`EngineError::Shutdown`].
    pub fn shutdown(&self) {
        let _ = self.shared.tx.send(Msg::Shutdown);
        if let Some(thread) = self.shared.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn loader(jobs: mpsc::Receiver<LoadJob>, tx: mpsc::Sender<Msg>, spec: AdapterSpec, dtype: Kind) {
    for job in jobs {
        let start = Instant::now();
        let result = match &job.source {
            Source::Dir(dir) => load_adapter_dir(dir, Some(job.id), &spec, dtype, Device::Cpu),
            Source::Memory { config, weights } => {
                parse_adapter(config, weights, &spec, dtype, Device::Cpu)
            }
        }
        .map(|(_, weights)| weights)
        .map_err(|e| e.to_string());
        let micros = start.elapsed().as_micros() as u64;
        debug!(adapter = %job.id, micros, ok = result.is_ok(), "adapter loaded from disk");
        if tx.send(Msg::Loaded { id: job.id, result, micros }).is_err() {
            break;
        }
    }
}

fn watch(shared: Weak<Shared>, dir: PathBuf, interval: Duration) {
    type Stamp = (Option<SystemTime>, u64, Option<SystemTime>);
    let stamp = |p: &Path| -> Option<Stamp> {
        let w = std::fs::metadata(p.join(crate::adapter::ADAPTER_WEIGHTS)).ok()?;
        let c = std::fs::metadata(p.join(crate::adapter::ADAPTER_CONFIG)).ok()?;
        Some((w.modified().ok(), w.len(), c.modified().ok()))
    };
    let mut known: HashMap<PathBuf, (Option<AdapterId>, Stamp)> = HashMap::new();
    loop {
        let Some(shared) = shared.upgrade() else { return };
        let handle = EngineHandle { shared };
        let mut seen = HashSet::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>(),
            Err(e) => {
                warn!(dir = %dir.display(), "cannot read the watched adapter folder: {e}");
                Vec::new()
            }
        };
        for path in entries {
            let Some(st) = stamp(&path) else { continue };
            seen.insert(path.clone());
            if known.get(&path).is_some_and(|(_, old)| *old == st) {
                continue;
            }
            if let Some((Some(old), _)) = known.remove(&path) {
                let _ = handle.remove_adapter(&old);
            }
            match handle.add_adapter_dir(&path) {
                Ok(info) => {
                    info!(adapter = %info.id, path = %path.display(), "watched adapter added");
                    known.insert(path, (Some(info.id), st));
                }
                Err(e) => {
                    warn!(path = %path.display(), "skipping watched adapter: {e}");
                    known.insert(path, (None, st));
                }
            }
        }
        let gone: Vec<PathBuf> = known.keys().filter(|p| !seen.contains(*p)).cloned().collect();
        for path in gone {
            if let Some((Some(id), _)) = known.remove(&path) {
                let _ = handle.remove_adapter(&id);
            }
        }
        drop(handle);
        std::thread::sleep(interval);
    }
}

struct Seq {
    id: u64,
    adapter: Option<AdapterId>,
    prompt: Vec<u32>,
    generated: Vec<u32>,
    sampler: Option<Sampler>,
    params: SamplingParams,
    text: TextStream,
    events: tmpsc::UnboundedSender<Event>,
    blocks: Option<BlockTable>,
    slot: i64,
    submitted: Instant,
    ttft_ms: f64,
}

struct HostCache {
    entries: HashMap<AdapterId, (AdapterWeights, u64)>,
    used: usize,
    budget: usize,
    tick: u64,
}

impl HostCache {
    fn get(&mut self, id: &AdapterId) -> Option<&AdapterWeights> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(id).map(|e| {
            e.1 = tick;
            &e.0
        })
    }

    /// Inserts, evicting least-recently-used entries to stay within budget; returns the evicted.
    fn insert(&mut self, id: AdapterId, w: AdapterWeights) -> Vec<AdapterId> {
        let mut evicted = Vec::new();
        self.remove(&id);
        while self.used + w.bytes() > self.budget {
            let Some(oldest) = self.entries.iter().min_by_key(|e| e.1.1).map(|e| *e.0) else {
                break;
            };
            self.remove(&oldest);
            evicted.push(oldest);
        }
        self.tick += 1;
        self.used += w.bytes();
        self.entries.insert(id, (w, self.tick));
        evicted
    }

    fn remove(&mut self, id: &AdapterId) -> bool {
        match self.entries.remove(id) {
            Some((w, _)) => {
                self.used -= w.bytes();
                true
            }
            None => false,
        }
    }
}

struct SlotEntry {
    id: AdapterId,
    refs: usize,
    tick: u64,
    removed: bool,
}

struct SlotTable {
    slots: Vec<Option<SlotEntry>>,
    by_id: HashMap<AdapterId, usize>,
    targets: Vec<[bool; 7]>,
    tick: u64,
}

impl SlotTable {
    fn new(n: usize) -> Self {
        Self {
            slots: (0..n).map(|_| None).collect(),
            by_id: HashMap::new(),
            targets: vec![[false; 7]; n],
            tick: 0,
        }
    }

    fn acquire(&mut self, slot: usize) {
        self.tick += 1;
        if let Some(e) = self.slots[slot].as_mut() {
            e.refs += 1;
            e.tick = self.tick;
        }
    }

    /// A slot that holds nothing, or the least recently used one that no sequence holds.
    fn victim(&self) -> Option<usize> {
        if let Some(free) = self.slots.iter().position(Option::is_none) {
            return Some(free);
        }
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|e| e.refs == 0).map(|e| (e.tick, i)))
            .min()
            .map(|(_, i)| i)
    }
}

enum AdapterState {
    Ready(i64),
    Pending,
    Failed(EngineError),
}

struct Worker {
    model: Llama,
    kv: KvCache,
    backend: Box<dyn LoraBackend>,
    tokenizer: Arc<Tokenizer>,
    rx: mpsc::Receiver<Msg>,
    load_tx: mpsc::Sender<LoadJob>,
    registry: Registry,
    tiers: Tiers,
    metrics: Arc<EngineMetrics>,
    host: HostCache,
    slots: SlotTable,
    loading: HashSet<AdapterId>,
    waiting: VecDeque<Seq>,
    running: Vec<Seq>,
    max_batch: usize,
    max_batched_tokens: usize,
    eos: Option<u32>,
    seed_base: u64,
}

impl Worker {
    fn run(mut self) {
        'serve: loop {
            while let Ok(msg) = self.rx.try_recv() {
                if !self.handle(msg) {
                    break 'serve;
                }
            }
            let admitted = self.admit();
            EngineMetrics::set(
                &self.metrics.queue_depth,
                "openlora_queue_depth",
                self.waiting.len() as u64,
            );
            if self.running.is_empty() && admitted.is_empty() {
                // Nothing can run until something arrives: a request, an adapter, a load.
                match self.rx.recv() {
                    Ok(msg) => {
                        if self.handle(msg) {
                            continue;
                        }
                        break;
                    }
                    Err(_) => break,
                }
            }
            // A model error or a libtorch panic (device failure, out of memory) fails the
            // requests of this batch; the engine keeps serving the ones after.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step(admitted)));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(panic) => Some(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panic".into()),
                ),
            };
            if let Some(reason) = failure {
                warn!("engine step failed: {reason}");
                let running = std::mem::take(&mut self.running);
                for seq in running {
                    self.finish(
                        seq,
                        Err(EngineError::Other(format!("engine step failed: {reason}"))),
                    );
                }
            }
        }
        let pending: Vec<Seq> = self.waiting.drain(..).chain(self.running.drain(..)).collect();
        for seq in pending {
            let _ = seq.events.send(Event::Error(EngineError::Shutdown));
        }
        info!("engine stopped");
    }

    fn set_tier(&self, id: AdapterId, tier: Tier) {
        let registered = self.registry.read().contains_key(&id);
        let mut tiers = self.tiers.lock();
        if registered {
            tiers.insert(id, tier);
        } else {
            tiers.remove(&id);
        }
    }

    fn host_insert(&mut self, id: AdapterId, w: AdapterWeights) {
        for evicted in self.host.insert(id, w) {
            EngineMetrics::add(&self.metrics.host_evictions, "openlora_host_evictions_total", 1);
            if !self.slots.by_id.contains_key(&evicted) {
                self.set_tier(evicted, Tier::Disk);
            }
        }
        EngineMetrics::set(
            &self.metrics.host_cache_bytes,
            "openlora_host_cache_bytes",
            self.host.used as u64,
        );
        if !self.slots.by_id.contains_key(&id) {
            self.set_tier(id, Tier::Host);
        }
    }

    /// Returns false on shutdown.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Submit(seq) => self.waiting.push_back(*seq),
            Msg::Warm(id, w) => {
                if self.registry.read().contains_key(&id) {
                    self.host_insert(id, w);
                }
            }
            Msg::Loaded { id, result, micros } => {
                self.loading.remove(&id);
                match result {
                    Ok(w) => {
                        self.metrics.record_load(micros);
                        if self.registry.read().contains_key(&id) {
                            self.host_insert(id, w);
                        }
                    }
                    Err(reason) => {
                        EngineMetrics::add(
                            &self.metrics.load_failures,
                            "openlora_adapter_load_failures_total",
                            1,
                        );
                        warn!(adapter = %id, "adapter load failed: {reason}");
                        self.fail_waiting(id, |id| EngineError::AdapterLoad {
                            id,
                            reason: reason.clone(),
                        });
                    }
                }
            }
            Msg::Remove(id) => {
                self.host.remove(&id);
                EngineMetrics::set(
                    &self.metrics.host_cache_bytes,
                    "openlora_host_cache_bytes",
                    self.host.used as u64,
                );
                if let Some(slot) = self.slots.by_id.remove(&id) {
                    if let Some(e) = self.slots.slots[slot].as_mut() {
                        e.removed = true;
                    }
                    self.release_slot(slot as i64, false);
                }
                self.fail_waiting(id, EngineError::AdapterRemoved);
            }
            Msg::Shutdown => return false,
        }
        true
    }

    fn fail_waiting(&mut self, id: AdapterId, err: impl Fn(AdapterId) -> EngineError) {
        let (failed, kept): (Vec<Seq>, Vec<Seq>) =
            self.waiting.drain(..).partition(|s| s.adapter == Some(id));
        self.waiting = kept.into();
        for seq in failed {
            self.finish(seq, Err(err(id)));
        }
    }

    /// Drops one reference to a slot (when `deref`), and frees it if its adapter was removed
    /// and no sequence holds it.
    fn release_slot(&mut self, slot: i64, deref: bool) {
        if slot < 0 {
            return;
        }
        let slot = slot as usize;
        let free = match self.slots.slots[slot].as_mut() {
            Some(e) => {
                if deref {
                    e.refs = e.refs.saturating_sub(1);
                }
                e.removed && e.refs == 0
            }
            None => false,
        };
        if free {
            self.slots.slots[slot] = None;
            self.slots.targets[slot] = [false; 7];
            if let Err(e) = self.model.reset_lora(slot) {
                warn!("cannot reset adapter slot {slot}: {e}");
            }
        }
    }

    fn ensure_adapter(&mut self, id: AdapterId) -> AdapterState {
        if let Some(&slot) = self.slots.by_id.get(&id) {
            self.slots.acquire(slot);
            EngineMetrics::add(&self.metrics.slot_hits, "openlora_adapter_slot_hits_total", 1);
            return AdapterState::Ready(slot as i64);
        }
        if self.host.entries.contains_key(&id) {
            let Some(slot) = self.slots.victim() else { return AdapterState::Pending };
            let Some(weights) = self.host.get(&id) else { return AdapterState::Pending };
            let targets = weights.target_mask();
            if let Err(e) = self.model.set_lora(slot, weights) {
                return AdapterState::Failed(EngineError::Model(e));
            }
            if let Some(old) = self.slots.slots[slot].take() {
                self.slots.by_id.remove(&old.id);
                let tier =
                    if self.host.entries.contains_key(&old.id) { Tier::Host } else { Tier::Disk };
                self.set_tier(old.id, tier);
            }
            self.slots.slots[slot] = Some(SlotEntry { id, refs: 0, tick: 0, removed: false });
            self.slots.targets[slot] = targets;
            self.slots.by_id.insert(id, slot);
            self.slots.acquire(slot);
            self.set_tier(id, Tier::Device);
            EngineMetrics::add(&self.metrics.host_hits, "openlora_adapter_host_hits_total", 1);
            return AdapterState::Ready(slot as i64);
        }
        if !self.loading.contains(&id) {
            let source = self.registry.read().get(&id).map(|e| e.source.clone());
            let Some(source) = source else {
                return AdapterState::Failed(EngineError::AdapterRemoved(id));
            };
            if self.load_tx.send(LoadJob { id, source }).is_err() {
                return AdapterState::Failed(EngineError::Shutdown);
            }
            self.loading.insert(id);
        }
        AdapterState::Pending
    }

    /// Moves waiting requests into the batch while sequences, tokens, slots and KV blocks
    /// allow; returns the admitted ones (to be prefilled this step).
    fn admit(&mut self) -> Vec<Seq> {
        let mut admitted: Vec<Seq> = Vec::new();
        let mut budget = self.max_batched_tokens.saturating_sub(self.running.len());
        let mut i = 0;
        while i < self.waiting.len() && self.running.len() + admitted.len() < self.max_batch {
            let prompt_len = self.waiting[i].prompt.len();
            if prompt_len > budget && !(self.running.is_empty() && admitted.is_empty()) {
                break;
            }
            let slot = match self.waiting[i].adapter {
                None => -1,
                Some(id) => match self.ensure_adapter(id) {
                    AdapterState::Ready(slot) => slot,
                    AdapterState::Pending => {
                        i += 1;
                        continue;
                    }
                    AdapterState::Failed(e) => {
                        if let Some(seq) = self.waiting.remove(i) {
                            self.finish(seq, Err(e));
                        }
                        continue;
                    }
                },
            };
            let need = prompt_len + self.waiting[i].params.max_tokens;
            let Some(blocks) = self.kv.allocate(need) else {
                self.release_slot(slot, true);
                break;
            };
            let Some(mut seq) = self.waiting.remove(i) else { break };
            seq.blocks = Some(blocks);
            seq.slot = slot;
            seq.sampler = Some(Sampler::new(
                &seq.params,
                self.seed_base ^ seq.id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ));
            budget = budget.saturating_sub(prompt_len);
            admitted.push(seq);
        }
        admitted
    }

    fn step(&mut self, admitted: Vec<Seq>) -> Result<(), ModelError> {
        let start = Instant::now();
        let mut batch = StepBatch::default();
        let slot_of = |kv: &KvCache, seq: &Seq, pos: usize| -> Result<i64, ModelError> {
            seq.blocks.as_ref().and_then(|b| kv.slot(b, pos)).ok_or_else(|| {
                ModelError::Batch(format!("request {} has no KV slot for position {pos}", seq.id))
            })
        };
        for seq in &self.running {
            let pos = seq.prompt.len() + seq.generated.len() - 1;
            let last = *seq.generated.last().unwrap_or(&0);
            batch.tokens.push(last as i64);
            batch.positions.push(pos as i64);
            batch.slot_mapping.push(slot_of(&self.kv, seq, pos)?);
            batch.lora_slots.push(seq.slot);
            batch
                .decode_contexts
                .push((0..=pos).map(|p| slot_of(&self.kv, seq, p)).collect::<Result<_, _>>()?);
        }
        for seq in &admitted {
            for (pos, &t) in seq.prompt.iter().enumerate() {
                batch.tokens.push(t as i64);
                batch.positions.push(pos as i64);
                batch.slot_mapping.push(slot_of(&self.kv, seq, pos)?);
                batch.lora_slots.push(seq.slot);
            }
            batch.prefill_lens.push(seq.prompt.len());
        }
        let prompt_tokens: usize = admitted.iter().map(|s| s.prompt.len()).sum();
        self.running.extend(admitted);
        let lora = LoraStep::new(
            &batch.lora_slots,
            &self.slots.targets,
            self.backend.as_ref(),
            self.model.device(),
        );
        let logits = self.model.forward(&batch, &mut self.kv, &lora)?;
        let (n, vocab) = (self.running.len(), self.model.config().vocab_size);
        let mut host = vec![0f32; n * vocab];
        logits
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .copy_data(&mut host, n * vocab);
        EngineMetrics::add(
            &self.metrics.prompt_tokens,
            "openlora_prompt_tokens_total",
            prompt_tokens as u64,
        );
        EngineMetrics::add(
            &self.metrics.generated_tokens,
            "openlora_generated_tokens_total",
            n as u64,
        );

        let running = std::mem::take(&mut self.running);
        for (i, mut seq) in running.into_iter().enumerate() {
            let row = &host[i * vocab..(i + 1) * vocab];
            let token = match seq.sampler.as_mut() {
                Some(s) => s.sample(row),
                None => 0,
            };
            if seq.generated.is_empty() {
                seq.ttft_ms = seq.submitted.elapsed().as_secs_f64() * 1e3;
            }
            seq.generated.push(token);
            let is_eos = !seq.params.ignore_eos && Some(token) == self.eos;
            let delta = if is_eos {
                crate::sampling::Delta { text: String::new(), stopped: false }
            } else {
                seq.text.push(&self.tokenizer, token, &seq.params.stop)
            };
            let finish = if is_eos || delta.stopped {
                Some(FinishReason::Stop)
            } else if seq.generated.len() >= seq.params.max_tokens {
                Some(FinishReason::Length)
            } else {
                None
            };
            let mut text = delta.text;
            if finish == Some(FinishReason::Length) || is_eos {
                text.push_str(&seq.text.flush());
            }
            if seq.events.send(Event::Token { id: token, text }).is_err() {
                // The caller dropped its stream: cancel.
                self.release(&mut seq);
                continue;
            }
            match finish {
                Some(reason) => self.finish(seq, Ok(reason)),
                None => self.running.push(seq),
            }
        }
        self.metrics.record_step(start.elapsed().as_micros() as u64, n as u64);
        Ok(())
    }

    fn release(&mut self, seq: &mut Seq) {
        if let Some(blocks) = seq.blocks.take() {
            self.kv.release(blocks);
        }
        let slot = std::mem::replace(&mut seq.slot, -1);
        self.release_slot(slot, true);
    }

    fn finish(&mut self, mut seq: Seq, outcome: Result<FinishReason, EngineError>) {
        self.release(&mut seq);
        let event = match outcome {
            Ok(finish_reason) => {
                EngineMetrics::add(&self.metrics.finished, "openlora_requests_finished_total", 1);
                Event::Done {
                    finish_reason,
                    usage: Usage {
                        prompt_tokens: seq.prompt.len(),
                        completion_tokens: seq.generated.len(),
                    },
                    ttft_ms: seq.ttft_ms,
                }
            }
            Err(e) => {
                EngineMetrics::add(&self.metrics.failed, "openlora_requests_failed_total", 1);
                Event::Error(e)
            }
        };
        let _ = seq.events.send(event);
    }
}
