//! Portable quantized row kernels: the reference the AVX2 kernels are tested against and the
//! fallback on CPUs without them.

use half::f16;

use super::{ActivationBlock, QuantKind, BLOCK};

fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// Integer dot product of a block's 4-bit values (low nibbles are elements 0..16, high
/// nibbles 16..32) with activation values.
fn dot_nibbles(qs: &[u8], a: &[i8; BLOCK]) -> i32 {
    let mut sum = 0i32;
    for (j, &byte) in qs.iter().enumerate() {
        sum += i32::from(byte & 0x0f) * i32::from(a[j]);
        sum += i32::from(byte >> 4) * i32::from(a[j + BLOCK / 2]);
    }
    sum
}

fn dot_q4_0(block: &[u8], a: &ActivationBlock) -> f32 {
    let d = half_at(block, 0);
    // Σ (q - 8)·a = Σ q·a - 8 Σ a, and d_a Σ a is `a.s`.
    d * (a.d * dot_nibbles(&block[2..18], &a.qs) as f32 - 8.0 * a.s)
}

fn dot_q4_1(block: &[u8], a: &ActivationBlock) -> f32 {
    let d = half_at(block, 0);
    let m = half_at(block, 2);
    d * a.d * dot_nibbles(&block[4..20], &a.qs) as f32 + m * a.s
}

fn dot_q8_0(block: &[u8], a: &ActivationBlock) -> f32 {
    let d = half_at(block, 0);
    let sum: i32 = block[2..2 + BLOCK]
        .iter()
        .zip(&a.qs)
        .map(|(&w, &x)| i32::from(w as i8) * i32::from(x))
        .sum();
    d * a.d * sum as f32
}

/// `out[r] = row r of data · x` for consecutive rows of `data`.
pub(super) fn rows(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let bb = kind.block_bytes();
    let row_bytes = x.len() * bb;
    let dot = match kind {
        QuantKind::Q4_0 => dot_q4_0,
        QuantKind::Q4_1 => dot_q4_1,
        QuantKind::Q8_0 => dot_q8_0,
        _ => return super::kquant_scalar::rows(kind, data, x, out),
    };
    for (o, row) in out.iter_mut().zip(data.chunks_exact(row_bytes)) {
        *o = row
            .chunks_exact(bb)
            .zip(x)
            .map(|(block, a)| dot(block, a))
            .sum();
    }
}
