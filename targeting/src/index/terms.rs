//! Rules in disjunctive normal form: a rule becomes up to [`MAX_TERMS`] *terms*, each a
//! conjunction of (possibly negated) leaf conditions, summarised per request attribute in the
//! form the index's dimensions store.
//!
//! A term is *exact* when its summary accepts precisely the requests that satisfy the
//! conjunction; then a request that passes every dimension of the term matches the rule without
//! running its program. Otherwise the summary accepts a superset (never fewer requests) and the
//! rule's program decides.

use super::program::Symbols;
use crate::rules::{Rule, TimeWindow, MAX_AGE};

/// The most terms a rule is expanded to. A rule whose disjunctive normal form has more is
/// indexed by a weaker necessary condition (see [`terms`]) and its program decides.
pub const MAX_TERMS: usize = 16;

/// Age slots: one per age `0..=MAX_AGE`, then one for a request without an age (or with an age
/// above [`MAX_AGE`], which satisfies the same rules).
pub(super) const AGE_SLOTS: usize = MAX_AGE as usize + 2;

/// The age slot of a request's age.
pub(super) fn age_slot(age: Option<u8>) -> usize {
    match age {
        Some(a) if a <= MAX_AGE => usize::from(a),
        _ => AGE_SLOTS - 1,
    }
}

/// The values a single-valued attribute (country, device, a free attribute...) may take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum ValueSet {
    /// Any value, or none.
    #[default]
    Any,
    /// One of these symbols (sorted); a missing value fails.
    In(Vec<u32>),
    /// None of these symbols (sorted); a missing value passes.
    NotIn(Vec<u32>),
}

impl ValueSet {
    /// Narrows by one leaf on the same attribute (`set` sorted); `None` when nothing is left.
    fn and(self, set: Vec<u32>, negated: bool) -> Option<ValueSet> {
        let narrowed = match (self, negated) {
            (ValueSet::Any, false) => ValueSet::In(set),
            (ValueSet::Any, true) => ValueSet::NotIn(set),
            (ValueSet::In(a), false) => ValueSet::In(intersect(&a, &set)),
            (ValueSet::In(a), true) => ValueSet::In(minus(&a, &set)),
            (ValueSet::NotIn(a), false) => ValueSet::In(minus(&set, &a)),
            (ValueSet::NotIn(mut a), true) => {
                a.extend(set);
                a.sort_unstable();
                a.dedup();
                ValueSet::NotIn(a)
            }
        };
        match &narrowed {
            ValueSet::In(s) if s.is_empty() => None,
            _ => Some(narrowed),
        }
    }
}

/// A term's condition on a set-valued attribute (interests, keywords): the request has at least
/// one value of every `any_of` list and none of `none_of`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct SetTerm {
    /// Lists (sorted symbols) the request must each meet; after [`SetTerm::finish`] the
    /// shortest first, none contained in another.
    pub(super) any_of: Vec<Vec<u32>>,
    /// Symbols (sorted) the request must not have.
    pub(super) none_of: Vec<u32>,
}

impl SetTerm {
    fn add(&mut self, set: Vec<u32>, negated: bool) {
        if negated {
            self.none_of.extend(set);
            self.none_of.sort_unstable();
            self.none_of.dedup();
        } else {
            self.any_of.push(set);
        }
    }

    /// Simplifies; `false` when no request can satisfy the condition.
    fn finish(&mut self) -> bool {
        for list in &mut self.any_of {
            *list = minus(list, &self.none_of);
            if list.is_empty() {
                return false;
            }
        }
        // Meeting a list implies meeting any list that contains it.
        self.any_of.sort_by_key(Vec::len);
        let mut kept: Vec<Vec<u32>> = Vec::new();
        for list in self.any_of.drain(..) {
            if !kept
                .iter()
                .any(|k| k.iter().all(|v| list.binary_search(v).is_ok()))
            {
                kept.push(list);
            }
        }
        self.any_of = kept;
        true
    }

    /// The list the index stores (the shortest), if any.
    pub(super) fn indexed(&self) -> Option<&[u32]> {
        self.any_of.first().map(Vec::as_slice)
    }
}

