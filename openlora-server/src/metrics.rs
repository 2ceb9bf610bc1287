//! Engine counters: kept as plain atomics (read with [`EngineMetrics::snapshot`]) and mirrored
//! to the `metrics` crate facade, so a Prometheus exporter installed by the binary publishes
//! them as `openlora_*` series without the engine knowing about HTTP.

use serde::Serialize;
use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Instant,
};

/// Live counters, shared by the engine thread, the loader and the handles.
#[derive(Debug)]
pub struct EngineMetrics {
    started: Instant,
    pub(crate) requests: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) generated_tokens: AtomicU64,
    pub(crate) steps: AtomicU64,
    pub(crate) step_micros: AtomicU64,
    pub(crate) batch_size: AtomicU64,
    pub(crate) queue_depth: AtomicU64,
    pub(crate) slot_hits: AtomicU64,
    pub(crate) host_hits: AtomicU64,
    pub(crate) disk_loads: AtomicU64,
    pub(crate) load_failures: AtomicU64,
    pub(crate) load_micros_total: AtomicU64,
    pub(crate) load_micros_last: AtomicU64,
    pub(crate) host_cache_bytes: AtomicU64,
    pub(crate) host_evictions: AtomicU64,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        let z = || AtomicU64::new(0);
        Self {
            started: Instant::now(),
            requests: z(),
            finished: z(),
            failed: z(),
            prompt_tokens: z(),
            generated_tokens: z(),
            steps: z(),
            step_micros: z(),
            batch_size: z(),
            queue_depth: z(),
            slot_hits: z(),
            host_hits: z(),
            disk_loads: z(),
            load_failures: z(),
            load_micros_total: z(),
            load_micros_last: z(),
            host_cache_bytes: z(),
            host_evictions: z(),
        }
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// Seconds since the engine started.
    pub uptime_secs: f64,
    /// Requests accepted.
    pub requests: u64,
    /// Requests that finished (stop or length).
    pub finished: u64,
    /// Requests that failed after being accepted (adapter removed or unloadable, ...).
    pub failed: u64,
    /// Prompt tokens prefilled.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated_tokens: u64,
    /// Generated tokens per second of uptime.
    pub tokens_per_sec: f64,
    /// Engine steps run.
    pub steps: u64,
    /// Mean step time in milliseconds.
    pub mean_step_ms: f64,
    /// Sequences in the last step.
    pub batch_size: u64,
    /// Requests waiting to join the batch.
    pub queue_depth: u64,
    /// Adapter requests served from a device slot already holding the adapter.
    pub slot_hits: u64,
    /// Adapter requests served from host memory (copied into a slot).
    pub host_hits: u64,
    /// Adapters read from disk by the loader.
    pub disk_loads: u64,
    /// Loads that failed.
    pub load_failures: u64,
    /// Mean disk load latency in milliseconds.
    pub mean_load_ms: f64,
    /// Last disk load latency in milliseconds.
    pub last_load_ms: f64,
    /// Bytes of adapters in host memory.
    pub host_cache_bytes: u64,
    /// Adapters evicted from host memory.
    pub host_evictions: u64,
}

impl EngineMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let uptime = self.started.elapsed().as_secs_f64();
        let g = |a: &AtomicU64| a.load(Relaxed);
        let steps = g(&self.steps);
        let loads = g(&self.disk_loads);
        MetricsSnapshot {
            uptime_secs: uptime,
            requests: g(&self.requests),
            finished: g(&self.finished),
            failed: g(&self.failed),
            prompt_tokens: g(&self.prompt_tokens),
            generated_tokens: g(&self.generated_tokens),
            tokens_per_sec: g(&self.generated_tokens) as f64 / uptime.max(1e-9),
            steps,
            mean_step_ms: g(&self.step_micros) as f64 / 1e3 / steps.max(1) as f64,
            batch_size: g(&self.batch_size),
            queue_depth: g(&self.queue_depth),
            slot_hits: g(&self.slot_hits),
            host_hits: g(&self.host_hits),
            disk_loads: loads,
            load_failures: g(&self.load_failures),
            mean_load_ms: g(&self.load_micros_total) as f64 / 1e3 / loads.max(1) as f64,
            last_load_ms: g(&self.load_micros_last) as f64 / 1e3,
            host_cache_bytes: g(&self.host_cache_bytes),
            host_evictions: g(&self.host_evictions),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, name: &'static str, by: u64) {
        counter.fetch_add(by, Relaxed);
        metrics::counter!(name).increment(by);
    }

    pub(crate) fn set(gauge: &AtomicU64, name: &'static str, value: u64) {
        gauge.store(value, Relaxed);
        metrics::gauge!(name).set(value as f64);
    }

    pub(crate) fn record_load(&self, micros: u64) {
        Self::add(&self.disk_loads, "openlora_adapter_disk_loads_total", 1);
        self.load_micros_total.fetch_add(micros, Relaxed);
        self.load_micros_last.store(micros, Relaxed);
        metrics::histogram!("openlora_adapter_load_seconds").record(micros as f64 / 1e6);
    }

    pub(crate) fn record_step(&self, micros: u64, batch: u64) {
        Self::add(&self.steps, "openlora_steps_total", 1);
        self.step_micros.fetch_add(micros, Relaxed);
        Self::set(&self.batch_size, "openlora_batch_size", batch);
        metrics::histogram!("openlora_step_seconds").record(micros as f64 / 1e6);
    }
}
