//! The CUDA path (feature `cuda`): kernels compiled at run time with NVRTC and launched through
//! cudarc. cudarc loads libcuda and libnvrtc dynamically, so this builds on machines without
//! CUDA; [`CudaRuntime::open`] then answers [`CudaError::NoCuda`] instead of panicking (cudarc's
//! own constructors panic when the library is missing, so we ask first).

use crate::lora::{LoraBackend, LoraError, LoraMapping};
use cudarc::{
    driver::{
        CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, DriverError, LaunchConfig,
        PushKernelArg, ValidAsZeroBits,
    },
    nvrtc::{CompileError, compile_ptx},
};
use std::{collections::HashMap, sync::Arc};
use tch::Tensor;

/// Errors of the CUDA path.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// No CUDA driver library on this machine.
    #[error("CUDA is not available: no CUDA driver library (libcuda) was found on this machine")]
    NoCuda,
    /// The CUDA driver is present but NVRTC, which compiles our kernels, is not.
    #[error("CUDA is not available: the NVRTC library (libnvrtc) was not found")]
    NoNvrtc,
    /// A CUDA driver call failed.
    #[error("CUDA driver error: {0}")]
    Driver(#[from] DriverError),
    /// A kernel failed to compile.
    #[error("NVRTC failed to compile a kernel: {0}")]
    Compile(#[from] CompileError),
    /// Inputs of the wrong size.
    #[error("bad kernel input: {0}")]
    Shape(String),
}

/// The two BGMV kernels (Punica's names), for each pair of activation and weight dtypes. Row `i`
/// uses adapter `idx[i]`; `-1` skips the row (as does an index past the last slot, so that a
/// bad index on the device can never read outside the stacks). Arithmetic is f32; bf16 values
/// are widened on load and rounded to nearest even once per output element, as the CPU
/// kernels do (`crate::cpu`). Both kernels are bound by reading adapter weights, so each thread
/// reads 8 consecutive values per rank row (16 or 32 bytes, vector loads where the widths allow)
/// for 8 rank rows at once: enough loads in flight to keep HBM busy even for one row.
///
/// - `bgmv_shrink`: `part[i, q, j] = Σ_{k in slice q} x[i, k] · A[idx[i], j, k]`: one block per
///   (row, slice of 1,024 inputs); the slices' partial sums are added by the expand kernel in
///   a fixed order, so results do not depend on scheduling (no atomics);
/// - `bgmv_expand`: `y[i, o] += Σⱼ s[i, j] · Bt[idx[i], j, o]` with `s[i, j] = Σ_q part[i, q, j]`:
///   one block per (row, 1,024 outputs), accumulated from `y` in the CPU kernel's order.
const BGMV_SRC: &str = r#"
typedef unsigned short bf16;
#define THREADS 128
#define CHUNK 8
#define RANKS 8

__device__ __forceinline__ float ld(float v) { return v; }
__device__ __forceinline__ float ld(bf16 v) { return __uint_as_float(((unsigned int)v) << 16); }
__device__ __forceinline__ float ld_hi(unsigned int w) { return __uint_as_float(w & 0xffff0000u); }
__device__ __forceinline__ bf16 to_bf16(float v) {
    unsigned int bits = __float_as_uint(v);
    if (v != v) return (bf16)((bits >> 16) | 0x40);
    return (bf16)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ void st(float* p, float v) { *p = v; }
__device__ __forceinline__ void st(bf16* p, float v) { *p = to_bf16(v); }

// CHUNK consecutive values from 16-byte aligned `p`.
__device__ __forceinline__ void load_chunk(const float* __restrict__ p, float* out) {
    float4 u = reinterpret_cast<const float4*>(p)[0];
    float4 v = reinterpret_cast<const float4*>(p)[1];
    out[0] = u.x; out[1] = u.y; out[2] = u.z; out[3] = u.w;
    out[4] = v.x; out[5] = v.y; out[6] = v.z; out[7] = v.w;
}
__device__ __forceinline__ void load_chunk(const bf16* __restrict__ p, float* out) {
    uint4 u = *reinterpret_cast<const uint4*>(p);
    unsigned int w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) { out[2 * i] = __uint_as_float(w[i] << 16); out[2 * i + 1] = ld_hi(w[i]); }
}
__device__ __forceinline__ void store_chunk(float* p, const float* v) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store_chunk(bf16* p, const float* v) {
    unsigned int w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) w[i] = (unsigned int)to_bf16(v[2 * i]) | ((unsigned int)to_bf16(v[2 * i + 1]) << 16);
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}
// Values `at..at+CHUNK` of a row of `len`: one vector load when `whole`, else element by element
// (zero past the end).
template <typename T>
__device__ __forceinline__ void load_part(const T* __restrict__ row, int at, int len, bool whole, float* out) {
    if (whole) { load_chunk(row + at, out); return; }
#pragma unroll
    for (int c = 0; c < CHUNK; ++c) out[c] = at + c < len ? ld(row[at + c]) : 0.0f;
}

