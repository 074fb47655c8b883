//! Quantized matrix-vector products on the CPU over GGUF blocks used as stored.
//!
//! A [`QuantMatrix`] keeps a weight matrix in its ggml block encoding (Q4_0, Q4_1, Q5_0, Q5_1
//! or Q8_0 with 32 elements per block along each row; Q4_K, Q5_K or Q6_K with 256-element
//! super-blocks) without dequantizing it. A product with an f32 vector
//! first quantizes the vector to int8 blocks of 32 ([`ActivationBlocks`], one f32 scale per
//! block plus the scaled sum of the block, as llama.cpp's `q8_1`), then sums integer block dot
//! products times the two scales. The AVX2/FMA/F16C kernel ([`avx2`]) is chosen at run time
//! when the CPU has those features; otherwise a portable scalar kernel ([`scalar`]) computes
//! the same sums. Rows are split over a [`ComputePool`].

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod kquant_avx2;
mod kquant_scalar;
mod multi;
mod pool;
#[cfg(target_arch = "x86_64")]
mod quantize_avx2;
mod scalar;
pub mod simd;

use std::sync::OnceLock;

pub use pool::ComputePool;

use super::GgmlType;

/// Elements per activation block (and per block of the 32-element weight encodings).
pub const BLOCK: usize = 32;

/// Why a quantized matrix could not be built.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The tensor's encoding has no quantized kernel.
    #[error("tensor {name:?}: no quantized kernel for {kind:?} (supported: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)")]
    Unsupported {
        /// The tensor's name.
        name: String,
        /// Its encoding.
        kind: GgmlType,
    },
    /// The tensor's size does not fit the expected shape.
    #[error("tensor {name:?}: {message}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// What does not fit.
        message: String,
    },
}

/// The block encodings the kernels read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    /// 4-bit values `q - 8` times an f16 scale.
    Q4_0,
    /// 4-bit values `q` times an f16 scale plus an f16 minimum.
    Q4_1,
    /// 8-bit signed values times an f16 scale.
    Q8_0,
    /// 5-bit values `q - 16` times an f16 scale.
    Q5_0,
    /// 5-bit values `q` times an f16 scale plus an f16 minimum.
    Q5_1,
    /// 256-element super-blocks of eight 32-element sub-blocks of 4-bit values, each with a
    /// 6-bit scale and minimum under f16 super-block factors.
    Q4K,
    /// As [`Self::Q4K`] with 5-bit values.
    Q5K,
    /// 256-element super-blocks of sixteen 16-element sub-blocks of 6-bit values `q - 32`,
    /// each with an 8-bit scale under an f16 super-block scale.
    Q6K,
}

impl QuantKind {
    /// The kernel kind for a ggml encoding, if there is one.
    pub fn from_ggml(kind: GgmlType) -> Option<Self> {
        match kind {
            GgmlType::Q4_0 => Some(Self::Q4_0),
            GgmlType::Q4_1 => Some(Self::Q4_1),
            GgmlType::Q8_0 => Some(Self::Q8_0),
            GgmlType::Q5_0 => Some(Self::Q5_0),
            GgmlType::Q5_1 => Some(Self::Q5_1),
            GgmlType::Q4K => Some(Self::Q4K),
            GgmlType::Q5K => Some(Self::Q5K),
            GgmlType::Q6K => Some(Self::Q6K),
            _ => None,
        }
    }

    /// The ggml encoding.
    pub fn ggml(self) -> GgmlType {
        match self {
            Self::Q4_0 => GgmlType::Q4_0,
            Self::Q4_1 => GgmlType::Q4_1,
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q5_0 => GgmlType::Q5_0,
            Self::Q5_1 => GgmlType::Q5_1,
            Self::Q4K => GgmlType::Q4K,
            Self::Q5K => GgmlType::Q5K,
            Self::Q6K => GgmlType::Q6K,
        }
    }

    /// Elements of one block: 32, or 256 for the K-quant super-blocks.
    pub fn block_elems(self) -> usize {
        match self {
            Self::Q4_0 | Self::Q4_1 | Self::Q8_0 | Self::Q5_0 | Self::Q5_1 => BLOCK,
            Self::Q4K | Self::Q5K | Self::Q6K => 256,
        }
    }

    /// Bytes of one block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q8_0 => 34,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    /// Bytes of one row of `cols` elements (a multiple of [`Self::block_elems`]).
    pub fn row_bytes(self, cols: usize) -> usize {
        cols / self.block_elems() * self.block_bytes()
    }

    /// Whether the kernels in `kquant_scalar` / `kquant_avx2` handle this encoding.
    fn wide(self) -> bool {
        !matches!(self, Self::Q4_0 | Self::Q4_1 | Self::Q8_0)
    }
}

/// A run of rows stored in one encoding.
#[derive(Debug, Clone)]
struct Part {
    kind: QuantKind,
    rows: usize,
    data: Vec<u8>,
}

