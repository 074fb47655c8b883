//! Brand and policy rules on generated copy.
//!
//! A [`RulePack`] is data: one JSON file per language under `assets/policy/` (embedded in the
//! binary), listing banned phrases, superlatives and guarantees that need substantiation,
//! regular expressions for copy that asserts personal attributes, and typography limits. The
//! brand kit adds its own banned and required phrases and disclaimer; the placement adds length
//! limits in grapheme clusters.
//!
//! Phrases match whole words, ignoring case and accents: both the copy and the phrase are folded
//! (lower case, accents stripped, `œ`→`oe`, `ß`→`ss`, curly apostrophes straightened, runs of
//! white space collapsed) and every match is mapped back to a byte span of the original field.
//! Personal-attribute patterns run on the same folded text, so they are written in lower case
//! without accents.

use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_segmentation::UnicodeSegmentation;

use crate::brief::{AdCopy, BrandKit, CopyField, Language, PlacementSpec};

/// Why a rule pack could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The pack is not valid JSON of the expected shape.
    #[error("rule pack is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A personal-attribute pattern is not a valid regular expression.
    #[error("rule pack pattern {index} is invalid: {source}")]
    Pattern {
        /// Position of the pattern in `personal_attribute_patterns`.
        index: usize,
        /// The regex error.
        source: regex::Error,
    },
    /// A numeric limit is out of range.
    #[error("rule pack limit `{0}` is out of range")]
    Limit(&'static str),
}

/// Limits on capital letters in one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapitalsLimit {
    /// Largest allowed share of upper-case letters among all letters (0..=1).
    pub max_uppercase_ratio: f64,
    /// Fields with fewer letters than this are not checked (short acronyms are fine).
    pub min_letters: usize,
}

/// Limits on punctuation in one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PunctuationLimit {
    /// Most exclamation marks allowed in one field.
    pub max_exclamations: usize,
    /// Longest allowed run of consecutive `!`/`?` marks.
    pub max_repeated: usize,
}

/// A language's policy rules, loaded from data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RulePack {
    /// ISO 639-1 code of the language the pack is for.
    pub language: String,
    /// What the pack is.
    #[serde(default)]
    pub description: String,
    /// Phrases never allowed.
    pub banned_phrases: Vec<String>,
    /// Superlatives allowed only when the campaign allows claims.
    pub superlatives: Vec<String>,
    /// Guarantees and proof claims allowed only when the campaign allows claims.
    pub guarantees: Vec<String>,
    /// Regular expressions (on folded text) for copy asserting personal attributes.
    pub personal_attribute_patterns: Vec<String>,
    /// Capital letter limits.
    pub capitals: CapitalsLimit,
    /// Punctuation limits.
    pub punctuation: PunctuationLimit,
    #[serde(skip)]
    compiled: Vec<Regex>,
}

impl RulePack {
    /// Parses and checks a pack from its JSON text.
    pub fn from_json(text: &str) -> Result<RulePack, PolicyError> {
        let mut pack: RulePack = serde_json::from_str(text)?;
        if !(0.0..=1.0).contains(&pack.capitals.max_uppercase_ratio) {
            return Err(PolicyError::Limit("capitals.max_uppercase_ratio"));
        }
        if pack.punctuation.max_repeated == 0 {
            return Err(PolicyError::Limit("punctuation.max_repeated"));
        }
        pack.compiled = pack
            .personal_attribute_patterns
            .iter()
            .enumerate()
            .map(|(index, p)| {
                Regex::new(&fold(p).text).map_err(|source| PolicyError::Pattern { index, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(pack)
    }

    /// The pack shipped for `language` (from `assets/policy/<code>.json`).
    pub fn builtin(language: Language) -> &'static RulePack {
        static PACKS: OnceLock<Vec<(Language, RulePack)>> = OnceLock::new();
        let packs = PACKS.get_or_init(|| {
            let sources = [
                (Language::En, include_str!("../../assets/policy/en.json")),
                (Language::Fr, include_str!("../../assets/policy/fr.json")),
                (Language::Es, include_str!("../../assets/policy/es.json")),
                (Language::De, include_str!("../../assets/policy/de.json")),
            ];
            sources
                .into_iter()
                .map(|(language, text)| {
                    let pack = RulePack::from_json(text).unwrap_or_else(|e| {
                        panic!("built-in policy pack {} is invalid: {e}", language.code())
                    });
                    (language, pack)
                })
                .collect()
        });
        packs
            .iter()
            .find(|(l, _)| *l == language)
            .map(|(_, pack)| pack)
            .expect("every language has a built-in pack")
    }
}

/// The kind of rule a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// A phrase banned by the brand kit or the policy pack.
    BannedPhrase,
    /// A phrase the brand kit requires is missing.
    MissingRequiredPhrase,
    /// The brand's disclaimer is missing.
    MissingDisclaimer,
    /// A field is longer than the placement allows.
    TooLong,
    /// Too many capital letters.
    ExcessCapitals,
    /// Too many or repeated exclamation/question marks.
    ExcessPunctuation,
    /// A superlative while the campaign does not allow claims.
    UnsubstantiatedSuperlative,
    /// A guarantee or proof claim while the campaign does not allow claims.
    UnsubstantiatedGuarantee,
    /// Copy that asserts a personal attribute of the viewer.
    PersonalAttribute,
}

/// Where in the copy a violation is: a field and a byte range of that field's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// The field.
    pub field: CopyField,
    /// Byte range in the field's text (on character boundaries).
    pub range: Range<usize>,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which kind of rule.
    pub kind: ViolationKind,
    /// Which rule exactly, e.g. `brand.banned_phrases[1]`, `policy.fr.superlatives[0]`,
    /// `placement.instagram_feed.headline_max`.
    pub rule: String,
    /// The offending text or the missing phrase, and why.
    pub message: String,
    /// Where, or `None` for something missing from the copy.
    pub span: Option<Span>,
}

/// Checks copy against a rule pack, a brand kit and a placement.
#[derive(Debug, Clone)]
pub struct PolicyChecker<'a> {
    pack: &'a RulePack,
    brand: &'a BrandKit,
    placement: &'a PlacementSpec,
    allow_claims: bool,
}

