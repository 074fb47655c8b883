//! adforge targeting: audience segments and their rules, request matching, prompt building,
//! brand and policy rules on copy, ranking of variants and the serving bandit.
//!
//! # Public surface (what the api calls)
//!
//! - Segments: [`Rule::from_json`] parses and validates a segment rule (errors carry a path such
//!   as `rules.all[2].age.min`); [`SegmentIndex::build`] compiles `(id, Rule)` pairs and
//!   [`SegmentIndex::matching`] resolves an [`AdRequest`] to the ids of its matching segments.
pub mod bandit;
pub mod brief;
pub mod embed;
pub mod index;
pub mod policy;
pub mod prompt;
pub mod rank;
pub mod request;
pub mod rules;

pub use index::SegmentIndex;
pub use request::{AdRequest, PreparedRequest};
pub use rules::{Rule, RuleError};
