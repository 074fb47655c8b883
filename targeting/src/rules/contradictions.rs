//! Rejecting conjunctions that no request can satisfy: two disjoint sets for the same
//! attribute, disjoint age ranges or time windows, a `not` that excludes every value its
//! siblings allow, or a rule next to its own negation.

use std::collections::{BTreeMap, BTreeSet};

use super::{Rule, RuleError};

/// Which single-valued attribute a set-valued leaf constrains.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SetAttribute {
    Gender,
    Country,
    Region,
    City,
    Language,
    Device,
    Os,
    Day,
    Attribute(String),
}

fn set_leaf(rule: &Rule) -> Option<(SetAttribute, BTreeSet<String>)> {
    let collect = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    Some(match rule {
        Rule::Gender(v) => (SetAttribute::Gender, collect(v)),
        Rule::Country(v) => (SetAttribute::Country, collect(v)),
        Rule::Region(v) => (SetAttribute::Region, collect(v)),
        Rule::City(v) => (SetAttribute::City, collect(v)),
        Rule::Language(v) => (SetAttribute::Language, collect(v)),
        Rule::Device(v) => (SetAttribute::Device, collect(v)),
        Rule::Os(v) => (SetAttribute::Os, collect(v)),
        Rule::DayOfWeek(days) => (
            SetAttribute::Day,
            days.iter().map(|d| d.to_string()).collect(),
        ),
        Rule::Attribute(m) => (SetAttribute::Attribute(m.key.clone()), collect(&m.values)),
        _ => return None,
    })
}

fn child_name(rule: &Rule) -> &'static str {
    match rule {
        Rule::All(_) => "all",
        Rule::Any(_) => "any",
        Rule::Not(_) => "not",
        Rule::Age(_) => "age",
        Rule::Gender(_) => "gender",
        Rule::Country(_) => "country",
        Rule::Region(_) => "region",
        Rule::City(_) => "city",
        Rule::Language(_) => "language",
        Rule::Device(_) => "device",
        Rule::Os(_) => "os",
        Rule::Interests(_) => "interests",
        Rule::Keywords(_) => "keywords",
        Rule::TimeOfDay(_) => "time_of_day",
        Rule::DayOfWeek(_) => "day_of_week",
        Rule::Attribute(_) => "attribute",
    }
}

