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
//! its rule evaluated. Two things keep that cheap:
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

use std::cell::RefCell;
use std::collections::HashMap;

use crate::request::{AdRequest, PreparedRequest};
use crate::rules::{Rule, TimeWindow, MAX_AGE};

/// The most clauses a guard keeps (the cheapest ones).
pub const MAX_CLAUSES: usize = 4;

/// Clauses after the cheapest are kept only when their estimated share of requests is at most
/// this.
const SELECTIVE_CLAUSE_COST: f64 = 0.1;

/// Request attributes that are indexed by string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StrKind {
    Gender = 0,
    Country,
    Region,
    City,
    Language,
    Device,
    Os,
    Interest,
    Keyword,
}
const STR_KINDS: usize = 9;

/// Rough share of requests that carry one value of each kind; used to pick selective clauses.
fn str_kind_share(kind: StrKind) -> f64 {
    match kind {
        StrKind::Gender => 0.5,
        StrKind::Country => 0.05,
        StrKind::Region => 0.01,
        StrKind::City => 0.002,
        StrKind::Language => 0.15,
        StrKind::Device => 0.33,
        StrKind::Os => 0.2,
        StrKind::Interest => 0.05,
        StrKind::Keyword => 0.02,
    }
}

/// One key a request can carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Str(StrKind, String),
    Age(u8),
    Hour(u8),
    Day(u8),
    Attr(String, String),
}

impl Key {
    fn share(&self) -> f64 {
        match self {
            Key::Str(kind, _) => str_kind_share(*kind),
            Key::Age(_) => 0.02,
            Key::Hour(_) => 1.0 / 24.0,
            Key::Day(_) => 1.0 / 7.0,
            Key::Attr(_, _) => 0.1,
        }
    }
}

/// A disjunction of keys with its estimated selectivity.
#[derive(Debug, Clone)]
struct Clause {
    keys: Vec<Key>,
    cost: f64,
}

impl Clause {
    fn new(keys: Vec<Key>) -> Self {
        let cost = keys.iter().map(Key::share).sum::<f64>().min(1.0);
        Clause { keys, cost }
    }
}

