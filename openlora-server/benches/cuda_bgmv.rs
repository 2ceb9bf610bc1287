//! The CUDA BGMV kernels on a GPU machine (feature `cuda`):
//! `cargo bench -p openlora-server --features cuda --bench cuda_bgmv`.
//!
//! 1. **Correctness**: for each dtype pair the kernels are built for (f32, f32 activations with
//!    bf16 adapters, bf16 with bf16) and shapes with mixed ranks (zero-padded slots), repeated
//!    adapters, rows without an adapter and widths that are not multiples of a warp or a block,
//!    the GPU result is compared with the CPU kernel (`cpu::bgmv`, arithmetic in f32) on the
//!    same inputs. The run fails if any element differs by more than the stated tolerance, if a
//!    row without an adapter changed, or if a bad index is not refused (host) or skipped (device).
//! 2. **Speed**, on a Llama-7B-sized projection (4096 → 4096), rank 16, with 2,000 adapter slots
//!    and 8 layers of base weights resident (more than the GPU's L2 cache holds, so each call
//!    reads its weights from HBM as serving does): median time per call of the base matmul
//!    (cuBLAS), of BGMV with every row on a different adapter and with every row on one, of the
//!    two together, and of the naive way (per request: merge the adapter into the weights,
//!    run the row, unmerge); the ratios between them; and the read bandwidth BGMV reaches
//!    against a device-to-device copy's (bytes read and written) measured in the same run.
//!
//! Without CUDA it says so and exits 0 (this machine's CI builds it, the GPU machine runs it).