/// A `[rows, cols]` weight matrix in ggml blocks, possibly made of row ranges in different
/// encodings (fused projections of a mixed-precision file). `cols` is a multiple of every
/// part's block length (32, or 256 for K-quants).
#[derive(Debug, Clone)]
pub struct QuantMatrix {
    cols: usize,
    rows: usize,
    parts: Vec<Part>,
}

impl QuantMatrix {
    /// Wraps the raw bytes of a `[rows, cols]` ggml tensor named `name` (for errors).
    pub fn new(
        name: &str,
        kind: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<Self, QuantError> {
        let qkind = QuantKind::from_ggml(kind).ok_or_else(|| QuantError::Unsupported {
            name: name.to_string(),
            kind,
        })?;
        let elems = qkind.block_elems();
        if cols == 0 || !cols.is_multiple_of(elems) {
            return Err(QuantError::Shape {
                name: name.to_string(),
                message: format!(
                    "{cols} columns is not a positive multiple of {elems}, the block length \
                     of {kind:?}"
                ),
            });
        }
        let expected = rows * qkind.row_bytes(cols);
        if data.len() != expected {
            return Err(QuantError::Shape {
                name: name.to_string(),
                message: format!(
                    "{} bytes for [{rows}, {cols}] in {kind:?}; expected {expected}",
                    data.len()
                ),
            });
        }
        Ok(Self {
            cols,
            rows,
            parts: vec![Part {
                kind: qkind,
                rows,
                data: data.to_vec(),
            }],
        })
    }

    /// Stacks matrices with the same column count, rows of `mats[0]` first.
    pub fn stack(name: &str, mats: Vec<QuantMatrix>) -> Result<Self, QuantError> {
        let cols = mats.first().map_or(0, |m| m.cols);
        if mats.is_empty() || mats.iter().any(|m| m.cols != cols) {
            return Err(QuantError::Shape {
                name: name.to_string(),
                message: "stacked matrices need equal, non-zero column counts".into(),
            });
        }
        let mut parts: Vec<Part> = Vec::new();
        for part in mats.into_iter().flat_map(|m| m.parts) {
            match parts.last_mut() {
                Some(last) if last.kind == part.kind => {
                    last.rows += part.rows;
                    last.data.extend_from_slice(&part.data);
                }
                _ => parts.push(part),
            }
        }
        Ok(Self {
            cols,
            rows: parts.iter().map(|p| p.rows).sum(),
            parts,
        })
    }

    /// The same matrix with its rows reordered: row `i` of the result is row `order[i]`.
    pub fn permute_rows(&self, name: &str, order: &[usize]) -> Result<Self, QuantError> {
        if order.len() != self.rows || order.iter().any(|&r| r >= self.rows) {
            return Err(QuantError::Shape {
                name: name.to_string(),
                message: format!(
                    "row order of {} entries for {} rows",
                    order.len(),
                    self.rows
                ),
            });
        }
        let rows: Vec<QuantMatrix> = order
            .iter()
            .map(|&r| {
                let (part, row) = self.row(r);
                QuantMatrix {
                    cols: self.cols,
                    rows: 1,
                    parts: vec![Part {
                        kind: part.kind,
                        rows: 1,
                        data: row.to_vec(),
                    }],
                }
            })
            .collect();
        Self::stack(name, rows)
    }

    /// Number of rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of weight data held.
    pub fn byte_len(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum()
    }

    fn row(&self, mut r: usize) -> (&Part, &[u8]) {
        for part in &self.parts {
            if r < part.rows {
                let len = part.kind.row_bytes(self.cols);
                return (part, &part.data[r * len..(r + 1) * len]);
            }
            r -= part.rows;
        }
        panic!("row index out of range");
    }

    /// Row `r` dequantized to f32 (an embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        assert!(
            r < self.rows && out.len() == self.cols,
            "row or length out of range"
        );
        let (part, bytes) = self.row(r);
        let values = part
            .kind
            .ggml()
            .dequantize(bytes)
            .expect("a row is a whole number of blocks");
        out.copy_from_slice(&values);
    }

    /// `out[i] = row(first + i) · x` for the rows `first..first + out.len()`, with `x` given as
    /// quantized activation blocks.
    pub fn matvec_rows(&self, x: &ActivationBlocks, first: usize, out: &mut [f32]) {
        assert_eq!(x.blocks.len() * BLOCK, self.cols, "activation length");
        assert!(first + out.len() <= self.rows, "rows out of range");
        let mut start = 0;
        let mut out = out;
        let mut next = first;
        for part in &self.parts {
            let end = start + part.rows;
            if out.is_empty() {
                break;
            }
            if next < end {
                let take = (end - next).min(out.len());
                let row_bytes = part.kind.row_bytes(self.cols);
                let local = next - start;
                let data = &part.data[local * row_bytes..(local + take) * row_bytes];
                let (head, tail) = out.split_at_mut(take);
                kernel_rows(part.kind, data, &x.blocks, head);
                out = tail;
                next += take;
            }
            start = end;
        }
    }

    /// `out = self · x`, rows split over `pool`'s threads.
    pub fn matvec(&self, pool: &ComputePool, x: &ActivationBlocks, out: &mut [f32]) {
        assert_eq!(out.len(), self.rows, "output length");
        let out_ptr = SharedMut(out.as_mut_ptr());
        let rows = self.rows;
        // About eight chunks per thread so a thread that is not running does not hold up the
        // rest; multiples of 16 rows keep threads' writes off each other's cache lines.
        let per = rows.div_ceil(pool.threads() * 8).div_ceil(16).max(1) * 16;
        pool.run(rows.div_ceil(per), &|chunk| {
            let begin = chunk * per;
            let end = ((chunk + 1) * per).min(rows);
            // SAFETY: chunks are disjoint row ranges of `out`, which outlives `run`.
            let slice =
                unsafe { std::slice::from_raw_parts_mut(out_ptr.get().add(begin), end - begin) };
            self.matvec_rows(x, begin, slice);
        });
    }
}

