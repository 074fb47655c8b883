//! Length-aware structured output: a JSON object with named string fields, each with a limit
//! in grapheme clusters and optionally a closed set of allowed values, enforced while decoding.
//!
//! The object's punctuation and keys are forced token by token; inside a value only tokens
//! whose text needs no JSON escaping and keeps the value within its limit (or on the way to an
//! allowed value) can be chosen, and the closing quote is a token of its own choosing. The
//! result is therefore always a parseable object within every limit; nothing is cut afterwards.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::constraint::TokenConstraint;
use super::error::{Result, TextError};
use super::tokenizer::TextTokenizer;
use super::words::{
    dangles_anywhere, dangling_words, ends_cleanly, is_plain_piece, last_word_is_whole,
    vocabulary_words,
};

/// One string field of the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonField {
    /// The key.
    pub name: String,
    /// Most grapheme clusters the value may have.
    pub max_graphemes: usize,
    /// When set, the value must be one of these.
    #[serde(default)]
    pub allowed_values: Option<Vec<String>>,
    /// Whether a free value must end a sentence: it closes only after `.`, `!`, `?` or `…`
    /// (room for the stop is kept as it fills), so a body never just stops after a word.
    #[serde(default)]
    pub sentence: bool,
}

/// The object to produce: its fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSchemaSpec {
    /// The fields.
    pub fields: Vec<JsonField>,
    /// Language of the copy (ISO 639-1: "en", "fr", "es", "de"), which chooses the
    /// conjunctions, articles and prepositions a free field may not end with. English when
    /// unset or unknown.
    #[serde(default)]
    pub language: Option<String>,
    /// Words free values may not contain (lower case, one word each, e.g. "best", "guaranteed"):
    /// a token that would start one of them as a word is never chosen. Phrases of several
    /// words are left to the caller's checks.
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// Most exclamation marks in all free values together (`None`: no limit).
    #[serde(default)]
    pub max_exclamations: Option<usize>,
    /// When set, the only numbers free values may state: each digit run (with `.` or `,`
    /// between digits, which are ignored) must be one of these digit strings. A brief's numbers
    /// are the facts copy may repeat; any other number would be invented.
    #[serde(default)]
    pub allowed_numbers: Option<Vec<String>>,
}

impl JsonField {
    /// A free-text field of at most `max_graphemes` grapheme clusters.
    pub fn free(name: &str, max_graphemes: usize) -> Self {
        Self {
            name: name.to_string(),
            max_graphemes,
            allowed_values: None,
            sentence: false,
        }
    }

    /// A free-text field that ends a sentence ([`Self::sentence`]).
    pub fn sentence(name: &str, max_graphemes: usize) -> Self {
        Self {
            sentence: true,
            ..Self::free(name, max_graphemes)
        }
    }

    /// A field whose value is one of `values`.
    pub fn one_of(name: &str, max_graphemes: usize, values: Vec<String>) -> Self {
        Self {
            name: name.to_string(),
            max_graphemes,
            allowed_values: Some(values),
            sentence: false,
        }
    }
}

impl JsonSchemaSpec {
    /// A spec for English copy with these fields.
    pub fn new(fields: Vec<JsonField>) -> Self {
        Self {
            fields,
            language: None,
            banned_words: Vec::new(),
            max_exclamations: None,
            allowed_numbers: None,
        }
    }

    /// The same spec for copy in `language` (ISO 639-1).
    pub fn with_language(mut self, language: &str) -> Self {
        self.language = Some(language.to_string());
        self
    }

    /// The same spec with `words` banned from free values (see [`Self::banned_words`]); entries
    /// of more than one word are ignored.
    pub fn with_banned_words<S: AsRef<str>>(mut self, words: impl IntoIterator<Item = S>) -> Self {
        for word in words {
            let word = word.as_ref().trim().to_lowercase();
            if !word.is_empty()
                && word.chars().all(char::is_alphanumeric)
                && !self.banned_words.contains(&word)
            {
                self.banned_words.push(word);
            }
        }
        self
    }

    /// The same spec allowing only the numbers that occur in `facts` (see
    /// [`Self::allowed_numbers`]).
    pub fn with_numbers_from(mut self, facts: &str) -> Self {
        let mut numbers: Vec<String> = digit_runs(facts).into_iter().map(|(_, n)| n).collect();
        numbers.sort();
        numbers.dedup();
        self.allowed_numbers = Some(numbers);
        self
    }