use cudarc::{
    cublas::{CudaBlas, Gemm, GemmConfig, sys::cublasOperation_t},
    driver::{
        CudaSlice, CudaStream, DevicePtr, DevicePtrMut,
        sys::{CUgraphInstantiate_flags, CUstreamCaptureMode},
    },
};
use half::bf16;
use openlora_server::{
    cpu::{self, Bf16, Load, Store},
    cuda::{BgmvShape, CudaError, CudaRuntime, DeviceFloat},
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::{process::ExitCode, sync::Arc, time::Instant};

type AnyError = Box<dyn std::error::Error>;

/// A dtype as the CPU kernel stores it and as the GPU kernels do (the same bits).
trait Dtype {
    type Cpu: Store<f32>;
    type Gpu: DeviceFloat;
    const NAME: &'static str;
    /// Rounds `v` to this dtype; returns it for both sides.
    fn both(v: f32) -> (Self::Cpu, Self::Gpu);
    fn gpu_f32(v: Self::Gpu) -> f32;
    /// Largest error allowed between two results of the same sum accumulated in different
    /// orders, for an exact value of size `v`: f32 rounding of long sums, plus one rounding
    /// step of the stored dtype where it is narrower.
    fn tolerance(v: f32) -> f32;
}

struct F32;
impl Dtype for F32 {
    type Cpu = f32;
    type Gpu = f32;
    const NAME: &'static str = "f32";
    fn both(v: f32) -> (f32, f32) {
        (v, v)
    }
    fn gpu_f32(v: f32) -> f32 {
        v
    }
    fn tolerance(v: f32) -> f32 {
        1e-4 * (1.0 + v.abs())
    }
}

struct B16;
impl Dtype for B16 {
    type Cpu = Bf16;
    type Gpu = bf16;
    const NAME: &'static str = "bf16";
    fn both(v: f32) -> (Bf16, bf16) {
        let c = Bf16::store(v);
        (c, bf16::from_bits(c.0))
    }
    fn gpu_f32(v: bf16) -> f32 {
        v.to_f32()
    }
    fn tolerance(v: f32) -> f32 {
        1e-4 + v.abs() / 128.0
    }
}

/// The same values as the CPU kernel stores them and as the GPU kernels do.
type Both<D> = (Vec<<D as Dtype>::Cpu>, Vec<<D as Dtype>::Gpu>);

/// Values uniform in `[-scale, scale]`, in both representations.
fn random<D: Dtype>(rng: &mut ChaCha8Rng, len: usize, scale: f32) -> Both<D> {
    (0..len).map(|_| D::both(rng.random_range(-scale..=scale))).unzip()
}

/// Adapter stacks `[slots, r, d_in]` and `[slots, r, d_out]` where slot `s` has rank
/// `ranks[s] ≤ r` (rows past it zero, as `LoraSlots` pads lower ranks).
fn stacks<W: Dtype>(
    rng: &mut ChaCha8Rng,
    ranks: &[usize],
    r: usize,
    d_in: usize,
    d_out: usize,
) -> (Both<W>, Both<W>) {
    let mut a = random::<W>(rng, ranks.len() * r * d_in, 1.0 / (d_in as f32).sqrt());
    let mut b = random::<W>(rng, ranks.len() * r * d_out, 1.0 / (r as f32).sqrt());
    for (s, &rank) in ranks.iter().enumerate() {
        for j in rank..r {
            for (stack, width) in [(&mut a, d_in), (&mut b, d_out)] {
                let rows = (s * r + j) * width..(s * r + j + 1) * width;
                stack.0[rows.clone()].fill(W::both(0.0).0);
                stack.1[rows].fill(W::both(0.0).1);
            }
        }
    }
    (a, b)
}

struct Case {
    n: usize,
    d_in: usize,
    d_out: usize,
    r: usize,
    ranks: Vec<usize>,
    idx: Vec<i64>,
}

fn cases(rng: &mut ChaCha8Rng) -> Vec<Case> {
    let mut random_case = |n: usize, d_in: usize, d_out: usize, r: usize, slots: usize| {
        let ranks = (0..slots).map(|_| rng.random_range(1..=r)).collect();
        let idx = (0..n).map(|_| rng.random_range(-1..slots as i64)).collect();
        Case { n, d_in, d_out, r, ranks, idx }
    };
    vec![
        Case {
            n: 9,
            d_in: 96,
            d_out: 200,
            r: 16,
            ranks: vec![16, 4, 8, 1],
            idx: vec![0, 3, -1, 1, 2, 2, -1, 0, 3],
        },
        random_case(1, 31, 7, 3, 2),
        random_case(33, 4100, 1030, 8, 40),
        random_case(5, 2048, 1000, 5, 3),
        random_case(64, 512, 4096, 64, 70),
        random_case(128, 4096, 4096, 16, 200),
    ]
}

/// Compares GPU and CPU on one case; answers the largest error relative to its tolerance.
fn check_case<X: Dtype, W: Dtype>(
    cuda: &CudaRuntime,
    rng: &mut ChaCha8Rng,
    case: &Case,
) -> Result<f32, AnyError> {
    let Case { n, d_in, d_out, r, .. } = *case;
    let (x_cpu, x_gpu) = random::<X>(rng, n * d_in, 1.0);
    let (y_cpu0, y_gpu0) = random::<X>(rng, n * d_out, 1.0);
    let ((a_cpu, a_gpu), (b_cpu, b_gpu)) = stacks::<W>(rng, &case.ranks, r, d_in, d_out);
    let mut y_cpu = y_cpu0.clone();
    cpu::bgmv::<f32, X::Cpu, W::Cpu>(&mut y_cpu, &x_cpu, &a_cpu, &b_cpu, &case.idx, d_in, r, d_out);
    let mut y_gpu = y_gpu0.clone();
    cuda.bgmv(&mut y_gpu, &x_gpu, &a_gpu, &b_gpu, &case.idx, d_in, r, d_out)?;
    let mut worst = 0f32;
    for (i, &slot) in case.idx.iter().enumerate() {
        for o in i * d_out..(i + 1) * d_out {
            let (want, got) = (y_cpu[o].load(), X::gpu_f32(y_gpu[o]));
            if slot < 0 && got.to_bits() != X::gpu_f32(y_gpu0[o]).to_bits() {
                return Err(format!("row {i} has no adapter but changed").into());
            }
            worst = worst.max((want - got).abs() / X::tolerance(want));
        }
    }
    Ok(worst)
}

/// Bad indices: refused on the host with an error, skipped on the device (the row unchanged).
fn check_bad_indices(cuda: &CudaRuntime) -> Result<(), AnyError> {
    let (n, d, r) = (2usize, 64usize, 4usize);
    let (x, y0, a, b) =
        (vec![1f32; n * d], vec![0.5f32; n * d], vec![1f32; r * d], vec![1f32; r * d]);
    let mut y = y0.clone();
    match cuda.bgmv(&mut y, &x, &a, &b, &[0, 1], d, r, d) {
        Err(CudaError::Shape(msg)) if msg.contains("out of range") && y == y0 => {}
        other => {
            return Err(format!("index 1 of one slot: expected a refusal, got {other:?}").into());
        }
    }
    let stream = cuda.stream();
    let mut y_dev = stream.clone_htod(&y0)?;
    let idx = stream.clone_htod(&[0i64, 7])?;
    let shape = BgmvShape { n, d_in: d, r, d_out: d };
    let mut scratch = stream.alloc_zeros::<f32>(shape.scratch_len())?;
    cuda.bgmv_on_device(
        &mut y_dev,
        &stream.clone_htod(&x)?,
        &stream.clone_htod(&a)?,
        &stream.clone_htod(&b)?,
        &idx,
        &mut scratch,
        shape,
    )?;
    let y = stream.clone_dtoh(&y_dev)?;
    let want_row0 = 0.5 + (d * r) as f32;
    if y[..d].iter().any(|&v| v != want_row0) || y[d..] != y0[d..] {
        return Err(format!(
            "device index past the slots: row 0 {:?}, row 1 {:?}",
            &y[..2],
            &y[d..d + 2]
        )
        .into());
    }
    Ok(())
}

fn correctness(cuda: &CudaRuntime) -> Result<(), AnyError> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cases = cases(&mut rng);
    println!(
        "correctness: GPU vs CPU kernel (cpu::bgmv, f32 arithmetic), worst |error| / tolerance (must be ≤ 1):"
    );
    println!(
        "  tolerance f32: 1e-4·(1+|y|); bf16 outputs: 1e-4 + |y|/128 (one bf16 rounding step)"
    );
    let mut failed = false;
    for case in &cases {
        let mut line = format!(
            "  n={:<4} d_in={:<5} d_out={:<5} r={:<3} slots={:<4}",
            case.n,
            case.d_in,
            case.d_out,
            case.r,
            case.ranks.len()
        );
        let results = [
            ("f32/f32", check_case::<F32, F32>(cuda, &mut rng, case)),
            ("f32/bf16", check_case::<F32, B16>(cuda, &mut rng, case)),
            ("bf16/bf16", check_case::<B16, B16>(cuda, &mut rng, case)),
        ];
        for (pair, result) in results {
            match result {
                Ok(worst) => {
                    failed |= worst > 1.0;
                    line += &format!("  {pair} {worst:.3}");
                }
                Err(err) => {
                    failed = true;
                    line += &format!("  {pair} FAILED: {err}");
                }
            }
        }
        println!("{line}");
    }
    match check_bad_indices(cuda) {
        Ok(()) => println!("  bad indices: refused on the host, skipped on the device: ok"),
        Err(err) => {
            failed = true;
            println!("  bad indices: FAILED: {err}");
        }
    }
    if failed {
        return Err("the GPU kernels disagree with the CPU kernel".into());
    }
    Ok(())
}