/// One conjunction of a rule, per attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Term {
    /// Gender, country, region, city, language, device, os (the slots of `Compiled::Single`).
    pub(super) singles: [ValueSet; 7],
    /// Free attributes by name symbol.
    pub(super) attributes: Vec<(u32, ValueSet)>,
    /// Interests, keywords.
    pub(super) sets: [SetTerm; 2],
    /// Accepted age slots (see [`AGE_SLOTS`]), bit `i` of word `i / 64`.
    pub(super) ages: [u64; 3],
    /// Accepted local hours.
    pub(super) hours: u32,
    /// Accepted local days, Monday = bit 0.
    pub(super) days: u8,
    /// Whether the summary is exact (see the module documentation).
    pub(super) exact: bool,
    /// Whether the term constrains anything at all.
    pub(super) constrained: bool,
}

const ALL_HOURS: u32 = (1 << 24) - 1;
const ALL_DAYS: u8 = 0x7f;

fn all_ages() -> [u64; 3] {
    let mut ages = [0u64; 3];
    for slot in 0..AGE_SLOTS {
        ages[slot / 64] |= 1 << (slot % 64);
    }
    ages
}

impl Term {
    fn unconstrained(exact: bool) -> Term {
        Term {
            singles: Default::default(),
            attributes: Vec::new(),
            sets: Default::default(),
            ages: all_ages(),
            hours: ALL_HOURS,
            days: ALL_DAYS,
            exact,
            constrained: false,
        }
    }