    /// The same spec with at most `max` exclamation marks in all free values together.
    pub fn with_max_exclamations(mut self, max: usize) -> Self {
        self.max_exclamations = Some(max);
        self
    }
}

impl JsonSchemaSpec {
    /// Checks the spec can be satisfied: at least one field, allowed values within limits and
    /// free of characters that would need escaping.
    pub fn validate(&self) -> Result<()> {
        if self.fields.is_empty() {
            return Err(TextError::Structured("the schema has no fields".into()));
        }
        for f in &self.fields {
            for v in f.allowed_values.iter().flatten() {
                if v.graphemes(true).count() > f.max_graphemes {
                    return Err(TextError::Structured(format!(
                        "allowed value {v:?} of {:?} is longer than {} graphemes",
                        f.name, f.max_graphemes
                    )));
                }
                if !is_plain_content(v) {
                    return Err(TextError::Structured(format!(
                        "allowed value {v:?} contains quotes, backslashes or control characters"
                    )));
                }
            }
            if f.allowed_values.as_ref().is_some_and(Vec::is_empty) {
                return Err(TextError::Structured(format!(
                    "field {:?} allows no value",
                    f.name
                )));
            }
        }
        Ok(())
    }
}

impl JsonSchemaSpec {
    /// A plain-language instruction describing the object, to put in the prompt so the model
    /// knows what each field is for (the limits are enforced regardless).
    pub fn instruction(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| match &f.allowed_values {
                Some(values) => format!("\"{}\" (one of: {})", f.name, values.join(", ")),
                None => format!("\"{}\" (at most {} characters)", f.name, f.max_graphemes),
            })
            .collect();
        format!(
            "Reply with one JSON object with the string fields {}.",
            fields.join(", ")
        )
    }
}

/// Text that can sit inside a JSON string without escapes.
fn is_plain_content(s: &str) -> bool {
    s.chars().all(|c| c != '"' && c != '\\' && !c.is_control())
}

/// Per-token facts for constrained decoding, computed once per tokenizer.
pub struct StructuredVocab {
    /// For tokens usable inside a value: their text.
    content: Vec<Option<String>>,
    /// Grapheme count of each content token on its own.
    content_graphemes: Vec<usize>,
    /// For tokens that are some content followed by the closing quote: that content.
    close: Vec<Option<String>>,
    /// Whether each content token can be part of free copy (no markup, breaks, trailing space).
    plain: Vec<bool>,
    /// Whether each token goes on with the word before it (starts with a letter or digit).
    continues_word: Vec<bool>,
    /// Lowercase whole words of the vocabulary.
    words: HashSet<String>,
    /// Graphemes always enough to end a free value cleanly from any state (one whole word).
    exit_len: usize,
    /// The token that is a lone closing quote.
    lone_close: u32,
}

