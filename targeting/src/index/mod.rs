//! A compiled index over all live segments that resolves one request to its matching segments
//! without evaluating every rule.
//!
//! Each rule is reduced to a *guard*: up to [`MAX_CLAUSES`] clauses in conjunctive form, each
//! clause a set of request keys (`country=FR`, `age=29`, `hour=19`, ...) of which the request must
//! have at least one whenever the rule matches. The cheapest clause by an estimate of how many
//! requests carry its keys is always kept, further ones only while they are selective. For each
//! key the index keeps a posting list of (segment, clause bit). Rules that admit no guard (a
//! lone `not`, an `any` with an unguarded branch) are kept on a short list that is always
//! evaluated.
//!
//! The guard is a necessary condition only, so a segment whose every clause was hit still has
//! its rule evaluated. Three things keep that cheap:
//! - every posting carries the segment's *prefilter*, a few bit masks summarising the top-level
//!   conjunction (one bit per value of each single-valued attribute, interests and keywords as
//!   64-bit masks, the age range, hours and days), so most segments are rejected while a
//!   posting list is read front to back, without a random memory access;
//! - rules are compiled to flat programs over interned symbols, stored back to back in one
//!   array, with the constant-time checks of each `all`/`any` first;
//! - [`SegmentIndex::build`] lays segments out grouped by the first key of their most selective
//!   clause, so the segments of one posting list are close together in memory. Results are
//!   still returned in insertion order.
//!
//! Per-request scratch space lives in a thread-local buffer, so [`SegmentIndex::matching`] takes
//! `&self` and the index can be shared between threads behind an `Arc`.
//!
//! Files: `guard` reduces a rule to the request keys it needs, `program` compiles a rule to its
//! flat program and runs it, `prefilter` builds and checks the bit-mask summary; this file owns
//! the posting lists and the query.

mod guard;
mod prefilter;
mod program;

use std::cell::RefCell;
use std::collections::HashMap;

use crate::request::{AdRequest, PreparedRequest};
use crate::rules::{Rule, MAX_AGE};

pub use guard::MAX_CLAUSES;
use guard::{guard, Key, StrKind, STR_KINDS};
use prefilter::{Prefilter, RequestBits};
use program::{run, Compiled, RequestSymbols, Symbols};

/// One entry of a posting list: the segment's position, the bit of the clause it satisfies and
/// the segment's prefilter.
#[derive(Debug, Clone, Copy)]
struct Posting {
    /// The segment's prefilter, copied here so that most segments are rejected while the
    /// posting list is read in order, without touching per-segment memory.
    filter: Prefilter,
    segment: u32,
    bit: u8,
}

