//! AVX2 + FMA + F16C quantized row kernels (x86-64). A block's weights are widened to 32
//! unsigned bytes (4-bit values) or kept as signed bytes (8-bit values), multiplied with the
//! activation bytes pairwise into 16-bit sums (`vpmaddubsw`), widened to 32-bit sums
//! (`vpmaddwd`), converted to f32 and accumulated with the product of the two block scales.

use std::arch::x86_64::*;

use super::{ActivationBlock, QuantKind, BLOCK};

/// Whether this CPU has the features the kernels use.
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

#[inline(always)]
pub(super) unsafe fn half_at(p: *const u8) -> f32 {
    let bits = u16::from_le_bytes([*p, *p.add(1)]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

#[inline(always)]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// The 32 4-bit values of a block (16 bytes at `p`) as unsigned bytes in element order.
#[inline(always)]
pub(super) unsafe fn nibbles(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p as *const __m128i);
    let both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// Eight 32-bit partial sums of `w · a` for unsigned `w` and signed `a`, as f32.
#[inline(always)]
pub(super) unsafe fn dot_u8_i8(w: __m256i, a: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(w, a);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_q4(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let bb = kind.block_bytes();
    let (quant_at, with_min) = match kind {
        QuantKind::Q4_0 => (2, false),
        _ => (4, true),
    };
    let row_bytes = x.len() * bb;
    debug_assert!(data.len() >= out.len() * row_bytes);
    for (r, o) in out.iter_mut().enumerate() {
        let row = data.as_ptr().add(r * row_bytes);
        let mut acc = _mm256_setzero_ps();
        let mut extra = 0f32;
        for (b, a) in x.iter().enumerate() {
            let block = row.add(b * bb);
            let d = half_at(block);
            let w = nibbles(block.add(quant_at));
            let av = _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), dot_u8_i8(w, av), acc);
            extra += if with_min {
                half_at(block.add(2)) * a.s
            } else {
                -8.0 * d * a.s
            };
        }
        *o = hsum(acc) + extra;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_q8_0(data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let bb = QuantKind::Q8_0.block_bytes();
    let row_bytes = x.len() * bb;
    debug_assert!(data.len() >= out.len() * row_bytes);
    for (r, o) in out.iter_mut().enumerate() {
        let row = data.as_ptr().add(r * row_bytes);
        let mut acc = _mm256_setzero_ps();
        for (b, a) in x.iter().enumerate() {
            let block = row.add(b * bb);
            let d = half_at(block);
            let w = _mm256_loadu_si256(block.add(2) as *const __m256i);
            let av = _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i);
            // |w| · (a with w's sign) = w · a, in the unsigned × signed form the instruction
            // takes; |−128| = 128 still fits an unsigned byte.
            let prod = dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(av, w));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), prod, acc);
        }
        *o = hsum(acc);
    }
}

/// `out[r] = row r of data · x` for consecutive rows of `data`.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C ([`available`]); `data` must hold `out.len()` rows of
/// `x.len()` blocks of `kind`.
pub(super) unsafe fn rows(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    if kind.wide() {
        return super::kquant_avx2::rows(kind, data, x, out);
    }
    assert!(data.len() >= out.len() * x.len() * kind.block_bytes());
    const _: () = assert!(BLOCK == 32);
    match kind {
        QuantKind::Q4_0 | QuantKind::Q4_1 => rows_q4(kind, data, x, out),
        QuantKind::Q8_0 => rows_q8_0(data, x, out),
        _ => unreachable!("handled above"),
    }
}

/// `Σ a[i]·b[i]`.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        acc0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            acc0,
        );
        acc1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i + 8)),
            _mm256_loadu_ps(b.as_ptr().add(i + 8)),
            acc1,
        );
        i += 16;
    }
    let mut sum = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

/// `y[i] += alpha · x[i]`.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let va = _mm256_set1_ps(alpha);
    let mut i = 0;
    while i + 8 <= n {
        let p = y.as_mut_ptr().add(i);
        _mm256_storeu_ps(
            p,
            _mm256_fmadd_ps(va, _mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(p)),
        );
        i += 8;
    }
    while i < n {
        y[i] += alpha * x[i];
        i += 1;
    }
}