template <typename X, typename W>
__device__ void shrink(const X* __restrict__ x, const W* __restrict__ a, const long long* __restrict__ idx,
                       float* __restrict__ part, int n, int d_in, int r, long long slots, int vec) {
    extern __shared__ float warp_sums[];  // [THREADS / 32][r]
    int row = blockIdx.x, q = blockIdx.y, slices = gridDim.y;
    if (row >= n) return;
    float* out = part + ((long long)row * slices + q) * r;
    long long slot = idx[row];
    if (slot < 0 || slot >= slots) {  // the whole block leaves together
        for (int j = threadIdx.x; j < r; j += THREADS) out[j] = 0.0f;
        return;
    }
    int k = q * THREADS * CHUNK + threadIdx.x * CHUNK;
    bool whole = vec && k + CHUNK <= d_in;
    float xv[CHUNK];
    load_part(x + (long long)row * d_in, k, d_in, whole, xv);
    const W* a_slot = a + slot * r * (long long)d_in;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int j0 = 0; j0 < r; j0 += RANKS) {
        float av[RANKS][CHUNK];
#pragma unroll
        for (int jj = 0; jj < RANKS; ++jj) {
            if (j0 + jj < r && k < d_in) load_part(a_slot + (long long)(j0 + jj) * d_in, k, d_in, whole, av[jj]);
            else for (int c = 0; c < CHUNK; ++c) av[jj][c] = 0.0f;
        }
        float acc[RANKS];
#pragma unroll
        for (int jj = 0; jj < RANKS; ++jj) {
            float s = 0.0f;
#pragma unroll
            for (int c = 0; c < CHUNK; ++c) s += xv[c] * av[jj][c];
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
            acc[jj] = s;
        }
        if (lane == 0)
            for (int jj = 0; jj < RANKS && j0 + jj < r; ++jj) warp_sums[warp * r + j0 + jj] = acc[jj];
    }
    __syncthreads();
    for (int j = threadIdx.x; j < r; j += THREADS) {
        float s = 0.0f;
        for (int w = 0; w < THREADS / 32; ++w) s += warp_sums[w * r + j];
        out[j] = s;
    }
}

template <typename X, typename W>
__device__ void expand(const float* __restrict__ part, const W* __restrict__ bt, const long long* __restrict__ idx,
                       X* __restrict__ y, int n, int r, int d_out, int slices, long long slots, int vec) {
    extern __shared__ float s[];  // [r]: the row's shrunk values
    int row = blockIdx.x;
    if (row >= n) return;
    long long slot = idx[row];
    if (slot < 0 || slot >= slots) return;  // the whole block leaves together
    for (int j = threadIdx.x; j < r; j += THREADS) {
        const float* p = part + (long long)row * slices * r + j;
        float v = 0.0f;
        for (int q = 0; q < slices; ++q) v += p[(long long)q * r];
        s[j] = v;
    }
    __syncthreads();
    int o = blockIdx.y * THREADS * CHUNK + threadIdx.x * CHUNK;
    if (o >= d_out) return;
    bool whole = vec && o + CHUNK <= d_out;
    X* yr = y + (long long)row * d_out;
    float acc[CHUNK];
    load_part(yr, o, d_out, whole, acc);
    const W* b_slot = bt + slot * r * (long long)d_out;
    for (int j0 = 0; j0 < r; j0 += RANKS) {
        float bv[RANKS][CHUNK];
#pragma unroll
        for (int jj = 0; jj < RANKS; ++jj) {
            if (j0 + jj < r) load_part(b_slot + (long long)(j0 + jj) * d_out, o, d_out, whole, bv[jj]);
            else for (int c = 0; c < CHUNK; ++c) bv[jj][c] = 0.0f;
        }
#pragma unroll
        for (int jj = 0; jj < RANKS; ++jj) {
            float sj = j0 + jj < r ? s[j0 + jj] : 0.0f;
            if (sj != 0.0f) {
#pragma unroll
                for (int c = 0; c < CHUNK; ++c) acc[c] += sj * bv[jj][c];
            }
        }
    }
    if (whole) { store_chunk(yr + o, acc); return; }
    for (int c = 0; c < CHUNK && o + c < d_out; ++c) st(yr + o + c, acc[c]);
}

