//! Whether copy names the brand or the product: the one definition that copy selection rejects
//! on and the copy evaluation (`adforge eval copy`) measures.

use std::collections::HashSet;

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// Lower case with accents stripped (`Crème` → `creme`, `ß` → `ss`, `œ` → `oe`) and curly
/// apostrophes straightened, so names match however the model capitalised or accented them.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        for lower in c.to_lowercase() {
            match lower {
                'ß' => out.push_str("ss"),
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                '\u{2018}' | '\u{2019}' => out.push('\''),
                _ => decompose_canonical(lower, |d| {
                    if !is_combining_mark(d) {
                        out.push(d);
                    }
                }),
            }
        }
    }
    out
}

/// The words of `text`, folded (runs of letters and digits; apostrophes and hyphens split).
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A word with one plural ending removed, so `shirt` and `shirts` (or `classes`/`class`) meet.
pub fn stem(word: &str) -> &str {
    if word.len() > 4 {
        if let Some(s) = word.strip_suffix("es") {
            return s;
        }
    }
    if word.len() > 3 {
        if let Some(s) = word.strip_suffix('s') {
            return s;
        }
    }
    word
}

/// Product words that say what kind of offer it is rather than what it is; the main noun is
/// the last product word that is not one of these.
const GENERIC_PRODUCT_WORDS: &[&str] = &[
    "app",
    "apps",
    "application",
    "service",
    "services",
    "subscription",
    "subscriptions",
    "plan",
    "plans",
    "online",
    "software",
    "platform",
    "tool",
    "kit",
    "pack",
    "box",
    "set",
    "abonnement",
    "application",
    "servicio",
    "suscripcion",
    "aplicacion",
    "dienst",
    "abo",
];

/// Articles and prepositions skipped when picking the main noun.
const FUNCTION_WORDS: &[&str] = &[
    "the", "a", "an", "of", "for", "and", "with", "de", "du", "des", "la", "le", "les", "et",
    "pour", "el", "los", "las", "y", "para", "con", "der", "die", "das", "und", "fur", "mit",
];

/// The product's main noun: its last word of three letters or more that is neither generic
/// (`app`, `subscription`…) nor a function word; in "sourdough bread subscription" it is
/// `bread`, in "linen shirts" `shirts`. Falls back to the last such word of any kind.
pub fn main_noun(product: &str) -> Option<String> {
    let folded = fold(product);
    let content: Vec<&str> = folded
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 3 && !FUNCTION_WORDS.contains(w))
        .collect();
    content
        .iter()
        .rev()
        .find(|w| !GENERIC_PRODUCT_WORDS.contains(w))
        .or_else(|| content.last())
        .map(|w| w.to_string())
}

/// Whether the folded word sequence `needle` occurs in `haystack` at word boundaries, words
/// compared after removing a plural ending.
fn contains_words(haystack: &[String], needle: &[String]) -> bool {
    if needle.is_empty() || needle.len() > haystack.len() {
        return false;
    }
    haystack
        .windows(needle.len())
        .any(|window| window.iter().zip(needle).all(|(a, b)| stem(a) == stem(b)))
}

/// Whether `copy` names the brand, the product, or the product's [`main_noun`], as whole words,
/// ignoring case and accents. Brand names written as one word ("PennyJar") also match the
/// spaced form ("Penny Jar").
pub fn names_brand_or_product(copy: &str, brand: &str, product: &str) -> bool {
    let copy_words = words(copy);
    let joined: HashSet<String> = copy_words.iter().map(|w| stem(w).to_string()).collect();
    let brand_words = words(brand);
    if contains_words(&copy_words, &brand_words)
        || (brand_words.len() > 1 && joined.contains(stem(&brand_words.concat())))
    {
        return true;
    }
    if contains_words(&copy_words, &words(product)) {
        return true;
    }
    main_noun(product).is_some_and(|noun| contains_words(&copy_words, &words(&noun)))
}
