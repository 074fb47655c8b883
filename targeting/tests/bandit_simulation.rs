//! Simulated serving with known click-through rates: cumulative regret of the Thompson sampler
//! against uniform rotation and epsilon-greedy on the same seeded traffic.
//!
//! "Same traffic" means common random numbers: impression `t` of a run carries one uniform
//! draw `u[t]`, and whichever creative a policy serves is clicked when `u[t] < ctr`. Regret is
//! the expected loss `best_ctr - ctr[served]` summed over impressions.
//!
//! Figures for BENCHMARKS.md:
//! `cargo test -p adforge-targeting --release --test bandit_simulation -- --nocapture`

use adforge_targeting::bandit::{ArmStats, ThompsonConfig, ThompsonSampler};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CTRS: [f64; 6] = [0.010, 0.015, 0.020, 0.025, 0.030, 0.040];
/// Cumulative regret is reported after this many impressions.
const CHECKPOINTS: [usize; 3] = [10_000, 100_000, 1_000_000];
const SEEDS: [u64; 3] = [1, 2, 3];

trait Policy {
    fn choose(&mut self, arms: &[ArmStats], t: usize) -> usize;
}

struct Uniform;
impl Policy for Uniform {
    fn choose(&mut self, arms: &[ArmStats], t: usize) -> usize {
        t % arms.len()
    }
}

struct EpsilonGreedy {
    epsilon: f64,
    rng: StdRng,
}
impl Policy for EpsilonGreedy {
    fn choose(&mut self, arms: &[ArmStats], _t: usize) -> usize {
        if let Some(unplayed) = arms.iter().position(|a| a.impressions == 0) {
            return unplayed;
        }
        if self.rng.gen_bool(self.epsilon) {
            return self.rng.gen_range(0..arms.len());
        }
        let rate = |a: &ArmStats| a.clicks as f64 / a.impressions as f64;
        (0..arms.len())
            .max_by(|&i, &j| rate(&arms[i]).total_cmp(&rate(&arms[j])))
            .unwrap_or(0)
    }
}

struct Thompson(ThompsonSampler);
impl Policy for Thompson {
    fn choose(&mut self, arms: &[ArmStats], _t: usize) -> usize {
        self.0.choose(arms).expect("arms are not empty")
    }
}

/// Runs one policy over the traffic and returns its cumulative expected regret at each
/// checkpoint.
fn regret(policy: &mut dyn Policy, traffic: &[f64]) -> [f64; CHECKPOINTS.len()] {
    let best = CTRS.iter().copied().fold(0.0, f64::max);
    let mut arms = [ArmStats::default(); CTRS.len()];
    let mut total = 0.0;
    let mut out = [0.0; CHECKPOINTS.len()];
    for (t, u) in traffic.iter().enumerate() {
        let i = policy.choose(&arms, t);
        arms[i].impressions += 1;
        if *u < CTRS[i] {
            arms[i].clicks += 1;
        }
        total += best - CTRS[i];
        if let Some(c) = CHECKPOINTS.iter().position(|&c| c == t + 1) {
            out[c] = total;
        }
    }
    out
}

const POLICIES: [&str; 4] = [
    "uniform",
    "epsilon-greedy 0.1",
    "epsilon-greedy 0.05",
    "Thompson",
];

#[test]
fn thompson_regret_is_well_under_uniform_and_epsilon_greedy() {
    let horizon = CHECKPOINTS[CHECKPOINTS.len() - 1];
    // sums[policy][checkpoint]
    let mut sums = [[0.0f64; CHECKPOINTS.len()]; POLICIES.len()];
    for seed in SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        let traffic: Vec<f64> = (0..horizon).map(|_| rng.gen()).collect();
        let thompson = ThompsonSampler::seeded(ThompsonConfig::default(), seed + 1000).unwrap();
        let runs = [
            regret(&mut Uniform, &traffic),
            regret(
                &mut EpsilonGreedy {
                    epsilon: 0.1,
                    rng: StdRng::seed_from_u64(seed + 2000),
                },
                &traffic,
            ),
            regret(
                &mut EpsilonGreedy {
                    epsilon: 0.05,
                    rng: StdRng::seed_from_u64(seed + 3000),
                },
                &traffic,
            ),
            regret(&mut Thompson(thompson), &traffic),
        ];
        for (sum, run) in sums.iter_mut().zip(runs) {
            for (s, r) in sum.iter_mut().zip(run) {
                *s += r;
            }
        }
    }
    let n = SEEDS.len() as f64;
    let mean = sums.map(|per_checkpoint| per_checkpoint.map(|s| s / n));
    println!("CTRs {CTRS:?}; mean cumulative regret (expected clicks lost) over seeds {SEEDS:?}");
    print!("| policy |");
    for c in CHECKPOINTS {
        print!(" after {c} |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(CHECKPOINTS.len()));
    for (name, row) in POLICIES.iter().zip(&mean) {
        print!("| {name} |");
        for r in row {
            print!(" {r:.1} |");
        }
        println!();
    }
    let [uniform, eps10, eps05, thompson] = mean;
    let last = CHECKPOINTS.len() - 1;
    for (c, checkpoint) in CHECKPOINTS.iter().enumerate() {
        println!(
            "after {checkpoint}: Thompson / uniform = {:.3}, / epsilon-greedy 0.1 = {:.3}, / epsilon-greedy 0.05 = {:.3}",
            thompson[c] / uniform[c],
            thompson[c] / eps10[c],
            thompson[c] / eps05[c]
        );
    }
    for c in 1..CHECKPOINTS.len() {
        assert!(
            thompson[c] < 0.1 * uniform[c],
            "Thompson {thompson:?} vs uniform {uniform:?}"
        );
        assert!(
            thompson[c] < 0.6 * eps10[c],
            "Thompson {thompson:?} vs epsilon-greedy {eps10:?}"
        );
    }
    // Epsilon-greedy's regret grows linearly with traffic, Thompson's logarithmically.
    assert!(
        thompson[last] < 0.5 * eps05[last],
        "Thompson {thompson:?} vs {eps05:?}"
    );
}
