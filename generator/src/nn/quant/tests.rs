//! The quantized kernels against dequantize-then-f32 products on random blocks.

use half::f16;

use super::*;

/// A small deterministic generator (xorshift) so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

fn half_bytes(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_bits().to_le_bytes()
}

/// Random blocks of `kind` for a `[rows, cols]` matrix: random bytes with small finite f16
/// factors where the layout has them.
fn random_matrix(rng: &mut Rng, kind: QuantKind, rows: usize, cols: usize) -> Vec<u8> {
    let bb = kind.block_bytes();
    let mut data: Vec<u8> = (0..rows * kind.row_bytes(cols))
        .map(|_| rng.byte())
        .collect();
    for block in data.chunks_exact_mut(bb) {
        let mut put = |at: usize, v: f32| block[at..at + 2].copy_from_slice(&half_bytes(v));
        match kind {
            QuantKind::Q4_0 | QuantKind::Q8_0 | QuantKind::Q5_0 => {
                put(0, 0.01 + rng.unit().abs() * 0.05)
            }
            QuantKind::Q4_1 | QuantKind::Q5_1 => {
                put(0, 0.01 + rng.unit().abs() * 0.05);
                put(2, rng.unit() * 0.3);
            }
            // d and dmin; the 6-bit sub-block factors scale them up to 63 times.
            QuantKind::Q4K | QuantKind::Q5K => {
                put(0, 0.0005 + rng.unit().abs() * 0.002);
                put(2, rng.unit().abs() * 0.005);
            }
            QuantKind::Q6K => put(208, 0.0002 + rng.unit().abs() * 0.001),
        }
    }
    data
}

const KINDS: [QuantKind; 8] = [
    QuantKind::Q4_0,
    QuantKind::Q4_1,
    QuantKind::Q8_0,
    QuantKind::Q5_0,
    QuantKind::Q5_1,
    QuantKind::Q4K,
    QuantKind::Q5K,
    QuantKind::Q6K,
];

/// `[rows, cols]` shapes to test `kind` on.
fn shapes(kind: QuantKind) -> [(usize, usize); 3] {
    if kind.block_elems() == 256 {
        [(7, 256), (33, 768), (64, 1536)]
    } else {
        [(7, 32), (33, 576), (64, 1536)]
    }
}

fn reference(kind: QuantKind, data: &[u8], rows: usize, x: &[f32]) -> Vec<f32> {
    let w = kind.ggml().dequantize(data).unwrap();
    let cols = x.len();
    (0..rows)
        .map(|r| {
            w[r * cols..(r + 1) * cols]
                .iter()
                .zip(x)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum::<f64>() as f32
        })
        .collect()
}

fn dequantized_activations(x: &ActivationBlocks) -> Vec<f32> {
    x.blocks
        .iter()
        .flat_map(|b| b.qs.iter().map(move |&q| b.d * f32::from(q)))
        .collect()
}

fn check(isa: KernelIsa) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for kind in KINDS {
        for (rows, cols) in shapes(kind) {
            let data = random_matrix(&mut rng, kind, rows, cols);
            let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 3.0).collect();
            let xq = ActivationBlocks::from_f32(&x);
            let mut got = vec![0f32; rows];
            rows_with(isa, kind, &data, &xq, &mut got);
            // Against the same product with the quantized activations: only f32 rounding.
            let exact = reference(kind, &data, rows, &dequantized_activations(&xq));
            // Against the f32 activations: plus the int8 rounding of the activations.
            let f32_ref = reference(kind, &data, rows, &x);
            let scale = f32_ref.iter().fold(1f32, |m, v| m.max(v.abs()));
            for r in 0..rows {
                assert!(
                    (got[r] - exact[r]).abs() <= 1e-4 * scale,
                    "{isa:?} {kind:?} [{rows},{cols}] row {r}: {} vs {}",
                    got[r],
                    exact[r]
                );
                assert!(
                    (got[r] - f32_ref[r]).abs() <= 2e-2 * scale,
                    "{isa:?} {kind:?} [{rows},{cols}] row {r}: {} vs f32 {}",
                    got[r],
                    f32_ref[r]
                );
            }
        }
    }
}

#[test]
fn scalar_kernel_matches_dequantized_matvec() {
    check(KernelIsa::Scalar);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn avx2_kernel_matches_dequantized_matvec() {
    if !avx2::available() {
        eprintln!("skipped: this CPU has no AVX2/FMA/F16C");
        return;
    }
    check(KernelIsa::Avx2);
}

#[test]
fn q8_0_extremes_do_not_overflow() {
    // All weights -128 against all activations ±127: the widest pairwise sums there are.
    let mut data = half_bytes(1.0).to_vec();
    data.extend(std::iter::repeat_n(0x80u8, 32));
    let x = vec![-1.0f32; 32];
    let xq = ActivationBlocks::from_f32(&x);
    let mut out = [0f32];
    rows_with(KernelIsa::Scalar, QuantKind::Q8_0, &data, &xq, &mut out);
    assert_eq!(out[0], 128.0 * 32.0);
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        rows_with(KernelIsa::Avx2, QuantKind::Q8_0, &data, &xq, &mut out);
        assert_eq!(out[0], 128.0 * 32.0);
    }
}