impl<'a> PolicyChecker<'a> {
    /// A checker for copy shown in `placement` for `brand`; superlatives and guarantees pass
    /// only when `allow_claims` (the campaign's [`crate::CampaignBrief::allow_claims`]).
    pub fn new(
        pack: &'a RulePack,
        brand: &'a BrandKit,
        placement: &'a PlacementSpec,
        allow_claims: bool,
    ) -> Self {
        PolicyChecker {
            pack,
            brand,
            placement,
            allow_claims,
        }
    }

    /// Every violation in `copy`, ordered by field then position.
    pub fn check(&self, copy: &AdCopy) -> Vec<Violation> {
        let mut out = Vec::new();
        let code = &self.pack.language;
        let folded: Vec<(CopyField, &str, Folded)> = copy
            .fields()
            .into_iter()
            .map(|(field, text)| (field, text, fold(text)))
            .collect();
        for (field, text, f) in &folded {
            let field = *field;
            let mut phrase_rules = |list: &[String], kind: ViolationKind, rule: String| {
                for (i, phrase) in list.iter().enumerate() {
                    for range in f.find_phrase(phrase) {
                        out.push(Violation {
                            kind,
                            rule: format!("{rule}[{i}]"),
                            message: format!("`{}` ({})", &text[range.clone()], describe(kind)),
                            span: Some(Span { field, range }),
                        });
                    }
                }
            };
            phrase_rules(
                &self.brand.banned_phrases,
                ViolationKind::BannedPhrase,
                "brand.banned_phrases".into(),
            );
            phrase_rules(
                &self.pack.banned_phrases,
                ViolationKind::BannedPhrase,
                format!("policy.{code}.banned_phrases"),
            );
            if !self.allow_claims {
                phrase_rules(
                    &self.pack.superlatives,
                    ViolationKind::UnsubstantiatedSuperlative,
                    format!("policy.{code}.superlatives"),
                );
                phrase_rules(
                    &self.pack.guarantees,
                    ViolationKind::UnsubstantiatedGuarantee,
                    format!("policy.{code}.guarantees"),
                );
            }
            for (i, pattern) in self.pack.compiled.iter().enumerate() {
                for m in pattern.find_iter(&f.text) {
                    let range = f.original(m.range());
                    out.push(Violation {
                        kind: ViolationKind::PersonalAttribute,
                        rule: format!("policy.{code}.personal_attribute_patterns[{i}]"),
                        message: format!(
                            "`{}` ({})",
                            &text[range.clone()],
                            describe(ViolationKind::PersonalAttribute)
                        ),
                        span: Some(Span { field, range }),
                    });
                }
            }
            self.check_length(field, text, &mut out);
            self.check_capitals(field, text, &mut out);
            self.check_punctuation(field, text, &mut out);
        }
        let present = |phrase: &str| {
            folded
                .iter()
                .any(|(_, _, f)| !f.find_phrase(phrase).is_empty())
        };
        for (i, phrase) in self.brand.required_phrases.iter().enumerate() {
            if !present(phrase) {
                out.push(Violation {
                    kind: ViolationKind::MissingRequiredPhrase,
                    rule: format!("brand.required_phrases[{i}]"),
                    message: format!("required phrase `{phrase}` is missing"),
                    span: None,
                });
            }
        }
        if let Some(disclaimer) = self
            .brand
            .disclaimer
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            if !present(disclaimer) {
                out.push(Violation {
                    kind: ViolationKind::MissingDisclaimer,
                    rule: "brand.disclaimer".into(),
                    message: format!("disclaimer `{disclaimer}` is missing"),
                    span: None,
                });
            }
        }
        let order = |v: &Violation| {
            v.span
                .as_ref()
                .map(|s| (s.field as u8, s.range.start, s.range.end))
                .unwrap_or((u8::MAX, 0, 0))
        };
        out.sort_by_key(order);
        out
    }

    fn check_length(&self, field: CopyField, text: &str, out: &mut Vec<Violation>) {
        let (limit, name) = match field {
            CopyField::Headline => (self.placement.headline_max, "headline_max"),
            CopyField::Body => (self.placement.body_max, "body_max"),
            CopyField::CallToAction => (self.placement.cta_max, "cta_max"),
        };
        let mut graphemes = text.grapheme_indices(true);
        let count = text.graphemes(true).count();
        if count > limit {
            let start = graphemes.nth(limit).map(|(i, _)| i).unwrap_or(text.len());
            out.push(Violation {
                kind: ViolationKind::TooLong,
                rule: format!("placement.{}.{name}", self.placement.name),
                message: format!("{count} characters, the placement allows {limit}"),
                span: Some(Span {
                    field,
                    range: start..text.len(),
                }),
            });
        }
    }

    fn check_capitals(&self, field: CopyField, text: &str, out: &mut Vec<Violation>) {
        let limit = &self.pack.capitals;
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        let upper = text.chars().filter(|c| c.is_uppercase()).count();
        if letters >= limit.min_letters
            && letters > 0
            && upper as f64 / letters as f64 > limit.max_uppercase_ratio
        {
            out.push(Violation {
                kind: ViolationKind::ExcessCapitals,
                rule: format!("policy.{}.capitals", self.pack.language),
                message: format!(
                    "{upper} of {letters} letters are capitals (at most {:.0}% allowed)",
                    limit.max_uppercase_ratio * 100.0
                ),
                span: Some(Span {
                    field,
                    range: 0..text.len(),
                }),
            });
        }
    }

    fn check_punctuation(&self, field: CopyField, text: &str, out: &mut Vec<Violation>) {
        let limit = &self.pack.punctuation;
        let rule = format!("policy.{}.punctuation", self.pack.language);
        let is_mark = |c: char| matches!(c, '!' | '?' | '！' | '？');
        let mut run: Option<(usize, usize, usize)> = None; // (start, end, count)
        let mut runs = Vec::new();
        for (i, c) in text.char_indices() {
            if is_mark(c) {
                run = Some(match run {
                    Some((start, _, n)) => (start, i + c.len_utf8(), n + 1),
                    None => (i, i + c.len_utf8(), 1),
                });
            } else if c.is_whitespace() {
                // "! !" still counts as one run of shouting.
                continue;
            } else if let Some(r) = run.take() {
                runs.push(r);
            }
        }
        runs.extend(run);
        for (start, end, n) in runs {
            if n > limit.max_repeated {
                out.push(Violation {
                    kind: ViolationKind::ExcessPunctuation,
                    rule: format!("{rule}.max_repeated"),
                    message: format!("{n} marks in a row, at most {} allowed", limit.max_repeated),
                    span: Some(Span {
                        field,
                        range: start..end,
                    }),
                });
            }
        }
        let exclamations: Vec<(usize, char)> = text
            .char_indices()
            .filter(|(_, c)| matches!(c, '!' | '！'))
            .collect();
        if exclamations.len() > limit.max_exclamations {
            let (start, c) = exclamations[limit.max_exclamations];
            out.push(Violation {
                kind: ViolationKind::ExcessPunctuation,
                rule: format!("{rule}.max_exclamations"),
                message: format!(
                    "{} exclamation marks, at most {} allowed",
                    exclamations.len(),
                    limit.max_exclamations
                ),
                span: Some(Span {
                    field,
                    range: start..start + c.len_utf8(),
                }),
            });
        }
    }
}