/// Median seconds per call of `f(t)` over `samples` runs of `iters` calls each (after one warm-up
/// run), synchronising the stream around each run: host launch overhead included.
fn median_secs(
    stream: &CudaStream,
    samples: usize,
    iters: usize,
    mut f: impl FnMut(usize) -> Result<(), AnyError>,
) -> Result<f64, AnyError> {
    let mut times = Vec::with_capacity(samples);
    let mut t = 0;
    for sample in 0..=samples {
        stream.synchronize()?;
        let start = Instant::now();
        for _ in 0..iters {
            f(t)?;
            t += 1;
        }
        stream.synchronize()?;
        if sample > 0 {
            times.push(start.elapsed().as_secs_f64() / iters as f64);
        }
    }
    Ok(median(times))
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// GPU seconds per call of `f(t)`: `iters` calls captured into one CUDA graph, whose launches
/// are timed (median of `samples`, after a warm-up). This is what the calls cost a server that
/// replays its decode steps as graphs (as vLLM does): no host launch overhead between kernels.
fn graph_secs(
    stream: &Arc<CudaStream>,
    samples: usize,
    iters: usize,
    mut f: impl FnMut(usize) -> Result<(), AnyError>,
) -> Result<f64, AnyError> {
    stream.synchronize()?;
    stream.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)?;
    let captured = (0..iters).try_for_each(&mut f);
    let graph = stream
        .end_capture(CUgraphInstantiate_flags::CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH)?;
    captured?;
    let graph = graph.ok_or("the captured graph is empty")?;
    graph.upload()?;
    let mut times = Vec::with_capacity(samples);
    for sample in 0..=samples {
        stream.synchronize()?;
        let start = Instant::now();
        graph.launch()?;
        stream.synchronize()?;
        if sample > 0 {
            times.push(start.elapsed().as_secs_f64() / iters as f64);
        }
    }
    Ok(median(times))
}

