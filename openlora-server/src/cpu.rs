//! CPU kernels written directly over tensor memory, for the two places where a chain of small
//! libtorch ops costs far more than the arithmetic: the multi-adapter LoRA delta (BGMV) and
//! decode attention over the paged KV cache (PagedAttention). Both read adapter weights and
//! cached keys/values where they lie, without gathering copies, and loop in a shape the
//! compiler vectorises (contiguous dot products with several accumulators, contiguous axpy).
//!
//! Tensors may be stored as f32, f64 or bf16 ([`Load`]); arithmetic runs in f32 or f64
//! ([`Scalar`]), and bf16 results are rounded once per element when written back ([`Store`]).
//! On x86-64 CPUs with AVX2 and FMA the kernels run a copy compiled for those instructions
//! (chosen at run time, so the binary still runs on any x86-64), and on CPUs with AVX-512
//! (F/BW/VL/BF16) both run kernels written for it ([`avx512`]). Callers fall back to libtorch
//! ops for other dtypes and devices.

use tch::{Device, Kind, Tensor};

#[cfg(target_arch = "x86_64")]
pub mod avx512;

/// The arithmetic type of a kernel: f32 or f64.
pub trait Scalar:
    'static
    + Copy
    + Default
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + Store<Self>
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
pub trait Load<T>: Copy + 'static {
    /// The tensor kind holding this type.
    const STORED: Kind;
    /// The value as `T`.
    fn load(self) -> T;
}

/// A stored element type that results can be written back to.
pub trait Store<T>: Load<T> {
    /// `v` in this type (rounded to nearest, ties to even, where narrower).
    fn store(v: T) -> Self;
}

impl Load<f32> for f32 {
    const STORED: Kind = Kind::Float;
    #[inline(always)]
    fn load(self) -> f32 {
        self
    }
}

impl Store<f32> for f32 {
    #[inline(always)]
    fn store(v: f32) -> Self {
        v
    }
}

impl Load<f64> for f64 {
    const STORED: Kind = Kind::Double;
    #[inline(always)]
    fn load(self) -> f64 {
        self
    }
}

impl Store<f64> for f64 {
    #[inline(always)]
    fn store(v: f64) -> Self {
        v
    }
}

/// A bfloat16 value: the top 16 bits of an f32 (bf16 models, and adapter slots stored at half
/// the bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

impl Load<f32> for Bf16 {
    const STORED: Kind = Kind::BFloat16;
    #[inline(always)]
    fn load(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

impl Store<f32> for Bf16 {
    #[inline(always)]
    fn store(v: f32) -> Self {
        let bits = v.to_bits();
        if v.is_nan() {
            // Keep a NaN a (quiet) NaN: rounding could carry its payload into infinity.
            return Self(((bits >> 16) as u16) | 0x40);
        }
        // Round to nearest, ties to even, as libtorch's `to_kind(BFloat16)` does.
        Self((bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16)
    }
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

/// Mutable memory of a contiguous CPU tensor stored as `W` that no other tensor views, or
/// `None`.
///
/// The tensor must own its storage alone (freshly computed, as the outputs of a matmul are);
/// callers in this crate pass only such tensors.
pub fn stored_mut<T, W: Load<T>>(t: &mut Tensor) -> Option<&mut [W]> {
    if t.device() != Device::Cpu || t.kind() != W::STORED || !t.is_contiguous() {
        return None;
    }
    let n = t.numel();
    if n == 0 {
        return Some(&mut []);
    }
    // SAFETY: as in `stored`, plus exclusivity: we hold `&mut Tensor`, and the callers pass
    // tensors whose storage is not shared with another live tensor.
    Some(unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut W, n) })
}

#[inline(always)]
fn dot<T: Scalar, U: Load<T>, W: Load<T>>(a: &[U], b: &[W]) -> T {
    let mut acc = [T::default(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] = acc[k] + x[k].load() * y[k].load();
        }
    }
    let mut sum = T::default();
    for (x, y) in ra.iter().zip(rb) {
        sum = sum + x.load() * y.load();
    }
    let pairs = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    sum + (pairs[0] + pairs[2]) + (pairs[1] + pairs[3])
}

#[inline(always)]
fn axpy<T: Scalar, W: Load<T>>(y: &mut [T], alpha: T, x: &[W]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = *yi + alpha * xi.load();
    }
}

/// `dst = src` widened to `T` (a plain loop the compiler vectorises for every stored type,
/// where mixing the widening into a dot product leaves it half scalar).
#[inline(always)]
fn widen<T: Scalar, W: Load<T>>(dst: &mut [T], src: &[W]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.load();
    }
}

