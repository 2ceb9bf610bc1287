//! CPU kernels written directly over tensor memory, for the two places where a chain of small
//! libtorch ops costs far more than the arithmetic: the multi-adapter LoRA delta (BGMV) and
//! decode attention over the paged KV cache (PagedAttention). Both read adapter weights and
//! cached keys/values where they lie, without gathering copies, and loop in a shape the
//! compiler vectorises (contiguous dot products with several accumulators, contiguous axpy).
//!
//! They run on contiguous f32 or f64 CPU tensors; [`Scalar`] covers the two. Callers fall back to
//! libtorch ops for other dtypes and devices.

use tch::{Device, Kind, Tensor};

/// f32 or f64.
pub trait Scalar:
    Copy
    + Default
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + tch::kind::Element
    + Load<Self>
{
    /// From f64.
    fn of(v: f64) -> Self;
    /// To f64.
    fn to_f64(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
}

impl Scalar for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
}

impl Scalar for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
}

/// An element type tensors are stored in, readable as the compute type `T`.
pub trait Load<T>: Copy {
    /// The tensor kind holding this type.
    const STORED: Kind;
    /// The value as `T`.
    fn load(self) -> T;
}

impl Load<f32> for f32 {
    const STORED: Kind = Kind::Float;
    #[inline]
    fn load(self) -> f32 {
        self
    }
}

impl Load<f64> for f64 {
    const STORED: Kind = Kind::Double;
    #[inline]
    fn load(self) -> f64 {
        self
    }
}

/// A bfloat16 value: the top 16 bits of an f32 (adapter slots stored at half the bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

impl Load<f32> for Bf16 {
    const STORED: Kind = Kind::BFloat16;
    #[inline]
    fn load(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

/// Whether `t` is a contiguous CPU tensor of `T`'s kind, so its memory can be read as `[T]`.
pub fn is_plain<T: Scalar>(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.kind() == T::KIND && t.is_contiguous()
}

/// The memory of a contiguous CPU tensor stored as `W` (f32, f64 or [`Bf16`]), or `None`.
pub fn stored<T, W: Load<T>>(t: &Tensor) -> Option<&[W]> {
    if t.device() != Device::Cpu || t.kind() != W::STORED || !t.is_contiguous() {
        return None;
    }
    let n = t.numel();
    if n == 0 {
        return Some(&[]);
    }
    // SAFETY: a contiguous CPU tensor whose element type has the size and layout of `W` (f32,
    // f64, or bf16 read through the transparent `Bf16(u16)`), `n` elements from `data_ptr`; the
    // slice borrows `t`, and the callers do not write to the tensor while it is alive.
    Some(unsafe { std::slice::from_raw_parts(t.data_ptr() as *const W, n) })
}

/// The memory of a contiguous CPU tensor of kind `T`, or `None`.
pub fn slice<T: Scalar>(t: &Tensor) -> Option<&[T]> {
    if !is_plain::<T>(t) {
        return None;
    }
    let n = t.numel();
    if n == 0 {
        return Some(&[]);
    }
    // SAFETY: the tensor is a contiguous CPU tensor of element type T (checked above) holding
    // `n` elements from `data_ptr`; the slice borrows `t`, which keeps the storage alive, and the
    // callers in this crate do not write to the tensor while the slice is alive.
    Some(unsafe { std::slice::from_raw_parts(t.data_ptr() as *const T, n) })
}

/// Mutable memory of a contiguous CPU tensor of kind `T` that no other tensor views.
///
/// The tensor must own its storage alone (freshly computed, as the outputs of a matmul are);
/// callers in this crate pass only such tensors.
pub fn slice_mut<T: Scalar>(t: &mut Tensor) -> Option<&mut [T]> {
    if !is_plain::<T>(t) {
        return None;
    }
    let n = t.numel();
    if n == 0 {
        return Some(&mut []);
    }
    // SAFETY: as in `slice`, plus exclusivity: we hold `&mut Tensor`, and the callers pass
    // tensors whose storage is not shared with another live tensor.
    Some(unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, n) })
}

#[inline]
fn dot<T: Scalar, W: Load<T>>(a: &[T], b: &[W]) -> T {
    let mut acc = [T::default(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] = acc[k] + x[k] * y[k].load();
        }
    }
    let mut sum = T::default();
    for (x, y) in ra.iter().zip(rb) {
        sum = sum + *x * y.load();
    }
    let pairs = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    sum + (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
}

#[inline]
fn axpy<T: Scalar, W: Load<T>>(y: &mut [T], alpha: T, x: &[W]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = *yi + alpha * xi.load();
    }
}

