//! Guards: each rule reduced to a necessary condition on the keys a request carries
//! (`country=FR`, `age=29`, `hour=19`...), in conjunctive form, keeping only clauses selective
//! enough to be worth a posting-list walk.

use crate::rules::{Rule, MAX_AGE};

/// The most clauses a guard keeps (the cheapest ones).
pub const MAX_CLAUSES: usize = 4;

/// Clauses after the cheapest are kept only when their estimated share of requests is at most
/// this.
const SELECTIVE_CLAUSE_COST: f64 = 0.1;

/// Request attributes that are indexed by string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum StrKind {
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
pub(super) const STR_KINDS: usize = 9;

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
pub(super) enum Key {
    /// A string-valued attribute with this (normalised) value.
    Str(StrKind, String),
    /// Age in years.
    Age(u8),
    /// Local hour (0..24).
    Hour(u8),
    /// Local day, Monday = 0.
    Day(u8),
    /// A free attribute (name, value).
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
pub(super) struct Clause {
    /// The keys, any one of which satisfies the clause.
    pub(super) keys: Vec<Key>,
    cost: f64,
}

impl Clause {
    fn new(keys: Vec<Key>) -> Self {
        let cost = keys.iter().map(Key::share).sum::<f64>().min(1.0);
        Clause { keys, cost }
    }
}

/// The guard of a rule: every clause must be hit. Empty means "no guard".
pub(super) fn guard(rule: &Rule) -> Vec<Clause> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