impl StructuredVocab {
    /// Classifies every token of `tokenizer`.
    pub fn build(tokenizer: &TextTokenizer) -> Result<Self> {
        let bytes = tokenizer.vocab_bytes();
        let mut content = Vec::with_capacity(bytes.len());
        let mut content_graphemes = Vec::with_capacity(bytes.len());
        let mut close = Vec::with_capacity(bytes.len());
        for (id, b) in bytes.iter().enumerate() {
            let text = if tokenizer.is_special(id as u32) {
                None
            } else {
                std::str::from_utf8(b).ok()
            };
            let as_content = text.filter(|t| !t.is_empty() && is_plain_content(t));
            content_graphemes.push(as_content.map(|t| t.graphemes(true).count()).unwrap_or(0));
            content.push(as_content.map(str::to_string));
            close.push(
                text.and_then(|t| t.strip_suffix('"'))
                    .filter(|t| is_plain_content(t))
                    .map(str::to_string),
            );
        }
        let Some(lone_close) = close.iter().position(|c| c.as_deref() == Some("")) else {
            return Err(TextError::Structured(
                "the vocabulary has no token for a lone '\"'".into(),
            ));
        };
        let plain = content
            .iter()
            .map(|c| c.as_deref().is_some_and(is_plain_piece))
            .collect();
        let continues_word = content
            .iter()
            .map(|c| {
                c.as_deref()
                    .and_then(|t| t.chars().next())
                    .is_some_and(char::is_alphanumeric)
            })
            .collect();
        let words = vocabulary_words(content.iter().flatten().map(String::as_str));
        // The shortest whole word that ends a value cleanly, after a word (" go") and at the
        // start of a value ("Go"); the longer of the two bounds every exit.
        let shortest = |spaced: bool| {
            content
                .iter()
                .flatten()
                .filter_map(|t| {
                    let w = if spaced {
                        t.strip_prefix(' ')?
                    } else {
                        t.as_str()
                    };
                    let lower = w.to_lowercase();
                    (w.chars().count() >= 2
                        && w.chars().all(char::is_alphabetic)
                        && words.contains(&lower)
                        && !dangles_anywhere(&lower))
                    .then(|| t.graphemes(true).count())
                })
                .min()
        };
        let exit_len = match (shortest(true), shortest(false)) {
            (Some(a), Some(b)) => a.max(b),
            _ => {
                return Err(TextError::Structured(
                    "the vocabulary has no whole-word tokens to end a value with".into(),
                ))
            }
        };
        Ok(Self {
            content,
            content_graphemes,
            close,
            plain,
            continues_word,
            words,
            exit_len,
            lone_close: lone_close as u32,
        })
    }

    /// The fewest graphemes a free field must allow so that it can always end cleanly.
    pub fn min_free_graphemes(&self) -> usize {
        self.exit_len
    }

    /// Whether a free value may end after `text` in `language`: after a complete word of this
    /// vocabulary (or a number), never on a partial word, dangling punctuation or a
    /// conjunction, article or preposition.
    pub fn ends_cleanly(&self, text: &str, language: Option<&str>) -> bool {
        ends_cleanly(text, &self.words, dangling_words(language))
    }
}

enum State {
    Forced(VecDeque<u32>),
    Value { field: usize, text: String },
    Complete,
}

/// Model probability at or above which the word being written is taken to go on, so the value
/// may not close there (unless the budget leaves no room for anything else).
const WORD_GOES_ON: f64 = 0.5;

/// Decoding-time state machine for one object.
pub(crate) struct JsonConstraint {
    vocab: Arc<StructuredVocab>,
    spec: Arc<JsonSchemaSpec>,
    /// Token ids of the text forced after each value (index 0: before the first value).
    forced: Arc<Vec<Vec<u32>>>,
    state: State,
    next_field: usize,
    /// Words a free value may not end with.
    dangling: &'static [&'static str],
    /// Whether the model's next-token distribution lets the current word end (set by `mask`).
    word_may_end: bool,
    /// Whether the model puts at least [`WORD_GOES_ON`] of its probability on going on with the
    /// current word (set by `mask`, also when the budget forces the value to close).
    word_goes_on: bool,
    /// Values closed while `word_goes_on` ([`TokenConstraint::cut_words`]).
    cut_words: usize,
    /// Content tokens whose word is one of the spec's banned words.
    banned: HashSet<u32>,
    /// Exclamation marks written so far in free values.
    exclamations: usize,
    /// Set by `mask` when the rules left no token in a free value: the value may then only
    /// close with a lone quote, and the close counts as a cut, so the caller rejects the copy.
    stuck: bool,
}

/// Whether a content token's text starts a banned word: its letters, after any leading white
/// space, are one of `banned` (case ignored), followed by nothing or by punctuation.
fn starts_banned_word(piece: &str, banned: &[String]) -> bool {
    let core = piece.trim_start();
    let letters: String = core
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    !letters.is_empty() && banned.contains(&letters)
}

