//! Next-token selection: repetition penalty, then temperature, top-k, top-p and min-p (the
//! order transformers applies them), then a draw from a per-request seeded generator; greedy
//! when the temperature is zero.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::error::{Result, TextError};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature; 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1 = off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0 = off).
    pub min_p: f32,
    /// Divides positive (multiplies negative) logits of tokens already present (1 = off).
    pub repetition_penalty: f32,
    /// Seed of the random generator; the same seed gives the same tokens on the same device.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Checks the values are in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(TextError::InvalidRequest(what.to_string()));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature must be a finite number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p must be in [0, 1]");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("repetition_penalty must be > 0");
        }
        Ok(())
    }
}

/// Picks tokens for one sequence.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    /// A sampler with its own random generator (seeded when `params.seed` is set).
    pub fn new(params: SamplingParams) -> Self {
        let rng = match params.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Self { params, rng }
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Applies the repetition penalty for `context` to `logits` in place.
    pub fn penalize(&self, logits: &mut [f32], context: &[u32]) {
        let penalty = self.params.repetition_penalty;
        if penalty == 1.0 {
            return;
        }
        let mut seen = vec![false; logits.len()];
        for &t in context {
            let t = t as usize;
            if t < logits.len() && !seen[t] {
                seen[t] = true;
                let l = &mut logits[t];
                *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
            }
        }
    }

    /// Chooses a token from (already penalized and masked) logits. Returns `None` when every
    /// logit is -inf.
    pub fn pick(&mut self, logits: &[f32]) -> Option<u32> {
        if self.params.temperature == 0.0 {
            return argmax(logits);
        }
        let inv_t = 1.0 / self.params.temperature;
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, l * inv_t))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let by_logit_desc =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if self.params.top_k > 0 && self.params.top_k < candidates.len() {
            let k = self.params.top_k;
            candidates.select_nth_unstable_by(k - 1, by_logit_desc);
            // Keep ties with the k-th value, as transformers does.
            let kth = candidates[k - 1].1;
            candidates.retain(|c| c.1 >= kth);
        }
        // Ordering is only needed to cut the tail (top-p, min-p); a plain draw works on any order.
        let truncating = self.params.top_p < 1.0 || self.params.min_p > 0.0;
        if truncating {
            candidates.sort_unstable_by(by_logit_desc);
        } else if let Some(best) =
            (0..candidates.len()).max_by(|&a, &b| candidates[a].1.total_cmp(&candidates[b].1))
        {
            candidates.swap(0, best);
        }
        let max = candidates[0].1;
        let mut probs: Vec<f64> = candidates
            .iter()
            .map(|c| ((c.1 - max) as f64).exp())
            .collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        let mut keep = probs.len();
        if self.params.top_p < 1.0 {
            // Drop the least likely tokens whose cumulative mass stays within 1 - top_p.
            let mut tail = 0.0;
            let limit = 1.0 - self.params.top_p as f64;
            while keep > 1 && tail + probs[keep - 1] <= limit {
                tail += probs[keep - 1];
                keep -= 1;
            }
        }
        if self.params.min_p > 0.0 {
            let threshold = probs[0] * self.params.min_p as f64;
            while keep > 1 && probs[keep - 1] < threshold {
                keep -= 1;
            }
        }
        let mass: f64 = probs[..keep].iter().sum();
        let mut r = self.rng.gen::<f64>() * mass;
        for (c, p) in candidates[..keep].iter().zip(&probs[..keep]) {
            if r < *p {
                return Some(c.0);
            }
            r -= p;
        }
        Some(candidates[keep - 1].0)
    }
}

/// Index of the largest finite value (the first one on ties).
pub fn argmax(values: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() || v == f32::NEG_INFINITY {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(p: SamplingParams) -> Sampler {
        Sampler::new(p)
    }

    #[test]
    fn greedy_takes_argmax() {
        let mut s = sampler(SamplingParams::greedy());
        assert_eq!(s.pick(&[0.1, 3.0, 2.0, f32::NEG_INFINITY]), Some(1));
        assert_eq!(s.pick(&[f32::NEG_INFINITY; 3]), None);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_respects_top_k() {
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 2,
            seed: Some(7),
            ..Default::default()
        };
        let logits = [1.0, 1.1, 0.9, 1.05, -1.0];
        let draws = |p: &SamplingParams| {
            let mut s = sampler(p.clone());
            (0..200)
                .map(|_| s.pick(&logits).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draws(&params);
        assert_eq!(a, draws(&params));
        assert!(a.iter().all(|&t| t == 1 || t == 3));
        assert!(a.contains(&1) && a.contains(&3));
    }

    #[test]
    fn top_p_and_min_p_cut_the_tail() {
        let logits = [5.0, 4.0, 0.0, -3.0];
        let mut s = sampler(SamplingParams {
            temperature: 1.0,
            top_p: 0.9,
            seed: Some(1),
            ..Default::default()
        });
        assert!((0..300).all(|_| s.pick(&logits).unwrap() < 2));
        let mut s = sampler(SamplingParams {
            temperature: 1.0,
            min_p: 0.5,
            seed: Some(1),
            ..Default::default()
        });
        assert!((0..300).all(|_| s.pick(&logits).unwrap() == 0));
    }

    #[test]
    fn repetition_penalty_scales_seen_tokens() {
        let s = sampler(SamplingParams {
            repetition_penalty: 2.0,
            ..Default::default()
        });
        let mut logits = [2.0, -2.0, 2.0];
        s.penalize(&mut logits, &[0, 1, 1]);
        assert_eq!(logits, [1.0, -4.0, 2.0]);
    }
}
