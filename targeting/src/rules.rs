//! Segment rules: a boolean expression over ad-request attributes.
//!
//! The JSON form is one object per node with exactly one key, the node's kind:
//!
//! ```json
//! {"all": [
//!   {"age": {"min": 18, "max": 34}},
//!   {"country": ["FR", "BE"]},
//!   {"any": [{"interests": ["cycling", "running"]}, {"keywords": ["marathon"]}]},
//!   {"not": {"device": ["ctv"]}},
//!   {"time_of_day": {"from": "18:00", "to": "23:30"}},
//!   {"day_of_week": ["sat", "sun"]},
//!   {"attribute": {"key": "plan", "values": ["premium"]}}
//! ]}
//! ```
//!
//! Parsing validates the rule: an unknown attribute, an empty value list, an empty range and a
//! contradiction inside an `all` are errors carrying the path of the offending node, e.g.
//! `rules.all[2].age.min`. Set-valued leaves (`gender`, `country`, `region`, `city`, `language`,
//! `device`, `os`, `day_of_week`, `attribute`) match when the request's value is in the set;
//! `interests` and `keywords` match when the request has at least one of the listed values.
//! A request that lacks an attribute never matches a leaf on it. `time_of_day` is the half-open
//! local window `[from, to)` and wraps past midnight when `to` is earlier than `from`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::Weekday;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::request::{normalize_country, normalize_language, normalize_value, PreparedRequest};

/// The largest age a rule may name.
pub const MAX_AGE: u8 = 130;

/// Why a segment rule was rejected. `path` locates the offending node, starting at `rules`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A node names an attribute or operator that does not exist.
    #[error("{path}: unknown attribute `{name}`")]
    UnknownAttribute {
        /// Where the unknown name appears.
        path: String,
        /// The unknown name.
        name: String,
    },
    /// A node is malformed (wrong JSON type, several keys, empty list, bad time...).
    #[error("{path}: {message}")]
    Invalid {
        /// Where the malformed value is.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A range that no value can satisfy (`min` above `max`, zero-length time window).
    #[error("{path}: empty range: {message}")]
    EmptyRange {
        /// Where the range is.
        path: String,
        /// What makes it empty.
        message: String,
    },
    /// Conditions under one `all` that no request can satisfy together.
    #[error("{path}: contradiction: {message}")]
    Contradiction {
        /// The condition that made the conjunction unsatisfiable.
        path: String,
        /// Which conditions conflict.
        message: String,
    },
}

impl RuleError {
    /// The path of the offending node, e.g. `rules.all[2].age.min`.
    pub fn path(&self) -> &str {
        match self {
            RuleError::UnknownAttribute { path, .. }
            | RuleError::Invalid { path, .. }
            | RuleError::EmptyRange { path, .. }
            | RuleError::Contradiction { path, .. } => path,
        }
    }
}

/// An inclusive age range in years; at least one bound is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AgeRange {
    /// Lowest matching age, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u8>,
    /// Highest matching age, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u8>,
}

impl AgeRange {
    fn lo(&self) -> u8 {
        self.min.unwrap_or(0)
    }
    fn hi(&self) -> u8 {
        self.max.unwrap_or(MAX_AGE)
    }
    /// Whether `age` is inside the range.
    pub fn contains(&self, age: u8) -> bool {
        age >= self.lo() && age <= self.hi()
    }
}

/// A local time window `[from, to)` in minutes since midnight; wraps past midnight when
/// `to < from`. Serialised as `{"from": "HH:MM", "to": "HH:MM"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Start, minutes since local midnight (0..1440).
    pub from: u16,
    /// End (exclusive), minutes since local midnight (0..=1440).
    pub to: u16,
}

impl TimeWindow {
    /// Whether the local minute of day `minute` is inside the window.
    pub fn contains(&self, minute: u16) -> bool {
        if self.from < self.to {
            minute >= self.from && minute < self.to
        } else {
            minute >= self.from || minute < self.to
        }
    }

    /// The local hours (0..24) that the window touches.
    pub fn hours(&self) -> impl Iterator<Item = u8> + '_ {
        (0u8..24).filter(move |h| {
            let start = u16::from(*h) * 60;
            (start..start + 60).any(|m| self.contains(m))
        })
    }
}

impl Serialize for TimeWindow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fmt = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let mut s = serializer.serialize_struct("TimeWindow", 2)?;
        s.serialize_field("from", &fmt(self.from))?;
        s.serialize_field("to", &fmt(self.to))?;
        s.end()
    }
}