#[test]
fn pooled_matvec_over_mixed_parts_matches_reference() {
    let mut rng = Rng(42);
    let cols = 96;
    let a = random_matrix(&mut rng, QuantKind::Q4_1, 13, cols);
    let b = random_matrix(&mut rng, QuantKind::Q8_0, 10, cols);
    let m = QuantMatrix::stack(
        "fused",
        vec![
            QuantMatrix::new("a", GgmlType::Q4_1, 13, cols, &a).unwrap(),
            QuantMatrix::new("b", GgmlType::Q8_0, 10, cols, &b).unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(m.rows(), 23);
    let x: Vec<f32> = (0..cols).map(|_| rng.unit()).collect();
    let xq = ActivationBlocks::from_f32(&x);
    let mut want = reference(QuantKind::Q4_1, &a, 13, &dequantized_activations(&xq));
    want.extend(reference(
        QuantKind::Q8_0,
        &b,
        10,
        &dequantized_activations(&xq),
    ));
    for threads in [1, 2, 3] {
        let pool = ComputePool::new(threads);
        let mut got = vec![0f32; 23];
        m.matvec(&pool, &xq, &mut got);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{threads} threads: {g} vs {w}");
        }
    }
    // Row permutation and row dequantization.
    let order: Vec<usize> = (0..23).rev().collect();
    let flipped = m.permute_rows("flipped", &order).unwrap();
    let (mut first, mut last) = (vec![0f32; cols], vec![0f32; cols]);
    flipped.dequantize_row(0, &mut first);
    m.dequantize_row(22, &mut last);
    assert_eq!(first, last);
}

#[test]
fn avx2_and_scalar_kernels_agree_on_every_kind() {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        let mut rng = Rng(7);
        for kind in KINDS {
            let (rows, cols) = (19, 512);
            let data = random_matrix(&mut rng, kind, rows, cols);
            let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 2.0).collect();
            let xq = ActivationBlocks::from_f32(&x);
            let (mut a, mut s) = (vec![0f32; rows], vec![0f32; rows]);
            rows_with(KernelIsa::Avx2, kind, &data, &xq, &mut a);
            rows_with(KernelIsa::Scalar, kind, &data, &xq, &mut s);
            let scale = s.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (r, (a, s)) in a.iter().zip(&s).enumerate() {
                assert!(
                    (a - s).abs() <= 1e-5 * scale,
                    "{kind:?} row {r}: {a} vs {s}"
                );
            }
        }
    }
}

#[test]
fn mixed_k_quant_parts_match_reference() {
    // A Q4_K_M-style fused projection: Q4_K rows then Q6_K rows, 512 columns.
    let mut rng = Rng(99);
    let cols = 512;
    let a = random_matrix(&mut rng, QuantKind::Q4K, 9, cols);
    let b = random_matrix(&mut rng, QuantKind::Q6K, 5, cols);
    let m = QuantMatrix::stack(
        "fused",
        vec![
            QuantMatrix::new("a", GgmlType::Q4K, 9, cols, &a).unwrap(),
            QuantMatrix::new("b", GgmlType::Q6K, 5, cols, &b).unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(m.byte_len(), 9 * 2 * 144 + 5 * 2 * 210);
    let x: Vec<f32> = (0..cols).map(|_| rng.unit()).collect();
    let xq = ActivationBlocks::from_f32(&x);
    let mut want = reference(QuantKind::Q4K, &a, 9, &dequantized_activations(&xq));
    want.extend(reference(
        QuantKind::Q6K,
        &b,
        5,
        &dequantized_activations(&xq),
    ));
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    let pool = ComputePool::new(2);
    let mut got = vec![0f32; 14];
    m.matvec(&pool, &xq, &mut got);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-4 * scale, "{g} vs {w}");
    }
    let order: Vec<usize> = (0..14).rev().collect();
    let flipped = m.permute_rows("flipped", &order).unwrap();
    let (mut first, mut last) = (vec![0f32; cols], vec![0f32; cols]);
    flipped.dequantize_row(0, &mut first);
    m.dequantize_row(13, &mut last);
    assert_eq!(first, last);
}

#[test]
fn rejects_unsupported_types_and_bad_sizes() {
    let err = QuantMatrix::new("t", GgmlType::F16, 1, 32, &[0u8; 64]).unwrap_err();
    assert!(err.to_string().contains("no quantized kernel"), "{err}");
    // K-quants need whole 256-element super-blocks per row (576 = 2.25 of them).
    let err = QuantMatrix::new("t", GgmlType::Q4K, 1, 576, &[0u8; 324]).unwrap_err();
    assert!(err.to_string().contains("multiple of 256"), "{err}");
    assert!(QuantMatrix::new("t", GgmlType::Q6K, 2, 256, &[0u8; 420]).is_ok());
    let err = QuantMatrix::new("t", GgmlType::Q8_0, 2, 32, &[0u8; 34]).unwrap_err();
    assert!(err.to_string().contains("expected 68"), "{err}");
    assert!(QuantMatrix::new("t", GgmlType::Q8_0, 1, 48, &[0u8; 51]).is_err());
}
