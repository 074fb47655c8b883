//! Products of a quantized matrix with several activation vectors at once (the rows of a
//! batched decode step): each weight row is read from memory once and dotted with every
//! vector while it sits in the L1 cache, so a step over M sequences streams the weights once
//! instead of M times.
//!
//! The AVX2 kernels for Q4_0, Q4_1 and Q8_0 also decode each weight block once per tile of up
//! to [`TILE`] vectors, with one accumulator register per vector of the tile. Every other case
//! (the portable kernels, and encodings without a tiled kernel here) calls the one-vector row
//! kernel once per vector on the cached row. Either way each output is computed with the same
//! operations in the same order as [`QuantMatrix::matvec`], so the results are identical.

use std::ops::Range;

use super::{kernel_isa, rows_with, ActivationBlocks, ComputePool, KernelIsa, QuantKind};
use super::{QuantMatrix, SharedMut, BLOCK};

/// Most activation vectors one tiled AVX2 pass over a block dots at once.
pub const TILE: usize = 4;

/// Where a kernel writes: the output of vector `m` for row `r` (counted from `ptr`'s row) is
/// at `ptr + m · stride + r`.
#[derive(Clone, Copy)]
struct Outputs {
    ptr: SharedMut<f32>,
    stride: usize,
}

impl Outputs {
    /// # Safety
    /// The element must be in the buffer, and no other thread may write it.
    unsafe fn write(self, m: usize, r: usize, value: f32) {
        *self.ptr.get().add(m * self.stride + r) = value;
    }
}

impl QuantMatrix {
    /// `out[m · rows + r] = row r · xs[m]` for every activation vector `xs[m]` (all of `cols`
    /// elements): the product with M vectors at once, rows split over `pool`'s threads like
    /// [`Self::matvec`], whose results it reproduces exactly.
    pub fn matmul(&self, pool: &ComputePool, xs: &[ActivationBlocks], out: &mut [f32]) {
        assert_eq!(out.len(), xs.len() * self.rows, "output length");
        for x in xs {
            assert_eq!(x.blocks.len() * BLOCK, self.cols, "activation length");
        }
        match xs {
            [] => return,
            [x] => return self.matvec(pool, x, out),
            _ => {}
        }
        let rows = self.rows;
        let ptr = SharedMut(out.as_mut_ptr());
        // The same chunking as `matvec`: about eight chunks per thread, multiples of 16 rows.
        let per = rows.div_ceil(pool.threads() * 8).div_ceil(16).max(1) * 16;
        let isa = kernel_isa();
        pool.run(rows.div_ceil(per), &|chunk| {
            let range = chunk * per..((chunk + 1) * per).min(rows);
            // SAFETY: chunks are disjoint row ranges; every vector's outputs for them lie in
            // `out`, which outlives `run`.
            unsafe { self.matmul_rows(isa, xs, range, Outputs { ptr, stride: rows }) };
        });
    }

    /// Rows `range` of the product with every vector of `xs`.
    ///
    /// # Safety
    /// `out` must address `xs.len()` vectors of `self.rows` outputs that no other thread
    /// writes in `range`.
    unsafe fn matmul_rows(
        &self,
        isa: KernelIsa,
        xs: &[ActivationBlocks],
        range: Range<usize>,
        out: Outputs,
    ) {
        let mut start = 0;
        for part in &self.parts {
            let end = start + part.rows;
            let (lo, hi) = (range.start.max(start), range.end.min(end));
            if lo < hi {
                let row_bytes = part.kind.row_bytes(self.cols);
                let data = &part.data[(lo - start) * row_bytes..(hi - start) * row_bytes];
                let at = Outputs {
                    ptr: SharedMut(out.ptr.get().add(lo)),
                    stride: out.stride,
                };
                kernel(isa, part.kind, data, row_bytes, xs, at);
            }
            start = end;
        }
    }
}

/// Every row of `data` (rows of `row_bytes`) times every vector of `xs`, on `isa`'s kernels.
///
/// # Safety
/// As [`QuantMatrix::matmul_rows`], for the rows of `data`; `isa` must be one this CPU runs.
unsafe fn kernel(
    isa: KernelIsa,
    kind: QuantKind,
    data: &[u8],
    row_bytes: usize,
    xs: &[ActivationBlocks],
    out: Outputs,
) {
    let tiled = kind == QuantKind::Q4_0 || kind == QuantKind::Q4_1 || kind == QuantKind::Q8_0;
    #[cfg(target_arch = "x86_64")]
    if tiled && isa == KernelIsa::Avx2 {
        // SAFETY: the caller runs Avx2 only on a CPU with AVX2, FMA and F16C.
        tiles::rows(kind, data, row_bytes, xs, out);
        return;
    }
    // The row stays in the L1 cache while every vector is dotted with it.
    for (r, row) in data.chunks_exact(row_bytes).enumerate() {
        for (m, x) in xs.iter().enumerate() {
            let mut value = [0f32];
            rows_with(isa, kind, row, x, &mut value);
            out.write(m, r, value[0]);
        }
    }
    let _ = tiled;
}