/// A free key-value attribute condition: the request's value for `key` is one of `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeMatch {
    /// Attribute name (lower-cased).
    pub key: String,
    /// Accepted values (lower-cased, sorted, unique).
    pub values: Vec<String>,
}

/// One node of a segment rule. Build it with [`Rule::from_json`] (or serde), which validates;
/// value lists are normalised (lower case, country codes upper case, sorted, unique).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "Value")]
pub enum Rule {
    /// Every child matches.
    All(Vec<Rule>),
    /// At least one child matches.
    Any(Vec<Rule>),
    /// The child does not match.
    Not(Box<Rule>),
    /// Age within the range.
    Age(AgeRange),
    /// Gender in the set.
    Gender(Vec<String>),
    /// Country code in the set.
    Country(Vec<String>),
    /// Region in the set.
    Region(Vec<String>),
    /// City in the set.
    City(Vec<String>),
    /// Language (primary subtag) in the set.
    Language(Vec<String>),
    /// Device class in the set.
    Device(Vec<String>),
    /// Operating system in the set.
    Os(Vec<String>),
    /// The viewer has at least one of these interests.
    Interests(Vec<String>),
    /// The page or search has at least one of these keywords.
    Keywords(Vec<String>),
    /// Local time of day within the window.
    TimeOfDay(TimeWindow),
    /// Local day of week in the set.
    DayOfWeek(Vec<Weekday>),
    /// A free key-value attribute has one of the values.
    Attribute(AttributeMatch),
}

impl TryFrom<Value> for Rule {
    type Error = RuleError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Rule::from_json(&value)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

const ATTRIBUTES: &[&str] = &[
    "all",
    "any",
    "not",
    "age",
    "gender",
    "country",
    "region",
    "city",
    "language",
    "device",
    "os",
    "interests",
    "keywords",
    "time_of_day",
    "day_of_week",
    "attribute",
];

impl Rule {
    /// Parses and validates a rule from its JSON form; errors carry the path from `rules`.
    pub fn from_json(value: &Value) -> Result<Rule, RuleError> {
        let rule = parse_node(value, "rules")?;
        check_contradictions(&rule, "rules")?;
        Ok(rule)
    }

    /// Parses and validates a rule from JSON text.
    pub fn from_json_str(text: &str) -> Result<Rule, RuleError> {
        let value: Value = serde_json::from_str(text).map_err(|e| RuleError::Invalid {
            path: "rules".into(),
            message: format!("not valid JSON: {e}"),
        })?;
        Rule::from_json(&value)
    }

    /// Whether the prepared request satisfies the rule.
    pub fn matches(&self, req: &PreparedRequest) -> bool {
        fn in_set(set: &[String], value: &Option<String>) -> bool {
            value.as_ref().is_some_and(|v| set.iter().any(|s| s == v))
        }
        fn any_of(set: &[String], values: &[String]) -> bool {
            set.iter().any(|s| values.binary_search(s).is_ok())
        }
        match self {
            Rule::All(children) => children.iter().all(|c| c.matches(req)),
            Rule::Any(children) => children.iter().any(|c| c.matches(req)),
            Rule::Not(child) => !child.matches(req),
            Rule::Age(range) => req.age.is_some_and(|a| range.contains(a)),
            Rule::Gender(set) => in_set(set, &req.gender),
            Rule::Country(set) => in_set(set, &req.country),
            Rule::Region(set) => in_set(set, &req.region),
            Rule::City(set) => in_set(set, &req.city),
            Rule::Language(set) => in_set(set, &req.language),
            Rule::Device(set) => in_set(set, &req.device),
            Rule::Os(set) => in_set(set, &req.os),
            Rule::Interests(set) => any_of(set, &req.interests),
            Rule::Keywords(set) => any_of(set, &req.keywords),
            Rule::TimeOfDay(window) => window.contains(req.minute_of_day),
            Rule::DayOfWeek(days) => days.contains(&req.weekday),
            Rule::Attribute(m) => req
                .attributes
                .get(&m.key)
                .is_some_and(|v| m.values.iter().any(|s| s == v)),
        }
    }
}

fn invalid(path: &str, message: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}

fn parse_node(value: &Value, path: &str) -> Result<Rule, RuleError> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid(path, "a rule is a JSON object with one attribute"))?;
    let mut entries = object.iter();
    let (name, body) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(invalid(path, "a rule needs one attribute, found none")),
        (Some(_), Some(_)) => {
            let names: Vec<&str> = object.keys().map(String::as_str).collect();
            return Err(invalid(
                path,
                format!(
                    "a rule has exactly one attribute, found {} (wrap them in `all`)",
                    names.join(", ")
                ),
            ));
        }
    };
    let path = format!("{path}.{name}");
    let path = path.as_str();
    match name.as_str() {
        "all" | "any" => {
            let items = body
                .as_array()
                .ok_or_else(|| invalid(path, "expected a list of rules"))?;
            if items.is_empty() {
                return Err(invalid(path, "empty list of rules"));
            }
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_node(item, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if name == "all" {
                Rule::All(children)
            } else {
                Rule::Any(children)
            })
        }
        "not" => Ok(Rule::Not(Box::new(parse_node(body, path)?))),
        "age" => parse_age(body, path).map(Rule::Age),
        "gender" => parse_strings(body, path, normalize_value).map(Rule::Gender),
        "country" => {
            let codes = parse_strings(body, path, normalize_country)?;
            for (i, code) in codes.iter().enumerate() {
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(invalid(
                        &format!("{path}[{i}]"),
                        format!("`{code}` is not an ISO 3166-1 alpha-2 country code"),
                    ));
                }
            }
            Ok(Rule::Country(codes))
        }
        "region" => parse_strings(body, path, normalize_value).map(Rule::Region),
        "city" => parse_strings(body, path, normalize_value).map(Rule::City),
        "language" => parse_strings(body, path, normalize_language).map(Rule::Language),
        "device" => parse_strings(body, path, normalize_value).map(Rule::Device),
        "os" => parse_strings(body, path, normalize_value).map(Rule::Os),
        "interests" => parse_strings(body, path, normalize_value).map(Rule::Interests),
        "keywords" => parse_strings(body, path, normalize_value).map(Rule::Keywords),
        "time_of_day" => parse_time_window(body, path).map(Rule::TimeOfDay),
        "day_of_week" => parse_days(body, path).map(Rule::DayOfWeek),
        "attribute" => parse_attribute(body, path).map(Rule::Attribute),
        other => Err(RuleError::UnknownAttribute {
            path: path.to_string(),
            name: other.to_string(),
        }),
    }
}

