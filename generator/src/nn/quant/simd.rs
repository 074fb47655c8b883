//! f32 vector helpers for the decode step's small ops (attention scores and sums), with the
//! same run-time choice between AVX2 and portable code as the quantized kernels.

use super::{kernel_isa, KernelIsa};

/// `Σ a[i]·b[i]` over the shorter length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    match kernel_isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx2 is only chosen when the CPU has AVX2 and FMA.
        KernelIsa::Avx2 => unsafe { super::avx2::dot(a, b) },
        _ => {
            let mut lanes = [0f32; 8];
            let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
            let (ra, rb) = (ca.remainder(), cb.remainder());
            for (x, y) in ca.zip(cb) {
                for i in 0..8 {
                    lanes[i] += x[i] * y[i];
                }
            }
            lanes.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
        }
    }
}

/// `y[i] += alpha · x[i]` over the shorter length.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    match kernel_isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx2 is only chosen when the CPU has AVX2 and FMA.
        KernelIsa::Avx2 => unsafe { super::avx2::axpy(alpha, x, y) },
        _ => y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x),
    }
}

/// RMSNorm: `out[i] = x[i] / sqrt(mean(x²) + eps) · weight[i]`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean = dot(x, x) / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_plain_sums() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32).sin()).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-4);
        let mut y = b.clone();
        axpy(2.0, &a, &mut y);
        for i in 0..37 {
            assert!((y[i] - (b[i] + 2.0 * a[i])).abs() < 1e-5);
        }
    }
}