/// One measure both ways: launched one by one from the host, and replayed from a CUDA graph.
#[derive(Clone, Copy)]
struct Timing {
    eager: f64,
    /// `None` where capture failed (said once on stderr).
    graph: Option<f64>,
}

impl Timing {
    fn measure(
        stream: &Arc<CudaStream>,
        samples: usize,
        iters: usize,
        mut f: impl FnMut(usize) -> Result<(), AnyError>,
    ) -> Result<Self, AnyError> {
        let eager = median_secs(stream, samples, iters, &mut f)?;
        let graph = match graph_secs(stream, samples, iters, &mut f) {
            Ok(secs) => Some(secs),
            Err(err) => {
                eprintln!("CUDA graph capture failed ({err}); eager timings only");
                None
            }
        };
        Ok(Self { eager, graph })
    }

    /// The graph time where there is one.
    fn gpu(&self) -> f64 {
        self.graph.unwrap_or(self.eager)
    }
}

/// `y[n, d_out] = x[n, d_in] · Wᵀ` for row-major `w` `[d_out, d_in]` (cuBLAS is column-major:
/// this is `yᵀ = W · xᵀ` with `W` read transposed).
#[allow(clippy::too_many_arguments)]
fn linear<T, X: DevicePtr<T>, Wt: DevicePtr<T>, Y: DevicePtrMut<T>>(
    blas: &CudaBlas,
    y: &mut Y,
    x: &X,
    w: &Wt,
    n: usize,
    d_in: usize,
    d_out: usize,
    one: T,
    zero: T,
) -> Result<(), AnyError>
where
    CudaBlas: Gemm<T>,
{
    let cfg = GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_T,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: d_out as i32,
        n: n as i32,
        k: d_in as i32,
        alpha: one,
        lda: d_in as i32,
        ldb: d_in as i32,
        beta: zero,
        ldc: d_out as i32,
    };
    // SAFETY: the buffers hold [n, d_in], [d_out, d_in] and [n, d_out] values (built so by the
    // caller), matching the sizes and leading dimensions above.
    unsafe { blas.gemm(cfg, w, x, y) }?;
    Ok(())
}

/// `W[d_out, d_in] += alpha · B·A` for one adapter: `a` `[r, d_in]`, `bt` (`Bᵀ`) `[r, d_out]`.
#[allow(clippy::too_many_arguments)]
fn merge<T, A: DevicePtr<T>, B: DevicePtr<T>, Wt: DevicePtrMut<T>>(
    blas: &CudaBlas,
    w: &mut Wt,
    a: &A,
    bt: &B,
    r: usize,
    d_in: usize,
    d_out: usize,
    alpha: T,
    one: T,
) -> Result<(), AnyError>
where
    CudaBlas: Gemm<T>,
{
    // Column-major, `W` row-major is `Wᵀ` [d_in × d_out] = Aᵀ · Bᵀ: `a` read as [d_in × r],
    // `bt` as [d_out × r] transposed.
    let cfg = GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_N,
        transb: cublasOperation_t::CUBLAS_OP_T,
        m: d_in as i32,
        n: d_out as i32,
        k: r as i32,
        alpha,
        lda: d_in as i32,
        ldb: d_out as i32,
        beta: one,
        ldc: d_in as i32,
    };
    // SAFETY: `a` holds [r, d_in], `bt` [r, d_out] and `w` [d_out, d_in] values.
    unsafe { blas.gemm(cfg, a, bt, w) }?;
    Ok(())
}