/// The digit runs of `text` (digits, with `.` or `,` between two digits kept inside the run), as
/// (byte offset just past the run, digits only).
fn digit_runs(text: &str) -> Vec<(usize, String)> {
    let mut runs = Vec::new();
    let mut current = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_digit = chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        if c.is_ascii_digit() {
            current.push(c);
            if !next_is_digit && !chars.peek().is_some_and(|(_, n)| matches!(n, '.' | ',')) {
                runs.push((i + 1, std::mem::take(&mut current)));
            }
        } else if matches!(c, '.' | ',') && !current.is_empty() && next_is_digit {
            // a separator inside the number
        } else if !current.is_empty() {
            runs.push((i, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        runs.push((text.len(), current));
    }
    runs
}

/// Grows the bonus given to closing a value as it fills: none under 60% of the limit, then up
/// to [`CLOSE_PRESSURE`] at the limit, and twice that after a finished sentence. It steers the
/// model to end where it has said something whole instead of running into the limit.
fn close_bonus(used: usize, max: usize, text: &str) -> f32 {
    let fill = used as f32 / max.max(1) as f32;
    let bonus = CLOSE_PRESSURE * ((fill - 0.6) / 0.4).clamp(0.0, 1.0);
    if text.ends_with(['.', '!', '?']) {
        2.0 * bonus
    } else {
        bonus
    }
}

/// Largest logit bonus of [`close_bonus`].
const CLOSE_PRESSURE: f32 = 3.0;

/// Whether `text` ends a sentence: on `.`, `!`, `?` or `…`, after any closing bracket.
fn ends_sentence(text: &str) -> bool {
    text.trim_end_matches(')').ends_with(['.', '!', '?', '…'])
}

/// Graphemes in `text + piece`.
fn joined_graphemes(text: &str, piece: &str) -> usize {
    let mut s = String::with_capacity(text.len() + piece.len());
    s.push_str(text);
    s.push_str(piece);
    s.graphemes(true).count()
}

impl JsonConstraint {
    pub(crate) fn new(
        vocab: Arc<StructuredVocab>,
        spec: Arc<JsonSchemaSpec>,
        forced: Arc<Vec<Vec<u32>>>,
    ) -> Self {
        let first = forced[0].iter().copied().collect();
        let dangling = dangling_words(spec.language.as_deref());
        let banned = if spec.banned_words.is_empty() {
            HashSet::new()
        } else {
            vocab
                .content
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    c.as_deref()
                        .is_some_and(|p| starts_banned_word(p, &spec.banned_words))
                })
                .map(|(i, _)| i as u32)
                .collect()
        };
        Self {
            vocab,
            spec,
            forced,
            state: State::Forced(first),
            next_field: 0,
            dangling,
            word_may_end: true,
            word_goes_on: false,
            cut_words: 0,
            banned,
            exclamations: 0,
            stuck: false,
        }
    }

    /// Tokenizes the fixed text between values: `{"a": "`, `", "b": "` minus the quote that
    /// closes a value (which the model picks), and the final `}`.
    pub(crate) fn forced_tokens(
        tokenizer: &TextTokenizer,
        spec: &JsonSchemaSpec,
    ) -> Result<Vec<Vec<u32>>> {
        let key = |name: &str| {
            serde_json::to_string(name).map_err(|e| TextError::Structured(e.to_string()))
        };
        let mut pieces = Vec::with_capacity(spec.fields.len() + 1);
        for (i, f) in spec.fields.iter().enumerate() {
            let text = if i == 0 {
                format!("{{{}: \"", key(&f.name)?)
            } else {
                format!(", {}: \"", key(&f.name)?)
            };
            pieces.push(tokenizer.encode_fragment(&text)?);
        }
        pieces.push(tokenizer.encode_fragment("}")?);
        if pieces.iter().any(Vec::is_empty) {
            return Err(TextError::Structured(
                "the tokenizer produced no tokens for JSON punctuation".into(),
            ));
        }
        Ok(pieces)
    }

    /// Upper bound on the tokens one object can take.
    pub(crate) fn max_tokens(&self) -> usize {
        let forced: usize = self.forced.iter().map(Vec::len).sum();
        let values: usize = self
            .spec
            .fields
            .iter()
            .map(|f| match &f.allowed_values {
                Some(vs) => vs.iter().map(|v| v.len()).max().unwrap_or(0) + 1,
                None => f.max_graphemes + 1,
            })
            .sum();
        forced + values
    }

    /// Whether content token `i` (`piece`) may follow `text` in the free field `f`: plain
    /// copy, within the limit, and either ending cleanly or leaving room for a whole word.
    fn free_piece_ok(&self, f: &JsonField, text: &str, i: usize, piece: &str) -> bool {
        if !self.vocab.plain[i]
            || (text.is_empty() && piece.starts_with(char::is_whitespace))
            || self.breaks_word_rules(text, i, piece)
        {
            return false;
        }
        let joined = format!("{text}{piece}");
        let after = joined.graphemes(true).count();
        if after <= text.graphemes(true).count() || after > f.max_graphemes {
            return false;
        }
        let left = f.max_graphemes - after;
        left >= self.exit_room(f)
            || (ends_cleanly(&joined, &self.vocab.words, self.dangling)
                && (!f.sentence || left >= 1 || ends_sentence(&joined)))
    }

    /// Graphemes always enough to end the free field `f` cleanly from any state: one whole
    /// word, and its stop when the field ends a sentence.
    fn exit_room(&self, f: &JsonField) -> usize {
        self.vocab.exit_len + usize::from(f.sentence)
    }

    /// Whether content token `i` (`piece`) after `text` would start a banned word, go over
    /// the exclamation marks allowed, end a sentence where it cannot end ([`Self::stop_ok`]) or
    /// close a bracket that is not open.
    fn breaks_word_rules(&self, text: &str, i: usize, piece: &str) -> bool {
        let starts_word = piece.starts_with(char::is_whitespace)
            || !text.ends_with(|c: char| c.is_alphanumeric() || c == '\'' || c == '’');
        (starts_word && self.banned.contains(&(i as u32)))
            || !self.stop_ok(text, piece)
            || (piece.contains(')') && text.matches('(').count() <= text.matches(')').count())
            || self
                .spec
                .max_exclamations
                .is_some_and(|max| self.exclamations + piece.matches('!').count() > max)
            || (piece.contains(|c: char| c.is_ascii_digit()) && !self.numbers_ok(text, piece))
    }

    /// Whether `piece` may follow `text` as far as full stops, exclamation and question marks
    /// go: one that opens the piece ends a sentence, so it must come after a word a sentence
    /// may end on ("you don?" and "made with the." are refused) and not after another stop
    /// ("comfortable.!").
    fn stop_ok(&self, text: &str, piece: &str) -> bool {
        if !piece.starts_with(['.', '!', '?']) || text.is_empty() {
            return true;
        }
        let after_word = text.ends_with(|c: char| c.is_alphanumeric() || c == ')' || c == '%');
        after_word && ends_cleanly(text, &self.vocab.words, self.dangling)
    }

    /// Whether every digit run that `piece` writes after `text` can still become an allowed
    /// number.
    fn numbers_ok(&self, text: &str, piece: &str) -> bool {
        let Some(allowed) = &self.spec.allowed_numbers else {
            return true;
        };
        let joined = format!("{text}{piece}");
        digit_runs(&joined)
            .into_iter()
            .filter(|(end, _)| *end > text.len())
            .all(|(_, run)| allowed.iter().any(|n| n.starts_with(&run)))
    }

    /// Whether the free field `f` may close after `text` with the close token's `rest`.
    fn free_close_ok(&self, f: &JsonField, text: &str, rest: &str) -> bool {
        if !rest.is_empty()
            && (!is_plain_piece(rest)
                || rest.starts_with(char::is_alphanumeric)
                || rest.starts_with(char::is_whitespace))
        {
            return false;
        }
        if self
            .spec
            .max_exclamations
            .is_some_and(|max| self.exclamations + rest.matches('!').count() > max)
        {
            return false;
        }
        let value = format!("{text}{rest}");
        let length = value.graphemes(true).count();
        if length + self.vocab.exit_len > f.max_graphemes && !last_word_is_whole(&value) {
            return false;
        }
        if let Some(allowed) = &self.spec.allowed_numbers {
            let whole = digit_runs(&value)
                .into_iter()
                .all(|(_, run)| allowed.contains(&run));
            if !whole {
                return false;
            }
        }
        self.word_may_end
            && value.graphemes(true).count() <= f.max_graphemes
            && ends_cleanly(&value, &self.vocab.words, self.dangling)
            && (!f.sentence || ends_sentence(&value))
    }

    /// Sets `word_may_end` from the model's logits: the word may end unless the model puts at
    /// least [`WORD_GOES_ON`] of its probability on going on with it, or too little room is left
    /// for anything but ending.
    fn judge_word_end(&mut self, logits: &[f32]) {
        self.word_may_end = true;
        self.word_goes_on = false;
        let State::Value { field, text } = &self.state else {
            return;
        };
        let f = &self.spec.fields[*field];
        if f.allowed_values.is_some() || !text.ends_with(char::is_alphanumeric) {
            return;
        }
        let max = logits
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return;
        }
        let (mut all, mut goes_on) = (0f64, 0f64);
        for (i, &l) in logits.iter().enumerate() {
            if l.is_finite() {
                let p = ((l - max) as f64).exp();
                all += p;
                if self.vocab.continues_word.get(i).copied().unwrap_or(false) {
                    goes_on += p;
                }
            }
        }
        self.word_goes_on = goes_on / all >= WORD_GOES_ON;
        // With too little room for anything but ending, the value must be allowed to close; the
        // cut is then counted, and the caller decides what to do with such a value.
        let left = f.max_graphemes.saturating_sub(text.graphemes(true).count());
        self.word_may_end = !self.word_goes_on || left < self.exit_room(f);
    }
}

