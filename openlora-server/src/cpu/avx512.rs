//! The BGMV and decode-attention kernels written for AVX-512 (x86-64 CPUs with AVX-512
//! F/BW/VL/BF16). BGMV: 16 f32 lanes
//! per instruction, fused multiply-adds, bf16 widened in registers instead of through a buffer,
//! and, with bf16 activations and slots, the shrink's dot products on `vdpbf16ps` (32 products
//! per instruction, each exact in f32). The portable kernel spends most of its time widening
//! and re-reading rows; this one is bound by reading the adapters, and fetches each row's
//! adapter into L2 while the row before it computes.
//!
//! Sums run in another order than in the portable kernel (and fused), so the two agree to
//! rounding, not bit for bit; bf16 results are rounded to nearest even once per element, as
//! there.

use super::{AttentionShape, Bf16, Load};
use std::arch::x86_64::*;

/// Whether this CPU can run [`bgmv`].
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512bf16")
        && std::is_x86_feature_detected!("fma")
}

/// The mask of the first `n ≤ 16` lanes.
#[inline(always)]
fn first(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// A stored element type read and written 16 lanes at a time as f32.
pub trait Lanes: Load<f32> {
    /// `n ≤ 16` values from `p` widened to f32 (the other lanes zero).
    ///
    /// # Safety
    /// `p..p + n` is readable and the CPU has what [`available`] checks.
    unsafe fn load16(p: *const Self, n: usize) -> __m512;

    /// The first `n ≤ 16` lanes of `v` written to `p` (rounded to nearest even where narrower).
    ///
    /// # Safety
    /// `p..p + n` is writable and the CPU has what [`available`] checks.
    unsafe fn store16(p: *mut Self, v: __m512, n: usize);
}

impl Lanes for f32 {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load16(p: *const Self, n: usize) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(first(n), p) }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn store16(p: *mut Self, v: __m512, n: usize) {
        unsafe { _mm512_mask_storeu_ps(p, first(n), v) }
    }
}

impl Lanes for Bf16 {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load16(p: *const Self, n: usize) -> __m512 {
        // A bf16 value is the top half of its f32.
        let h = unsafe { _mm256_maskz_loadu_epi16(first(n), p as *const i16) };
        _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn store16(p: *mut Self, v: __m512, n: usize) {
        // Round to nearest, ties to even, as `Bf16::store` does; a NaN stays a quiet NaN.
        let bits = _mm512_castps_si512(v);
        let top = _mm512_srli_epi32::<16>(bits);
        let bias = _mm512_add_epi32(
            _mm512_and_si512(top, _mm512_set1_epi32(1)),
            _mm512_set1_epi32(0x7fff),
        );
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, bias));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        let out =
            _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(top, _mm512_set1_epi32(0x40)));
        unsafe { _mm256_mask_storeu_epi16(p as *mut i16, first(n), _mm512_cvtepi32_epi16(out)) }
    }
}

/// The shrink's dot products of activations stored as `Self` with slot rows stored as `W`.
pub trait Shrink<W: Lanes>: Lanes {
    /// `Σ x·a_j` over `k` values for the four rows `a_j = a + j·stride` (`j < 4`).
    ///
    /// # Safety
    /// `x..x + k` and each `a_j..a_j + k` are readable and the CPU has what [`available`]
    /// checks.
    unsafe fn dot4(x: *const Self, a: *const W, stride: usize, k: usize) -> [f32; 4];
}

/// The sums of four vectors' lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn lane_sums(acc: [__m512; 4]) -> [f32; 4] {
    let mut out = [0f32; 4];
    for (o, v) in out.iter_mut().zip(acc) {
        *o = _mm512_reduce_add_ps(v);
    }
    out
}