#define BGMV(XN, X, WN, W)                                                                    \
extern "C" __global__ void __launch_bounds__(THREADS) bgmv_shrink_##XN##_##WN(const X* x,   \
        const W* a, const long long* idx, float* part, int n, int d_in, int r,                \
        long long slots, int vec) {                                                           \
    shrink<X, W>(x, a, idx, part, n, d_in, r, slots, vec);                                    \
}                                                                                             \
extern "C" __global__ void __launch_bounds__(THREADS) bgmv_expand_##XN##_##WN(               \
        const float* part, const W* bt, const long long* idx, X* y, int n, int r, int d_out,  \
        int slices, long long slots, int vec) {                                               \
    expand<X, W>(part, bt, idx, y, n, r, d_out, slices, slots, vec);                          \
}
BGMV(f32, float, f32, float)
BGMV(f32, float, bf16, bf16)
BGMV(bf16, bf16, bf16, bf16)
"#;

/// The (activation, weight) dtype pairs [`BGMV_SRC`] is instantiated for.
const BGMV_PAIRS: [(&str, &str); 3] = [("f32", "f32"), ("f32", "bf16"), ("bf16", "bf16")];

/// Threads per block of either kernel (`THREADS` in [`BGMV_SRC`]).
const THREADS: u32 = 128;
/// Consecutive values each thread reads per rank row (`CHUNK`): vector loads need widths that
/// are multiples of it.
const CHUNK: usize = 8;
/// Inputs (shrink) or outputs (expand) one block covers.
const BLOCK_SPAN: usize = THREADS as usize * CHUNK;
/// Largest rank: bounds the kernels' shared memory (`r` floats per warp).
const MAX_RANK: usize = 1024;

/// An element type the kernels read and write on the GPU.
pub trait DeviceFloat: DeviceRepr + ValidAsZeroBits + Copy + Unpin + 'static {
    /// The name the kernels are instantiated under.
    const NAME: &'static str;
}

impl DeviceFloat for f32 {
    const NAME: &'static str = "f32";
}

impl DeviceFloat for half::bf16 {
    const NAME: &'static str = "bf16";
}

/// The sizes of one BGMV call: `n` rows, each mapping `d_in` to `d_out` through rank `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BgmvShape {
    /// Rows (tokens) in the batch.
    pub n: usize,
    /// Input width.
    pub d_in: usize,
    /// The slots' rank (adapters of lower rank are zero-padded to it).
    pub r: usize,
    /// Output width.
    pub d_out: usize,
}

impl BgmvShape {
    /// Slices of the input the shrink kernel splits each row into.
    fn slices(&self) -> usize {
        self.d_in.div_ceil(BLOCK_SPAN)
    }

    /// Values of scratch [`CudaRuntime::bgmv_on_device`] needs: each row's partial sums, `r` per
    /// slice of 1,024 inputs.
    pub fn scratch_len(&self) -> usize {
        self.n * self.slices() * self.r
    }