fn parse_strings(
    body: &Value,
    path: &str,
    normalize: fn(&str) -> String,
) -> Result<Vec<String>, RuleError> {
    let items = body
        .as_array()
        .ok_or_else(|| invalid(path, "expected a list of strings"))?;
    if items.is_empty() {
        return Err(invalid(path, "empty list of values"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let s = item
            .as_str()
            .ok_or_else(|| invalid(&format!("{path}[{i}]"), "expected a string"))?;
        let normalized = normalize(s);
        if normalized.is_empty() {
            return Err(invalid(&format!("{path}[{i}]"), "empty value"));
        }
        out.push(normalized);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse_age(body: &Value, path: &str) -> Result<AgeRange, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid(path, "expected {\"min\": years, \"max\": years}"))?;
    let mut range = AgeRange {
        min: None,
        max: None,
    };
    for (key, value) in object {
        let field_path = format!("{path}.{key}");
        let years = value
            .as_u64()
            .filter(|y| *y <= u64::from(MAX_AGE))
            .ok_or_else(|| {
                invalid(
                    &field_path,
                    format!("expected a whole number of years from 0 to {MAX_AGE}"),
                )
            })? as u8;
        match key.as_str() {
            "min" => range.min = Some(years),
            "max" => range.max = Some(years),
            other => {
                return Err(RuleError::UnknownAttribute {
                    path: field_path,
                    name: other.to_string(),
                })
            }
        }
    }
    match (range.min, range.max) {
        (None, None) => Err(invalid(path, "an age range needs `min`, `max` or both")),
        (Some(min), Some(max)) if min > max => Err(RuleError::EmptyRange {
            path: format!("{path}.min"),
            message: format!("min {min} is above max {max}"),
        }),
        _ => Ok(range),
    }
}

fn parse_clock(value: &Value, path: &str, allow_24: bool) -> Result<u16, RuleError> {
    let text = value
        .as_str()
        .ok_or_else(|| invalid(path, "expected a time as \"HH:MM\""))?;
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        (m < 60 && (h < 24 || (allow_24 && h == 24 && m == 0))).then_some(h * 60 + m)
    });
    parsed.ok_or_else(|| invalid(path, format!("`{text}` is not a time \"HH:MM\"")))
}