impl TokenConstraint for JsonConstraint {
    /// Forced text keeps only its next token; inside a value, tokens that overrun the limit or
    /// leave every allowed value are masked; in a free value, tokens that are not plain copy or
    /// would leave no room to end on a whole word, and the closing quote where the value would
    /// end mid-word or dangling.
    fn mask(&mut self, logits: &mut [f32]) {
        self.stuck = false;
        self.judge_word_end(logits);
        match &self.state {
            State::Forced(queue) => {
                let keep = queue.front().copied().unwrap_or(0) as usize;
                for (i, l) in logits.iter_mut().enumerate() {
                    if i != keep {
                        *l = f32::NEG_INFINITY;
                    }
                }
            }
            State::Value { field, text } => {
                let f = &self.spec.fields[*field];
                let used = text.graphemes(true).count();
                let budget = f.max_graphemes.saturating_sub(used);
                let roomy = budget.saturating_sub(self.exit_room(f));
                let pressure = close_bonus(used, f.max_graphemes, text);
                for (i, l) in logits.iter_mut().enumerate() {
                    let content = self.vocab.content.get(i).and_then(Option::as_ref);
                    let close = self.vocab.close.get(i).and_then(Option::as_ref);
                    let graphemes = self.vocab.content_graphemes.get(i).copied().unwrap_or(0);
                    let ok = match (content, close, &f.allowed_values) {
                        (Some(piece), _, Some(values)) if graphemes <= budget => {
                            values.iter().any(|v| {
                                v.strip_prefix(text.as_str())
                                    .is_some_and(|r| r.starts_with(piece.as_str()))
                            })
                        }
                        (Some(piece), _, None) if graphemes <= budget => {
                            if graphemes <= roomy {
                                self.vocab.plain[i]
                                    && !(text.is_empty() && piece.starts_with(char::is_whitespace))
                                    && !self.breaks_word_rules(text, i, piece)
                            } else {
                                self.free_piece_ok(f, text, i, piece)
                            }
                        }
                        (_, Some(rest), Some(values)) => values
                            .iter()
                            .any(|v| v.strip_prefix(text.as_str()) == Some(rest.as_str())),
                        (_, Some(rest), None) => {
                            let ok = self.free_close_ok(f, text, rest);
                            if ok {
                                *l += pressure;
                            }
                            ok
                        }
                        _ => false,
                    };
                    if !ok {
                        *l = f32::NEG_INFINITY;
                    }
                }
                // A way out is always kept: when the rules leave nothing (a number that cannot
                // be finished in the room left, say), the value closes and counts as cut.
                if f.allowed_values.is_none() && logits.iter().all(|l| !l.is_finite()) {
                    let close = self.vocab.lone_close as usize;
                    if let Some(l) = logits.get_mut(close) {
                        *l = 0.0;
                        self.stuck = true;
                    }
                }
            }
            State::Complete => logits.iter_mut().for_each(|l| *l = f32::NEG_INFINITY),
        }
    }