    /// Checks every buffer's length against the shape; answers how many adapter slots the
    /// stacks hold.
    fn check(
        &self,
        y: usize,
        x: usize,
        a: usize,
        bt: usize,
        idx: usize,
        scratch: usize,
    ) -> Result<usize, CudaError> {
        let Self { n, d_in, r, d_out } = *self;
        let bad = |what: String| Err(CudaError::Shape(what));
        if d_in == 0 || r == 0 || d_out == 0 || r > MAX_RANK {
            return bad(format!("zero width or rank over {MAX_RANK} in {self:?}"));
        }
        if x != n * d_in || y != n * d_out || idx != n {
            return bad(format!("x has {x}, y {y}, idx {idx} values for {self:?}"));
        }
        if !a.is_multiple_of(r * d_in) || bt != a / (r * d_in) * r * d_out {
            return bad(format!(
                "stacks of {a} (A) and {bt} (Bt) values do not hold whole slots of {self:?}"
            ));
        }
        if scratch < self.scratch_len() {
            return bad(format!("scratch of {scratch} values, {} needed", self.scratch_len()));
        }
        Ok(a / (r * d_in))
    }
}

/// A CUDA context with our kernels compiled and loaded.
#[derive(Debug)]
pub struct CudaRuntime {
    stream: Arc<CudaStream>,
    /// (activation, weight) dtype names → (shrink, expand).
    kernels: HashMap<(&'static str, &'static str), (CudaFunction, CudaFunction)>,
}

fn to_i32(v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| CudaError::Shape(format!("{v} exceeds i32")))
}