/// `src` as `[T]`: the slice itself where it is stored as `T` already, else widened into
/// `buf` (which must be as long as `src`).
#[inline(always)]
fn widened<'a, T: Scalar, W: Load<T>>(buf: &'a mut [T], src: &'a [W]) -> &'a [T] {
    if let Some(same) = cast::<W, T>(src) {
        return same;
    }
    widen(buf, src);
    &buf[..src.len()]
}

/// Whether `A` and `B` are the same type.
fn same<A: 'static, B: 'static>() -> bool {
    std::any::TypeId::of::<A>() == std::any::TypeId::of::<B>()
}

/// `s` as `[B]` where `A` is `B` (a generic kernel handing a slice to a concrete one).
fn cast<A: 'static, B: 'static>(s: &[A]) -> Option<&[B]> {
    // SAFETY: `A` and `B` are the same type, so the slice is a `[B]`.
    same::<A, B>().then(|| unsafe { &*(s as *const [A] as *const [B]) })
}

/// [`cast`] for a mutable slice.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn cast_mut<A: 'static, B: 'static>(s: &mut [A]) -> Option<&mut [B]> {
    // SAFETY: as in `cast`.
    same::<A, B>().then(|| unsafe { &mut *(s as *mut [A] as *mut [B]) })
}

/// Whether to run the copies of the kernels compiled for AVX2 and FMA (x86-64 CPUs that have
/// them). Both copies do the same arithmetic in the same order (no fused multiply-adds are
/// requested), so their results agree.
#[cfg(target_arch = "x86_64")]
fn wide_simd() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// BGMV on slices: `y[i] += (x[i] · A[idx[i]]ᵀ) · Bt[idx[i]]` for rows with `idx[i] ≥ 0`, with
/// `x` `[n, d_in]`, `a` `[slots, r, d_in]`, `bt` `[slots, r, d_out]` and `y` `[n, d_out]`;
/// activations are stored as `X` and the slots as `W` (either may be bf16), the arithmetic runs
/// in `T`. Shapes must have been checked by the caller.
///
/// In f32 on CPUs with AVX-512 (F/BW/VL/BF16) this runs [`avx512::bgmv`], whose sums agree
/// with [`bgmv_portable`]'s to rounding; otherwise [`bgmv_portable`].
#[allow(clippy::too_many_arguments)]
pub fn bgmv<T: Scalar, X: Store<T>, W: Load<T>>(
    y: &mut [X],
    x: &[X],
    a: &[W],
    bt: &[W],
    idx: &[i64],
    d_in: usize,
    r: usize,
    d_out: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if same::<T, f32>() && avx512::available() {
        macro_rules! run {
            ($x:ty, $w:ty) => {
                if let (Some(y), Some(x), Some(a), Some(bt)) =
                    (cast_mut::<X, $x>(y), cast::<X, $x>(x), cast::<W, $w>(a), cast::<W, $w>(bt))
                {
                    // SAFETY: the CPU has the features (`available`); shapes per this
                    // function's contract.
                    return unsafe { avx512::bgmv::<$x, $w>(y, x, a, bt, idx, d_in, r, d_out) };
                }
            };
        }
        run!(f32, f32);
        run!(f32, Bf16);
        run!(Bf16, Bf16);
        run!(Bf16, f32);
    }
    bgmv_portable::<T, X, W>(y, x, a, bt, idx, d_in, r, d_out)
}