fn parse_time_window(body: &Value, path: &str) -> Result<TimeWindow, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid(path, "expected {\"from\": \"HH:MM\", \"to\": \"HH:MM\"}"))?;
    for key in object.keys() {
        if key != "from" && key != "to" {
            return Err(RuleError::UnknownAttribute {
                path: format!("{path}.{key}"),
                name: key.clone(),
            });
        }
    }
    let field = |name: &str| {
        object
            .get(name)
            .ok_or_else(|| invalid(path, format!("missing `{name}`")))
    };
    let from = parse_clock(field("from")?, &format!("{path}.from"), false)?;
    let to = parse_clock(field("to")?, &format!("{path}.to"), true)?;
    if from == to {
        return Err(RuleError::EmptyRange {
            path: format!("{path}.to"),
            message: "`from` and `to` are the same time".into(),
        });
    }
    // `to` may be 24:00 (1440), so "00:00" to "24:00" is the whole day.
    Ok(TimeWindow { from, to })
}

fn parse_days(body: &Value, path: &str) -> Result<Vec<Weekday>, RuleError> {
    let items = body
        .as_array()
        .ok_or_else(|| invalid(path, "expected a list of days such as \"mon\""))?;
    if items.is_empty() {
        return Err(invalid(path, "empty list of days"));
    }
    let mut days = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let day = item
            .as_str()
            .and_then(|s| s.trim().parse::<Weekday>().ok())
            .ok_or_else(|| invalid(&format!("{path}[{i}]"), "expected a day such as \"mon\""))?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    days.sort_by_key(|d| d.num_days_from_monday());
    Ok(days)
}