impl CudaRuntime {
    /// Opens GPU `ordinal` and compiles the kernels, or says cleanly why it cannot.
    pub fn open(ordinal: usize) -> Result<Self, CudaError> {
        // SAFETY: only tries to dlopen the driver library; no CUDA call is made.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaError::NoCuda);
        }
        // SAFETY: as above, for libnvrtc.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(CudaError::NoNvrtc);
        }
        let ctx = CudaContext::new(ordinal)?;
        let module = ctx.load_module(compile_ptx(BGMV_SRC)?)?;
        let mut kernels = HashMap::new();
        for (xn, wn) in BGMV_PAIRS {
            let shrink = module.load_function(&format!("bgmv_shrink_{xn}_{wn}"))?;
            let expand = module.load_function(&format!("bgmv_expand_{xn}_{wn}"))?;
            kernels.insert((xn, wn), (shrink, expand));
        }
        Ok(Self { stream: ctx.default_stream(), kernels })
    }

    /// The stream the kernels run on (to allocate and copy buffers for [`Self::bgmv_on_device`]).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Launches BGMV on buffers already on the GPU: `y[i] += (x[i]·A[idx[i]]ᵀ)·Bt[idx[i]]` for
    /// `y` `[n, d_out]`, `x` `[n, d_in]`, `a` `[k, r, d_in]`, `bt` `[k, r, d_out]`, using
    /// `scratch` (at least [`BgmvShape::scratch_len`] values) for the shrunk rows. Rows whose index is -1 (or not
    /// below `k`) are left as they are. Asynchronous: the work is queued on [`Self::stream`].
    #[allow(clippy::too_many_arguments)]
    pub fn bgmv_on_device<X: DeviceFloat, W: DeviceFloat>(
        &self,
        y: &mut CudaSlice<X>,
        x: &CudaSlice<X>,
        a: &CudaSlice<W>,
        bt: &CudaSlice<W>,
        idx: &CudaSlice<i64>,
        scratch: &mut CudaSlice<f32>,
        shape: BgmvShape,
    ) -> Result<(), CudaError> {
        let slots = shape.check(y.len(), x.len(), a.len(), bt.len(), idx.len(), scratch.len())?;
        let (shrink, expand) = self.kernels.get(&(X::NAME, W::NAME)).ok_or_else(|| {
            CudaError::Shape(format!(
                "no kernel for {} activations with {} weights",
                X::NAME,
                W::NAME
            ))
        })?;
        if shape.n == 0 {
            return Ok(());
        }
        let (n, d_in, r, d_out) =
            (to_i32(shape.n)?, to_i32(shape.d_in)?, to_i32(shape.r)?, to_i32(shape.d_out)?);
        let (slots, slices) = (slots as i64, to_i32(shape.slices())?);
        let rank_bytes = (shape.r * std::mem::size_of::<f32>()) as u32;
        let shrink_config = LaunchConfig {
            grid_dim: (shape.n as u32, slices as u32, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: THREADS / 32 * rank_bytes,
        };
        // Vector loads need rows that start on whole chunks (the buffers themselves are
        // allocations, aligned far beyond 16 bytes).
        let vec_in = i32::from(shape.d_in.is_multiple_of(CHUNK));
        let mut launch = self.stream.launch_builder(shrink);
        launch.arg(x).arg(a).arg(idx).arg(&mut *scratch).arg(&n).arg(&d_in).arg(&r);
        launch.arg(&slots).arg(&vec_in);
        // SAFETY: the arguments match the kernel's signature and every buffer holds the sizes
        // checked above; the kernel skips indices outside 0..slots.
        unsafe { launch.launch(shrink_config) }?;
        let expand_config = LaunchConfig {
            grid_dim: (shape.n as u32, shape.d_out.div_ceil(BLOCK_SPAN) as u32, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: rank_bytes,
        };
        let vec_out = i32::from(shape.d_out.is_multiple_of(CHUNK));
        let mut launch = self.stream.launch_builder(expand);
        launch.arg(&*scratch).arg(bt).arg(idx).arg(y).arg(&n).arg(&r).arg(&d_out);
        launch.arg(&slices).arg(&slots).arg(&vec_out);
        // SAFETY: as above; `scratch` holds the partial sums the shrink just wrote.
        unsafe { launch.launch(expand_config) }?;
        Ok(())
    }

    /// The whole BGMV on host data (copied to the GPU and back; see [`Self::bgmv_on_device`]).
    /// Indices are checked here: each must be in `-1..k`.
    #[allow(clippy::too_many_arguments)]
    pub fn bgmv<X: DeviceFloat, W: DeviceFloat>(
        &self,
        y: &mut [X],
        x: &[X],
        a: &[W],
        bt: &[W],
        idx: &[i64],
        d_in: usize,
        r: usize,
        d_out: usize,
    ) -> Result<(), CudaError> {
        let shape = BgmvShape { n: idx.len(), d_in, r, d_out };
        let slots =
            shape.check(y.len(), x.len(), a.len(), bt.len(), idx.len(), shape.scratch_len())?;
        check_idx(idx, slots)?;
        if idx.is_empty() {
            return Ok(());
        }
        let mut y_dev = self.stream.clone_htod(y)?;
        let x_dev = self.stream.clone_htod(x)?;
        let a_dev = self.stream.clone_htod(a)?;
        let bt_dev = self.stream.clone_htod(bt)?;
        let idx_dev = self.stream.clone_htod(idx)?;
        let mut scratch = self.stream.alloc_zeros::<f32>(shape.scratch_len())?;
        self.bgmv_on_device(&mut y_dev, &x_dev, &a_dev, &bt_dev, &idx_dev, &mut scratch, shape)?;
        self.stream.memcpy_dtoh(&y_dev, y)?;
        self.stream.synchronize()?;
        Ok(())
    }
}

fn check_idx(idx: &[i64], k: usize) -> Result<(), CudaError> {
    if let Some(bad) = idx.iter().find(|&&i| i < -1 || i >= k as i64) {
        return Err(CudaError::Shape(format!("adapter index {bad} out of range for {k} adapters")));
    }
    Ok(())
}

/// A [`LoraBackend`] on the NVRTC kernels. It takes tensors wherever they live, copies them to
/// the GPU, runs shrink and expand, and copies the result back: the reference the CPU path is
/// checked against on a GPU machine. (Keeping the stacks resident on the GPU, sharing
/// libtorch's CUDA memory, is the production path and is not built yet.)
#[derive(Debug)]
pub struct CudaBackend {
    runtime: CudaRuntime,
}

impl CudaBackend {
    /// Opens GPU `ordinal`.
    pub fn open(ordinal: usize) -> Result<Self, CudaError> {
        Ok(Self { runtime: CudaRuntime::open(ordinal)? })
    }
}

fn host_f32(t: &Tensor) -> Vec<f32> {
    let t = t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).contiguous();
    let n = t.numel();
    let mut v = vec![0f32; n];
    t.copy_data(&mut v, n);
    v
}

