//! AVX2 quantization of f32 activations to int8 blocks: the same numbers as the portable loop
//! in [`ActivationBlocks::quantize`](super::ActivationBlocks::quantize) (the same scale, and
//! rounding half away from zero as `f32::round` does), eight lanes at a time. A batched decode
//! step quantizes every sequence's activations before each product, so this runs for every
//! activation value of every layer.

use std::arch::x86_64::*;

use super::{ActivationBlock, BLOCK};

/// `x.len() / 32` blocks of `x` into `out`.
///
/// # Safety
/// The CPU must have AVX2; `out.len() * 32 == x.len()`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize(x: &[f32], out: &mut [ActivationBlock]) {
    debug_assert_eq!(out.len() * BLOCK, x.len());
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
    let half = _mm256_set1_ps(0.5);
    let one = _mm256_set1_ps(1.0);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (block, xs) in out.iter_mut().zip(x.chunks_exact(BLOCK)) {
        let p = xs.as_ptr();
        let v = [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ];
        let mut m = _mm256_and_ps(v[0], abs_mask);
        for lane in &v[1..] {
            m = _mm256_max_ps(m, _mm256_and_ps(*lane, abs_mask));
        }
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        let d = amax / 127.0;
        let inv = _mm256_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
        let mut ints = [_mm256_setzero_si256(); 4];
        for (int, lane) in ints.iter_mut().zip(v) {
            let y = _mm256_mul_ps(lane, inv);
            // Half away from zero: truncate, then step one away from zero when the dropped
            // fraction is at least a half (exact: |y| ≤ 127, so y − trunc(y) has no rounding).
            let t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            let frac = _mm256_and_ps(_mm256_sub_ps(y, t), abs_mask);
            let away = _mm256_or_ps(one, _mm256_and_ps(y, sign_mask));
            let step = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), away);
            *int = _mm256_cvtps_epi32(_mm256_add_ps(t, step));
        }
        let total = _mm256_add_epi32(
            _mm256_add_epi32(ints[0], ints[1]),
            _mm256_add_epi32(ints[2], ints[3]),
        );
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(total),
            _mm256_extracti128_si256(total, 1),
        );
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        let sum = _mm_cvtsi128_si32(s);
        // Packing works within 128-bit halves; the permutation puts the values back in order.
        let low = _mm256_packs_epi32(ints[0], ints[1]);
        let high = _mm256_packs_epi32(ints[2], ints[3]);
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(low, high), order);
        _mm256_storeu_si256(block.qs.as_mut_ptr() as *mut __m256i, bytes);
        block.d = d;
        block.s = d * sum as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{avx2, ActivationBlocks};
    use super::*;

    #[test]
    fn equals_the_portable_loop_bit_for_bit() {
        if !avx2::available() {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut unit = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        let mut x: Vec<f32> = (0..32 * 40).map(|_| unit() * 5.0).collect();
        // Exact halves (a block whose largest magnitude is 127 has scale 1), a zero block and
        // a block of one sign.
        for (i, v) in x[..32].iter_mut().enumerate() {
            *v = if i == 0 { 127.0 } else { i as f32 * 0.5 - 8.0 };
        }
        x[32..64].fill(0.0);
        x[64..96].iter_mut().for_each(|v| *v = -v.abs());
        let mut fast = ActivationBlocks::default();
        fast.blocks.resize(40, ActivationBlock::default());
        let mut slow = fast.clone();
        // SAFETY: checked above; 40 blocks for 1280 values.
        unsafe { quantize(&x, &mut fast.blocks) };
        slow.quantize_portable(&x);
        for (b, (f, s)) in fast.blocks.iter().zip(&slow.blocks).enumerate() {
            assert_eq!(f.qs, s.qs, "block {b}");
            assert_eq!(f.d.to_bits(), s.d.to_bits(), "block {b}");
            assert_eq!(f.s.to_bits(), s.s.to_bits(), "block {b}");
        }
    }
}