fn parse_attribute(body: &Value, path: &str) -> Result<AttributeMatch, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid(path, "expected {\"key\": name, \"values\": [...]}"))?;
    for key in object.keys() {
        if key != "key" && key != "values" {
            return Err(RuleError::UnknownAttribute {
                path: format!("{path}.{key}"),
                name: key.clone(),
            });
        }
    }
    let key = object
        .get("key")
        .and_then(Value::as_str)
        .map(normalize_value)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid(&format!("{path}.key"), "expected a non-empty string"))?;
    let values = object
        .get("values")
        .ok_or_else(|| invalid(path, "missing `values`"))?;
    let values = parse_strings(values, &format!("{path}.values"), normalize_value)?;
    Ok(AttributeMatch { key, values })
}

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
fn check_contradictions(rule: &Rule, path: &str) -> Result<(), RuleError> {
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

/// The names a rule node may use, for error messages and documentation.
pub fn attribute_names() -> &'static [&'static str] {
    ATTRIBUTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::AdRequest;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn request() -> AdRequest {
        // Saturday 2026-03-07 19:15 in Paris (18:15 UTC).
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 18, 15, 0).unwrap();
        let mut r = AdRequest::at(ts, chrono_tz::Europe::Paris);
        r.age = Some(29);
        r.gender = Some("Female".into());
        r.country = Some("fr".into());
        r.region = Some("IDF".into());
        r.city = Some("Paris".into());
        r.language = Some("fr-FR".into());
        r.device = Some("Mobile".into());
        r.os = Some("iOS".into());
        r.interests = vec!["cycling".into(), "cooking".into()];
        r.keywords = vec!["marathon".into()];
        r.attributes.insert("plan".into(), "Premium".into());
        r
    }

    fn matches(rule: Value) -> bool {
        let rule = Rule::from_json(&rule).expect("valid rule");
        rule.matches(&PreparedRequest::new(&request()))
    }

    #[test]
    fn each_leaf_type_matches_and_misses() {
        let cases = [
            (
                json!({"age": {"min": 25, "max": 34}}),
                json!({"age": {"min": 30}}),
            ),
            (json!({"gender": ["female"]}), json!({"gender": ["male"]})),
            (json!({"country": ["FR", "be"]}), json!({"country": ["DE"]})),
            (json!({"region": ["idf"]}), json!({"region": ["paca"]})),
            (json!({"city": ["paris"]}), json!({"city": ["lyon"]})),
            (json!({"language": ["fr"]}), json!({"language": ["en"]})),
            (
                json!({"device": ["mobile"]}),
                json!({"device": ["desktop"]}),
            ),
            (json!({"os": ["ios"]}), json!({"os": ["android"]})),
            (
                json!({"interests": ["running", "cycling"]}),
                json!({"interests": ["golf"]}),
            ),
            (
                json!({"keywords": ["marathon"]}),
                json!({"keywords": ["ski"]}),
            ),
            (
                json!({"time_of_day": {"from": "19:00", "to": "20:00"}}),
                json!({"time_of_day": {"from": "18:00", "to": "19:00"}}),
            ),
            (
                json!({"day_of_week": ["sat", "sun"]}),
                json!({"day_of_week": ["mon"]}),
            ),
            (
                json!({"attribute": {"key": "plan", "values": ["premium"]}}),
                json!({"attribute": {"key": "plan", "values": ["free"]}}),
            ),
        ];
        for (hit, miss) in cases {
            assert!(matches(hit.clone()), "{hit} should match");
            assert!(!matches(miss.clone()), "{miss} should not match");
        }
    }

    #[test]
    fn time_windows_wrap_past_midnight() {
        let whole_day =
            Rule::from_json(&json!({"time_of_day": {"from": "00:00", "to": "24:00"}})).unwrap();
        let text = serde_json::to_string(&whole_day).unwrap();
        assert_eq!(text, r#"{"time_of_day":{"from":"00:00","to":"24:00"}}"#);
        assert_eq!(Rule::from_json_str(&text).unwrap(), whole_day);
        assert!(matches(
            json!({"time_of_day": {"from": "19:00", "to": "02:00"}})
        ));
        assert!(!matches(
            json!({"time_of_day": {"from": "22:00", "to": "02:00"}})
        ));
        assert!(matches(
            json!({"time_of_day": {"from": "00:00", "to": "24:00"}})
        ));
    }

    #[test]
    fn combinators() {
        assert!(matches(
            json!({"all": [{"country": ["FR"]}, {"age": {"max": 30}}]})
        ));
        assert!(!matches(
            json!({"all": [{"country": ["FR"]}, {"age": {"max": 20}}]})
        ));
        assert!(matches(
            json!({"any": [{"country": ["DE"]}, {"age": {"max": 30}}]})
        ));
        assert!(!matches(
            json!({"any": [{"country": ["DE"]}, {"os": ["android"]}]})
        ));
        assert!(matches(json!({"not": {"device": ["ctv"]}})));
        assert!(!matches(json!({"not": {"device": ["mobile"]}})));
    }

    #[test]
    fn missing_attribute_never_matches_a_leaf() {
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 18, 15, 0).unwrap();
        let bare = PreparedRequest::new(&AdRequest::at(ts, chrono_tz::UTC));
        let rule = Rule::from_json(&json!({"age": {"min": 0}})).unwrap();
        assert!(!rule.matches(&bare));
        let not = Rule::from_json(&json!({"not": {"country": ["FR"]}})).unwrap();
        assert!(not.matches(&bare));
    }

    fn error(rule: Value) -> RuleError {
        Rule::from_json(&rule).expect_err("rule should be rejected")
    }

    #[test]
    fn unknown_attribute_has_its_path() {
        let e = error(json!({"all": [{"country": ["FR"]}, {"any": [{"shoe_size": [42]}]}]}));
        assert!(matches!(e, RuleError::UnknownAttribute { .. }), "{e}");
        assert_eq!(e.path(), "rules.all[1].any[0].shoe_size");
        let e = error(json!({"age": {"min": 3, "maximum": 9}}));
        assert_eq!(e.path(), "rules.age.maximum");
    }

    #[test]
    fn empty_ranges_are_errors() {
        let e = error(
            json!({"all": [{"os": ["ios"]}, {"os": ["ios"]}, {"age": {"min": 40, "max": 30}}]}),
        );
        assert!(matches!(e, RuleError::EmptyRange { .. }), "{e}");
        assert_eq!(e.path(), "rules.all[2].age.min");
        let e = error(json!({"time_of_day": {"from": "10:00", "to": "10:00"}}));
        assert!(matches!(e, RuleError::EmptyRange { .. }), "{e}");
        assert_eq!(e.path(), "rules.time_of_day.to");
    }

    #[test]
    fn malformed_values_are_errors() {
        assert_eq!(error(json!({"country": []})).path(), "rules.country");
        assert_eq!(
            error(json!({"country": ["France"]})).path(),
            "rules.country[0]"
        );
        assert_eq!(error(json!({"age": {"min": 200}})).path(), "rules.age.min");
        assert_eq!(
            error(json!({"time_of_day": {"from": "25:00", "to": "26:00"}})).path(),
            "rules.time_of_day.from"
        );
        assert_eq!(
            error(json!({"day_of_week": ["funday"]})).path(),
            "rules.day_of_week[0]"
        );
        assert_eq!(error(json!({"all": []})).path(), "rules.all");
        assert_eq!(
            error(json!({"age": {"min": 1}, "os": ["ios"]})).path(),
            "rules"
        );
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

    #[test]
    fn serde_round_trip_validates() {
        let text = r#"{"all":[{"age":{"min":18,"max":34}},{"country":["fr"]},
            {"time_of_day":{"from":"18:00","to":"23:30"}},{"day_of_week":["sat","sun"]}]}"#;
        let rule: Rule = serde_json::from_str(text).unwrap();
        let back: Rule = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(rule, back);
        assert!(serde_json::from_str::<Rule>(r#"{"colour":["red"]}"#).is_err());
    }
}