/// [`Shrink::dot4`] widened to f32 with fused multiply-adds (where either side is f32: f32
/// activations keep their precision).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
unsafe fn dot4_f32<X: Lanes, W: Lanes>(
    x: *const X,
    a: *const W,
    stride: usize,
    k: usize,
) -> [f32; 4] {
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut at = 0;
    while at < k {
        let n = (k - at).min(16);
        // SAFETY: `at + n ≤ k` values of `x` and of each row (the caller's contract).
        let xv = unsafe { X::load16(x.add(at), n) };
        for (j, acc) in acc.iter_mut().enumerate() {
            let av = unsafe { W::load16(a.add(j * stride + at), n) };
            *acc = _mm512_fmadd_ps(xv, av, *acc);
        }
        at += n;
    }
    lane_sums(acc)
}

/// The pairings without `vdpbf16ps`: f32 on either side, widened with fused multiply-adds.
macro_rules! widened_shrink {
    ($($x:ty => $w:ty),*) => {$(
        impl Shrink<$w> for $x {
            #[inline]
            unsafe fn dot4(x: *const Self, a: *const $w, stride: usize, k: usize) -> [f32; 4] {
                unsafe { dot4_f32(x, a, stride, k) }
            }
        }
    )*};
}
widened_shrink!(f32 => f32, f32 => Bf16, Bf16 => f32);

impl Shrink<Bf16> for Bf16 {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn dot4(x: *const Self, a: *const Bf16, stride: usize, k: usize) -> [f32; 4] {
        // Pairs of products summed into each f32 lane by `vdpbf16ps`.
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut at = 0;
        while at < k {
            let n = (k - at).min(32);
            let m = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
            // SAFETY: `at + n ≤ k` values of `x` and of each row (the caller's contract);
            // `__m512bh` is 32 bf16 values, the same 64 bytes as the `__m512i` loaded.
            let xv: __m512bh = unsafe {
                std::mem::transmute(_mm512_maskz_loadu_epi16(m, x.add(at) as *const i16))
            };
            for (j, acc) in acc.iter_mut().enumerate() {
                let row = unsafe { a.add(j * stride + at) } as *const i16;
                let av: __m512bh = unsafe { std::mem::transmute(_mm512_maskz_loadu_epi16(m, row)) };
                *acc = _mm512_dpbf16_ps(*acc, xv, av);
            }
            at += n;
        }
        lane_sums(acc)
    }
}

/// Asks for the cache lines of bytes `from..to` after `base` to be brought into L2 (nothing
/// where `base` is null). A prefetch never faults, whatever the address.
#[inline]
#[target_feature(enable = "avx512f")]
fn prefetch_l2(base: *const i8, from: usize, to: usize) {
    if base.is_null() {
        return;
    }
    let mut at = from & !63;
    while at < to {
        _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(at));
        at += 64;
    }
}