/// The guard of a rule: every clause must be hit. Empty means "no guard".
fn guard(rule: &Rule) -> Vec<Clause> {
    let strs = |kind: StrKind, values: &[String]| {
        vec![Clause::new(
            values.iter().map(|v| Key::Str(kind, v.clone())).collect(),
        )]
    };
    match rule {
        Rule::All(children) => {
            let mut clauses: Vec<Clause> = children.iter().flat_map(guard).collect();
            clauses.sort_by(|a, b| a.cost.total_cmp(&b.cost));
            // The cheapest clause always; more only while they are selective, since a broad
            // clause (a device, a gender) costs a long posting list walk on every request and
            // prunes little.
            let keep = 1 + clauses
                .iter()
                .skip(1)
                .take(MAX_CLAUSES - 1)
                .take_while(|c| c.cost <= SELECTIVE_CLAUSE_COST)
                .count();
            clauses.truncate(keep);
            clauses
        }
        Rule::Any(children) => {
            let mut keys = Vec::new();
            for child in children {
                let child_guard = guard(child);
                let Some(best) = child_guard
                    .into_iter()
                    .min_by(|a, b| a.cost.total_cmp(&b.cost))
                else {
                    return Vec::new();
                };
                for key in best.keys {
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
            vec![Clause::new(keys)]
        }
        Rule::Not(_) => Vec::new(),
        Rule::Age(range) => {
            let lo = range.min.unwrap_or(0);
            let hi = range.max.unwrap_or(MAX_AGE);
            vec![Clause::new((lo..=hi).map(Key::Age).collect())]
        }
        Rule::Gender(v) => strs(StrKind::Gender, v),
        Rule::Country(v) => strs(StrKind::Country, v),
        Rule::Region(v) => strs(StrKind::Region, v),
        Rule::City(v) => strs(StrKind::City, v),
        Rule::Language(v) => strs(StrKind::Language, v),
        Rule::Device(v) => strs(StrKind::Device, v),
        Rule::Os(v) => strs(StrKind::Os, v),
        Rule::Interests(v) => strs(StrKind::Interest, v),
        Rule::Keywords(v) => strs(StrKind::Keyword, v),
        Rule::TimeOfDay(window) => vec![Clause::new(window.hours().map(Key::Hour).collect())],
        Rule::DayOfWeek(days) => vec![Clause::new(
            days.iter()
                .map(|d| Key::Day(d.num_days_from_monday() as u8))
                .collect(),
        )],
        Rule::Attribute(m) => vec![Clause::new(
            m.values
                .iter()
                .map(|v| Key::Attr(m.key.clone(), v.clone()))
                .collect(),
        )],
    }
}

/// Marks a request value that no segment mentions (or a missing one).
const NO_SYMBOL: u32 = u32::MAX;

/// Interned strings of every value the segments mention.
#[derive(Debug, Clone, Default)]
struct Symbols(HashMap<String, u32>);

impl Symbols {
    fn intern(&mut self, value: &str) -> u32 {
        let next = self.0.len() as u32;
        *self.0.entry(value.to_string()).or_insert(next)
    }

    fn get(&self, value: &str) -> u32 {
        self.0.get(value).copied().unwrap_or(NO_SYMBOL)
    }
}

/// A rule with its strings replaced by symbols and the children of `all`/`any` ordered so the
/// cheapest checks run first. Evaluates exactly like the [`Rule`] it came from.
#[derive(Debug, Clone)]
enum Compiled {
    All(Vec<Compiled>),
    Any(Vec<Compiled>),
    Not(Box<Compiled>),
    Age(u8, u8),
    /// A single-valued attribute (slot = `StrKind` up to `Os`) in the set.
    Single(u8, Vec<u32>),
    Interests(Vec<u32>),
    Keywords(Vec<u32>),
    Time(TimeWindow),
    /// Bit `d` set for day `d` (Monday = 0).
    Days(u8),
    Attribute(u32, Vec<u32>),
}

impl Compiled {
    fn new(rule: &Rule, symbols: &mut Symbols) -> Compiled {
        fn set(symbols: &mut Symbols, values: &[String]) -> Vec<u32> {
            values.iter().map(|v| symbols.intern(v)).collect()
        }
        match rule {
            Rule::All(children) | Rule::Any(children) => {
                let mut compiled: Vec<Compiled> =
                    children.iter().map(|c| Compiled::new(c, symbols)).collect();
                compiled.sort_by_key(Compiled::cost_rank);
                if matches!(rule, Rule::All(_)) {
                    Compiled::All(compiled)
                } else {
                    Compiled::Any(compiled)
                }
            }
            Rule::Not(child) => Compiled::Not(Box::new(Compiled::new(child, symbols))),
            Rule::Age(range) => Compiled::Age(range.min.unwrap_or(0), range.max.unwrap_or(MAX_AGE)),
            Rule::Gender(v) => Compiled::Single(StrKind::Gender as u8, set(symbols, v)),
            Rule::Country(v) => Compiled::Single(StrKind::Country as u8, set(symbols, v)),
            Rule::Region(v) => Compiled::Single(StrKind::Region as u8, set(symbols, v)),
            Rule::City(v) => Compiled::Single(StrKind::City as u8, set(symbols, v)),
            Rule::Language(v) => Compiled::Single(StrKind::Language as u8, set(symbols, v)),
            Rule::Device(v) => Compiled::Single(StrKind::Device as u8, set(symbols, v)),
            Rule::Os(v) => Compiled::Single(StrKind::Os as u8, set(symbols, v)),
            Rule::Interests(v) => Compiled::Interests(set(symbols, v)),
            Rule::Keywords(v) => Compiled::Keywords(set(symbols, v)),
            Rule::TimeOfDay(window) => Compiled::Time(*window),
            Rule::DayOfWeek(days) => Compiled::Days(
                days.iter()
                    .fold(0u8, |mask, d| mask | 1 << d.num_days_from_monday()),
            ),
            Rule::Attribute(m) => {
                let key = symbols.intern(&m.key);
                Compiled::Attribute(key, set(symbols, &m.values))
            }
        }
    }

    /// Evaluation order inside `all`/`any`: constant-time checks before list searches before
    /// nested expressions.
    fn cost_rank(&self) -> u8 {
        match self {
            Compiled::Age(..) | Compiled::Time(_) | Compiled::Days(_) => 0,
            Compiled::Single(..) => 1,
            Compiled::Attribute(..) => 2,
            Compiled::Interests(_) | Compiled::Keywords(_) => 3,
            Compiled::Not(_) => 4,
            Compiled::All(_) | Compiled::Any(_) => 5,
        }
    }

    /// Appends the rule's program to `code`: every node is a header word (`op | words << 8`,
    /// `words` counting the header) followed by its operands or its children.
    fn emit(&self, code: &mut Vec<u32>) {
        let start = code.len();
        code.push(0);
        let op = match self {
            Compiled::All(children) | Compiled::Any(children) => {
                for child in children {
                    child.emit(code);
                }
                if matches!(self, Compiled::All(_)) {
                    OP_ALL
                } else {
                    OP_ANY
                }
            }
            Compiled::Not(child) => {
                child.emit(code);
                OP_NOT
            }
            Compiled::Age(lo, hi) => {
                code.extend([u32::from(*lo), u32::from(*hi)]);
                OP_AGE
            }
            Compiled::Single(slot, set) => {
                code.push(u32::from(*slot));
                code.extend(set);
                OP_SINGLE
            }
            Compiled::Interests(set) => {
                code.extend(set);
                OP_INTERESTS
            }
            Compiled::Keywords(set) => {
                code.extend(set);
                OP_KEYWORDS
            }
            Compiled::Time(window) => {
                code.extend([u32::from(window.from), u32::from(window.to)]);
                OP_TIME
            }
            Compiled::Days(mask) => {
                code.push(u32::from(*mask));
                OP_DAYS
            }
            Compiled::Attribute(key, set) => {
                code.push(*key);
                code.extend(set);
                OP_ATTRIBUTE
            }
        };
        let words = u32::try_from(code.len() - start).expect("rule program under 2^24 words");
        assert!(words < 1 << 24, "rule program under 2^24 words");
        code[start] = op | words << 8;
    }
}

const OP_ALL: u32 = 0;
const OP_ANY: u32 = 1;
const OP_NOT: u32 = 2;
const OP_AGE: u32 = 3;
const OP_SINGLE: u32 = 4;
const OP_INTERESTS: u32 = 5;
const OP_KEYWORDS: u32 = 6;
const OP_TIME: u32 = 7;
const OP_DAYS: u32 = 8;
const OP_ATTRIBUTE: u32 = 9;

/// Words of the node starting at `code[0]`.
fn node_words(code: &[u32]) -> usize {
    (code[0] >> 8) as usize
}

/// Evaluates the program of one node (exactly its words) against a request; the same result
/// as [`Rule::matches`] on the rule it was compiled from.
fn run(code: &[u32], r: &RequestSymbols) -> bool {
    let body = &code[1..];
    match code[0] & 0xff {
        OP_ALL => {
            let mut rest = body;
            while !rest.is_empty() {
                let (child, tail) = rest.split_at(node_words(rest));
                if !run(child, r) {
                    return false;
                }
                rest = tail;
            }
            true
        }
        OP_ANY => {
            let mut rest = body;
            while !rest.is_empty() {
                let (child, tail) = rest.split_at(node_words(rest));
                if run(child, r) {
                    return true;
                }
                rest = tail;
            }
            false
        }
        OP_NOT => !run(body, r),
        OP_AGE => r
            .age
            .is_some_and(|a| u32::from(a) >= body[0] && u32::from(a) <= body[1]),
        OP_SINGLE => {
            let value = r.single[body[0] as usize];
            value != NO_SYMBOL && body[1..].contains(&value)
        }
        OP_INTERESTS => body.iter().any(|s| r.interests.binary_search(s).is_ok()),
        OP_KEYWORDS => body.iter().any(|s| r.keywords.binary_search(s).is_ok()),
        OP_TIME => TimeWindow {
            from: body[0] as u16,
            to: body[1] as u16,
        }
        .contains(r.minute_of_day),
        OP_DAYS => body[0] & u32::from(r.day_bit) != 0,
        OP_ATTRIBUTE => r
            .attributes
            .iter()
            .find(|(k, _)| *k == body[0])
            .is_some_and(|(_, v)| *v != NO_SYMBOL && body[1..].contains(v)),
        op => unreachable!("unknown rule op {op}"),
    }
}

/// A quick necessary test of a segment's top-level conjunction, checked before its program:
/// one bit per value (symbol id modulo the mask width) for each constrained attribute, the
/// age range, local hours and days. A request fails it only if the rule cannot match.
#[derive(Debug, Clone, Copy, Default)]
struct Prefilter {
    /// Bit `k` set when `single[k]` constrains the attribute in `StrKind` order; bit 7 for
    /// interests, 8 for keywords, 9 for age, 10 for hours, 11 for days.
    constrained: u16,
    single: [u16; 7],
    interests: u64,
    keywords: u64,
    hours: u32,
    days: u8,
    age_lo: u8,
    age_hi: u8,
}

const PRE_INTERESTS: u16 = 1 << 7;
const PRE_KEYWORDS: u16 = 1 << 8;
const PRE_AGE: u16 = 1 << 9;
const PRE_HOURS: u16 = 1 << 10;
const PRE_DAYS: u16 = 1 << 11;

fn bit16(id: u32) -> u16 {
    1 << (id % 16)
}

fn bit64(id: u32) -> u64 {
    1 << (id % 64)
}

impl Prefilter {
    fn new(rule: &Compiled) -> Prefilter {
        let mut p = Prefilter {
            single: [u16::MAX; 7],
            interests: u64::MAX,
            keywords: u64::MAX,
            hours: u32::MAX,
            days: u8::MAX,
            age_lo: 0,
            age_hi: MAX_AGE,
            constrained: 0,
        };
        match rule {
            Compiled::All(children) => children.iter().for_each(|c| p.add(c)),
            leaf => p.add(leaf),
        }
        p
    }

    /// Narrows the filter by one conjunct (nested `any`/`not` are left to the program).
    fn add(&mut self, c: &Compiled) {
        match c {
            Compiled::Single(slot, set) => {
                let slot = usize::from(*slot);
                self.single[slot] &= set.iter().fold(0, |m, id| m | bit16(*id));
                self.constrained |= 1 << slot;
            }
            Compiled::Interests(set) => {
                self.interests &= set.iter().fold(0, |m, id| m | bit64(*id));
                self.constrained |= PRE_INTERESTS;
            }
            Compiled::Keywords(set) => {
                self.keywords &= set.iter().fold(0, |m, id| m | bit64(*id));
                self.constrained |= PRE_KEYWORDS;
            }
            Compiled::Age(lo, hi) => {
                self.age_lo = self.age_lo.max(*lo);
                self.age_hi = self.age_hi.min(*hi);
                self.constrained |= PRE_AGE;
            }
            Compiled::Time(window) => {
                self.hours &= window.hours().fold(0, |m, h| m | 1 << h);
                self.constrained |= PRE_HOURS;
            }
            Compiled::Days(mask) => {
                self.days &= mask;
                self.constrained |= PRE_DAYS;
            }
            _ => {}
        }
    }

    fn admits(&self, r: &RequestBits) -> bool {
        let c = self.constrained;
        if c == 0 {
            return true;
        }
        for slot in 0..7 {
            if c & (1 << slot) != 0 && self.single[slot] & r.single[slot] == 0 {
                return false;
            }
        }
        (c & PRE_INTERESTS == 0 || self.interests & r.interests != 0)
            && (c & PRE_KEYWORDS == 0 || self.keywords & r.keywords != 0)
            && (c & PRE_AGE == 0 || r.age.is_some_and(|a| a >= self.age_lo && a <= self.age_hi))
            && (c & PRE_HOURS == 0 || self.hours & r.hour != 0)
            && (c & PRE_DAYS == 0 || self.days & r.day != 0)
    }
}

/// A request's bits for [`Prefilter::admits`]; a missing or unknown value has no bit.
struct RequestBits {
    single: [u16; 7],
    interests: u64,
    keywords: u64,
    age: Option<u8>,
    hour: u32,
    day: u8,
}

impl RequestBits {
    fn new(r: &RequestSymbols) -> Self {
        let bit = |id: u32| if id == NO_SYMBOL { 0 } else { bit16(id) };
        RequestBits {
            single: r.single.map(bit),
            interests: r.interests.iter().fold(0, |m, id| m | bit64(*id)),
            keywords: r.keywords.iter().fold(0, |m, id| m | bit64(*id)),
            age: r.age,
            hour: 1 << (r.minute_of_day / 60),
            day: r.day_bit,
        }
    }
}

/// A prepared request in symbols of one index.
struct RequestSymbols {
    age: Option<u8>,
    /// Gender, country, region, city, language, device, os (in `StrKind` order).
    single: [u32; 7],
    interests: Vec<u32>,
    keywords: Vec<u32>,
    minute_of_day: u16,
    day_bit: u8,
    attributes: Vec<(u32, u32)>,
}

impl RequestSymbols {
    fn new(req: &PreparedRequest, symbols: &Symbols) -> Self {
        let get = |v: &Option<String>| v.as_deref().map_or(NO_SYMBOL, |v| symbols.get(v));
        let list = |values: &[String]| {
            let mut ids: Vec<u32> = values
                .iter()
                .map(|v| symbols.get(v))
                .filter(|id| *id != NO_SYMBOL)
                .collect();
            ids.sort_unstable();
            ids
        };
        RequestSymbols {
            age: req.age,
            single: [
                get(&req.gender),
                get(&req.country),
                get(&req.region),
                get(&req.city),
                get(&req.language),
                get(&req.device),
                get(&req.os),
            ],
            interests: list(&req.interests),
            keywords: list(&req.keywords),
            minute_of_day: req.minute_of_day,
            day_bit: 1 << req.weekday.num_days_from_monday(),
            attributes: req
                .attributes
                .iter()
                .map(|(k, v)| (symbols.get(k), symbols.get(v)))
                .filter(|(k, _)| *k != NO_SYMBOL)
                .collect(),
        }
    }
}

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

    #[test]
    fn guards_pick_selective_clauses() {
        let rule = Rule::from_json(&json!({"all": [
            {"device": ["mobile"]}, {"country": ["FR"]}, {"city": ["lyon"]},
            {"not": {"os": ["ios"]}}
        ]}))
        .unwrap();
        // City, then country; the broad device clause is left to rule evaluation.
        let clauses = guard(&rule);
        assert_eq!(clauses.len(), 2);
        assert_eq!(
            clauses[0].keys,
            vec![Key::Str(StrKind::City, "lyon".into())]
        );
        assert_eq!(
            clauses[1].keys,
            vec![Key::Str(StrKind::Country, "FR".into())]
        );
        let broad =
            Rule::from_json(&json!({"all": [{"device": ["mobile"]}, {"gender": ["f"]}]})).unwrap();
        assert_eq!(guard(&broad).len(), 1, "the cheapest clause is always kept");
        let unguarded =
            Rule::from_json(&json!({"any": [{"city": ["lyon"]}, {"not": {"os": ["ios"]}}]}))
                .unwrap();
        assert!(guard(&unguarded).is_empty());
    }
}