/// [`bgmv`] without the AVX-512 kernel: the loops below, compiled for AVX2 and FMA where the
/// CPU has them (bit-identical results either way).
#[allow(clippy::too_many_arguments)]
pub fn bgmv_portable<T: Scalar, X: Store<T>, W: Load<T>>(
    y: &mut [X],
    x: &[X],
    a: &[W],
    bt: &[W],
    idx: &[i64],
    d_in: usize,
    r: usize,
    d_out: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if wide_simd() {
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn wide<T: Scalar, X: Store<T>, W: Load<T>>(
            y: &mut [X],
            x: &[X],
            a: &[W],
            bt: &[W],
            idx: &[i64],
            d_in: usize,
            r: usize,
            d_out: usize,
        ) {
            bgmv_body::<T, X, W>(y, x, a, bt, idx, d_in, r, d_out)
        }
        // SAFETY: the CPU supports AVX2 and FMA (`wide_simd`).
        return unsafe { wide::<T, X, W>(y, x, a, bt, idx, d_in, r, d_out) };
    }
    bgmv_body::<T, X, W>(y, x, a, bt, idx, d_in, r, d_out)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn bgmv_body<T: Scalar, X: Store<T>, W: Load<T>>(
    y: &mut [X],
    x: &[X],
    a: &[W],
    bt: &[W],
    idx: &[i64],
    d_in: usize,
    r: usize,
    d_out: usize,
) {
    let mut s = vec![T::default(); r];
    let mut xi_buf = vec![T::default(); d_in];
    let mut row = vec![T::default(); d_in.max(d_out)];
    let mut acc = vec![T::default(); d_out];
    for (i, &slot) in idx.iter().enumerate() {
        if slot < 0 {
            continue;
        }
        let slot = slot as usize;
        let xi = widened(&mut xi_buf, &x[i * d_in..(i + 1) * d_in]);
        let a_s = &a[slot * r * d_in..(slot + 1) * r * d_in];
        for (j, sj) in s.iter_mut().enumerate() {
            *sj = dot::<T, T, T>(xi, widened(&mut row, &a_s[j * d_in..(j + 1) * d_in]));
        }
        let b_s = &bt[slot * r * d_out..(slot + 1) * r * d_out];
        let yi = &mut y[i * d_out..(i + 1) * d_out];
        // Accumulate in `T`, so a bf16 row is rounded once, not once per rank.
        widen(&mut acc, yi);
        for (j, &sj) in s.iter().enumerate() {
            if sj != T::default() {
                axpy::<T, T>(&mut acc, sj, widened(&mut row, &b_s[j * d_out..(j + 1) * d_out]));
            }
        }
        yi.iter_mut().zip(&acc).for_each(|(y, &a)| *y = X::store(a));
    }
}

/// The heads of [`paged_decode_attention`]: `heads` query heads of `head_dim` values, sharing
/// `kv_heads` key/value heads in groups of `heads / kv_heads`; scores scaled by `scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionShape {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (a divisor of `heads`).
    pub kv_heads: usize,
    /// Values per head.
    pub head_dim: usize,
    /// The factor on `q · k` (usually `1/√head_dim`).
    pub scale: f64,
}

/// Decode attention over the paged cache: for each sequence `s` and query head `h`,
/// `out[s, h] = softmax(scale · q[s, h] · K[ctx_s, g]ᵀ) · V[ctx_s, g]` with `g = h / (heads /
/// kv_heads)` and `ctx_s = slots[offsets[s]..offsets[s + 1]]` (cache rows of the sequence's
/// positions). `q`, `out`: `[n, heads, hd]`; caches `[rows, kv_heads, hd]`; all stored as `X`,
/// computed in `T`.
///
/// In f32 on CPUs with AVX-512 this runs [`avx512::paged_decode_attention`], which agrees with
/// [`paged_decode_attention_portable`] to rounding; otherwise the latter.
pub fn paged_decode_attention<T: Scalar, X: Store<T>>(
    out: &mut [X],
    q: &[X],
    k_cache: &[X],
    v_cache: &[X],
    offsets: &[usize],
    slots: &[i64],
    shape: AttentionShape,
) {
    #[cfg(target_arch = "x86_64")]
    if same::<T, f32>() && avx512::available() {
        macro_rules! run {
            ($x:ty) => {
                if let (Some(out), Some(q), Some(k), Some(v)) = (
                    cast_mut::<X, $x>(out),
                    cast::<X, $x>(q),
                    cast::<X, $x>(k_cache),
                    cast::<X, $x>(v_cache),
                ) {
                    // SAFETY: the CPU has the features (`available`); shapes per this
                    // function's contract.
                    return unsafe {
                        avx512::paged_decode_attention::<$x>(out, q, k, v, offsets, slots, shape)
                    };
                }
            };
        }
        run!(f32);
        run!(Bf16);
    }
    paged_decode_attention_portable::<T, X>(out, q, k_cache, v_cache, offsets, slots, shape)
}

/// [`paged_decode_attention`] without the AVX-512 kernel: the loops below, compiled for AVX2
/// and FMA where the CPU has them (bit-identical results either way).
pub fn paged_decode_attention_portable<T: Scalar, X: Store<T>>(
    out: &mut [X],
    q: &[X],
    k_cache: &[X],
    v_cache: &[X],
    offsets: &[usize],
    slots: &[i64],
    shape: AttentionShape,
) {
    #[cfg(target_arch = "x86_64")]
    if wide_simd() {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn wide<T: Scalar, X: Store<T>>(
            out: &mut [X],
            q: &[X],
            k_cache: &[X],
            v_cache: &[X],
            offsets: &[usize],
            slots: &[i64],
            shape: AttentionShape,
        ) {
            attention_body::<T, X>(out, q, k_cache, v_cache, offsets, slots, shape)
        }
        // SAFETY: the CPU supports AVX2 and FMA (`wide_simd`).
        return unsafe { wide::<T, X>(out, q, k_cache, v_cache, offsets, slots, shape) };
    }
    attention_body::<T, X>(out, q, k_cache, v_cache, offsets, slots, shape)
}