/// Finds conjunctions that no request can satisfy: disjoint sets for the same attribute,
/// disjoint age ranges or time windows, a set excluded by a `not`, or a rule next to its own
/// negation. Descends into every node.
pub(super) fn check_contradictions(rule: &Rule, path: &str) -> Result<(), RuleError> {
    match rule {
        Rule::All(children) => {
            let kind = |i: usize| format!("{path}.all[{i}]");
            let child_path = |i: usize| format!("{}.{}", kind(i), child_name(&children[i]));
            for (i, child) in children.iter().enumerate() {
                check_contradictions(child, &kind(i))?;
            }
            // Positive constraints first.
            let mut allowed: BTreeMap<SetAttribute, (BTreeSet<String>, usize)> = BTreeMap::new();
            let mut age: Option<(u8, u8, usize)> = None;
            let mut minutes: Option<(Vec<bool>, usize)> = None;
            for (i, child) in children.iter().enumerate() {
                if let Some((attribute, set)) = set_leaf(child) {
                    match allowed.get_mut(&attribute) {
                        Some((current, first)) => {
                            let both: BTreeSet<String> =
                                current.intersection(&set).cloned().collect();
                            if both.is_empty() {
                                return Err(RuleError::Contradiction {
                                    path: child_path(i),
                                    message: format!(
                                        "no value satisfies both this and {}",
                                        child_path(*first)
                                    ),
                                });
                            }
                            *current = both;
                        }
                        None => {
                            allowed.insert(attribute, (set, i));
                        }
                    }
                }
                if let Rule::Age(range) = child {
                    let (lo, hi) = match age {
                        Some((lo, hi, _)) => (lo.max(range.lo()), hi.min(range.hi())),
                        None => (range.lo(), range.hi()),
                    };
                    if lo > hi {
                        let first = age.map(|a| a.2).unwrap_or(i);
                        return Err(RuleError::Contradiction {
                            path: child_path(i),
                            message: format!("age range does not overlap {}", child_path(first)),
                        });
                    }
                    age = Some((lo, hi, age.map(|a| a.2).unwrap_or(i)));
                }
                if let Rule::TimeOfDay(window) = child {
                    let mine: Vec<bool> = (0..1440).map(|m| window.contains(m)).collect();
                    match &mut minutes {
                        Some((current, first)) => {
                            for (c, m) in current.iter_mut().zip(&mine) {
                                *c = *c && *m;
                            }
                            if !current.iter().any(|c| *c) {
                                return Err(RuleError::Contradiction {
                                    path: child_path(i),
                                    message: format!(
                                        "time window does not overlap {}",
                                        child_path(*first)
                                    ),
                                });
                            }
                        }
                        None => minutes = Some((mine, i)),
                    }
                }
            }
            // Then negations: a `not` that excludes every allowed value, or that negates a
            // sibling.
            for (i, child) in children.iter().enumerate() {
                let Rule::Not(inner) = child else { continue };
                if let Some(j) = children.iter().position(|c| c == inner.as_ref()) {
                    return Err(RuleError::Contradiction {
                        path: child_path(i),
                        message: format!("negates its sibling {}", child_path(j)),
                    });
                }
                if let Some((attribute, excluded)) = set_leaf(inner) {
                    if let Some((current, first)) = allowed.get(&attribute) {
                        if current.is_subset(&excluded) {
                            return Err(RuleError::Contradiction {
                                path: child_path(i),
                                message: format!(
                                    "excludes every value allowed by {}",
                                    child_path(*first)
                                ),
                            });
                        }
                    }
                }
            }
            Ok(())
        }
        Rule::Any(children) => {
            for (i, child) in children.iter().enumerate() {
                check_contradictions(child, &format!("{path}.any[{i}]"))?;
            }
            Ok(())
        }
        Rule::Not(child) => check_contradictions(child, &format!("{path}.not")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn error(rule: Value) -> RuleError {
        Rule::from_json(&rule).expect_err("rule should be rejected")
    }

    #[test]
    fn contradictions_are_errors() {
        let cases = [
            (
                json!({"all": [{"country": ["FR"]}, {"language": ["fr"]}, {"country": ["DE"]}]}),
                "rules.all[2].country",
            ),
            (
                json!({"all": [{"age": {"max": 17}}, {"age": {"min": 18}}]}),
                "rules.all[1].age",
            ),
            (
                json!({"all": [{"device": ["mobile"]}, {"not": {"device": ["mobile", "tablet"]}}]}),
                "rules.all[1].not",
            ),
            (
                json!({"all": [{"interests": ["golf"]}, {"not": {"interests": ["golf"]}}]}),
                "rules.all[1].not",
            ),
            (
                json!({"any": [{"os": ["ios"]}, {"all": [{"time_of_day": {"from": "08:00", "to": "10:00"}}, {"time_of_day": {"from": "20:00", "to": "22:00"}}]}]}),
                "rules.any[1].all[1].time_of_day",
            ),
            (
                json!({"all": [{"day_of_week": ["sat"]}, {"day_of_week": ["mon"]}]}),
                "rules.all[1].day_of_week",
            ),
            (
                json!({"all": [{"attribute": {"key": "plan", "values": ["free"]}}, {"attribute": {"key": "plan", "values": ["pro"]}}]}),
                "rules.all[1].attribute",
            ),
        ];
        for (rule, path) in cases {
            let e = error(rule.clone());
            assert!(matches!(e, RuleError::Contradiction { .. }), "{rule}: {e}");
            assert_eq!(e.path(), path, "{rule}");
        }
        // Different free attributes do not conflict.
        Rule::from_json(&json!({"all": [
            {"attribute": {"key": "plan", "values": ["free"]}},
            {"attribute": {"key": "tier", "values": ["pro"]}}
        ]}))
        .unwrap();
    }
}