/// BGMV on slices: `y[i] += (x[i] · A[idx[i]]ᵀ) · Bt[idx[i]]` for rows with `idx[i] ≥ 0`, with
/// `x` `[n, d_in]`, `a` `[slots, r, d_in]`, `bt` `[slots, r, d_out]` and `y` `[n, d_out]`; the
/// slots may be stored in a narrower type `W` (bf16) and are widened on the fly. Shapes must have
/// been checked by the caller.
#[allow(clippy::too_many_arguments)]
pub fn bgmv<T: Scalar, W: Load<T>>(
    y: &mut [T],
    x: &[T],
    a: &[W],
    bt: &[W],
    idx: &[i64],
    d_in: usize,
    r: usize,
    d_out: usize,
) {
    let mut s = vec![T::default(); r];
    for (i, &slot) in idx.iter().enumerate() {
        if slot < 0 {
            continue;
        }
        let slot = slot as usize;
        let xi = &x[i * d_in..(i + 1) * d_in];
        let a_s = &a[slot * r * d_in..(slot + 1) * r * d_in];
        for (j, sj) in s.iter_mut().enumerate() {
            *sj = dot(xi, &a_s[j * d_in..(j + 1) * d_in]);
        }
        let b_s = &bt[slot * r * d_out..(slot + 1) * r * d_out];
        let yi = &mut y[i * d_out..(i + 1) * d_out];
        for (j, &sj) in s.iter().enumerate() {
            if sj != T::default() {
                axpy(yi, sj, &b_s[j * d_out..(j + 1) * d_out]);
            }
        }
    }
}

/// Decode attention over the paged cache: for each sequence `s` and query head `h`,
/// `out[s, h] = softmax(scale · q[s, h] · K[ctx_s, g]ᵀ) · V[ctx_s, g]` with `g = h / (heads /
/// kv_heads)` and `ctx_s = slots[offsets[s]..offsets[s + 1]]` (cache rows of the sequence's
/// positions). `q`, `out`: `[n, heads, hd]`; caches `[rows, kv_heads, hd]`.
#[allow(clippy::too_many_arguments)]
pub fn paged_decode_attention<T: Scalar>(
    out: &mut [T],
    q: &[T],
    k_cache: &[T],
    v_cache: &[T],
    offsets: &[usize],
    slots: &[i64],
    heads: usize,
    kv_heads: usize,
    hd: usize,
    scale: f64,
) {
    let group = heads / kv_heads;
    let mut scores: Vec<f64> = Vec::new();
    let mut acc = vec![T::default(); hd];
    for s in 0..offsets.len().saturating_sub(1) {
        let ctx = &slots[offsets[s]..offsets[s + 1]];
        for h in 0..heads {
            let g = h / group;
            let qh = &q[(s * heads + h) * hd..(s * heads + h + 1) * hd];
            scores.clear();
            let mut max = f64::NEG_INFINITY;
            for &row in ctx {
                let k = &k_cache
                    [(row as usize * kv_heads + g) * hd..(row as usize * kv_heads + g + 1) * hd];
                let sc = dot(qh, k).to_f64() * scale;
                max = max.max(sc);
                scores.push(sc);
            }
            let mut total = 0.0;
            for sc in scores.iter_mut() {
                *sc = (*sc - max).exp();
                total += *sc;
            }
            acc.iter_mut().for_each(|a| *a = T::default());
            for (&row, &w) in ctx.iter().zip(&scores) {
                let v = &v_cache
                    [(row as usize * kv_heads + g) * hd..(row as usize * kv_heads + g + 1) * hd];
                axpy(&mut acc, T::of(w / total), v);
            }
            out[(s * heads + h) * hd..(s * heads + h + 1) * hd].copy_from_slice(&acc);
        }
    }
}

/// Whether the fast kernels can run on tensors of this kind and device.
pub fn supported(kind: Kind, device: Device) -> bool {
    device == Device::Cpu && matches!(kind, Kind::Float | Kind::Double)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_naive_sums() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.11).cos()).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-12);
        let mut y = b.clone();
        axpy(&mut y, 2.0, &a);
        assert!(
            y.iter().zip(a.iter().zip(&b)).all(|(y, (a, b))| (y - (b + 2.0 * a)).abs() < 1e-15)
        );
        let t = Tensor::from_slice(&a);
        assert_eq!(slice::<f64>(&t).unwrap(), &a[..]);
        assert!(slice::<f32>(&t).is_none(), "wrong kind");
        assert!(
            slice::<f64>(&t.view([37, 1]).tr()).is_some(),
            "a [1, 37] transpose of a column is contiguous"
        );
        assert!(
            slice::<f64>(&Tensor::from_slice(&a).view([37, 1]).expand([37, 2], false)).is_none()
        );
    }
}
