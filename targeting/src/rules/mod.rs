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
//!
//! The module is split by what a rule goes through:
//! - this file: the [`Rule`] tree, its leaf types and [`RuleError`];
//! - `parse`: [`Rule::from_json`], reading the JSON form and validating every node with its path;
//! - `contradictions`: rejecting an `all` whose conditions no request can satisfy together;
//! - `eval`: [`Rule::matches`], evaluating a rule against one prepared request.

mod contradictions;
mod eval;
mod parse;

use std::fmt;

use chrono::Weekday;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

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

/// The names a rule node may use, for error messages and documentation.
pub fn attribute_names() -> &'static [&'static str] {
    ATTRIBUTES
}
