//! The small words of the four copy languages that decide where a sentence or a field may end:
//! function words nothing ends on (articles, prepositions, conjunctions, possessives,
//! quantifiers: "Fresh coffee and", "delivered frozen every."), and the one- and two-letter
//! words that are whole words ("in", "et", "zu"), not the start of a longer one cut short.
//!
//! One list per language, shared by the constrained decoder (where a field may close), copy
//! selection (sentences that end on one) and the copy evaluation (fields that end on one).
//! Entries are lowercase and keep their accents; compare folded words with [`dangles`].

use crate::copy::naming::fold;
use crate::Language;

const EN: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "nor", "with", "for", "to", "of", "in", "on", "at", "by",
    "from", "into", "onto", "as", "than", "via", "per", "plus", "your", "our", "my", "their",
    "its", "his", "her", "this", "that", "these", "those", "so", "if", "is", "are", "was", "were",
    "be", "every", "each", "both", "very", "such", "whose", "whether", "because", "while",
    "either", "neither",
    // Stems of negative contractions, cut before their "'t" ("the words you don?").
    "don", "doesn", "didn", "isn", "aren", "wasn", "weren", "haven", "hasn", "couldn", "wouldn",
    "shouldn",
];
const FR: &[&str] = &[
    "et", "ou", "avec", "pour", "le", "la", "les", "de", "des", "du", "un", "une", "au", "aux",
    "à", "en", "sur", "par", "dans", "sans", "votre", "vos", "notre", "nos", "mon", "ma", "mes",
    "son", "sa", "ses", "ce", "cette", "ces", "que", "qui", "mais", "est",
];
const ES: &[&str] = &[
    "y", "e", "o", "u", "con", "para", "el", "la", "los", "las", "un", "una", "unos", "unas", "de",
    "del", "al", "a", "en", "por", "sin", "su", "sus", "tu", "tus", "nuestro", "nuestra", "que",
    "pero", "es",
];
const DE: &[&str] = &[
    "und", "oder", "mit", "für", "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen",
    "einem", "einer", "zu", "zum", "zur", "von", "vom", "im", "in", "an", "am", "auf", "aus",
    "bei", "nach", "ohne", "um", "ihr", "ihre", "dein", "deine", "unser", "unsere", "sein",
    "seine", "aber", "ist",
];

/// Words of one or two letters that are whole words in English, French, Spanish or German. At
/// the very end of a field's room, a shorter last word not in this list is taken to be the start
/// of a longer word that did not fit (" re" of "returns").
pub const SHORT_WORDS: &[&str] = &[
    "a", "i", "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is", "it", "me", "my",
    "no", "of", "ok", "on", "or", "so", "to", "up", "us", "we", "tv", "uk", "eu", "ai", "à", "y",
    "o", "e", "au", "ce", "de", "du", "en", "et", "il", "je", "la", "le", "ma", "ne", "ni", "ou",
    "sa", "se", "si", "ta", "te", "tu", "un", "vu", "el", "es", "ha", "lo", "mi", "ya", "yo", "su",
    "ab", "am", "da", "er", "im", "ob", "um", "wo", "zu",
];

/// Endings after an apostrophe that make an English contraction ("brand's", "don't",
/// "we're", "they've", "you'll", "you'd", "I'm").
pub const CONTRACTION_ENDINGS_EN: &[&str] = &["s", "t", "re", "ve", "ll", "d", "m"];

/// Endings of an English subject with its verb contracted ("you'll", "we're", "they've",
/// "I'm", "you'd"): such a word opens a clause and never ends one.
pub const CONTRACTED_VERBS_EN: &[&str] = &["'ll", "'re", "'ve", "'m", "'d"];

/// English subject pronouns.
pub const SUBJECT_PRONOUNS_EN: &[&str] = &["i", "you", "we", "they", "he", "she", "it"];

/// The words nothing in `language` may end on (lowercase, accented).
pub fn dangling_words(language: Language) -> &'static [&'static str] {
    match language {
        Language::En => EN,
        Language::Fr => FR,
        Language::Es => ES,
        Language::De => DE,
    }
}

/// Whether `word` (any case, accents or not) is one of `language`'s [`dangling_words`].
pub fn dangles(word: &str, language: Language) -> bool {
    let word = fold(word);
    dangling_words(language).iter().any(|w| fold(w) == word)
}

/// Whether `word` (lowercase) dangles in any of the four languages.
pub fn dangles_anywhere(word: &str) -> bool {
    Language::ALL
        .iter()
        .any(|&language| dangling_words(language).contains(&word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_words_dangle_in_their_language_with_or_without_accents() {
        assert!(dangles("The", Language::En));
        assert!(dangles("every", Language::En));
        assert!(!dangles("coffee", Language::En));
        assert!(dangles("fur", Language::De));
        assert!(dangles("für", Language::De));
        assert!(dangles("a", Language::Fr));
        assert!(!dangles("und", Language::En));
        assert!(dangles_anywhere("und"));
        assert!(!dangles_anywhere("brot"));
    }
}
