//! Segment matching benchmark: requests per second and latency percentiles of
//! `SegmentIndex::matching` for 100, 10,000 and 100,000 synthetic segments, next to a linear
//! scan that evaluates every rule (the result of both is compared on every scanned request).
//!
//! Run: `cargo bench -p adforge-targeting --bench matching` (release profile, one thread).
//! Latency is reported twice: wall-clock time, and thread CPU time (`CLOCK_THREAD_CPUTIME_ID`,
//! which leaves out time spent preempted by other processes and includes the clock call's own
//! cost of well under a microsecond).
//! Optional arguments: segment counts, e.g. `cargo bench ... --bench matching -- 1000 50000`.
//!
//! The synthetic population: 60 countries with 10 regions and 20 cities each, 8 languages,
//! 4 devices, 5 operating systems, 300 interests, 2,000 keywords, a `plan` attribute. A segment
//! is mostly an `all` of 1 to 10 conditions that always names countries (85%) or interests,
//! plus optionally a city or region, language, age range, keywords, device, a negated OS,
//! time of day, days and plan; 5% are an `any` of two such conjunctions and 0.1% a lone
//! negation (which no index can prune and is evaluated on every request).

use std::hint::black_box;
use std::time::{Duration, Instant};

use adforge_targeting::{AdRequest, PreparedRequest, Rule, SegmentIndex};
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const COUNTRIES: usize = 60;
const REGIONS_PER_COUNTRY: usize = 10;
const CITIES_PER_COUNTRY: usize = 20;
const LANGUAGES: &[&str] = &["en", "fr", "es", "de", "it", "pt", "nl", "pl"];
const DEVICES: &[&str] = &["mobile", "desktop", "tablet", "ctv"];
const OSES: &[&str] = &["ios", "android", "windows", "macos", "linux"];
const INTERESTS: usize = 300;
const KEYWORDS: usize = 2000;
const PLANS: &[&str] = &["free", "pro", "enterprise"];
const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const TIME_ZONES: &[chrono_tz::Tz] = &[
    chrono_tz::Europe::Paris,
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Tokyo,
];

fn country(i: usize) -> String {
    let a = (b'A' + (i / 26) as u8) as char;
    let b = (b'A' + (i % 26) as u8) as char;
    format!("{a}{b}")
}

fn conjunction(rng: &mut StdRng) -> Value {
    let mut parts: Vec<Value> = Vec::new();
    let home = rng.gen_range(0..COUNTRIES);
    if rng.gen_bool(0.85) {
        let n = rng.gen_range(1..=3);
        let codes: Vec<String> = (0..n)
            .map(|k| {
                country(if k == 0 {
                    home
                } else {
                    rng.gen_range(0..COUNTRIES)
                })
            })
            .collect();
        parts.push(json!({ "country": codes }));
        if rng.gen_bool(0.15) {
            parts.push(json!({ "city": [format!("city-{home}-{}", rng.gen_range(0..CITIES_PER_COUNTRY))] }));
        } else if rng.gen_bool(0.15) {
            parts.push(json!({ "region": [format!("region-{home}-{}", rng.gen_range(0..REGIONS_PER_COUNTRY))] }));
        }
    }
    if rng.gen_bool(0.5) {
        parts.push(json!({ "language": [LANGUAGES[rng.gen_range(0..LANGUAGES.len())]] }));
    }
    if rng.gen_bool(0.6) {
        let min = rng.gen_range(13..60);
        parts.push(json!({ "age": { "min": min, "max": min + rng.gen_range(5..25) } }));
    }
    // Every segment names a place or an interest: 85% a country, the rest interests.
    if parts.is_empty() || rng.gen_bool(0.7) {
        let n = rng.gen_range(1..=4);
        let list: Vec<String> = (0..n)
            .map(|_| format!("interest-{}", rng.gen_range(0..INTERESTS)))
            .collect();
        parts.push(json!({ "interests": list }));
    }
    if rng.gen_bool(0.2) {
        let n = rng.gen_range(1..=5);
        let list: Vec<String> = (0..n)
            .map(|_| format!("keyword-{}", rng.gen_range(0..KEYWORDS)))
            .collect();
        parts.push(json!({ "keywords": list }));
    }
    if rng.gen_bool(0.4) {
        parts.push(json!({ "device": [DEVICES[rng.gen_range(0..DEVICES.len())]] }));
    }
    if rng.gen_bool(0.15) {
        parts.push(json!({ "not": { "os": [OSES[rng.gen_range(0..OSES.len())]] } }));
    }
    if rng.gen_bool(0.15) {
        let from = rng.gen_range(0..24);
        let to = (from + rng.gen_range(2..10)) % 24;
        parts.push(json!({ "time_of_day": { "from": format!("{from:02}:00"), "to": format!("{to:02}:00") } }));
    }
    if rng.gen_bool(0.15) {
        let n = rng.gen_range(1..=5);
        let days: Vec<&str> = DAYS.choose_multiple(rng, n).copied().collect();
        parts.push(json!({ "day_of_week": days }));
    }
    if rng.gen_bool(0.1) {
        parts.push(json!({ "attribute": { "key": "plan", "values": [PLANS[rng.gen_range(0..PLANS.len())]] } }));
    }
    if parts.is_empty() {
        parts.push(json!({ "device": [DEVICES[rng.gen_range(0..DEVICES.len())]] }));
    }
    json!({ "all": parts })
}