/// A raw pointer to an output buffer that threads write disjoint ranges of.
pub(crate) struct SharedMut<T>(pub(crate) *mut T);

// Copyable whatever `T` is (a derive would ask for `T: Copy`).
impl<T> Clone for SharedMut<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw pointer).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: only used for buffers whose ranges are written by one thread each, while the owner
// waits for all of them.
unsafe impl<T> Send for SharedMut<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SharedMut<T> {}

/// One quantized activation block: `x ≈ d · qs`, and `s = d · Σ qs`.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct ActivationBlock {
    /// Scale.
    pub d: f32,
    /// Scale times the sum of the quantized values.
    pub s: f32,
    /// Quantized values.
    pub qs: [i8; BLOCK],
}

/// An f32 vector quantized to int8 blocks of 32 for the quantized kernels.
#[derive(Debug, Clone, Default)]
pub struct ActivationBlocks {
    blocks: Vec<ActivationBlock>,
}

impl ActivationBlocks {
    /// Quantizes `x` (length a multiple of 32), reusing this buffer.
    pub fn quantize(&mut self, x: &[f32]) {
        assert!(x.len().is_multiple_of(BLOCK), "length is a multiple of 32");
        self.blocks
            .resize(x.len() / BLOCK, ActivationBlock::default());
        #[cfg(target_arch = "x86_64")]
        if kernel_isa() == KernelIsa::Avx2 {
            // SAFETY: Avx2 is only chosen when the CPU has AVX2; the lengths match.
            unsafe { quantize_avx2::quantize(x, &mut self.blocks) };
            return;
        }
        self.quantize_portable(x);
    }

    /// The portable loop of [`Self::quantize`] (the buffer already sized).
    fn quantize_portable(&mut self, x: &[f32]) {
        for (block, xs) in self.blocks.iter_mut().zip(x.chunks_exact(BLOCK)) {
            let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in block.qs.iter_mut().zip(xs) {
                let r = (v * inv).round() as i32;
                *q = r as i8;
                sum += r;
            }
            block.d = d;
            block.s = d * sum as f32;
        }
    }

    /// A quantized copy of `x`.
    pub fn from_f32(x: &[f32]) -> Self {
        let mut out = Self::default();
        out.quantize(x);
        out
    }
}

/// Which kernel implementation this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelIsa {
    /// AVX2 with FMA and F16C.
    Avx2,
    /// Portable Rust.
    Scalar,
}

/// The kernel implementation chosen for this CPU (detected once). `ADFORGE_QUANT_KERNEL=scalar`
/// forces the portable one.
pub fn kernel_isa() -> KernelIsa {
    static ISA: OnceLock<KernelIsa> = OnceLock::new();
    *ISA.get_or_init(|| {
        if std::env::var("ADFORGE_QUANT_KERNEL").is_ok_and(|v| v == "scalar") {
            return KernelIsa::Scalar;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return KernelIsa::Avx2;
        }
        KernelIsa::Scalar
    })
}

fn kernel_rows(kind: QuantKind, data: &[u8], x: &[ActivationBlock], out: &mut [f32]) {
    match kernel_isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `kernel_isa` returns Avx2 only when the CPU has AVX2, FMA and F16C.
        KernelIsa::Avx2 => unsafe { avx2::rows(kind, data, x, out) },
        _ => scalar::rows(kind, data, x, out),
    }
}

/// Runs a kernel implementation directly (tests compare them).
pub fn rows_with(
    isa: KernelIsa,
    kind: QuantKind,
    data: &[u8],
    x: &ActivationBlocks,
    out: &mut [f32],
) {
    match isa {
        KernelIsa::Avx2 => {
            #[cfg(target_arch = "x86_64")]
            if avx2::available() {
                // SAFETY: checked just above.
                unsafe { avx2::rows(kind, data, &x.blocks, out) };
                return;
            }
            panic!("this CPU has no AVX2/FMA/F16C");
        }
        KernelIsa::Scalar => scalar::rows(kind, data, &x.blocks, out),
    }
}

#[cfg(test)]
mod tests;
