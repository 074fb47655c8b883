//! Portable row kernels for the 5-bit 32-element blocks (Q5_0, Q5_1) and the 256-element
//! K-quant super-blocks (Q4_K, Q5_K, Q6_K): the reference the AVX2 versions
//! ([`super::kquant_avx2`]) are tested against and the fallback without them.
//!
//! A K-quant super-block spans eight activation blocks of 32. Q4_K and Q5_K give each
//! 32-element sub-block a 6-bit scale and a 6-bit minimum (value `d·sc·q − dmin·m`), so a
//! sub-block's product is `d·sc·d_a·Σ q·a − dmin·m·s_a` with `s_a` the activation block's
//! scaled sum. Q6_K gives each 16-element half of an activation block its own signed 8-bit
//! scale (value `d·sc·(q − 32)`), so the offset `− 32` is applied to the weights before the
//! integer dot product.

use half::f16;

use super::{ActivationBlock, QuantKind, BLOCK};

pub(super) fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// The eight 6-bit scales and eight 6-bit minimums packed in the 12 scale bytes of a Q4_K or
/// Q5_K super-block (sub-blocks 0..4 in the low six bits of bytes 0..8; sub-blocks 4..8 in the
/// nibbles of bytes 8..12 with their top two bits in the high bits of bytes 0..8).
pub(super) fn scales_and_mins(q: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut m) = ([0u8; 8], [0u8; 8]);
    for j in 0..4 {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
    }
    for j in 4..8 {
        sc[j] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
    (sc, m)
}

/// The fifth bit of element `e` of a Q5_0 / Q5_1 block (bit `e` of `qh`), as 0 or 16.
fn high_bit(qh: u32, e: usize) -> i32 {
    (((qh >> e) & 1) << 4) as i32
}

/// `Σ q·a` over a Q5_0 / Q5_1 block: low nibbles are elements 0..16, high nibbles 16..32.
fn dot_q5(qh: u32, qs: &[u8], a: &[i8; BLOCK]) -> i32 {
    let mut sum = 0i32;
    for (j, &byte) in qs.iter().enumerate() {
        let lo = i32::from(byte & 0x0f) | high_bit(qh, j);
        let hi = i32::from(byte >> 4) | high_bit(qh, j + BLOCK / 2);
        sum += lo * i32::from(a[j]) + hi * i32::from(a[j + BLOCK / 2]);
    }
    sum
}

fn qh_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn dot_q5_0(block: &[u8], a: &[ActivationBlock]) -> f32 {
    let a = &a[0];
    let d = half_at(block, 0);
    // Σ (q − 16)·a = Σ q·a − 16 Σ a, and d_a Σ a is `a.s`.
    d * (a.d * dot_q5(qh_at(block, 2), &block[6..22], &a.qs) as f32 - 16.0 * a.s)
}

fn dot_q5_1(block: &[u8], a: &[ActivationBlock]) -> f32 {
    let a = &a[0];
    let d = half_at(block, 0);
    let m = half_at(block, 2);
    d * a.d * dot_q5(qh_at(block, 4), &block[8..24], &a.qs) as f32 + m * a.s
}

/// Q4_K (`high` is `None`) or Q5_K (`high` holds the 32 bytes of fifth bits): 4-bit values
/// in `qs`, 32 bytes per pair of sub-blocks, low nibbles first.
fn dot_q45_k(block: &[u8], high: Option<&[u8]>, qs: &[u8], a: &[ActivationBlock]) -> f32 {
    let d = half_at(block, 0);
    let dmin = half_at(block, 2);
    let (sc, m) = scales_and_mins(&block[4..16]);
    let (mut sum, mut mins) = (0f32, 0f32);
    for j in 0..8 {
        let (chunk, shift) = (&qs[32 * (j / 2)..32 * (j / 2) + 32], 4 * (j % 2));
        let aj = &a[j];
        let mut dot = 0i32;
        for l in 0..BLOCK {
            let mut q = i32::from((chunk[l] >> shift) & 0x0f);
            if let Some(qh) = high {
                q |= i32::from((qh[l] >> j) & 1) << 4;
            }
            dot += q * i32::from(aj.qs[l]);
        }
        sum += f32::from(sc[j]) * aj.d * dot as f32;
        mins += f32::from(m[j]) * aj.s;
    }
    d * sum - dmin * mins
}

fn dot_q4_k(block: &[u8], a: &[ActivationBlock]) -> f32 {
    dot_q45_k(block, None, &block[16..144], a)
}

fn dot_q5_k(block: &[u8], a: &[ActivationBlock]) -> f32 {
    dot_q45_k(block, Some(&block[16..48]), &block[48..176], a)
}

/// Element `l` (0..32) of group `g` (0..4) of half `h` of a Q6_K super-block, in 0..64.
fn q6(block: &[u8], h: usize, g: usize, l: usize) -> i32 {
    let ql = block[64 * h + l + 32 * (g % 2)];
    let qh = block[128 + 32 * h + l];
    let low = if g < 2 { ql & 0x0f } else { ql >> 4 };
    i32::from(low | (((qh >> (2 * g)) & 3) << 4))
}

fn dot_q6_k(block: &[u8], a: &[ActivationBlock]) -> f32 {
    let scales = &block[192..208];
    let d = half_at(block, 208);
    let mut sum = 0f32;
    for h in 0..2 {
        for g in 0..4 {
            // Activation block k covers elements 32k..32k + 32, and 16-element scales 2k, 2k+1.
            let k = 4 * h + g;
            let mut dot = 0i32;
            for l in 0..BLOCK {
                let sc = i32::from(scales[2 * k + l / 16] as i8);
                dot += sc * (q6(block, h, g, l) - 32) * i32::from(a[k].qs[l]);
            }
            sum += a[k].d * dot as f32;
        }
    }
    d * sum
}

/// `out[r] = row r of data · x` for consecutive rows of `data` in `kind`, one of Q5_0, Q5_1,
/// Q4_K, Q5_K and Q6_K.
pub(super) fn rows(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    let per = kind.block_elems() / BLOCK;
    let bb = kind.block_bytes();
    let row_bytes = x.len() / per * bb;
    let dot: fn(&[u8], &[ActivationBlock]) -> f32 = match kind {
        QuantKind::Q5_0 => dot_q5_0,
        QuantKind::Q5_1 => dot_q5_1,
        QuantKind::Q4K => dot_q4_k,
        QuantKind::Q5K => dot_q5_k,
        QuantKind::Q6K => dot_q6_k,
        QuantKind::Q4_0 | QuantKind::Q4_1 | QuantKind::Q8_0 => {
            unreachable!("{kind:?} has its own kernel")
        }
    };
    for (o, row) in out.iter_mut().zip(data.chunks_exact(row_bytes)) {
        *o = row
            .chunks_exact(bb)
            .zip(x.chunks_exact(per))
            .map(|(block, a)| dot(block, a))
            .sum();
    }
}