/// Scratch space for one thread's queries.
#[derive(Default)]
struct Scratch {
    generation: u32,
    stamp: Vec<u32>,
    hits: Vec<u8>,
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// All live segments compiled for fast matching. `Id` is whatever the caller identifies
/// segments by (a database id, a UUID...).
#[derive(Debug, Clone)]
pub struct SegmentIndex<Id> {
    ids: Vec<Id>,
    /// Insertion sequence number of the segment at each position (positions are in the order
    /// [`SegmentIndex::build`] lays segments out, which groups them by their rarest key).
    sequence: Vec<u32>,
    /// One past the largest insertion sequence number.
    next_sequence: u32,
    /// Rule programs of all segments, back to back (see [`Compiled::emit`]).
    code: Vec<u32>,
    /// Where each segment's program starts in `code`, plus one final end offset.
    starts: Vec<u32>,
    symbols: Symbols,
    /// Bit mask of the clauses each segment must hit (0 for unguarded segments).
    required: Vec<u8>,
    prefilters: Vec<Prefilter>,
    strings: [HashMap<String, Vec<Posting>>; STR_KINDS],
    ages: Vec<Vec<Posting>>,
    hours: Vec<Vec<Posting>>,
    days: Vec<Vec<Posting>>,
    attributes: HashMap<String, HashMap<String, Vec<Posting>>>,
    unguarded: Vec<u32>,
}

impl<Id: Clone> Default for SegmentIndex<Id> {
    fn default() -> Self {
        SegmentIndex {
            ids: Vec::new(),
            sequence: Vec::new(),
            next_sequence: 0,
            code: Vec::new(),
            starts: vec![0],
            symbols: Symbols::default(),
            required: Vec::new(),
            prefilters: Vec::new(),
            strings: Default::default(),
            ages: vec![Vec::new(); usize::from(MAX_AGE) + 1],
            hours: vec![Vec::new(); 24],
            days: vec![Vec::new(); 7],
            attributes: HashMap::new(),
            unguarded: Vec::new(),
        }
    }
}

impl<Id: Clone> SegmentIndex<Id> {
    /// Compiles the given (segment id, validated rule) pairs.
    ///
    /// Segments are laid out grouped by the first key of their most selective clause, so that
    /// the segments of one posting list sit next to each other in memory.
    pub fn build(segments: impl IntoIterator<Item = (Id, Rule)>) -> Self {
        let mut keyed: Vec<(Option<Key>, u32, Id, Rule)> = segments
            .into_iter()
            .enumerate()
            .map(|(i, (id, rule))| {
                let key = guard(&rule)
                    .into_iter()
                    .next()
                    .and_then(|c| c.keys.into_iter().next());
                let sequence = u32::try_from(i).expect("fewer than 2^32 segments");
                (key, sequence, id, rule)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut index = SegmentIndex::default();
        for (_, sequence, id, rule) in keyed {
            index.insert_at(id, rule, sequence);
        }
        index
    }

    /// Adds one segment after all others. To change or remove segments, build a new index.
    pub fn insert(&mut self, id: Id, rule: Rule) {
        let sequence = self.next_sequence;
        self.insert_at(id, rule, sequence);
    }

    fn insert_at(&mut self, id: Id, rule: Rule, sequence: u32) {
        let position = u32::try_from(self.ids.len()).expect("fewer than 2^32 segments");
        self.sequence.push(sequence);
        self.next_sequence = self
            .next_sequence
            .max(sequence.checked_add(1).expect("fewer than 2^32 segments"));
        let clauses = guard(&rule);
        let compiled = Compiled::new(&rule, &mut self.symbols);
        let filter = Prefilter::new(&compiled);
        let mut required = 0u8;
        for (i, clause) in clauses.iter().enumerate() {
            let bit = 1u8 << i;
            required |= bit;
            let posting = Posting {
                filter,
                segment: position,
                bit,
            };
            for key in &clause.keys {
                self.postings_mut(key).push(posting);
            }
        }
        if clauses.is_empty() {
            self.unguarded.push(position);
        }
        self.ids.push(id);
        self.prefilters.push(filter);
        compiled.emit(&mut self.code);
        self.starts
            .push(u32::try_from(self.code.len()).expect("rule programs under 2^32 words"));
        self.required.push(required);
    }

    fn postings_mut(&mut self, key: &Key) -> &mut Vec<Posting> {
        match key {
            Key::Str(kind, value) => self.strings[*kind as usize]
                .entry(value.clone())
                .or_default(),
            Key::Age(age) => &mut self.ages[usize::from(*age)],
            Key::Hour(hour) => &mut self.hours[usize::from(*hour)],
            Key::Day(day) => &mut self.days[usize::from(*day)],
            Key::Attr(name, value) => self
                .attributes
                .entry(name.clone())
                .or_default()
                .entry(value.clone())
                .or_default(),
        }
    }

    /// Number of segments in the index.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index holds no segment.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of segments whose rule admits no guard and is evaluated on every request.
    pub fn unguarded_len(&self) -> usize {
        self.unguarded.len()
    }

    /// The ids of the segments whose rules match `request`, in insertion order.
    pub fn matching(&self, request: &AdRequest) -> Vec<Id> {
        self.matching_prepared(&PreparedRequest::new(request))
    }

    /// Like [`SegmentIndex::matching`] for a request already prepared.
    pub fn matching_prepared(&self, request: &PreparedRequest) -> Vec<Id> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.matching_with(request, &mut scratch)
        })
    }