/// One row of the speed table.
struct Speed {
    base: Timing,
    bgmv_distinct: Timing,
    bgmv_same: Timing,
    layer: Timing,
    naive: Timing,
    /// Bytes of adapter weights one distinct-adapter BGMV call reads.
    adapter_bytes: f64,
}

const D: usize = 4096;
const RANK: usize = 16;
const SLOTS: usize = 2000;
const LAYERS: usize = 8;

fn speed<T: Dtype>(
    cuda: &CudaRuntime,
    blas: &CudaBlas,
    batches: &[usize],
    one: T::Gpu,
    zero: T::Gpu,
    minus_one: T::Gpu,
) -> Result<Vec<(usize, Speed)>, AnyError>
where
    CudaBlas: Gemm<T::Gpu>,
{
    let stream: &Arc<CudaStream> = cuda.stream();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let upload =
        |rng: &mut ChaCha8Rng, len: usize, scale: f32| -> Result<CudaSlice<T::Gpu>, AnyError> {
            Ok(stream.clone_htod(&random::<T>(rng, len, scale).1)?)
        };
    let mut base: Vec<CudaSlice<T::Gpu>> =
        (0..LAYERS).map(|_| upload(&mut rng, D * D, 0.02)).collect::<Result<_, _>>()?;
    let a = upload(&mut rng, SLOTS * RANK * D, 0.02)?;
    let bt = upload(&mut rng, SLOTS * RANK * D, 0.02)?;
    let mut rows = Vec::new();
    for &n in batches {
        let x = upload(&mut rng, n * D, 1.0)?;
        let mut y = stream.alloc_zeros::<T::Gpu>(n * D)?;
        let shape = BgmvShape { n, d_in: D, r: RANK, d_out: D };
        let mut scratch = stream.alloc_zeros::<f32>(shape.scratch_len())?;
        // Each call's rows on adapters no call before it used lately (so they come from HBM).
        let rounds = SLOTS / n.min(SLOTS);
        let distinct: Vec<CudaSlice<i64>> = (0..rounds)
            .map(|t| {
                stream.clone_htod(&(0..n).map(|i| ((t * n + i) % SLOTS) as i64).collect::<Vec<_>>())
            })
            .collect::<Result<_, _>>()?;
        let same: Vec<CudaSlice<i64>> = (0..rounds)
            .map(|t| stream.clone_htod(&vec![(t * n % SLOTS) as i64; n]))
            .collect::<Result<_, _>>()?;
        let (samples, iters) = (9, 40);
        let base_s = Timing::measure(stream, samples, iters, |t| {
            linear(blas, &mut y, &x, &base[t % LAYERS], n, D, D, one, zero)
        })?;
        let mut bgmv = |idx: &[CudaSlice<i64>]| {
            Timing::measure(stream, samples, iters, |t| {
                Ok(cuda.bgmv_on_device(
                    &mut y,
                    &x,
                    &a,
                    &bt,
                    &idx[t % rounds],
                    &mut scratch,
                    shape,
                )?)
            })
        };
        let bgmv_distinct = bgmv(&distinct)?;
        let bgmv_same = bgmv(&same)?;
        let layer = Timing::measure(stream, samples, iters, |t| {
            linear(blas, &mut y, &x, &base[t % LAYERS], n, D, D, one, zero)?;
            Ok(cuda.bgmv_on_device(
                &mut y,
                &x,
                &a,
                &bt,
                &distinct[t % rounds],
                &mut scratch,
                shape,
            )?)
        })?;
        // Naive: each request merges its adapter into the layer's weights, runs its row, and
        // unmerges: three matmuls per request, none batched across requests.
        let naive = Timing::measure(stream, 5, 2, |t| {
            let w = &mut base[t % LAYERS];
            for i in 0..n {
                let slot = (t * n + i) % SLOTS;
                let (a_s, b_s) = (
                    a.slice(slot * RANK * D..(slot + 1) * RANK * D),
                    bt.slice(slot * RANK * D..(slot + 1) * RANK * D),
                );
                merge(blas, w, &a_s, &b_s, RANK, D, D, one, one)?;
                let mut y_i = y.slice_mut(i * D..(i + 1) * D);
                linear(blas, &mut y_i, &x.slice(i * D..(i + 1) * D), &*w, 1, D, D, one, zero)?;
                merge(blas, w, &a_s, &b_s, RANK, D, D, minus_one, one)?;
            }
            Ok(())
        })?;
        let adapter_bytes = (n.min(SLOTS) * RANK * 2 * D * std::mem::size_of::<T::Gpu>()) as f64;
        rows.push((
            n,
            Speed { base: base_s, bgmv_distinct, bgmv_same, layer, naive, adapter_bytes },
        ));
    }
    Ok(rows)
}

