//! Word-level rules for free-text fields of structured output: where a value may end (after a
//! complete word, never on dangling punctuation or a conjunction, article or preposition), and
//! which token texts are plain copy (no markup, no line breaks).

use std::collections::HashSet;

use adforge_targeting::copy::function_words::{self, CONTRACTED_VERBS_EN, CONTRACTION_ENDINGS_EN};
pub(crate) use adforge_targeting::copy::function_words::{dangles_anywhere, SHORT_WORDS};
use adforge_targeting::Language;

/// Characters that never belong in ad copy: Markdown, brackets of templates and JSON.
const MARKUP: &[char] = &[
    '*', '[', ']', '{', '}', '<', '>', '#', '|', '`', '_', '~', '^', '=', '\\',
];

/// Punctuation a value may end with (after a complete word).
const FINAL_PUNCT: &[char] = &['.', '!', '?', '…', ')', '%'];

/// Whether the last word of `text` is a whole short word or longer than two letters.
pub(crate) fn last_word_is_whole(text: &str) -> bool {
    let core = text.trim_end_matches(FINAL_PUNCT);
    match last_word(core) {
        Some(word) if word.chars().count() <= 2 && !word.chars().all(|c| c.is_ascii_digit()) => {
            SHORT_WORDS.contains(&word.to_lowercase().as_str())
        }
        _ => true,
    }
}

/// The words a value may not end with in `language` (a BCP 47 tag; English when unknown).
pub(crate) fn dangling_words(language: Option<&str>) -> &'static [&'static str] {
    function_words::dangling_words(
        language
            .and_then(Language::from_tag)
            .unwrap_or(Language::En),
    )
}

/// Whether a token's text can be part of free ad copy: no markup or control characters, no
/// line break, no doubled or trailing whitespace (so a value never ends in a space).
pub(crate) fn is_plain_piece(piece: &str) -> bool {
    !piece.is_empty()
        && !piece.contains("  ")
        && !piece.ends_with(char::is_whitespace)
        && piece
            .chars()
            .all(|c| !c.is_control() && !MARKUP.contains(&c) && c != '"')
}

/// The last word of `text` (ending at its last character, which must be alphanumeric), with a
/// contraction suffix ("'s", "'t") removed so the stem is judged.
pub(crate) fn last_word(text: &str) -> Option<&str> {
    let end = text.len();
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric())
        .last()
        .map(|(i, _)| i)?;
    let word = &text[start..end];
    let before = &text[..start];
    if let Some(stem_end) = before.strip_suffix(['\'', '’']) {
        if CONTRACTION_ENDINGS_EN.contains(&word.to_lowercase().as_str()) {
            let stem = last_word(stem_end)?;
            return Some(stem);
        }
    }
    Some(word)
}

/// Whether a value may end after `text`: it ends in a complete word (one the vocabulary has as
/// a whole word, a number, or "I"), optionally followed by closing punctuation, and that word is
/// not one of `dangling`.
pub(crate) fn ends_cleanly(text: &str, words: &HashSet<String>, dangling: &[&str]) -> bool {
    let core = text.trim_end_matches(FINAL_PUNCT);
    // A pronoun with its verb contracted ("you'll", "we're", "they've", "I'm", "you'd") is
    // the start of a clause, never its end.
    let lower = core.to_lowercase().replace('’', "'");
    if CONTRACTED_VERBS_EN
        .iter()
        .any(|suffix| lower.ends_with(suffix))
    {
        return false;
    }
    // A negated auxiliary ("don't", "can't", "isn't") is a whole word that may close a
    // sentence; only its stem without the "'t" ("don") dangles.
    if lower
        .strip_suffix("n't")
        .and_then(|stem| stem.chars().last())
        .is_some_and(char::is_alphabetic)
    {
        return true;
    }
    let Some(last) = core.chars().last() else {
        return false;
    };
    if !last.is_alphanumeric() {
        return false;
    }
    let Some(word) = last_word(core) else {
        return false;
    };
    if word.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if word == "I" {
        return true;
    }
    let lower = word.to_lowercase();
    if word.chars().count() < 2 || dangling.contains(&lower.as_str()) {
        return false;
    }
    words.contains(&lower)
}

/// The whole words of a vocabulary: lowercase texts of tokens that are a space followed by
/// letters only (how byte-level BPE vocabularies spell a word that starts after a space).
pub(crate) fn vocabulary_words<'a>(pieces: impl Iterator<Item = &'a str>) -> HashSet<String> {
    pieces
        .filter_map(|p| p.strip_prefix(' '))
        .filter(|w| !w.is_empty() && w.chars().all(char::is_alphabetic))
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> HashSet<String> {
        vocabulary_words(
            [
                " coffee", " Now", " brew", " world", " the", " and", " café", "fee", " s",
            ]
            .into_iter(),
        )
    }

    #[test]
    fn ends_only_after_complete_non_dangling_words() {
        let w = words();
        let en = dangling_words(None);
        assert!(ends_cleanly("Cold brew coffee", &w, en));
        assert!(ends_cleanly("Shop now!", &w, en));
        assert!(ends_cleanly("Save 20%", &w, en));
        assert!(ends_cleanly("The world's", &w, en));
        assert!(!ends_cleanly("Welcome to a world s", &w, en));
        assert!(!ends_cleanly("This awesome cof", &w, en));
        assert!(!ends_cleanly("Coffee and", &w, en));
        assert!(!ends_cleanly("Coffee, the", &w, en));
        assert!(!ends_cleanly("Coffee,", &w, en));
        assert!(!ends_cleanly("Coffee -", &w, en));
        assert!(!ends_cleanly("Coffee (", &w, en));
        assert!(!ends_cleanly("Coffee &", &w, en));
        assert!(!ends_cleanly("", &w, en));
        assert!(!ends_cleanly("Coffee$", &w, en));
        assert!(!ends_cleanly("Coffee”", &w, en));
        assert!(ends_cleanly("Learn the words you don't.", &w, en));
        assert!(ends_cleanly("Others can’t", &w, en));
        assert!(!ends_cleanly("Learn the words you don", &w, en));
        assert!(!ends_cleanly("Words you'll", &w, en));
        assert!(ends_cleanly("Un café", &w, dangling_words(Some("fr"))));
        assert!(!ends_cleanly(
            "Café et",
            &words(),
            dangling_words(Some("fr-FR"))
        ));
        assert!(!ends_cleanly(
            "Kaffee und",
            &words(),
            dangling_words(Some("de"))
        ));
        assert!(!ends_cleanly(
            "Café con",
            &words(),
            dangling_words(Some("es"))
        ));
    }

    #[test]
    fn short_last_words_must_be_whole_words() {
        assert!(last_word_is_whole("Returns accepted"));
        assert!(last_word_is_whole("Sign up"));
        assert!(last_word_is_whole("Save 15"));
        assert!(last_word_is_whole("Free returns, no"));
        assert!(!last_word_is_whole("including re"));
        assert!(!last_word_is_whole("Free delivery in th"));
    }

    #[test]
    fn plain_pieces_hold_no_markup_or_breaks() {
        assert!(is_plain_piece(" coffee"));
        assert!(is_plain_piece("!"));
        assert!(!is_plain_piece("**"));
        assert!(!is_plain_piece(" ["));
        assert!(!is_plain_piece("'}"));
        assert!(!is_plain_piece("\n"));
        assert!(!is_plain_piece("word "));
        assert!(!is_plain_piece(""));
    }
}