/// BGMV as [`super::bgmv`] (same shapes and contract), computed in f32.
///
/// # Safety
/// The CPU has what [`available`] checks. Shapes were checked by the caller, as for
/// [`super::bgmv`]: `x` holds `idx.len()·d_in` values, `y` `idx.len()·d_out`, and every
/// non-negative index addresses a slot of `a` (`r·d_in` values) and of `bt` (`r·d_out`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn bgmv<X: Shrink<W>, W: Lanes>(
    y: &mut [X],
    x: &[X],
    a: &[W],
    bt: &[W],
    idx: &[i64],
    d_in: usize,
    r: usize,
    d_out: usize,
) {
    let mut s = vec![0f32; r];
    let (a_bytes, b_bytes) = (r * d_in * size_of::<W>(), r * d_out * size_of::<W>());
    for (i, &slot) in idx.iter().enumerate() {
        if slot < 0 {
            continue;
        }
        let slot = slot as usize;
        // The next row's adapter is fetched into L2 while this row computes, a share of it
        // with each group of rank rows and each block of outputs: in a decode step the
        // adapters come from DRAM, and one row's compute is too short for the hardware
        // prefetchers to hide that (this takes a third off the kernel's time with cold adapters).
        // Rows of one adapter in a row (a prompt) need no prefetch after the first.
        let (next_a, next_b) = match idx[i + 1..].iter().find(|&&n| n >= 0) {
            Some(&n) if n as usize != slot => (
                a.as_ptr().wrapping_add(n as usize * r * d_in) as *const i8,
                bt.as_ptr().wrapping_add(n as usize * r * d_out) as *const i8,
            ),
            _ => (std::ptr::null(), std::ptr::null()),
        };
        let xi = x[i * d_in..(i + 1) * d_in].as_ptr();
        let a_s = &a[slot * r * d_in..(slot + 1) * r * d_in];
        // Shrink: s = x · Aᵀ, four rank rows per pass over x (a last partial group reads its
        // rows one at a time: stride 0 repeats the row in the three other lanes).
        let mut j = 0;
        while j < r {
            let rows = if r - j >= 4 { 4 } else { 1 };
            prefetch_l2(next_a, j * a_bytes / r, (j + rows) * a_bytes / r);
            if rows == 4 {
                // SAFETY: rows j..j + 4 of `d_in` values lie in `a_s`; features per contract.
                let got = unsafe { X::dot4(xi, a_s[j * d_in..].as_ptr(), d_in, d_in) };
                s[j..j + 4].copy_from_slice(&got);
            } else {
                // SAFETY: row j lies in `a_s`.
                s[j] = unsafe { X::dot4(xi, a_s[j * d_in..].as_ptr(), 0, d_in) }[0];
            }
            j += rows;
        }
        // Expand: y += s · Bt, 64 outputs at a time held in registers across the rank rows.
        let b_s = &bt[slot * r * d_out..(slot + 1) * r * d_out];
        let yi = &mut y[i * d_out..(i + 1) * d_out];
        let mut o = 0;
        while o < d_out {
            let width = (d_out - o).min(64);
            prefetch_l2(next_b, o * b_bytes / d_out, (o + width) * b_bytes / d_out);
            let lanes = |q: usize| width.saturating_sub(q * 16).min(16);
            let mut acc = [_mm512_setzero_ps(); 4];
            for (q, acc) in acc.iter_mut().enumerate() {
                if lanes(q) > 0 {
                    // SAFETY: `o + 16q + lanes(q) ≤ d_out`.
                    *acc = unsafe { X::load16(yi[o + q * 16..].as_ptr(), lanes(q)) };
                }
            }
            for (j, &sj) in s.iter().enumerate() {
                // A zero coefficient (a rank padded to the slots' rank) adds nothing.
                if sj == 0.0 {
                    continue;
                }
                let sv = _mm512_set1_ps(sj);
                let row = &b_s[j * d_out + o..];
                for (q, acc) in acc.iter_mut().enumerate() {
                    if lanes(q) > 0 {
                        // SAFETY: inside row j of the slot's `Bt`, as for the loads of `y`.
                        let bv = unsafe { W::load16(row[q * 16..].as_ptr(), lanes(q)) };
                        *acc = _mm512_fmadd_ps(sv, bv, *acc);
                    }
                }
            }
            for (q, acc) in acc.iter().enumerate() {
                if lanes(q) > 0 {
                    // SAFETY: as for the loads.
                    unsafe { X::store16(yi[o + q * 16..].as_mut_ptr(), *acc, lanes(q)) };
                }
            }
            o += width;
        }
    }
}

/// `e^x` in 16 lanes, for `x ≤ 0` (softmax's shifted scores): `x = n·ln 2 + r` with
/// `|r| ≤ ln 2 / 2`, `e^r` by its Taylor polynomial to degree 7 (truncation under 2⁻²⁸), and
/// `2^n` applied by `vscalefps`, which flushes what is below f32's range to zero. Within two
/// units in the last place of `f32::exp`.
#[inline]
#[target_feature(enable = "avx512f,fma")]
fn exp16(x: __m512) -> __m512 {
    let x = _mm512_max_ps(x, _mm512_set1_ps(-104.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    // ln 2 split in two so that `n · LN2_HI` is exact.
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_145_75), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428_606_8e-6), r);
    let mut p = _mm512_set1_ps(1.0 / 5040.0);
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    _mm512_scalef_ps(p, n)
}