#[inline(always)]
fn attention_body<T: Scalar, X: Store<T>>(
    out: &mut [X],
    q: &[X],
    k_cache: &[X],
    v_cache: &[X],
    offsets: &[usize],
    slots: &[i64],
    shape: AttentionShape,
) {
    let AttentionShape { heads, kv_heads, head_dim: hd, scale } = shape;
    // One pass over a sequence's cached rows serves all its heads: a row holds every KV head
    // (`kv_heads · hd` contiguous values, and the rows of a block are contiguous), so the cache
    // is read front to back once per step and widened once.
    let group = heads / kv_heads;
    let width = kv_heads * hd;
    let scale = T::of(scale);
    let mut qs = vec![T::default(); heads * hd];
    let mut row = vec![T::default(); width];
    let mut scores: Vec<T> = Vec::new();
    let mut acc = vec![T::default(); heads * hd];
    for s in 0..offsets.len().saturating_sub(1) {
        let ctx = &slots[offsets[s]..offsets[s + 1]];
        let n = ctx.len();
        if n == 0 {
            continue;
        }
        let q_at = s * heads * hd;
        widen(&mut qs, &q[q_at..q_at + heads * hd]);
        qs.iter_mut().for_each(|v| *v = *v * scale);
        scores.clear();
        scores.resize(heads * n, T::default());
        for (j, &r) in ctx.iter().enumerate() {
            let at = r as usize * width;
            let row = widened(&mut row, &k_cache[at..at + width]);
            for h in 0..heads {
                let k = &row[(h / group) * hd..(h / group + 1) * hd];
                scores[h * n + j] = dot::<T, T, T>(&qs[h * hd..(h + 1) * hd], k);
            }
        }
        for h in 0..heads {
            let sc = &mut scores[h * n..(h + 1) * n];
            let max = sc.iter().copied().fold(sc[0], |m, v| if v > m { v } else { m });
            let minus_max = T::of(-max.to_f64());
            let mut total = T::default();
            for v in sc.iter_mut() {
                *v = (*v + minus_max).exp();
                total = total + *v;
            }
            let inv = T::of(1.0) / total;
            sc.iter_mut().for_each(|v| *v = *v * inv);
        }
        acc.iter_mut().for_each(|a| *a = T::default());
        for (j, &r) in ctx.iter().enumerate() {
            let at = r as usize * width;
            let row = widened(&mut row, &v_cache[at..at + width]);
            for h in 0..heads {
                let v = &row[(h / group) * hd..(h / group + 1) * hd];
                axpy::<T, T>(&mut acc[h * hd..(h + 1) * hd], scores[h * n + j], v);
            }
        }
        out[q_at..q_at + heads * hd].iter_mut().zip(&acc).for_each(|(o, &a)| *o = X::store(a));
    }
}