fn describe(kind: ViolationKind) -> &'static str {
    match kind {
        ViolationKind::BannedPhrase => "banned phrase",
        ViolationKind::MissingRequiredPhrase => "required phrase missing",
        ViolationKind::MissingDisclaimer => "disclaimer missing",
        ViolationKind::TooLong => "too long",
        ViolationKind::ExcessCapitals => "too many capitals",
        ViolationKind::ExcessPunctuation => "too much punctuation",
        ViolationKind::UnsubstantiatedSuperlative => "superlative needs substantiation",
        ViolationKind::UnsubstantiatedGuarantee => "guarantee needs substantiation",
        ViolationKind::PersonalAttribute => "asserts a personal attribute of the viewer",
    }
}

/// Text folded for comparison, with the original byte range of every folded byte.
#[derive(Debug)]
struct Folded {
    text: String,
    origin: Vec<Range<usize>>,
}

impl Folded {
    /// Maps a byte range of the folded text back to the original text.
    fn original(&self, range: Range<usize>) -> Range<usize> {
        if range.is_empty() {
            let at = self.origin.get(range.start).map(|r| r.start).unwrap_or(0);
            return at..at;
        }
        self.origin[range.start].start..self.origin[range.end - 1].end
    }

    /// Whole-word occurrences of `phrase` (folded too), as original byte ranges.
    fn find_phrase(&self, phrase: &str) -> Vec<Range<usize>> {
        let needle = fold(phrase).text;
        let needle = needle.trim();
        if needle.is_empty() {
            return Vec::new();
        }
        let word_char = |c: char| c.is_alphanumeric();
        let first_is_word = needle.chars().next().is_some_and(word_char);
        let last_is_word = needle.chars().next_back().is_some_and(word_char);
        self.text
            .match_indices(needle)
            .filter(|(at, _)| {
                let end = at + needle.len();
                let before_ok = !first_is_word
                    || self.text[..*at]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !word_char(c));
                let after_ok = !last_is_word
                    || self.text[end..]
                        .chars()
                        .next()
                        .is_none_or(|c| !word_char(c));
                before_ok && after_ok
            })
            .map(|(at, _)| self.original(at..at + needle.len()))
            .collect()
    }
}