    fn run_segment(&self, segment: usize, request: &RequestSymbols) -> bool {
        let start = self.starts[segment] as usize;
        let end = self.starts[segment + 1] as usize;
        run(&self.code[start..end], request)
    }

    fn matching_with(&self, req: &PreparedRequest, scratch: &mut Scratch) -> Vec<Id> {
        let n = self.ids.len();
        if scratch.stamp.len() < n {
            scratch.stamp.resize(n, 0);
            scratch.hits.resize(n, 0);
        }
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            scratch.stamp.iter_mut().for_each(|s| *s = 0);
            scratch.generation = 1;
        }
        let generation = scratch.generation;
        scratch.touched.clear();
        let Scratch {
            stamp,
            hits,
            touched,
            ..
        } = scratch;
        let symbols = RequestSymbols::new(req, &self.symbols);
        let bits = RequestBits::new(&symbols);
        let mut visit = |postings: &[Posting]| {
            for p in postings {
                if !p.filter.admits(&bits) {
                    continue;
                }
                let s = p.segment as usize;
                if stamp[s] != generation {
                    stamp[s] = generation;
                    hits[s] = 0;
                    touched.push(p.segment);
                }
                hits[s] |= p.bit;
            }
        };
        let strings = |kind: StrKind, value: &str| self.strings[kind as usize].get(value);
        let singles = [
            (StrKind::Gender, &req.gender),
            (StrKind::Country, &req.country),
            (StrKind::Region, &req.region),
            (StrKind::City, &req.city),
            (StrKind::Language, &req.language),
            (StrKind::Device, &req.device),
            (StrKind::Os, &req.os),
        ];
        for (kind, value) in singles {
            if let Some(postings) = value.as_deref().and_then(|v| strings(kind, v)) {
                visit(postings);
            }
        }
        for interest in &req.interests {
            if let Some(postings) = strings(StrKind::Interest, interest) {
                visit(postings);
            }
        }
        for keyword in &req.keywords {
            if let Some(postings) = strings(StrKind::Keyword, keyword) {
                visit(postings);
            }
        }
        if let Some(postings) = req.age.and_then(|a| self.ages.get(usize::from(a))) {
            visit(postings);
        }
        visit(&self.hours[usize::from(req.local_hour())]);
        visit(&self.days[req.weekday.num_days_from_monday() as usize]);
        for (name, value) in &req.attributes {
            if let Some(postings) = self.attributes.get(name).and_then(|m| m.get(value)) {
                visit(postings);
            }
        }