#[cfg(target_arch = "x86_64")]
mod tiles {
    //! The tiled AVX2 kernels: the per-block arithmetic of `super::super::avx2`'s row
    //! kernels, with the weight block decoded once for a tile of vectors.

    use std::arch::x86_64::*;

    use super::super::avx2::{dot_u8_i8, half_at, hsum, nibbles};
    use super::super::{ActivationBlock, ActivationBlocks, QuantKind};
    use super::{Outputs, TILE};

    /// One Q4_0 / Q4_1 row times `T` vectors.
    #[inline(always)]
    unsafe fn row_q4<const T: usize>(
        kind: QuantKind,
        row: *const u8,
        xs: [&[ActivationBlock]; T],
    ) -> [f32; T] {
        let bb = kind.block_bytes();
        let (quant_at, with_min) = match kind {
            QuantKind::Q4_0 => (2, false),
            _ => (4, true),
        };
        let mut acc = [_mm256_setzero_ps(); T];
        let mut extra = [0f32; T];
        for b in 0..xs[0].len() {
            let block = row.add(b * bb);
            let d = half_at(block);
            let min = if with_min { half_at(block.add(2)) } else { 0.0 };
            let w = nibbles(block.add(quant_at));
            for t in 0..T {
                let a = xs[t].get_unchecked(b);
                let av = _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i);
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), dot_u8_i8(w, av), acc[t]);
                extra[t] += if with_min { min * a.s } else { -8.0 * d * a.s };
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = hsum(acc[t]) + extra[t];
        }
        out
    }

    /// One Q8_0 row times `T` vectors.
    #[inline(always)]
    unsafe fn row_q8_0<const T: usize>(row: *const u8, xs: [&[ActivationBlock]; T]) -> [f32; T] {
        let bb = QuantKind::Q8_0.block_bytes();
        let mut acc = [_mm256_setzero_ps(); T];
        for b in 0..xs[0].len() {
            let block = row.add(b * bb);
            let d = half_at(block);
            let w = _mm256_loadu_si256(block.add(2) as *const __m256i);
            let magnitude = _mm256_sign_epi8(w, w);
            for t in 0..T {
                let a = xs[t].get_unchecked(b);
                let av = _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i);
                // As the one-vector kernel: |w| · (a with w's sign) = w · a.
                let prod = dot_u8_i8(magnitude, _mm256_sign_epi8(av, w));
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), prod, acc[t]);
            }
        }
        let mut out = [0f32; T];
        for t in 0..T {
            out[t] = hsum(acc[t]);
        }
        out
    }

    #[inline(always)]
    unsafe fn tile<const T: usize>(
        kind: QuantKind,
        row: *const u8,
        xs: &[ActivationBlocks],
        first: usize,
        r: usize,
        out: Outputs,
    ) {
        let vectors: [&[ActivationBlock]; T] = std::array::from_fn(|t| &xs[first + t].blocks[..]);
        let values = match kind {
            QuantKind::Q8_0 => row_q8_0::<T>(row, vectors),
            _ => row_q4::<T>(kind, row, vectors),
        };
        for (t, v) in values.into_iter().enumerate() {
            out.write(first + t, r, v);
        }
    }

    /// Every row of `data` times every vector of `xs`, for Q4_0, Q4_1 and Q8_0 blocks.
    ///
    /// # Safety
    /// The CPU must have AVX2, FMA and F16C; `data` holds whole rows of `row_bytes`, each as
    /// many blocks as every vector of `xs`; `out` as [`super::kernel`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn rows(
        kind: QuantKind,
        data: &[u8],
        row_bytes: usize,
        xs: &[ActivationBlocks],
        out: Outputs,
    ) {
        debug_assert!(xs
            .iter()
            .all(|x| x.blocks.len() * kind.block_bytes() == row_bytes));
        for r in 0..data.len() / row_bytes {
            let row = data.as_ptr().add(r * row_bytes);
            let mut first = 0;
            while first < xs.len() {
                let take = (xs.len() - first).min(TILE);
                match take {
                    1 => tile::<1>(kind, row, xs, first, r, out),
                    2 => tile::<2>(kind, row, xs, first, r, out),
                    3 => tile::<3>(kind, row, xs, first, r, out),
                    _ => tile::<TILE>(kind, row, xs, first, r, out),
                }
                first += take;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    /// xorshift, so failures reproduce.
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
    }

    /// A `[rows, cols]` matrix of random blocks of `kind`.
    fn random(rng: &mut Rng, kind: QuantKind, rows: usize, cols: usize) -> QuantMatrix {
        let mut data = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            let scale = f16::from_f32(0.01 + rng.unit().abs() * 0.05);
            data.extend_from_slice(&scale.to_bits().to_le_bytes());
            if kind == QuantKind::Q4_1 {
                let min = f16::from_f32(rng.unit() * 0.3);
                data.extend_from_slice(&min.to_bits().to_le_bytes());
            }
            let quants = if kind == QuantKind::Q8_0 { 32 } else { 16 };
            data.extend((0..quants).map(|_| (rng.next() >> 56) as u8));
        }
        QuantMatrix::new("random", kind.ggml(), rows, cols, &data).expect("valid blocks")
    }

    fn vectors(rng: &mut Rng, m: usize, cols: usize) -> Vec<ActivationBlocks> {
        (0..m)
            .map(|_| {
                let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 3.0).collect();
                ActivationBlocks::from_f32(&x)
            })
            .collect()
    }

    /// The product with M vectors equals M one-vector products, bit for bit.
    fn check(matrix: &QuantMatrix, xs: &[ActivationBlocks], pool: &ComputePool, what: &str) {
        let rows = matrix.rows();
        let mut got = vec![f32::NAN; xs.len() * rows];
        matrix.matmul(pool, xs, &mut got);
        for (m, x) in xs.iter().enumerate() {
            let mut want = vec![0f32; rows];
            matrix.matvec(pool, x, &mut want);
            let got = &got[m * rows..(m + 1) * rows];
            for r in 0..rows {
                assert_eq!(
                    got[r].to_bits(),
                    want[r].to_bits(),
                    "{what}: vector {m} of {}, row {r}: {} vs {}",
                    xs.len(),
                    got[r],
                    want[r]
                );
            }
        }
    }

    #[test]
    fn matmul_equals_one_matvec_per_vector() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let pools = [ComputePool::new(1), ComputePool::new(3)];
        for kind in [QuantKind::Q4_0, QuantKind::Q4_1, QuantKind::Q8_0] {
            for (rows, cols) in [(1, 32), (7, 96), (37, 576), (130, 160)] {
                let matrix = random(&mut rng, kind, rows, cols);
                for m in 1..=9 {
                    let xs = vectors(&mut rng, m, cols);
                    for pool in &pools {
                        let what = format!("{kind:?} [{rows},{cols}] {} threads", pool.threads());
                        check(&matrix, &xs, pool, &what);
                    }
                }
            }
        }
    }

    #[test]
    fn matmul_over_mixed_parts_equals_matvecs() {
        let mut rng = Rng(7);
        let cols = 64;
        let stacked = QuantMatrix::stack(
            "fused",
            vec![
                random(&mut rng, QuantKind::Q4_1, 21, cols),
                random(&mut rng, QuantKind::Q8_0, 18, cols),
                random(&mut rng, QuantKind::Q4_0, 5, cols),
            ],
        )
        .unwrap();
        assert_eq!(stacked.rows(), 44);
        let pool = ComputePool::new(2);
        for m in [2, 5, 9] {
            let xs = vectors(&mut rng, m, cols);
            check(&stacked, &xs, &pool, "mixed parts");
        }
    }

    /// Rows `range` of the product on `isa`'s kernels, against the one-vector kernel of the
    /// same `isa` on the same rows.
    fn check_rows(
        isa: KernelIsa,
        matrix: &QuantMatrix,
        xs: &[ActivationBlocks],
        range: Range<usize>,
    ) {
        let rows = matrix.rows();
        let mut out = vec![f32::NAN; xs.len() * rows];
        // SAFETY: one thread writes rows `range` of every vector's outputs in `out`.
        unsafe {
            matrix.matmul_rows(
                isa,
                xs,
                range.clone(),
                Outputs {
                    ptr: SharedMut(out.as_mut_ptr()),
                    stride: rows,
                },
            )
        };
        for (m, x) in xs.iter().enumerate() {
            for r in range.clone() {
                let (part, row) = matrix.row(r);
                let mut want = [0f32];
                rows_with(isa, part.kind, row, x, &mut want);
                assert_eq!(
                    out[m * rows + r].to_bits(),
                    want[0].to_bits(),
                    "{isa:?} vector {m} row {r}"
                );
            }
        }
    }

    #[test]
    fn portable_and_avx2_paths_equal_their_one_vector_kernels() {
        let mut rng = Rng(99);
        let cols = 128;
        let stacked = QuantMatrix::stack(
            "fused",
            vec![
                random(&mut rng, QuantKind::Q8_0, 9, cols),
                random(&mut rng, QuantKind::Q4_0, 11, cols),
                random(&mut rng, QuantKind::Q4_1, 6, cols),
            ],
        )
        .unwrap();
        let mut isas = vec![KernelIsa::Scalar];
        #[cfg(target_arch = "x86_64")]
        if super::super::avx2::available() {
            isas.push(KernelIsa::Avx2);
        }
        for isa in isas {
            for m in [2, 4, 7] {
                let xs = vectors(&mut rng, m, cols);
                // Ranges that start and end inside parts, and the whole matrix.
                check_rows(isa, &stacked, &xs, 3..17);
                check_rows(isa, &stacked, &xs, 0..26);
            }
        }
    }
}
