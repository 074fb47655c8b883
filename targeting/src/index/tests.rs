//! Cross-checks of the index against evaluating every rule (`Rule::matches`, the reference
//! semantics) on random rules and requests, and its ordering and sharing guarantees.

use super::*;
use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const COUNTRIES: &[&str] = &["FR", "DE", "ES", "US", "GB"];
const INTERESTS: &[&str] = &["cycling", "cooking", "golf", "travel", "gaming", "music"];
const DEVICES: &[&str] = &["mobile", "desktop", "tablet"];

fn pick(rng: &mut StdRng, list: &[&str]) -> String {
    list[rng.gen_range(0..list.len())].to_string()
}

fn random_leaf(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..16) {
        0 => json!({"country": [pick(rng, COUNTRIES), pick(rng, COUNTRIES)]}),
        1 => {
            let min = rng.gen_range(13..60);
            match rng.gen_range(0..3) {
                0 => json!({"age": {"min": min}}),
                1 => json!({"age": {"max": min}}),
                _ => json!({"age": {"min": min, "max": min + rng.gen_range(0..30)}}),
            }
        }
        2 => json!({"interests": [pick(rng, INTERESTS), pick(rng, INTERESTS)]}),
        3 => json!({"device": [pick(rng, DEVICES)]}),
        4 => {
            // Whole hours (indexed exactly) and windows that cut an hour (checked by program).
            let from = rng.gen_range(0..24);
            let to = (from + rng.gen_range(1..12)) % 24;
            let minutes = ["00", "30"][rng.gen_range(0..2)];
            json!({"time_of_day": {"from": format!("{from:02}:00"), "to": format!("{to:02}:{minutes}")}})
        }
        5 => {
            let day = ["mon", "sat"][rng.gen_range(0..2)];
            json!({"day_of_week": [day, "sun"]})
        }
        6 => json!({"attribute": {"key": "plan", "values": [pick(rng, &["free", "pro"])]}}),
        7 => json!({"language": [pick(rng, &["fr", "en"])]}),
        8 => json!({"keywords": [pick(rng, &["bike", "shoes", "ski"])]}),
        9 => json!({"city": [pick(rng, &["paris", "lyon"])]}),
        10 => json!({"region": [pick(rng, &["idf", "ara", "bavaria"])]}),
        11 => json!({"os": [pick(rng, &["ios", "android"])]}),
        12 => json!({"gender": [pick(rng, &["female", "male"])]}),
        13 => {
            json!({"attribute": {"key": "tier", "values": [pick(rng, &["gold", "silver"]), "bronze"]}})
        }
        14 => json!({"interests": [pick(rng, INTERESTS)]}),
        _ => json!({"country": [pick(rng, COUNTRIES)]}),
    }
}

fn random_rule(rng: &mut StdRng, depth: u32) -> Value {
    if depth == 0 {
        return random_leaf(rng);
    }
    match rng.gen_range(0..5) {
        0 | 1 => {
            json!({"all": (0..rng.gen_range(1..4)).map(|_| random_rule(rng, depth - 1)).collect::<Vec<_>>()})
        }
        2 => {
            json!({"any": (0..rng.gen_range(1..4)).map(|_| random_rule(rng, depth - 1)).collect::<Vec<_>>()})
        }
        3 => json!({"not": random_rule(rng, depth - 1)}),
        _ => random_leaf(rng),
    }
}

fn random_request(rng: &mut StdRng) -> AdRequest {
    let ts = Utc
        .timestamp_opt(1_772_000_000 + rng.gen_range(0..604_800), 0)
        .unwrap();
    let zone = [chrono_tz::Europe::Paris, chrono_tz::Asia::Kolkata][rng.gen_range(0..2)];
    let mut r = AdRequest::at(ts, zone);
    match rng.gen_range(0..20) {
        0 => {}
        1 => r.age = Some(rng.gen_range(131..=255)),
        _ => r.age = Some(rng.gen_range(13..80)),
    }
    if rng.gen_bool(0.9) {
        r.country = Some(pick(rng, &["FR", "de", "ES", "US", "GB", "IT"]));
    }
    if rng.gen_bool(0.9) {
        r.device = Some(pick(rng, &["mobile", "Desktop", "tablet", "ctv"]));
    }
    if rng.gen_bool(0.7) {
        r.language = Some(pick(rng, &["fr-FR", "en", "de"]));
        r.city = Some(pick(rng, &["Paris", "Lyon", "Berlin"]));
    }
    if rng.gen_bool(0.6) {
        r.region = Some(pick(rng, &["IDF", "ara", "Bavaria", "tuscany"]));
    }
    if rng.gen_bool(0.7) {
        r.os = Some(pick(rng, &["ios", "android", "linux"]));
    }
    if rng.gen_bool(0.7) {
        r.gender = Some(pick(rng, &["female", "male", "other"]));
    }
    for _ in 0..rng.gen_range(0..3) {
        r.keywords
            .push(pick(rng, &["bike", "ski", "shoes", "boat"]));
    }
    for _ in 0..rng.gen_range(0..4) {
        r.interests.push(pick(rng, INTERESTS));
    }
    if rng.gen_bool(0.5) {
        r.attributes
            .insert("plan".into(), pick(rng, &["free", "pro", "team"]));
    }
    if rng.gen_bool(0.5) {
        r.attributes
            .insert("tier".into(), pick(rng, &["gold", "silver", "bronze"]));
    }
    r
}