/// Memory bandwidth a device-to-device copy reaches: bytes read plus bytes written per second
/// (the HBM traffic BGMV's reads are compared with).
fn copy_bandwidth(cuda: &CudaRuntime) -> Result<f64, AnyError> {
    let stream = cuda.stream();
    let len = 256 << 20; // 1 GiB of f32: far more than L2
    let src = stream.alloc_zeros::<f32>(len)?;
    let mut dst = stream.alloc_zeros::<f32>(len)?;
    let secs = median_secs(stream, 5, 4, |_| Ok(stream.memcpy_dtod(&src, &mut dst)?))?;
    Ok((2 * len * 4) as f64 / secs)
}

fn report<T: Dtype>(rows: &[(usize, Speed)], copy: f64) {
    println!(
        "\n{} weights and activations, {D}→{D} projection, rank {RANK}, {SLOTS} adapter slots, {LAYERS} layers of base weights (µs per call, medians; GPU time from CUDA graphs, then launched one by one):",
        T::NAME
    );
    println!(
        "  {:>5} {:>8} {:>10} {:>10} {:>10} {:>10} {:>12} {:>9} {:>24} | {:>8} {:>10} {:>10}",
        "batch",
        "base",
        "bgmv/dist",
        "bgmv/same",
        "base+bgmv",
        "base share",
        "naive merge",
        "vs naive",
        "bgmv read bandwidth",
        "base",
        "bgmv/dist",
        "base share"
    );
    for (n, s) in rows {
        let bw = s.adapter_bytes / s.bgmv_distinct.gpu();
        println!(
            "  {n:>5} {:>8.1} {:>10.1} {:>10.1} {:>10.1} {:>10.3} {:>12.1} {:>8.1}× {:>6.0} GB/s ({:.2} of copy) | {:>8.1} {:>10.1} {:>10.3}",
            s.base.gpu() * 1e6,
            s.bgmv_distinct.gpu() * 1e6,
            s.bgmv_same.gpu() * 1e6,
            s.layer.gpu() * 1e6,
            s.base.gpu() / s.layer.gpu(),
            s.naive.gpu() * 1e6,
            s.naive.gpu() / s.layer.gpu(),
            bw / 1e9,
            bw / copy,
            s.base.eager * 1e6,
            s.bgmv_distinct.eager * 1e6,
            s.base.eager / s.layer.eager,
        );
    }
}

fn run() -> Result<(), AnyError> {
    let cuda = match CudaRuntime::open(0) {
        Ok(cuda) => cuda,
        Err(err @ (CudaError::NoCuda | CudaError::NoNvrtc)) => {
            println!("{err}: nothing to run here (run this on a GPU machine)");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    correctness(&cuda)?;
    let blas = CudaBlas::new(cuda.stream().clone())?;
    let copy = copy_bandwidth(&cuda)?;
    println!("\ndevice-to-device copy: {:.0} GB/s moved (read + written)", copy / 1e9);
    println!(
        "base share = base / (base+bgmv): the throughput a layer keeps with every row on its own adapter (target ≥ 0.9)"
    );
    println!("vs naive = naive merge / (base+bgmv) for the same requests (target ≥ 10×)");
    let batches = [1, 8, 32, 128];
    let f32_rows = speed::<F32>(&cuda, &blas, &batches, 1.0, 0.0, -1.0)?;
    report::<F32>(&f32_rows, copy);
    let bf = bf16::from_f32;
    let bf16_rows = speed::<B16>(&cuda, &blas, &batches, bf(1.0), bf(0.0), bf(-1.0))?;
    report::<B16>(&bf16_rows, copy);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cuda_bgmv: {err}");
            ExitCode::FAILURE
        }
    }
}
