//! AVX2 + FMA + F16C row kernels for the 5-bit 32-element blocks (Q5_0, Q5_1) and the
//! 256-element K-quant super-blocks (Q4_K, Q5_K, Q6_K); [`super::kquant_scalar`] describes
//! the sums. Each 32-element sub-block is widened to 32 bytes in element order and multiplied
//! with its activation block as in [`super::avx2`]; Q6_K's two 16-element scales per
//! activation block are applied as 16-bit factors on the pairwise sums (`vpmaddwd`).

use std::arch::x86_64::*;

use super::kquant_scalar::scales_and_mins;
use super::{ActivationBlock, QuantKind, BLOCK};

#[inline(always)]
unsafe fn half_at(p: *const u8) -> f32 {
    let bits = u16::from_le_bytes([*p, *p.add(1)]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Eight 32-bit partial sums of `w · a` for unsigned `w` and signed `a`, as f32.
#[inline(always)]
unsafe fn dot_u8_i8(w: __m256i, a: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(w, a);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[inline(always)]
unsafe fn load_act(a: &ActivationBlock) -> __m256i {
    _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i)
}

/// 16 for every element whose bit is set in the 32-bit little-endian mask at `p`.
#[inline(always)]
unsafe fn fifth_bits(p: *const u8) -> __m256i {
    let qh = (p as *const u32).read_unaligned();
    // Byte e takes byte e / 8 of the mask, then keeps bit e % 8.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(qh as i32),
        _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        ),
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// The 32 4-bit values of a legacy block (16 bytes at `p`) as unsigned bytes in element order.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p as *const __m128i);
    let both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_q5(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let bb = kind.block_bytes();
    let with_min = kind == QuantKind::Q5_1;
    let qh_at = if with_min { 4 } else { 2 };
    let row_bytes = x.len() * bb;
    for (r, o) in out.iter_mut().enumerate() {
        let row = data.as_ptr().add(r * row_bytes);
        let mut acc = _mm256_setzero_ps();
        let mut extra = 0f32;
        for (b, a) in x.iter().enumerate() {
            let block = row.add(b * bb);
            let d = half_at(block);
            let w = _mm256_or_si256(nibbles(block.add(qh_at + 4)), fifth_bits(block.add(qh_at)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), dot_u8_i8(w, load_act(a)), acc);
            extra += if with_min {
                half_at(block.add(2)) * a.s
            } else {
                -16.0 * d * a.s
            };
        }
        *o = hsum(acc) + extra;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_q45_k(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let bb = kind.block_bytes();
    let five = kind == QuantKind::Q5K;
    let qs_at = if five { 48 } else { 16 };
    let supers = x.len() / 8;
    let row_bytes = supers * bb;
    let low = _mm256_set1_epi8(0x0f);
    let sixteen = _mm256_set1_epi8(0x10);
    for (r, o) in out.iter_mut().enumerate() {
        let row = data.as_ptr().add(r * row_bytes);
        let mut acc = _mm256_setzero_ps();
        let mut extra = 0f32;
        for (s, a) in x.chunks_exact(8).enumerate() {
            let block = row.add(s * bb);
            let d = half_at(block);
            let dmin = half_at(block.add(2));
            let (sc, m) = scales_and_mins(std::slice::from_raw_parts(block.add(4), 12));
            let qh = if five {
                _mm256_loadu_si256(block.add(16) as *const __m256i)
            } else {
                _mm256_setzero_si256()
            };
            let mut mins = 0f32;
            for c in 0..4 {
                let q = _mm256_loadu_si256(block.add(qs_at + 32 * c) as *const __m256i);
                let mut lo = _mm256_and_si256(q, low);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                if five {
                    // Bit j of each qh byte is the fifth bit of that element of sub-block j.
                    let (b0, b1) = (
                        _mm256_set1_epi8((1u8 << (2 * c)) as i8),
                        _mm256_set1_epi8((1u8 << (2 * c + 1)) as i8),
                    );
                    let h0 = _mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0);
                    let h1 = _mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1);
                    lo = _mm256_or_si256(lo, _mm256_and_si256(h0, sixteen));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(h1, sixteen));
                }
                let (j0, j1) = (2 * c, 2 * c + 1);
                let (a0, a1) = (&a[j0], &a[j1]);
                acc = _mm256_fmadd_ps(
                    _mm256_set1_ps(d * f32::from(sc[j0]) * a0.d),
                    dot_u8_i8(lo, load_act(a0)),
                    acc,
                );
                acc = _mm256_fmadd_ps(
                    _mm256_set1_ps(d * f32::from(sc[j1]) * a1.d),
                    dot_u8_i8(hi, load_act(a1)),
                    acc,
                );
                mins += f32::from(m[j0]) * a0.s + f32::from(m[j1]) * a1.s;
            }
            extra -= dmin * mins;
        }
        *o = hsum(acc) + extra;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_q6_k(data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let bb = QuantKind::Q6K.block_bytes();
    let supers = x.len() / 8;
    let row_bytes = supers * bb;
    let low = _mm256_set1_epi8(0x0f);
    let top = _mm256_set1_epi8(0x30);
    let offset = _mm256_set1_epi8(32);
    for (r, o) in out.iter_mut().enumerate() {
        let row = data.as_ptr().add(r * row_bytes);
        let mut acc = _mm256_setzero_ps();
        for (s, a) in x.chunks_exact(8).enumerate() {
            let block = row.add(s * bb);
            let scales = block.add(192) as *const i8;
            let d = half_at(block.add(208));
            for h in 0..2 {
                let ql0 = _mm256_loadu_si256(block.add(64 * h) as *const __m256i);
                let ql1 = _mm256_loadu_si256(block.add(64 * h + 32) as *const __m256i);
                let qh = _mm256_loadu_si256(block.add(128 + 32 * h) as *const __m256i);
                // Groups 0..4 of this half: the low or high nibbles of the first or second
                // 32 ql bytes, with bit pairs 0-1, 2-3, 4-5, 6-7 of qh moved to bits 4-5.
                let groups = [
                    _mm256_or_si256(
                        _mm256_and_si256(ql0, low),
                        _mm256_and_si256(_mm256_slli_epi16(qh, 4), top),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(ql1, low),
                        _mm256_and_si256(_mm256_slli_epi16(qh, 2), top),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                        _mm256_and_si256(qh, top),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), top),
                    ),
                ];
                for (g, q) in groups.into_iter().enumerate() {
                    let k = 4 * h + g;
                    let w = _mm256_sub_epi8(q, offset);
                    // |w| · (a with w's sign) = w · a, as unsigned × signed pairs.
                    let pairs = _mm256_maddubs_epi16(
                        _mm256_sign_epi8(w, w),
                        _mm256_sign_epi8(load_act(&a[k]), w),
                    );
                    // Pairs 0..8 are elements 0..16 (scale 2k), pairs 8..16 elements 16..32.
                    let factors = _mm256_set_m128i(
                        _mm_set1_epi16(i16::from(*scales.add(2 * k + 1))),
                        _mm_set1_epi16(i16::from(*scales.add(2 * k))),
                    );
                    let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, factors));
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * a[k].d), sums, acc);
                }
            }
        }
        *o = hsum(acc);
    }
}

/// `out[r] = row r of data · x` for consecutive rows of `data` in `kind`, one of Q5_0, Q5_1,
/// Q4_K, Q5_K and Q6_K.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C; `data` must hold `out.len()` rows of
/// `x.len()` activation blocks' worth of `kind` blocks.
pub(super) unsafe fn rows(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let per = kind.block_elems() / BLOCK;
    assert!(x.len().is_multiple_of(per));
    assert!(data.len() >= out.len() * (x.len() / per) * kind.block_bytes());
    match kind {
        QuantKind::Q5_0 | QuantKind::Q5_1 => rows_q5(kind, data, x, out),
        QuantKind::Q4K | QuantKind::Q5K => rows_q45_k(kind, data, x, out),
        QuantKind::Q6K => rows_q6_k(data, x, out),
        QuantKind::Q4_0 | QuantKind::Q4_1 | QuantKind::Q8_0 => {
            unreachable!("{kind:?} has its own kernel")
        }
    }
}
