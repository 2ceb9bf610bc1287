//! The CUDA path (feature `cuda`): kernels compiled at run time with NVRTC and launched through
//! cudarc. cudarc loads libcuda and libnvrtc dynamically, so this builds on machines without
//! CUDA; [`CudaRuntime::open`] then answers [`CudaError::NoCuda`] instead of panicking (cudarc's
//! own constructors panic when the library is missing, so we ask first).

use crate::lora::{LoraBackend, LoraError, LoraMapping};
use cudarc::{
    driver::{CudaContext, CudaFunction, CudaStream, DriverError, LaunchConfig, PushKernelArg},
    nvrtc::{CompileError, compile_ptx},
};
use std::sync::Arc;
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

/// The two BGMV kernels (Punica's names). Row `i` uses adapter `idx[i]`; `-1` skips the row.
///
/// - `bgmv_shrink`: `s[i, j] = Σₖ x[i, k] · A[idx[i], j, k]`, one block per row, one thread per
///   rank column;
/// - `bgmv_expand`: `y[i, o] += Σⱼ s[i, j] · Bt[idx[i], j, o]`, blocks of 128 output columns
///   per row (neighbouring threads read neighbouring `o`: coalesced).
const BGMV_SRC: &str = r#"
extern "C" __global__ void bgmv_shrink(const float* x, const float* a, const long long* idx,
                                       float* out, int n, int d_in, int r) {
    int row = blockIdx.x;
    int j = threadIdx.x;
    if (row >= n || j >= r) return;
    long long slot = idx[row];
    if (slot < 0) { out[(long long)row * r + j] = 0.0f; return; }
    const float* xr = x + (long long)row * d_in;
    const float* ar = a + (slot * r + j) * (long long)d_in;
    float acc = 0.0f;
    for (int k = 0; k < d_in; ++k) acc += xr[k] * ar[k];
    out[(long long)row * r + j] = acc;
}

extern "C" __global__ void bgmv_expand(const float* s, const float* b, const long long* idx,
                                       float* y, int n, int r, int d_out) {
    int row = blockIdx.x;
    int o = blockIdx.y * blockDim.x + threadIdx.x;
    if (row >= n || o >= d_out) return;
    long long slot = idx[row];
    if (slot < 0) return;
    const float* sr = s + (long long)row * r;
    const float* br = b + slot * (long long)r * d_out + o;
    float acc = 0.0f;
    for (int j = 0; j < r; ++j) acc += sr[j] * br[(long long)j * d_out];
    y[(long long)row * d_out + o] += acc;
}
"#;

/// A CUDA context with our kernels compiled and loaded.
#[derive(Debug)]
pub struct CudaRuntime {
    stream: Arc<CudaStream>,
    bgmv_shrink: CudaFunction,
    bgmv_expand: CudaFunction,
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
        let bgmv_shrink = module.load_function("bgmv_shrink")?;
        let bgmv_expand = module.load_function("bgmv_expand")?;
        Ok(Self { stream: ctx.default_stream(), bgmv_shrink, bgmv_expand })
    }

    /// Runs BGMV shrink on host data: `x` `[n, d_in]`, `a` `[k, r, d_in]`, `idx` `[n]` (each
    /// in `-1..k`), all row-major; returns `[n, r]` (zero rows where `idx` is -1).
    pub fn bgmv_shrink(
        &self,
        x: &[f32],
        a: &[f32],
        idx: &[i64],
        d_in: usize,
        r: usize,
    ) -> Result<Vec<f32>, CudaError> {
        let n = idx.len();
        if d_in == 0
            || r == 0
            || r > 1024
            || x.len() != n * d_in
            || !a.len().is_multiple_of(r * d_in)
        {
            return Err(CudaError::Shape(format!(
                "x has {} values for n={n}, d_in={d_in}; a has {} values for r={r} (r ≤ 1024)",
                x.len(),
                a.len()
            )));
        }
        check_idx(idx, a.len() / (r * d_in))?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let (n_i, d_i, r_i) = (to_i32(n)?, to_i32(d_in)?, to_i32(r)?);
        let x_dev = self.stream.clone_htod(x)?;
        let a_dev = self.stream.clone_htod(a)?;
        let idx_dev = self.stream.clone_htod(idx)?;
        let mut out_dev = self.stream.alloc_zeros::<f32>(n * r)?;
        let config = LaunchConfig {
            grid_dim: (n as u32, 1, 1),
            block_dim: (r as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = self.stream.launch_builder(&self.bgmv_shrink);
        launch
            .arg(&x_dev)
            .arg(&a_dev)
            .arg(&idx_dev)
            .arg(&mut out_dev)
            .arg(&n_i)
            .arg(&d_i)
            .arg(&r_i);
        // SAFETY: the argument list matches the kernel's signature, every buffer holds the sizes
        // checked above, and each index was checked to be in -1..k.
        unsafe { launch.launch(config) }?;
        Ok(self.stream.clone_dtoh(&out_dev)?)
    }

    /// The whole BGMV on host data: `y[i] += (x[i]·A[idx[i]]ᵀ)·Bt[idx[i]]` for `y` `[n, d_out]`,
    /// `x` `[n, d_in]`, `a` `[k, r, d_in]`, `b` (`Bt`) `[k, r, d_out]`; rows with `idx = -1`
    /// unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn bgmv(
        &self,
        y: &mut [f32],
        x: &[f32],
        a: &[f32],
        b: &[f32],
        idx: &[i64],
        d_in: usize,
        r: usize,
        d_out: usize,
    ) -> Result<(), CudaError> {
        let n = idx.len();
        if d_out == 0
            || y.len() != n * d_out
            || b.len() / (d_out * r).max(1) != a.len() / (r * d_in).max(1)
        {
            return Err(CudaError::Shape(format!(
                "y has {} values for n={n}, d_out={d_out}; b has {} values",
                y.len(),
                b.len()
            )));
        }
        let shrunk = self.bgmv_shrink(x, a, idx, d_in, r)?;
        if n == 0 {
            return Ok(());
        }
        let (n_i, r_i, o_i) = (to_i32(n)?, to_i32(r)?, to_i32(d_out)?);
        let s_dev = self.stream.clone_htod(&shrunk)?;
        let b_dev = self.stream.clone_htod(b)?;
        let idx_dev = self.stream.clone_htod(idx)?;
        let mut y_dev = self.stream.clone_htod(y)?;
        let threads = 128u32;
        let config = LaunchConfig {
            grid_dim: (n as u32, (d_out as u32).div_ceil(threads), 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = self.stream.launch_builder(&self.bgmv_expand);
        launch.arg(&s_dev).arg(&b_dev).arg(&idx_dev).arg(&mut y_dev).arg(&n_i).arg(&r_i).arg(&o_i);
        // SAFETY: the argument list matches the kernel's signature; `s` is [n, r], `b` holds k
        // adapters of [r, d_out] (checked against `a`), `y` is [n, d_out], indices are in -1..k.
        unsafe { launch.launch(config) }?;
        let out = self.stream.clone_dtoh(&y_dev)?;
        y.copy_from_slice(&out);
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