    /// Exact: grapheme counts of the joined text.
    fn allows(&self, token: u32) -> bool {
        if self.stuck {
            return token == self.vocab.lone_close;
        }
        let i = token as usize;
        match &self.state {
            State::Forced(queue) => queue.front() == Some(&token),
            State::Value { field, text } => {
                let f = &self.spec.fields[*field];
                if let Some(piece) = self.vocab.content.get(i).and_then(Option::as_ref) {
                    let Some(values) = &f.allowed_values else {
                        return self.free_piece_ok(f, text, i, piece);
                    };
                    let joined = joined_graphemes(text, piece);
                    let grows = joined > text.graphemes(true).count();
                    return grows
                        && values
                            .iter()
                            .any(|v| v.starts_with(&format!("{text}{piece}")));
                }
                if let Some(rest) = self.vocab.close.get(i).and_then(Option::as_ref) {
                    return match &f.allowed_values {
                        Some(values) => values.contains(&format!("{text}{rest}")),
                        None => self.free_close_ok(f, text, rest),
                    };
                }
                false
            }
            State::Complete => false,
        }
    }

    fn advance(&mut self, token: u32) {
        let i = token as usize;
        if matches!(self.state, State::Value { .. })
            && (self.word_goes_on || self.stuck)
            && self.vocab.content.get(i).is_none_or(Option::is_none)
        {
            self.cut_words += 1;
        }
        self.stuck = false;
        self.word_may_end = true;
        self.word_goes_on = false;
        let state = std::mem::replace(&mut self.state, State::Complete);
        self.state = match state {
            State::Forced(mut queue) => {
                queue.pop_front();
                if !queue.is_empty() {
                    State::Forced(queue)
                } else if self.next_field < self.spec.fields.len() {
                    let field = self.next_field;
                    self.next_field += 1;
                    State::Value {
                        field,
                        text: String::new(),
                    }
                } else {
                    State::Complete
                }
            }
            State::Value { field, mut text } => {
                if let Some(piece) = self.vocab.content.get(i).and_then(Option::as_ref) {
                    if self.spec.fields[field].allowed_values.is_none() {
                        self.exclamations += piece.matches('!').count();
                    }
                    text.push_str(piece);
                    State::Value { field, text }
                } else {
                    State::Forced(self.forced[field + 1].iter().copied().collect())
                }
            }
            State::Complete => State::Complete,
        };
    }