/// Decode attention as [`super::paged_decode_attention`] (same shapes and contract), computed
/// in f32: one pass over a sequence's cached rows for the scores of all heads (each key chunk
/// loaded once for the query heads that share it), a vectorised softmax, one pass for the
/// values; rows a few positions ahead are prefetched, since the next position's row is often
/// in another block.
///
/// # Safety
/// The CPU has what [`available`] checks. Shapes were checked by the caller, as for
/// [`super::paged_decode_attention`]: `q` and `out` hold `(offsets.len() - 1)·heads·hd`
/// values, the caches `rows·kv_heads·hd`, every slot addresses a row, `heads` is a multiple of
/// `kv_heads`, and `offsets` is non-decreasing within `slots`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
pub unsafe fn paged_decode_attention<X: Lanes>(
    out: &mut [X],
    q: &[X],
    k_cache: &[X],
    v_cache: &[X],
    offsets: &[usize],
    slots: &[i64],
    shape: AttentionShape,
) {
    const AHEAD: usize = 4;
    let AttentionShape { heads, kv_heads, head_dim: hd, scale } = shape;
    let group = heads / kv_heads;
    let width = kv_heads * hd;
    let chunks = hd.div_ceil(16);
    let lanes = |c: usize| (hd - c * 16).min(16);
    let mut qs = vec![0f32; heads * hd];
    let mut scores: Vec<f32> = Vec::new();
    let mut acc = vec![0f32; heads * hd];
    let mut dots = vec![_mm512_setzero_ps(); group];
    let row_bytes = width * size_of::<X>();
    let prefetch = |cache: &[X], r: i64| {
        let base = cache.as_ptr().wrapping_add(r as usize * width) as *const i8;
        let mut at = 0;
        while at < row_bytes {
            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(at));
            at += 64;
        }
    };
    for s in 0..offsets.len().saturating_sub(1) {
        let ctx = &slots[offsets[s]..offsets[s + 1]];
        let n = ctx.len();
        if n == 0 {
            continue;
        }
        let q_at = s * heads * hd;
        for (h, qh) in qs.chunks_exact_mut(hd).enumerate() {
            for (v, x) in qh.iter_mut().zip(&q[q_at + h * hd..q_at + (h + 1) * hd]) {
                *v = x.load() * scale as f32;
            }
        }
        scores.clear();
        scores.resize(heads * n, 0.0);
        for (j, &r) in ctx.iter().enumerate() {
            if let Some(&ahead) = ctx.get(j + AHEAD) {
                prefetch(k_cache, ahead);
            }
            let row = &k_cache[r as usize * width..(r as usize + 1) * width];
            for g in 0..kv_heads {
                dots.iter_mut().for_each(|d| *d = _mm512_setzero_ps());
                for c in 0..chunks {
                    // SAFETY: `c·16 + lanes(c) ≤ hd` inside KV head g's `hd` values.
                    let k = unsafe { X::load16(row[g * hd + c * 16..].as_ptr(), lanes(c)) };
                    for (i, d) in dots.iter_mut().enumerate() {
                        let h = g * group + i;
                        // SAFETY: inside query head h's `hd` values of `qs`.
                        let qv = unsafe { f32::load16(qs[h * hd + c * 16..].as_ptr(), lanes(c)) };
                        *d = _mm512_fmadd_ps(qv, k, *d);
                    }
                }
                for (i, d) in dots.iter().enumerate() {
                    scores[(g * group + i) * n + j] = _mm512_reduce_add_ps(*d);
                }
            }
        }
        for sc in scores.chunks_exact_mut(n) {
            let max = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = _mm512_setzero_ps();
            let mut at = 0;
            while at < n {
                let m = (n - at).min(16);
                // SAFETY: `at + m ≤ n`, the length of `sc`.
                unsafe {
                    let v = f32::load16(sc[at..].as_ptr(), m);
                    let e = exp16(_mm512_sub_ps(v, _mm512_set1_ps(max)));
                    // Masked-off lanes hold e^(0 - max) and are not stored or summed.
                    let e = _mm512_maskz_mov_ps(first(m), e);
                    total = _mm512_add_ps(total, e);
                    f32::store16(sc[at..].as_mut_ptr(), e, m);
                }
                at += m;
            }
            let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(total));
            let mut at = 0;
            while at < n {
                let m = (n - at).min(16);
                // SAFETY: as above.
                unsafe {
                    let v = f32::load16(sc[at..].as_ptr(), m);
                    f32::store16(sc[at..].as_mut_ptr(), _mm512_mul_ps(v, inv), m);
                }
                at += m;
            }
        }
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (j, &r) in ctx.iter().enumerate() {
            if let Some(&ahead) = ctx.get(j + AHEAD) {
                prefetch(v_cache, ahead);
            }
            let row = &v_cache[r as usize * width..(r as usize + 1) * width];
            for g in 0..kv_heads {
                for c in 0..chunks {
                    // SAFETY: as for the keys.
                    let v = unsafe { X::load16(row[g * hd + c * 16..].as_ptr(), lanes(c)) };
                    for i in 0..group {
                        let h = g * group + i;
                        let p = _mm512_set1_ps(scores[h * n + j]);
                        let at = h * hd + c * 16;
                        // SAFETY: inside head h's `hd` values of `acc`.
                        unsafe {
                            let a = f32::load16(acc[at..].as_ptr(), lanes(c));
                            f32::store16(
                                acc[at..].as_mut_ptr(),
                                _mm512_fmadd_ps(p, v, a),
                                lanes(c),
                            );
                        }
                    }
                }
            }
        }
        for h in 0..heads {
            for c in 0..chunks {
                let at = h * hd + c * 16;
                // SAFETY: inside head h's `hd` values of `acc` and of the sequence's `out`.
                unsafe {
                    let a = f32::load16(acc[at..].as_ptr(), lanes(c));
                    X::store16(out[q_at + at..].as_mut_ptr(), a, lanes(c));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Store, bgmv, bgmv_portable, stored};
    use tch::{Device, Kind, Tensor};

    /// The vector rounding to bf16 is `Bf16::store`'s, bit for bit: ties both ways,
    /// subnormals, infinities, NaN, and a partial last group of lanes.
    #[test]
    fn bf16_lanes_round_as_the_scalar_store() {
        if !available() {
            eprintln!("skipped: this CPU lacks AVX-512 F/BW/VL/BF16");
            return;
        }
        let mut values: Vec<f32> = vec![
            0.0,
            -0.0,
            f32::from_bits(0x3f80_8000),
            f32::from_bits(0x3f81_8000),
            f32::from_bits(0x3f80_8001),
            f32::MAX,
            1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7fff_ffff),
        ];
        values.extend((0..1000).map(|i| ((i as f32) * 0.731).sin() * 10f32.powi(i % 20 - 10)));
        let mut got = vec![Bf16(0xdead); values.len()];
        for (src, dst) in values.chunks(16).zip(got.chunks_mut(16)) {
            // SAFETY: features checked; `src.len()` values in both.
            unsafe {
                let v = <f32 as Lanes>::load16(src.as_ptr(), src.len());
                <Bf16 as Lanes>::store16(dst.as_mut_ptr(), v, src.len());
            }
        }
        for (v, g) in values.iter().zip(&got) {
            if v.is_nan() {
                assert!(g.load().is_nan(), "{v:e} → {:#x}", g.0);
            } else {
                assert_eq!(*g, Bf16::store(*v), "{v:e} ({:#x})", v.to_bits());
            }
        }
    }

    /// The vector `e^x` against `f32::exp` over softmax's range: within two units in the last
    /// place down to f32's normal range, and zero or a subnormal below it.
    #[test]
    fn exp16_is_within_two_ulp_of_f32_exp() {
        if !available() {
            eprintln!("skipped: this CPU lacks AVX-512 F/BW/VL/BF16");
            return;
        }
        let xs: Vec<f32> = (0..200_000).map(|i| -110.0 * i as f32 / 200_000.0).collect();
        let mut got = vec![0f32; xs.len()];
        for (x, g) in xs.chunks(16).zip(got.chunks_mut(16)) {
            // SAFETY: features checked; 16 values in each chunk (200,000 is a multiple of 16).
            unsafe { f32::store16(g.as_mut_ptr(), exp16(f32::load16(x.as_ptr(), 16)), 16) };
        }
        for (x, g) in xs.iter().zip(&got) {
            let want = x.exp();
            if want >= f32::MIN_POSITIVE {
                let ulps = (g.to_bits() as i64 - want.to_bits() as i64).abs();
                assert!(ulps <= 2, "e^{x}: {g:e} vs {want:e} ({ulps} ulp)");
            } else {
                assert!(*g < f32::MIN_POSITIVE * 2.0 && *g >= 0.0, "e^{x}: {g:e}");
            }
        }
        assert_eq!(got[0], 1.0);
    }

    /// The AVX-512 decode attention (what `paged_decode_attention` runs here) against the
    /// portable one, in f32 and bf16: head sizes not multiples of 16, grouped query heads,
    /// contexts shorter and longer than 16 rows (softmax's partial lane groups, rows prefetched
    /// ahead), an empty context, and scores spread wide enough that some weights underflow.
    #[test]
    fn avx512_attention_agrees_with_the_portable_one() {
        if !available() {
            eprintln!("skipped: this CPU lacks AVX-512 F/BW/VL/BF16");
            return;
        }
        tch::manual_seed(5);
        for (heads, kv_heads, hd, spread) in
            [(4usize, 2usize, 20usize, 1.0), (8, 4, 64, 1.0), (2, 2, 16, 30.0)]
        {
            let rows = 70i64;
            let f = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu)) * spread;
            let (q, k, v) = (
                f(&[4, heads as i64, hd as i64]),
                f(&[rows, kv_heads as i64, hd as i64]),
                Tensor::randn([rows, kv_heads as i64, hd as i64], (Kind::Float, Device::Cpu)),
            );
            let offsets = [0usize, 3, 3, 43, 60];
            let ctx: Vec<i64> = (0..60).map(|i| (i * 37 % rows as usize) as i64).collect();
            let shape =
                AttentionShape { heads, kv_heads, head_dim: hd, scale: 1.0 / (hd as f64).sqrt() };
            macro_rules! check {
                ($x:ty, $kind:expr, $rel:expr) => {{
                    let (q, k, v) = (q.to_kind($kind), k.to_kind($kind), v.to_kind($kind));
                    let (qs, ks, vs) = (
                        stored::<f32, $x>(&q).unwrap(),
                        stored::<f32, $x>(&k).unwrap(),
                        stored::<f32, $x>(&v).unwrap(),
                    );
                    let zero = <$x as Store<f32>>::store(0.0);
                    let (mut fast, mut portable) = (vec![zero; 4 * heads * hd], vec![zero; 4 * heads * hd]);
                    crate::cpu::paged_decode_attention::<f32, $x>(
                        &mut fast, qs, ks, vs, &offsets, &ctx, shape,
                    );
                    crate::cpu::paged_decode_attention_portable::<f32, $x>(
                        &mut portable, qs, ks, vs, &offsets, &ctx, shape,
                    );
                    for (i, (a, b)) in fast.iter().zip(&portable).enumerate() {
                        let (a, b) = (a.load(), b.load());
                        assert!(
                            (a - b).abs() <= $rel * b.abs() + 1e-5,
                            "{}: heads {heads}/{kv_heads}, hd {hd}, spread {spread}, at {i}: {a} vs {b}",
                            stringify!($x)
                        );
                    }
                    assert!(fast.iter().any(|o| o.load() != 0.0));
                    let empty = heads * hd..2 * heads * hd;
                    assert!(fast[empty].iter().all(|o| o.load() == 0.0), "an empty context is left alone");
                }};
            }
            check!(f32, Kind::Float, 1e-5);
            check!(Bf16, Kind::BFloat16, 1.0 / 128.0);
        }
    }

    /// The AVX-512 kernel (what `bgmv` runs here) against the portable one, for each pair of
    /// stored types, on widths that are not multiples of the vector widths, ranks not multiples
    /// of four, rows without an adapter, repeated adapters and a rank padded with zeros.
    #[test]
    fn avx512_kernel_agrees_with_the_portable_one() {
        if !available() {
            eprintln!("skipped: this CPU lacks AVX-512 F/BW/VL/BF16");
            return;
        }
        tch::manual_seed(9);
        for (n, d_in, r, d_out) in
            [(5, 40, 3, 24), (7, 512, 16, 256), (4, 97, 5, 70), (3, 33, 8, 129)]
        {
            let f = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let (x, y) = (f(&[n, d_in]), f(&[n, d_out]));
            let a = f(&[4, r, d_in]);
            // Slot 1 holds a lower-rank adapter: its last rank row is zero, as in the slots.
            let bt = f(&[4, r, d_out]);
            let _ = bt.get(1).get(r - 1).zero_();
            let idx: Vec<i64> = (0..n).map(|i| [2, -1, 0, 1, 2, 3, -1][i as usize % 7]).collect();
            let (n, d_in, r, d_out) = (n as usize, d_in as usize, r as usize, d_out as usize);
            macro_rules! check {
                ($x:ty, $w:ty, $kx:expr, $kw:expr, $rel:expr) => {{
                    let (x, y, a, bt) =
                        (x.to_kind($kx), y.to_kind($kx), a.to_kind($kw), bt.to_kind($kw));
                    let (xs, as_, bs) = (
                        stored::<f32, $x>(&x).unwrap(),
                        stored::<f32, $w>(&a).unwrap(),
                        stored::<f32, $w>(&bt).unwrap(),
                    );
                    let before = stored::<f32, $x>(&y).unwrap().to_vec();
                    let (mut fast, mut portable) = (before.clone(), before.clone());
                    bgmv::<f32, $x, $w>(&mut fast, xs, as_, bs, &idx, d_in, r, d_out);
                    bgmv_portable::<f32, $x, $w>(&mut portable, xs, as_, bs, &idx, d_in, r, d_out);
                    // Sums in another order differ by a few f32 roundings of their largest
                    // terms (scale: the largest output), plus, in bf16, one rounding of the
                    // output.
                    let scale = portable.iter().fold(1f32, |m, v| m.max(v.load().abs()));
                    for (k, ((f, p), b)) in fast.iter().zip(&portable).zip(&before).enumerate() {
                        let (f, p, b) = (f.load(), p.load(), b.load());
                        assert!(
                            (f - p).abs() <= $rel * p.abs() + 1e-5 * scale,
                            "{}: ({n}, {d_in}, {r}, {d_out}) at {k}: {f} vs {p}",
                            stringify!($x, $w)
                        );
                        if idx[k / d_out] < 0 {
                            assert_eq!(f, b, "a row without an adapter is untouched");
                        }
                    }
                    assert_ne!(fast, before, "the deltas were added");
                }};
            }
            check!(f32, f32, Kind::Float, Kind::Float, 0.0);
            check!(f32, Bf16, Kind::Float, Kind::BFloat16, 0.0);
            // bf16 outputs: sums that straddle a rounding boundary round one ulp apart.
            check!(Bf16, Bf16, Kind::BFloat16, Kind::BFloat16, 1.0 / 128.0);
            check!(Bf16, f32, Kind::BFloat16, Kind::Float, 1.0 / 128.0);
        }
    }
}
