//! ggml tensor encodings and their dequantization to f32 (the block layouts of llama.cpp's
//! `ggml-quants`: legacy 32-element blocks and 256-element "K" super-blocks).

use half::{bf16, f16};

/// Element encodings a GGUF tensor may use that this loader can dequantize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 4-bit, scale per 32 elements.
    Q4_0,
    /// 4-bit, scale and minimum per 32 elements.
    Q4_1,
    /// 5-bit, scale per 32 elements.
    Q5_0,
    /// 5-bit, scale and minimum per 32 elements.
    Q5_1,
    /// 8-bit, scale per 32 elements.
    Q8_0,
    /// 4-bit K-quant: 256-element super-blocks of eight 32-element blocks with 6-bit scales.
    Q4K,
    /// 5-bit K-quant.
    Q5K,
    /// 6-bit K-quant: sixteen 16-element blocks with 8-bit scales.
    Q6K,
}

const QK: usize = 32;
const QK_K: usize = 256;

impl GgmlType {
    /// The type for a ggml type id, when supported.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            30 => Self::BF16,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block).
    fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (QK, 2 + QK / 2),
            Self::Q4_1 => (QK, 4 + QK / 2),
            Self::Q5_0 => (QK, 2 + 4 + QK / 2),
            Self::Q5_1 => (QK, 4 + 4 + QK / 2),
            Self::Q8_0 => (QK, 2 + QK),
            Self::Q4K => (QK_K, 4 + 12 + QK_K / 2),
            Self::Q5K => (QK_K, 4 + 12 + QK_K / 8 + QK_K / 2),
            Self::Q6K => (QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2),
        }
    }

    /// Bytes taken by `numel` elements, or `None` when that is not a whole number of blocks.
    pub fn byte_len(self, numel: usize) -> Option<usize> {
        let (elems, bytes) = self.block();
        numel.is_multiple_of(elems).then(|| numel / elems * bytes)
    }

    /// Decodes `data` (a whole number of blocks) into f32 values.
    pub fn dequantize(self, data: &[u8]) -> Result<Vec<f32>, String> {
        let (elems, bytes) = self.block();
        if !data.len().is_multiple_of(bytes) {
            return Err(format!(
                "{} bytes is not a whole number of {self:?} blocks",
                data.len()
            ));
        }
        let mut out = vec![0f32; data.len() / bytes * elems];
        let blocks = data.chunks_exact(bytes).zip(out.chunks_exact_mut(elems));
        match self {
            Self::F32 => {
                blocks.for_each(|(b, y)| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            Self::F16 => blocks.for_each(|(b, y)| y[0] = half_at(b, 0)),
            Self::BF16 => blocks.for_each(|(b, y)| {
                y[0] = bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
            }),
            Self::Q4_0 => blocks.for_each(|(b, y)| dequant_q4_0(b, y)),
            Self::Q4_1 => blocks.for_each(|(b, y)| dequant_q4_1(b, y)),
            Self::Q5_0 => blocks.for_each(|(b, y)| dequant_q5_0(b, y)),
            Self::Q5_1 => blocks.for_each(|(b, y)| dequant_q5_1(b, y)),
            Self::Q8_0 => blocks.for_each(|(b, y)| dequant_q8_0(b, y)),
            Self::Q4K => blocks.for_each(|(b, y)| dequant_q4_k(b, y)),
            Self::Q5K => blocks.for_each(|(b, y)| dequant_q5_k(b, y)),
            Self::Q6K => blocks.for_each(|(b, y)| dequant_q6_k(b, y)),
        }
        Ok(out)
    }
}

fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

fn dequant_q4_0(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let qs = &b[2..18];
    for j in 0..QK / 2 {
        y[j] = ((qs[j] & 0x0f) as i32 - 8) as f32 * d;
        y[j + QK / 2] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

fn dequant_q4_1(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let m = half_at(b, 2);
    let qs = &b[4..20];
    for j in 0..QK / 2 {
        y[j] = (qs[j] & 0x0f) as f32 * d + m;
        y[j + QK / 2] = (qs[j] >> 4) as f32 * d + m;
    }
}

fn dequant_q5_0(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for j in 0..QK / 2 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        y[j] = (((qs[j] & 0x0f) | h0) as i32 - 16) as f32 * d;
        y[j + QK / 2] = (((qs[j] >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

fn dequant_q5_1(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let m = half_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for j in 0..QK / 2 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        y[j] = ((qs[j] & 0x0f) | h0) as f32 * d + m;
        y[j + QK / 2] = ((qs[j] >> 4) | h1) as f32 * d + m;
    }
}

fn dequant_q8_0(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    for (yj, &q) in y.iter_mut().zip(&b[2..2 + QK]) {
        *yj = q as i8 as f32 * d;
    }
}

/// The 6-bit scale and minimum of sub-block `j` from the 12 packed scale bytes of Q4_K/Q5_K.
fn scale_min_k4(j: usize, q: &[u8]) -> (f32, f32) {
    if j < 4 {
        ((q[j] & 63) as f32, (q[j + 4] & 63) as f32)
    } else {
        let d = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (d as f32, m as f32)
    }
}

fn dequant_q4_k(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let dmin = half_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..16 + QK_K / 2];
    for (chunk, (q, out)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1, d2, m2) = (d * sc1, dmin * m1, d * sc2, dmin * m2);
        for l in 0..32 {
            out[l] = d1 * (q[l] & 0x0f) as f32 - m1;
            out[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

fn dequant_q5_k(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let dmin = half_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..16 + QK_K / 8];
    let qs = &b[16 + QK_K / 8..16 + QK_K / 8 + QK_K / 2];
    for (chunk, (ql, out)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1, d2, m2) = (d * sc1, dmin * m1, d * sc2, dmin * m2);
        let u1 = 1u8 << (2 * chunk);
        let u2 = 2u8 << (2 * chunk);
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            out[l] = d1 * ((ql[l] & 0x0f) + h1) as f32 - m1;
            out[l + 32] = d2 * ((ql[l] >> 4) + h2) as f32 - m2;
        }
    }
}

fn dequant_q6_k(b: &[u8], y: &mut [f32]) {
    let ql_all = &b[0..QK_K / 2];
    let qh_all = &b[QK_K / 2..QK_K / 2 + QK_K / 4];
    let sc_all = &b[QK_K / 2 + QK_K / 4..QK_K / 2 + QK_K / 4 + QK_K / 16];
    let d = half_at(b, QK_K / 2 + QK_K / 4 + QK_K / 16);
    for half_index in 0..2 {
        let ql = &ql_all[64 * half_index..];
        let qh = &qh_all[32 * half_index..];
        let sc = &sc_all[8 * half_index..];
        let out = &mut y[128 * half_index..];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            out[l] = d * (sc[is] as i8 as f32) * q1 as f32;
            out[l + 32] = d * (sc[is + 2] as i8 as f32) * q2 as f32;
            out[l + 64] = d * (sc[is + 4] as i8 as f32) * q3 as f32;
            out[l + 96] = d * (sc[is + 6] as i8 as f32) * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_block_decodes_scale_times_value() {
        let mut block = vec![0u8; 34];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        for (i, b) in block[2..].iter_mut().enumerate() {
            *b = (i as i8 - 16) as u8;
        }
        let y = GgmlType::Q8_0.dequantize(&block).unwrap();
        assert_eq!(y.len(), 32);
        assert_eq!(y[0], -8.0);
        assert_eq!(y[31], 7.5);
    }

    #[test]
    fn q4_1_uses_low_then_high_nibbles() {
        let mut block = vec![0u8; 20];
        block[..2].copy_from_slice(&f16::from_f32(2.0).to_bits().to_le_bytes());
        block[2..4].copy_from_slice(&f16::from_f32(-1.0).to_bits().to_le_bytes());
        block[4] = 0x31;
        let y = GgmlType::Q4_1.dequantize(&block).unwrap();
        assert_eq!(y[0], 1.0);
        assert_eq!(y[16], 5.0);
        assert_eq!(y[1], -1.0);
    }

    #[test]
    fn rejects_partial_blocks() {
        assert!(GgmlType::Q4K.dequantize(&[0u8; 100]).is_err());
        assert_eq!(GgmlType::Q6K.byte_len(256), Some(210));
        assert_eq!(GgmlType::Q5K.byte_len(512), Some(352));
        assert_eq!(GgmlType::Q4K.byte_len(100), None);
    }
}