    /// Whether age slot `slot` is accepted.
    pub(super) fn accepts_age(&self, slot: usize) -> bool {
        self.ages[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// Adds one leaf to the conjunction; `false` when the term can no longer be satisfied.
    fn add(&mut self, leaf: &Rule, negated: bool, symbols: &mut Symbols) -> bool {
        let mut set = |values: &[String]| {
            let mut ids: Vec<u32> = values.iter().map(|v| symbols.intern(v)).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        self.constrained = true;
        let single = |slot: usize, this: &mut Term, ids: Vec<u32>| match std::mem::take(
            &mut this.singles[slot],
        )
        .and(ids, negated)
        {
            Some(narrowed) => {
                this.singles[slot] = narrowed;
                true
            }
            None => false,
        };
        match leaf {
            Rule::Gender(v) => single(0, self, set(v)),
            Rule::Country(v) => single(1, self, set(v)),
            Rule::Region(v) => single(2, self, set(v)),
            Rule::City(v) => single(3, self, set(v)),
            Rule::Language(v) => single(4, self, set(v)),
            Rule::Device(v) => single(5, self, set(v)),
            Rule::Os(v) => single(6, self, set(v)),
            Rule::Interests(v) => {
                self.sets[0].add(set(v), negated);
                true
            }
            Rule::Keywords(v) => {
                self.sets[1].add(set(v), negated);
                true
            }
            Rule::Attribute(m) => {
                let key = symbols.intern(&m.key);
                let ids = {
                    let mut ids: Vec<u32> = m.values.iter().map(|v| symbols.intern(v)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                };
                let position = match self.attributes.iter().position(|(k, _)| *k == key) {
                    Some(p) => p,
                    None => {
                        self.attributes.push((key, ValueSet::Any));
                        self.attributes.len() - 1
                    }
                };
                let slot = &mut self.attributes[position].1;
                match std::mem::take(slot).and(ids, negated) {
                    Some(narrowed) => {
                        *slot = narrowed;
                        true
                    }
                    None => false,
                }
            }
            Rule::Age(range) => {
                let (lo, hi) = (range.min.unwrap_or(0), range.max.unwrap_or(MAX_AGE));
                let mut inside = [0u64; 3];
                for age in usize::from(lo)..=usize::from(hi) {
                    inside[age / 64] |= 1 << (age % 64);
                }
                let all = all_ages();
                for (word, (inside, all)) in self.ages.iter_mut().zip(inside.iter().zip(all)) {
                    *word &= if negated { all & !inside } else { *inside };
                }
                self.ages != [0; 3]
            }
            Rule::TimeOfDay(window) => {
                let touched = hours_touched(window);
                let full = hours_covered(window);
                if touched != full {
                    // The window cuts an hour: hours give a superset only.
                    self.exact = false;
                }
                self.hours &= if negated { ALL_HOURS & !full } else { touched };
                self.hours != 0
            }
            Rule::DayOfWeek(days) => {
                let mask = days
                    .iter()
                    .fold(0u8, |m, d| m | 1 << d.num_days_from_monday());
                self.days &= if negated { ALL_DAYS & !mask } else { mask };
                self.days != 0
            }
            Rule::All(_) | Rule::Any(_) | Rule::Not(_) => {
                // Not a leaf (the normal form has none): left to the rule's program.
                self.exact = false;
                true
            }
        }
    }
}

/// Hours in which the window contains at least one minute.
fn hours_touched(window: &TimeWindow) -> u32 {
    window.hours().fold(0, |m, h| m | 1 << h)
}

/// Hours whose every minute is inside the window.
fn hours_covered(window: &TimeWindow) -> u32 {
    (0u16..24)
        .filter(|h| (h * 60..h * 60 + 60).all(|m| window.contains(m)))
        .fold(0, |m, h| m | 1 << h)
}

/// A conjunction of leaves, each with whether it is negated.
type Literals<'a> = Vec<(&'a Rule, bool)>;

/// The disjunctive normal form of `rule` (negated when `negated`), or `None` when it has more
/// than [`MAX_TERMS`] terms.
fn dnf(rule: &Rule, negated: bool) -> Option<Vec<Literals<'_>>> {
    match (rule, negated) {
        (Rule::Not(child), _) => dnf(child, !negated),
        (Rule::All(children), false) | (Rule::Any(children), true) => {
            let mut product: Vec<Literals<'_>> = vec![Vec::new()];
            for child in children {
                let terms = dnf(child, negated)?;
                if product.len() * terms.len() > MAX_TERMS {
                    return None;
                }
                product = product
                    .iter()
                    .flat_map(|left| {
                        terms
                            .iter()
                            .map(move |right| left.iter().chain(right).copied().collect())
                    })
                    .collect();
            }
            Some(product)
        }
        (Rule::All(children), true) | (Rule::Any(children), false) => {
            let mut union = Vec::new();
            for child in children {
                union.extend(dnf(child, negated)?);
                if union.len() > MAX_TERMS {
                    return None;
                }
            }
            Some(union)
        }
        (leaf, _) => Some(vec![vec![(leaf, negated)]]),
    }
}

/// The terms of `rule`: a request matches the rule exactly when it satisfies one of them
/// (terms no request can satisfy are left out, so a rule may have none). A rule with too many
/// terms gets one inexact term: the children of its top-level `all` that are single
/// conjunctions (none when it has no such child, so it is checked on every request).
pub(super) fn terms(rule: &Rule, symbols: &mut Symbols) -> Vec<Term> {
    let (conjunctions, exact) = match dnf(rule, false) {
        Some(conjunctions) => (conjunctions, true),
        None => {
            let necessary: Literals<'_> = match rule {
                Rule::All(children) => children
                    .iter()
                    .filter_map(|child| match dnf(child, false) {
                        Some(mut t) if t.len() == 1 => t.pop(),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
                _ => Vec::new(),
            };
            (vec![necessary], false)
        }
    };
    conjunctions
        .into_iter()
        .filter_map(|literals| {
            let mut term = Term::unconstrained(exact);
            for (leaf, negated) in literals {
                if !term.add(leaf, negated, symbols) {
                    return None;
                }
            }
            for set in &mut term.sets {
                if !set.finish() {
                    return None;
                }
                if set.any_of.len() > 1 {
                    // Only one list per attribute is indexed; the others are the program's.
                    term.exact = false;
                }
            }
            Some(term)
        })
        .collect()
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter()
        .copied()
        .filter(|v| b.binary_search(v).is_ok())
        .collect()
}

fn minus(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter()
        .copied()
        .filter(|v| b.binary_search(v).is_err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn terms_of(rule: serde_json::Value) -> (Vec<Term>, Symbols) {
        let mut symbols = Symbols::default();
        let rule = Rule::from_json(&rule).expect("valid rule");
        (terms(&rule, &mut symbols), symbols)
    }

    #[test]
    fn negations_are_pushed_to_the_leaves() {
        // not(all(country FR, any(device mobile, not age 18..30)))
        //   = country ∉ {FR} ∨ (device ∉ {mobile} ∧ age in 18..30)
        let (terms, symbols) = terms_of(json!({"not": {"all": [
            {"country": ["FR"]},
            {"any": [{"device": ["mobile"]}, {"not": {"age": {"min": 18, "max": 30}}}]}
        ]}}));
        assert_eq!(terms.len(), 2);
        let fr = symbols.get("FR");
        let mobile = symbols.get("mobile");
        assert_eq!(terms[0].singles[1], ValueSet::NotIn(vec![fr]));
        assert!(terms[0].exact && terms[0].accepts_age(AGE_SLOTS - 1));
        assert_eq!(terms[1].singles[5], ValueSet::NotIn(vec![mobile]));
        assert!(terms[1].accepts_age(18) && terms[1].accepts_age(30));
        assert!(!terms[1].accepts_age(31) && !terms[1].accepts_age(AGE_SLOTS - 1));
    }

    #[test]
    fn unsatisfiable_terms_are_dropped() {
        // (FR ∨ DE) ∧ not FR: only the DE term is left, and it is exact.
        let (terms, symbols) = terms_of(json!({"all": [
            {"any": [{"country": ["FR"]}, {"country": ["DE"]}]},
            {"not": {"country": ["FR"]}}
        ]}));
        assert_eq!(terms.len(), 1);
        assert_eq!(terms[0].singles[1], ValueSet::In(vec![symbols.get("DE")]));
        // Interests a ∧ not a: nothing left.
        let (terms, _) = terms_of(json!({"any": [
            {"all": [{"interests": ["a"]}, {"not": {"interests": ["a", "b"]}}]},
            {"all": [
                {"any": [{"day_of_week": ["mon"]}, {"day_of_week": ["tue"]}]},
                {"not": {"day_of_week": ["mon", "tue"]}}
            ]}
        ]}));
        assert!(terms.is_empty());
    }

    #[test]
    fn exactness() {
        let (aligned, _) = terms_of(json!({"time_of_day": {"from": "22:00", "to": "02:00"}}));
        assert!(aligned[0].exact);
        assert_eq!(aligned[0].hours, 1 << 22 | 1 << 23 | 1 | 1 << 1);
        let (cut, _) = terms_of(json!({"not": {"time_of_day": {"from": "10:30", "to": "12:00"}}}));
        assert!(!cut[0].exact);
        assert_eq!(
            cut[0].hours,
            ALL_HOURS & !(1 << 11),
            "10:00-11:00 is partly allowed"
        );
        // Two interest lists: one is indexed, the program checks the other...
        let (two, symbols) = terms_of(json!({"all": [
            {"interests": ["a", "b", "c"]}, {"interests": ["d", "e"]}
        ]}));
        assert!(!two[0].exact);
        let de = vec![symbols.get("d"), symbols.get("e")];
        assert_eq!(two[0].sets[0].indexed(), Some(de.as_slice()));
        // ...unless one list implies the other.
        let (implied, _) = terms_of(json!({"all": [
            {"interests": ["a", "b", "c"]}, {"interests": ["a"]}
        ]}));
        assert!(implied[0].exact);
        assert_eq!(implied[0].sets[0].any_of.len(), 1);
    }

    #[test]
    fn too_many_terms_keep_a_necessary_condition() {
        let any = |a: &str, b: &str| json!({"any": [{"city": [a]}, {"region": [b]}]});
        // 2^5 = 32 terms: over the limit.
        let (terms, symbols) = terms_of(json!({"all": [
            {"country": ["FR"]}, any("a", "b"), any("c", "d"), any("e", "f"), any("g", "h"),
            any("i", "j")
        ]}));
        assert_eq!(terms.len(), 1);
        assert!(!terms[0].exact && terms[0].constrained);
        assert_eq!(terms[0].singles[1], ValueSet::In(vec![symbols.get("FR")]));
        assert_eq!(terms[0].singles[3], ValueSet::Any);
        let (bare, _) = terms_of(json!({"any": [
            any("a", "b"), {"all": [any("c", "d"), any("e", "f"), any("g", "h"), any("i", "j"),
                                   any("k", "l")]}
        ]}));
        assert_eq!(bare.len(), 1);
        assert!(!bare[0].constrained && !bare[0].exact);
    }

    #[test]
    fn ages_above_the_maximum_share_the_missing_slot() {
        assert_eq!(age_slot(None), AGE_SLOTS - 1);
        assert_eq!(age_slot(Some(200)), AGE_SLOTS - 1);
        assert_eq!(age_slot(Some(MAX_AGE)), usize::from(MAX_AGE));
    }
}