/// Lower-cases, strips accents, expands ligatures, straightens apostrophes and collapses white
/// space, remembering where each output byte came from.
fn fold(text: &str) -> Folded {
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    let mut last_space = false;
    for (i, c) in text.char_indices() {
        let source = i..i + c.len_utf8();
        let mut push = |s: char, out: &mut String| {
            let before = out.len();
            out.push(s);
            for _ in before..out.len() {
                origin.push(source.clone());
            }
        };
        if c.is_whitespace() {
            if !last_space {
                push(' ', &mut out);
            }
            last_space = true;
            continue;
        }
        last_space = false;
        match c {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' => push('\'', &mut out),
            '\u{2010}' | '\u{2011}' => push('-', &mut out),
            'œ' | 'Œ' => {
                push('o', &mut out);
                push('e', &mut out);
            }
            'æ' | 'Æ' => {
                push('a', &mut out);
                push('e', &mut out);
            }
            'ß' | 'ẞ' => {
                push('s', &mut out);
                push('s', &mut out);
            }
            _ => decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    for l in d.to_lowercase() {
                        push(l, &mut out);
                    }
                }
            }),
        }
    }
    Folded { text: out, origin }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_maps_back_to_original_spans() {
        let text = "Crème  BRÛLÉE’s cœur";
        let f = fold(text);
        assert_eq!(f.text, "creme brulee's coeur");
        let hits = f.find_phrase("brulee's");
        assert_eq!(hits.len(), 1);
        assert_eq!(&text[hits[0].clone()], "BRÛLÉE’s");
        assert_eq!(&text[f.find_phrase("COEUR")[0].clone()], "cœur");
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let f = fold("The bestseller is best-in-class; #1 choice");
        assert_eq!(
            f.find_phrase("best").len(),
            1,
            "`bestseller` must not match `best`"
        );
        assert_eq!(f.find_phrase("#1").len(), 1);
        assert_eq!(
            fold("top#1 pick").find_phrase("#1").len(),
            1,
            "symbol edges need no boundary"
        );
        assert!(fold("#1b").find_phrase("#1").is_empty());
        assert!(fold("class").find_phrase("ass").is_empty());
    }

    #[test]
    fn builtin_packs_load() {
        for language in Language::ALL {
            let pack = RulePack::builtin(language);
            assert_eq!(pack.language, language.code());
            assert!(!pack.compiled.is_empty());
        }
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let text =
            include_str!("../../assets/policy/en.json").replacen("\\\\b(?:are|r)", "(unclosed", 1);
        assert!(matches!(
            RulePack::from_json(&text),
            Err(PolicyError::Pattern { index: 0, .. })
        ));
    }
}