impl LoraBackend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda-bgmv"
    }

    fn add_lora(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        mapping: &LoraMapping,
    ) -> Result<(), LoraError> {
        crate::lora::check_stacks(y, x, a, b, mapping)?;
        let (n, d_in) = (x.size()[0] as usize, x.size()[1] as usize);
        let (r, d_out) = (a.size()[1] as usize, b.size()[2] as usize);
        let mut y_host = host_f32(y);
        self.runtime
            .bgmv(
                &mut y_host,
                &host_f32(x),
                &host_f32(a),
                &host_f32(b),
                mapping.indices(),
                d_in,
                r,
                d_out,
            )
            .map_err(|e| LoraError::Shape(format!("CUDA BGMV: {e}")))?;
        let out = Tensor::from_slice(&y_host)
            .view([n as i64, d_out as i64])
            .to_kind(y.kind())
            .to_device(y.device());
        y.copy_(&out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lora::{GatherBackend, LoraSlots};
    use tch::{Device, Kind};

    /// The kernel source compiles with NVRTC wherever libnvrtc is found, GPU or not (CI installs
    /// it with the toolchain), and holds every kernel `CudaRuntime::open` loads.
    #[test]
    fn kernels_compile_with_nvrtc() {
        // SAFETY: only tries to dlopen libnvrtc.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipping: {}", CudaError::NoNvrtc);
            return;
        }
        // libnvrtc opens libnvrtc-builtins by name at its first compile; the wheel's copy is
        // not on the library path, so load it by full path first (then the name matches).
        if let Some(dir) = option_env!("OL_NVRTC_DIR") {
            let builtins =
                std::ffi::CString::new(format!("{dir}/libnvrtc-builtins.so.13.0")).unwrap();
            // SAFETY: dlopen of a library with no initialisers we depend on; the handle is
            // kept open for the rest of the process on purpose.
            unsafe { libc::dlopen(builtins.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        }
        let ptx = compile_ptx(BGMV_SRC).unwrap_or_else(|e| panic!("{e}")).to_src();
        for (xn, wn) in BGMV_PAIRS {
            for kernel in ["bgmv_shrink", "bgmv_expand"] {
                assert!(ptx.contains(&format!(".entry {kernel}_{xn}_{wn}(")), "{kernel}_{xn}_{wn}");
            }
        }
    }

    /// Without a GPU the CUDA path is a clean error; with one, the kernels match the CPU path
    /// (the tch gather backend) on a batch with mixed ranks and rows without an adapter.
    #[test]
    fn bgmv_matches_cpu_or_reports_no_cuda() {
        let backend = match CudaBackend::open(0) {
            Ok(backend) => backend,
            Err(err @ (CudaError::NoCuda | CudaError::NoNvrtc)) => {
                assert!(err.to_string().starts_with("CUDA is not available"));
                eprintln!("skipping the GPU comparison: {err}");
                return;
            }
            Err(err) => panic!("CUDA present but unusable: {err}"),
        };
        tch::manual_seed(17);
        let (n, d_in, d_out, r, k) = (9i64, 96i64, 200i64, 16i64, 4i64);
        let opts = (Kind::Float, Device::Cpu);
        let mut slots = LoraSlots::new(k, r, d_in, d_out, Kind::Float, Device::Cpu); // Bt: [k, r, d_out]
        for s in 0..k {
            let rank = [16, 4, 8, 1][s as usize];
            slots
                .set_lora(
                    s,
                    &Tensor::randn([rank, d_in], opts),
                    &Tensor::randn([d_out, rank], opts),
                )
                .unwrap();
        }
        let x = Tensor::randn([n, d_in], opts);
        let y0 = Tensor::randn([n, d_out], opts);
        let idx = [0i64, 3, -1, 1, 2, 2, -1, 0, 3];
        let mapping = LoraMapping::new(&idx, Device::Cpu);
        let mut cpu = y0.copy();
        GatherBackend.add_lora(&mut cpu, &x, &slots.a, &slots.b, &mapping).unwrap();
        let mut gpu = y0.copy();
        backend.add_lora(&mut gpu, &x, &slots.a, &slots.b, &mapping).unwrap();
        let diff = (&cpu - &gpu).abs().max().double_value(&[]);
        assert!(diff < 1e-3, "max |cpu - gpu| = {diff}");
        let bad = LoraMapping::new(&[0, 0, 0, 0, 0, 0, 0, 0, 7], Device::Cpu);
        assert!(backend.add_lora(&mut gpu, &x, &slots.a, &slots.b, &bad).is_err());
    }
}