/// Whether the fast kernels can run on activations of this kind on this device.
pub fn supported(kind: Kind, device: Device) -> bool {
    device == Device::Cpu && matches!(kind, Kind::Float | Kind::Double | Kind::BFloat16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_naive_sums() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.11).cos()).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot::<f64, f64, f64>(&a, &b) - want).abs() < 1e-12);
        let mut y = b.clone();
        axpy(&mut y, 2.0, &a);
        assert!(
            y.iter().zip(a.iter().zip(&b)).all(|(y, (a, b))| (y - (b + 2.0 * a)).abs() < 1e-15)
        );
        let t = Tensor::from_slice(&a);
        assert_eq!(stored::<f64, f64>(&t).unwrap(), &a[..]);
        assert!(stored::<f32, f32>(&t).is_none(), "wrong kind");
        assert!(
            stored::<f64, f64>(&t.view([37, 1]).tr()).is_some(),
            "a [1, 37] transpose of a column is contiguous"
        );
        assert!(
            stored::<f64, f64>(&Tensor::from_slice(&a).view([37, 1]).expand([37, 2], false))
                .is_none()
        );
    }

    /// bf16 rounding equals libtorch's f32 → bf16 conversion, ties, subnormals, infinities and
    /// NaN included, and widening is exact.
    #[test]
    fn bf16_store_rounds_as_libtorch_does() {
        let mut values: Vec<f32> = vec![
            0.0,
            -0.0,
            1.0,
            f32::from_bits(0x3f80_8000), // a tie, rounds down to even
            f32::from_bits(0x3f81_8000), // a tie, rounds up to even
            f32::from_bits(0x3f80_8001),
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        values.extend((0..2000).map(|i| ((i as f32) * 0.731).sin() * 10f32.powi(i % 20 - 10)));
        let theirs = Tensor::from_slice(&values).to_kind(Kind::BFloat16);
        let theirs = stored::<f32, Bf16>(&theirs).unwrap().to_vec();
        for (v, t) in values.iter().zip(&theirs) {
            assert_eq!(Bf16::store(*v), *t, "{v:e} ({:#x})", v.to_bits());
            assert_eq!(Bf16::store(t.load()), *t, "widening then rounding is exact");
        }
        assert!(Bf16::store(f32::NAN).load().is_nan());
        assert!(Bf16::store(f32::from_bits(0x7fff_ffff)).load().is_nan(), "no carry into inf");
    }

    /// The copies compiled for AVX2/FMA (what `bgmv_portable` and
    /// `paged_decode_attention_portable` run on such CPUs) give bit-for-bit the results of the
    /// baseline copies (the bodies as compiled into this test), in f32 and in bf16.
    #[test]
    fn wide_and_baseline_kernels_agree_bitwise() {
        tch::manual_seed(4);
        let f = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let (n, d_in, r, d_out, slots) = (5usize, 40usize, 3usize, 24usize, 4i64);
        let (x, a, bt, y) = (
            f(&[n as i64, d_in as i64]),
            f(&[slots, r as i64, d_in as i64]),
            f(&[slots, r as i64, d_out as i64]),
            f(&[n as i64, d_out as i64]),
        );
        let idx = [2i64, -1, 0, 3, 2];
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (xs, as_, bs) = (
            stored::<f32, f32>(&x).unwrap(),
            stored::<f32, f32>(&a).unwrap(),
            stored::<f32, f32>(&bt).unwrap(),
        );
        let mut wide = stored::<f32, f32>(&y).unwrap().to_vec();
        let mut base = wide.clone();
        bgmv_portable::<f32, f32, f32>(&mut wide, xs, as_, bs, &idx, d_in, r, d_out);
        bgmv_body::<f32, f32, f32>(&mut base, xs, as_, bs, &idx, d_in, r, d_out);
        assert_eq!(bits(&wide), bits(&base));
        let bf = |t: &Tensor| t.to_kind(Kind::BFloat16);
        let (xb, ab, bb, yb) = (bf(&x), bf(&a), bf(&bt), bf(&y));
        let (xs, as_, bs) = (
            stored::<f32, Bf16>(&xb).unwrap(),
            stored::<f32, Bf16>(&ab).unwrap(),
            stored::<f32, Bf16>(&bb).unwrap(),
        );
        let mut wide = stored::<f32, Bf16>(&yb).unwrap().to_vec();
        let mut base = wide.clone();
        bgmv_portable::<f32, Bf16, Bf16>(&mut wide, xs, as_, bs, &idx, d_in, r, d_out);
        bgmv_body::<f32, Bf16, Bf16>(&mut base, xs, as_, bs, &idx, d_in, r, d_out);
        assert_eq!(wide, base);
        assert_ne!(wide, stored::<f32, Bf16>(&yb).unwrap(), "the deltas were added");

        let (heads, kv_heads, hd, rows) = (4usize, 2usize, 16usize, 30i64);
        let (q, k, v) = (
            f(&[3, heads as i64, hd as i64]),
            f(&[rows, kv_heads as i64, hd as i64]),
            f(&[rows, kv_heads as i64, hd as i64]),
        );
        let offsets = [0usize, 4, 5, 9];
        let ctx = [3i64, 17, 5, 9, 29, 0, 1, 2, 28];
        let (qs, ks, vs) = (
            stored::<f32, f32>(&q).unwrap(),
            stored::<f32, f32>(&k).unwrap(),
            stored::<f32, f32>(&v).unwrap(),
        );
        let mut wide = vec![0f32; 3 * heads * hd];
        let mut base = wide.clone();
        let shape = AttentionShape { heads, kv_heads, head_dim: hd, scale: 0.25 };
        paged_decode_attention_portable::<f32, f32>(&mut wide, qs, ks, vs, &offsets, &ctx, shape);
        attention_body::<f32, f32>(&mut base, qs, ks, vs, &offsets, &ctx, shape);
        assert_eq!(bits(&wide), bits(&base));
        assert!(wide.iter().any(|&o| o != 0.0));
    }
}