    /// Complete once the closing brace has been produced.
    fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// The object's punctuation and keys are forced; values are chosen.
    fn is_forced(&self) -> bool {
        matches!(self.state, State::Forced(_))
    }

    fn cut_words(&self) -> usize {
        self.cut_words
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digit_runs_keep_separators_inside_numbers() {
        let runs = |t: &str| -> Vec<String> { digit_runs(t).into_iter().map(|(_, n)| n).collect() };
        assert_eq!(
            runs("Save 15% on 5,000 miles, 2.5 km."),
            ["15", "5000", "25"]
        );
        assert_eq!(runs("Open 7 days, 24h"), ["7", "24"]);
        assert_eq!(runs("no numbers"), Vec::<String>::new());
        assert_eq!(digit_runs("at 8")[0].0, 4);
    }

    #[test]
    fn closing_is_pushed_harder_as_the_value_fills() {
        assert_eq!(close_bonus(10, 40, "Fresh bread"), 0.0);
        let late = close_bonus(36, 40, "Fresh bread at your door");
        assert!(late > 0.0 && late < CLOSE_PRESSURE);
        assert!((close_bonus(40, 40, "Fresh bread") - CLOSE_PRESSURE).abs() < 1e-5);
        assert!((close_bonus(40, 40, "Fresh bread.") - 2.0 * CLOSE_PRESSURE).abs() < 1e-5);
    }

    use super::*;

    #[test]
    fn spec_validation_rejects_impossible_values() {
        let spec = JsonSchemaSpec::new(vec![JsonField::one_of("cta", 3, vec!["Buy now".into()])]);
        assert!(spec.validate().is_err());
        assert!(JsonSchemaSpec::new(vec![]).validate().is_err());
        let ok = JsonSchemaSpec::new(vec![JsonField::free("headline", 30)]);
        assert!(ok.validate().is_ok());
        assert!(ok
            .instruction()
            .contains("\"headline\" (at most 30 characters)"));
        assert!(!is_plain_content("a\"b"));
        assert!(is_plain_content("Été 🇫🇷"));
    }
}

#[cfg(test)]
#[path = "structured_tests.rs"]
mod word_tests;
