//! Rule programs: a rule with its strings interned to symbols, compiled to a flat array of
//! words (cheapest checks first inside each `all`/`any`) and evaluated against a request
//! translated to the same symbols.

use std::collections::HashMap;

use crate::request::PreparedRequest;
use crate::rules::{Rule, TimeWindow, MAX_AGE};

/// Marks a request value that no segment mentions (or a missing one).
pub(super) const NO_SYMBOL: u32 = u32::MAX;

/// Interned strings of every value the segments mention.
#[derive(Debug, Clone, Default)]
pub(super) struct Symbols(HashMap<String, u32>);

impl Symbols {
    /// The symbol of `value`, a new one if it was not seen before.
    pub(super) fn intern(&mut self, value: &str) -> u32 {
        let next = self.0.len() as u32;
        *self.0.entry(value.to_string()).or_insert(next)
    }

    /// The symbol of `value`, or [`NO_SYMBOL`] if it was never interned.
    pub(super) fn get(&self, value: &str) -> u32 {
        self.0.get(value).copied().unwrap_or(NO_SYMBOL)
    }
}

/// A rule with its strings replaced by symbols and the children of `all`/`any` ordered so the
/// cheapest checks run first. Evaluates exactly like the [`Rule`] it came from.
#[derive(Debug, Clone)]
pub(super) enum Compiled {
    All(Vec<Compiled>),
    Any(Vec<Compiled>),
    Not(Box<Compiled>),
    Age(u8, u8),
    /// A single-valued attribute (slot: 0 gender, 1 country, 2 region, 3 city, 4 language, 5 device, 6 os) in the set.
    Single(u8, Vec<u32>),
    Interests(Vec<u32>),
    Keywords(Vec<u32>),
    Time(TimeWindow),
    /// Bit `d` set for day `d` (Monday = 0).
    Days(u8),
    Attribute(u32, Vec<u32>),
}

impl Compiled {
    /// Compiles `rule`, interning its strings into `symbols`.
    pub(super) fn new(rule: &Rule, symbols: &mut Symbols) -> Compiled {
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
            Rule::Gender(v) => Compiled::Single(0, set(symbols, v)),
            Rule::Country(v) => Compiled::Single(1, set(symbols, v)),
            Rule::Region(v) => Compiled::Single(2, set(symbols, v)),
            Rule::City(v) => Compiled::Single(3, set(symbols, v)),
            Rule::Language(v) => Compiled::Single(4, set(symbols, v)),
            Rule::Device(v) => Compiled::Single(5, set(symbols, v)),
            Rule::Os(v) => Compiled::Single(6, set(symbols, v)),
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
    pub(super) fn emit(&self, code: &mut Vec<u32>) {
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
pub(super) fn run(code: &[u32], r: &RequestSymbols) -> bool {
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

/// A prepared request in symbols of one index.
pub(super) struct RequestSymbols {
    /// Age in years, when known.
    pub(super) age: Option<u8>,
    /// Gender, country, region, city, language, device, os (slot order of `Compiled::Single`).
    pub(super) single: [u32; 7],
    /// Interests the index knows, sorted.
    pub(super) interests: Vec<u32>,
    /// Keywords the index knows, sorted.
    pub(super) keywords: Vec<u32>,
    /// Local minute of day (0..1440).
    pub(super) minute_of_day: u16,
    /// Bit `d` set for the local day `d` (Monday = 0).
    pub(super) day_bit: u8,
    /// Free attributes whose name the index knows, as (name, value) symbols.
    attributes: Vec<(u32, u32)>,
}

impl RequestSymbols {
    /// The symbol of the request's value of the free attribute `key` ([`NO_SYMBOL`] if the
    /// request has none or no segment names it).
    pub(super) fn attribute(&self, key: u32) -> u32 {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(NO_SYMBOL, |(_, v)| *v)
    }

    /// Translates `req` into the symbols of one index; values no segment mentions become
    /// [`NO_SYMBOL`] (or are dropped from lists).
    pub(super) fn new(req: &PreparedRequest, symbols: &Symbols) -> Self {
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