        let mut matched: Vec<u32> = touched
            .iter()
            .copied()
            .filter(|&s| {
                let s = s as usize;
                hits[s] == self.required[s] && self.run_segment(s, &symbols)
            })
            .collect();
        matched.extend(self.unguarded.iter().copied().filter(|&s| {
            self.prefilters[s as usize].admits(&bits) && self.run_segment(s as usize, &symbols)
        }));
        matched.sort_unstable_by_key(|&s| self.sequence[s as usize]);
        matched
            .into_iter()
            .map(|s| self.ids[s as usize].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{json, Value};

    const COUNTRIES: &[&str] = &["FR", "DE", "ES", "US", "GB"];
    const INTERESTS: &[&str] = &["cycling", "cooking", "golf", "travel", "gaming", "music"];
    const DEVICES: &[&str] = &["mobile", "desktop", "tablet"];

    fn random_leaf(rng: &mut StdRng) -> Value {
        let pick = |rng: &mut StdRng, list: &[&str]| list[rng.gen_range(0..list.len())].to_string();
        match rng.gen_range(0..10) {
            0 => json!({"country": [pick(rng, COUNTRIES), pick(rng, COUNTRIES)]}),
            7 => json!({"language": [pick(rng, &["fr", "en"])]}),
            8 => json!({"keywords": [pick(rng, &["bike", "shoes"])]}),
            9 => json!({"city": [pick(rng, &["paris", "lyon"])]}),
            1 => {
                let min = rng.gen_range(13..60);
                json!({"age": {"min": min, "max": min + rng.gen_range(0..30)}})
            }
            2 => json!({"interests": [pick(rng, INTERESTS), pick(rng, INTERESTS)]}),
            3 => json!({"device": [pick(rng, DEVICES)]}),
            4 => {
                let from = rng.gen_range(0..24);
                let to = (from + rng.gen_range(1..12)) % 24;
                json!({"time_of_day": {"from": format!("{from:02}:00"), "to": format!("{to:02}:30")}})
            }
            5 => {
                let day = ["mon", "sat"][rng.gen_range(0..2)];
                json!({"day_of_week": [day, "sun"]})
            }
            _ => {
                let plan = ["free", "pro"][rng.gen_range(0..2)];
                json!({"attribute": {"key": "plan", "values": [plan]}})
            }
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
        let mut r = AdRequest::at(ts, chrono_tz::Europe::Paris);
        if rng.gen_bool(0.9) {
            r.age = Some(rng.gen_range(13..80));
        }
        if rng.gen_bool(0.9) {
            r.country = Some(COUNTRIES[rng.gen_range(0..COUNTRIES.len())].into());
        }
        r.device = Some(DEVICES[rng.gen_range(0..DEVICES.len())].into());
        if rng.gen_bool(0.7) {
            r.language = Some(["fr-FR", "en", "de"][rng.gen_range(0..3)].into());
            r.city = Some(["Paris", "Lyon", "Berlin"][rng.gen_range(0..3)].into());
        }
        if rng.gen_bool(0.5) {
            r.keywords.push(["bike", "ski"][rng.gen_range(0..2)].into());
        }
        for _ in 0..rng.gen_range(0..3) {
            r.interests
                .push(INTERESTS[rng.gen_range(0..INTERESTS.len())].into());
        }
        if rng.gen_bool(0.5) {
            r.attributes
                .insert("plan".into(), ["free", "pro"][rng.gen_range(0..2)].into());
        }
        r
    }

    #[test]
    fn index_agrees_with_evaluating_every_rule() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut segments = Vec::new();
        while segments.len() < 2000 {
            // Randomly generated rules can contradict themselves; those are rejected.
            if let Ok(rule) = Rule::from_json(&random_rule(&mut rng, 3)) {
                segments.push((segments.len(), rule));
            }
        }
        let index = SegmentIndex::build(segments.clone());
        assert!(index.unguarded_len() < segments.len() / 2);
        let mut total = 0;
        for _ in 0..500 {
            let request = random_request(&mut rng);
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
        assert!(total > 0, "the random rules should match some requests");
    }

    #[test]
    fn results_keep_insertion_order() {
        let rule = |v: Value| Rule::from_json(&v).unwrap();
        // Laid out by rarest key (city "b" before "z"), returned in insertion order.
        let mut index = SegmentIndex::build([
            ("first", rule(json!({"city": ["z"]}))),
            ("second", rule(json!({"city": ["b"]}))),
        ]);
        index.insert("third", rule(json!({"city": ["a"]})));
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 18, 15, 0).unwrap();
        let mut request = AdRequest::at(ts, chrono_tz::UTC);
        for (city, expected) in [("z", "first"), ("b", "second"), ("a", "third")] {
            request.city = Some(city.into());
            assert_eq!(index.matching(&request), vec![expected]);
        }
        let any = SegmentIndex::build([
            (1, rule(json!({"not": {"city": ["q"]}}))),
            (2, rule(json!({"city": ["b"]}))),
            (3, rule(json!({"any": [{"city": ["b"]}, {"os": ["ios"]}]}))),
        ]);
        request.city = Some("b".into());
        assert_eq!(any.matching(&request), vec![1, 2, 3]);
    }

    #[test]
    fn index_is_shareable_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<SegmentIndex<String>>();
    }
}
