//! The CUDA path (feature `cuda`): kernels compiled at run time with NVRTC and launched through
//! cudarc. cudarc loads libcuda and libnvrtc dynamically, so this builds on machines without
//! CUDA; [`CudaRuntime::open`] then answers [`CudaError::NoCuda`] instead of panicking (cudarc's
//! own constructors panic when the library is missing, so we ask first).

use cudarc::{
    driver::{CudaContext, CudaFunction, CudaStream, DriverError, LaunchConfig, PushKernelArg},
    nvrtc::{CompileError, compile_ptx},
};
use std::sync::Arc;

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

/// BGMV shrink: `out[i, j] = Σₖ x[i, k] · A[idx[i], j, k]`, one block per row and one thread per
/// rank column; the first half of the multi-adapter LoRA delta.
const BGMV_SHRINK_SRC: &str = r#"
extern "C" __global__ void bgmv_shrink(const float* x, const float* a, const long long* idx,
                                       float* out, int n, int d_in, int r) {
    int row = blockIdx.x;
    int j = threadIdx.x;
    if (row >= n || j >= r) return;
    const float* xr = x + (long long)row * d_in;
    const float* ar = a + (idx[row] * r + j) * (long long)d_in;
    float acc = 0.0f;
    for (int k = 0; k < d_in; ++k) acc += xr[k] * ar[k];
    out[(long long)row * r + j] = acc;
}
"#;

/// A CUDA context with our kernels compiled and loaded.
#[derive(Debug)]
pub struct CudaRuntime {
    stream: Arc<CudaStream>,
    bgmv_shrink: CudaFunction,
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
        let module = ctx.load_module(compile_ptx(BGMV_SHRINK_SRC)?)?;
        let bgmv_shrink = module.load_function("bgmv_shrink")?;
        Ok(Self { stream: ctx.default_stream(), bgmv_shrink })
    }

    /// Runs BGMV shrink on host data: `x` `[n, d_in]`, `a` `[k, r, d_in]`, `idx` `[n]`, all
    /// row-major; returns `[n, r]`.
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
        let k = a.len() / (r * d_in);
        if let Some(bad) = idx.iter().find(|&&i| i < 0 || i as usize >= k) {
            return Err(CudaError::Shape(format!(
                "adapter index {bad} out of range for {k} adapters"
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let to_i32 =
            |v: usize| i32::try_from(v).map_err(|_| CudaError::Shape(format!("{v} exceeds i32")));
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
        // checked above, and each index was checked to be in 0..k.
        unsafe { launch.launch(config) }?;
        Ok(self.stream.clone_dtoh(&out_dev)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a GPU the CUDA path is a clean error; with one, the kernel matches the CPU.
    #[test]
    fn bgmv_shrink_matches_cpu_or_reports_no_cuda() {
        let runtime = match CudaRuntime::open(0) {
            Ok(runtime) => runtime,
            Err(err @ (CudaError::NoCuda | CudaError::NoNvrtc)) => {
                assert!(err.to_string().starts_with("CUDA is not available"));
                eprintln!("skipping the GPU comparison: {err}");
                return;
            }
            Err(err) => panic!("CUDA present but unusable: {err}"),
        };
        let (n, d_in, r, k) = (6usize, 33usize, 8usize, 3usize);
        let x: Vec<f32> = (0..n * d_in).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
        let a: Vec<f32> = (0..k * r * d_in).map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0).collect();
        let idx: Vec<i64> = (0..n as i64).map(|i| i % k as i64).collect();
        let got = runtime.bgmv_shrink(&x, &a, &idx, d_in, r).unwrap();
        for i in 0..n {
            for j in 0..r {
                let adapter = idx[i] as usize;
                let expected: f32 =
                    (0..d_in).map(|c| x[i * d_in + c] * a[(adapter * r + j) * d_in + c]).sum();
                assert!((got[i * r + j] - expected).abs() < 1e-4, "row {i} col {j}");
            }
        }
        assert!(runtime.bgmv_shrink(&x, &a, &[0, 9], d_in, r).is_err());
    }
}