fn segment_rule(rng: &mut StdRng) -> Value {
    let roll: f64 = rng.gen();
    if roll < 0.001 {
        json!({ "not": { "os": [OSES[rng.gen_range(0..OSES.len())]] } })
    } else if roll < 0.051 {
        json!({ "any": [conjunction(rng), conjunction(rng)] })
    } else {
        conjunction(rng)
    }
}

fn segments(count: usize, rng: &mut StdRng) -> Vec<(u32, Rule)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        // A random conjunction may contradict itself (e.g. two disjoint age ranges); those
        // are rejected at validation, as they would be when saved.
        if let Ok(rule) = Rule::from_json(&segment_rule(rng)) {
            out.push((out.len() as u32, rule));
        }
    }
    out
}

fn request(rng: &mut StdRng) -> AdRequest {
    let ts = Utc
        .timestamp_opt(1_772_000_000 + rng.gen_range(0..604_800), 0)
        .unwrap();
    let mut r = AdRequest::at(ts, TIME_ZONES[rng.gen_range(0..TIME_ZONES.len())]);
    let home = rng.gen_range(0..COUNTRIES);
    if rng.gen_bool(0.8) {
        r.age = Some(rng.gen_range(13..80));
    }
    r.gender = Some(["female", "male"][rng.gen_range(0..2)].into());
    r.country = Some(country(home));
    r.region = Some(format!(
        "region-{home}-{}",
        rng.gen_range(0..REGIONS_PER_COUNTRY)
    ));
    r.city = Some(format!(
        "city-{home}-{}",
        rng.gen_range(0..CITIES_PER_COUNTRY)
    ));
    r.language = Some(LANGUAGES[rng.gen_range(0..LANGUAGES.len())].into());
    r.device = Some(DEVICES[rng.gen_range(0..DEVICES.len())].into());
    r.os = Some(OSES[rng.gen_range(0..OSES.len())].into());
    r.interests = (0..rng.gen_range(0..8))
        .map(|_| format!("interest-{}", rng.gen_range(0..INTERESTS)))
        .collect();
    r.keywords = (0..rng.gen_range(0..5))
        .map(|_| format!("keyword-{}", rng.gen_range(0..KEYWORDS)))
        .collect();
    r.attributes
        .insert("plan".into(), PLANS[rng.gen_range(0..PLANS.len())].into());
    r
}

/// CPU time consumed by this thread: unlike wall time it does not count time the thread spent
/// preempted, which dominates tail latency on a loaded machine.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass, which lives for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if args.is_empty() {
        vec![100, 10_000, 100_000]
    } else {
        args
    };
    const TIMED_REQUESTS: usize = 50_000;
    println!("| segments | build | unguarded | mean matches | requests/s | p50 | p99 | p99.9 | CPU p50 | CPU p99 | CPU p99.9 | linear scan p50 | linear scan p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for count in counts {
        let mut rng = StdRng::seed_from_u64(42);
        let segs = segments(count, &mut rng);
        let started = Instant::now();
        let index = SegmentIndex::build(segs.iter().cloned());
        let build = started.elapsed();
        let requests: Vec<AdRequest> = (0..TIMED_REQUESTS).map(|_| request(&mut rng)).collect();
        // Warm up caches and the thread-local scratch space.
        for r in requests.iter().take(2_000) {
            black_box(index.matching(r));
        }
        let mut latencies = Vec::with_capacity(requests.len());
        let mut matches = 0usize;
        let all = Instant::now();
        for r in &requests {
            let t = Instant::now();
            let found = index.matching(black_box(r));
            latencies.push(t.elapsed());
            matches += found.len();
        }
        let total = all.elapsed();
        latencies.sort_unstable();
        // The same requests again, timed in thread CPU time.
        let mut cpu = Vec::with_capacity(requests.len());
        for r in &requests {
            let t = thread_cpu_time();
            black_box(index.matching(black_box(r)));
            cpu.push(thread_cpu_time().saturating_sub(t));
        }
        cpu.sort_unstable();

        // Linear scan on fewer requests (it is slow at 100k), checked against the index.
        let scanned = (2_000_000 / count.max(1)).clamp(200, 5_000);
        let mut scan_latencies = Vec::with_capacity(scanned);
        for r in requests.iter().take(scanned) {
            let t = Instant::now();
            let prepared = PreparedRequest::new(r);
            let expected: Vec<u32> = segs
                .iter()
                .filter(|(_, rule)| rule.matches(&prepared))
                .map(|(id, _)| *id)
                .collect();
            scan_latencies.push(t.elapsed());
            assert_eq!(
                index.matching(r),
                expected,
                "index and linear scan disagree"
            );
        }
        scan_latencies.sort_unstable();
        println!(
            "| {count} | {:.0} ms | {} | {:.1} | {:.0} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
            build.as_secs_f64() * 1e3,
            index.unguarded_len(),
            matches as f64 / requests.len() as f64,
            requests.len() as f64 / total.as_secs_f64(),
            micros(percentile(&latencies, 0.5)),
            micros(percentile(&latencies, 0.99)),
            micros(percentile(&latencies, 0.999)),
            micros(percentile(&cpu, 0.5)),
            micros(percentile(&cpu, 0.99)),
            micros(percentile(&cpu, 0.999)),
            micros(percentile(&scan_latencies, 0.5)),
            micros(percentile(&scan_latencies, 0.99)),
        );
    }
}