fn random_segments(rng: &mut StdRng, count: usize, depth: u32) -> Vec<(usize, Rule)> {
    let mut segments = Vec::new();
    while segments.len() < count {
        // Randomly generated rules can contradict themselves; those are rejected.
        if let Ok(rule) = Rule::from_json(&random_rule(rng, depth)) {
            segments.push((segments.len(), rule));
        }
    }
    segments
}

/// Checks `requests` random requests against a linear scan; returns the number of matches.
fn cross_check(
    index: &SegmentIndex<usize>,
    segments: &[(usize, Rule)],
    rng: &mut StdRng,
    requests: usize,
) -> usize {
    let mut total = 0;
    for _ in 0..requests {
        let request = random_request(rng);
        let prepared = PreparedRequest::new(&request);
        let expected: Vec<usize> = segments
            .iter()
            .filter(|(_, rule)| rule.matches(&prepared))
            .map(|(id, _)| *id)
            .collect();
        let got = index.matching(&request);
        assert_eq!(got, expected, "request {request:?}");
        total += got.len();
    }
    total
}

#[test]
fn index_agrees_with_evaluating_every_rule() {
    let mut rng = StdRng::seed_from_u64(7);
    let segments = random_segments(&mut rng, 2000, 3);
    let index = SegmentIndex::build(segments.clone());
    assert_eq!(index.len(), 2000);
    assert!(index.unguarded_len() < segments.len() / 20);
    let total = cross_check(&index, &segments, &mut rng, 1000);
    assert!(total > 1000, "the random rules should match some requests");
}

#[test]
fn deep_rules_agree_with_evaluating_every_rule() {
    // Depth 5 makes many rules too large to expand: they are narrowed by their top-level
    // conjunction or evaluated on every request.
    let mut rng = StdRng::seed_from_u64(11);
    let segments = random_segments(&mut rng, 600, 5);
    let index = SegmentIndex::build(segments.clone());
    assert!(index.unguarded_len() > 0, "some rules should be too large");
    assert!(cross_check(&index, &segments, &mut rng, 400) > 0);
}

#[test]
fn segments_inserted_after_build_agree() {
    // Values named by many segments are bit sets after `build`; later inserts extend them and
    // add values and attributes the built index has not seen.
    let mut rng = StdRng::seed_from_u64(3);
    let mut segments = random_segments(&mut rng, 1500, 3);
    let mut index = SegmentIndex::build(segments.clone());
    let extra = [
        json!({"attribute": {"key": "channel", "values": ["web"]}}),
        json!({"all": [{"country": ["IT"]}, {"not": {"interests": ["golf", "music"]}}]}),
        json!({"not": {"attribute": {"key": "plan", "values": ["pro"]}}}),
        json!({"all": [{"keywords": ["boat"]}, {"not": {"keywords": ["bike"]}}]}),
    ];
    for (i, rule) in extra.iter().enumerate() {
        let rule = Rule::from_json(rule).unwrap();
        segments.push((1500 + i, rule.clone()));
        index.insert(1500 + i, rule);
    }
    for (id, rule) in random_segments(&mut rng, 500, 3) {
        segments.push((1504 + id, rule.clone()));
        index.insert(1504 + id, rule);
    }
    assert_eq!(index.len(), segments.len());
    assert!(cross_check(&index, &segments, &mut rng, 800) > 0);

    let mut request = AdRequest::at(Utc.timestamp_opt(1_772_000_000, 0).unwrap(), chrono_tz::UTC);
    request.attributes.insert("channel".into(), "Web".into());
    let matched = index.matching(&request);
    assert!(matched.contains(&1500) && matched.contains(&1502));
}

#[test]
fn results_keep_insertion_order() {
    let rule = |v: Value| Rule::from_json(&v).unwrap();
    let mut index = SegmentIndex::build([
        ("first", rule(json!({"city": ["z"]}))),
        (
            "second",
            rule(json!({"any": [{"city": ["b"]}, {"city": ["z"]}]})),
        ),
    ]);
    index.insert("third", rule(json!({"city": ["a", "z"]})));
    let ts = Utc.with_ymd_and_hms(2026, 3, 7, 18, 15, 0).unwrap();
    let mut request = AdRequest::at(ts, chrono_tz::UTC);
    for (city, expected) in [
        ("z", vec!["first", "second", "third"]),
        ("b", vec!["second"]),
        ("a", vec!["third"]),
        ("q", vec![]),
    ] {
        request.city = Some(city.into());
        assert_eq!(index.matching(&request), expected, "city {city}");
    }
    let any = SegmentIndex::build([
        (1, rule(json!({"not": {"city": ["q"]}}))),
        (2, rule(json!({"city": ["b"]}))),
        (3, rule(json!({"any": [{"city": ["b"]}, {"os": ["ios"]}]}))),
    ]);
    request.city = Some("b".into());
    assert_eq!(any.matching(&request), vec![1, 2, 3]);
    request.city = None;
    assert_eq!(any.matching(&request), vec![1]);
}

#[test]
fn an_empty_index_matches_nothing() {
    let index: SegmentIndex<u32> = SegmentIndex::build([]);
    assert!(index.is_empty());
    let request = AdRequest::at(Utc.timestamp_opt(1_772_000_000, 0).unwrap(), chrono_tz::UTC);
    assert!(index.matching(&request).is_empty());
}

#[test]
fn index_is_shareable_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<SegmentIndex<String>>();
}
