//! The per-variant checks of the copy evaluation, on plain strings (definitions in the parent
//! module's documentation).

use adforge_targeting::copy::function_words::dangles;
use adforge_targeting::Language;
use unicode_segmentation::UnicodeSegmentation;

pub use adforge_targeting::copy::naming::{fold, main_noun, names_brand_or_product, stem, words};

/// Known words: the vocabulary copy selection checks words against, also used here to accept
/// a field's last word as complete.
pub use adforge_targeting::copy::faults::Vocabulary;

/// The known words of a WordPiece vocabulary (`vocab.txt`) with the short words of the four
/// languages.
pub fn vocabulary_from_wordpiece(vocab: &str) -> Vocabulary {
    Vocabulary::from_wordpiece(vocab, adforge_targeting::copy::function_words::SHORT_WORDS)
}

/// Whether `field` looks cut inside a word: it fills its limit of `max_graphemes` exactly, ends
/// on a letter, and its last word is not a known complete word (digits count as complete).
pub fn cut_mid_word(field: &str, max_graphemes: usize, vocabulary: &Vocabulary) -> bool {
    let field = field.trim_end();
    if field.graphemes(true).count() < max_graphemes {
        return false;
    }
    let Some(last) = field.chars().next_back() else {
        return false;
    };
    if !last.is_alphabetic() {
        return false;
    }
    let last_word = field
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    !vocabulary.contains(last_word)
}

/// Whether `field` ends on a dangling comma, colon, semicolon, dash, opening bracket or
/// ampersand, or on a conjunction, article or preposition of `language`.
pub fn dangling_end(field: &str, language: &str) -> bool {
    let field = field.trim_end();
    let Some(last) = field.chars().next_back() else {
        return false;
    };
    if matches!(last, ',' | ':' | ';' | '-' | '–' | '—' | '(' | '&' | '/') {
        return true;
    }
    let last_word = words(field).pop().unwrap_or_default();
    let language = Language::from_tag(language).unwrap_or(Language::En);
    last.is_alphanumeric() && dangles(&last_word, language)
}

/// The markup and placeholder artefacts found in `field`, by kind.
pub fn artefacts(field: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    let folded = fold(field);
    let mut push = |kind: &'static str| {
        if !found.contains(&kind) {
            found.push(kind);
        }
    };
    if field.chars().any(|c| {
        matches!(
            c,
            '*' | '[' | ']' | '{' | '}' | '<' | '>' | '#' | '`' | '|' | '\\' | '~' | '_'
        )
    }) {
        push("markup character");
    }
    if folded.contains("http") || folded.contains("www.") {
        push("url");
    }
    for label in [
        "headline:",
        "body:",
        "cta:",
        "call to action:",
        "description:",
    ] {
        if folded.contains(label) {
            push("field label");
        }
    }
    let field_words = words(field);
    if field_words
        .iter()
        .any(|w| (w.len() >= 2 && w.chars().all(|c| c == 'x')) || w == "lorem" || w == "ipsum")
        || folded.contains("brand name")
        || folded.contains("product name")
    {
        push("placeholder");
    }
    let trimmed = field.trim();
    let quotes = [
        '"', '\'', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}', '«', '»',
    ];
    if trimmed.starts_with(quotes) || trimmed.ends_with(quotes) {
        push("stray quote");
    }
    if trimmed.contains("...") || trimmed.contains('\u{2026}') {
        push("ellipsis");
    }
    let mut run = 0;
    for c in field.chars() {
        if is_emoji(c) {
            run += 1;
            if run >= 2 {
                push("emoji run");
            }
        } else if !c.is_whitespace() {
            run = 0;
        }
    }
    if field.chars().any(|c| c.is_control()) {
        push("control character");
    }
    found
}

fn is_emoji(c: char) -> bool {
    matches!(u32::from(c), 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

/// The language of `text` as an ISO 639-1 code, by the identifier copy selection uses
/// ([`adforge_targeting::copy::identify`]); `None` when nothing is recognised (empty text).
pub fn detect_language(text: &str) -> Option<&'static str> {
    adforge_targeting::copy::identify(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        vocabulary_from_wordpiece("[PAD]\nworld\n##s\nwelcome\nfresh\nbread\ndoor\nawesome\n")
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Crème BRÛLÉE Straße"), "creme brulee strasse");
        assert_eq!(words("Crumb & Co’s bread!"), ["crumb", "co", "s", "bread"]);
    }

    #[test]
    fn names_match_brand_product_or_main_noun() {
        let brand = "Crumb & Co";
        let product = "sourdough bread subscription";
        assert_eq!(main_noun(product).as_deref(), Some("bread"));
        assert_eq!(
            main_noun("Inkpad note-taking app").as_deref(),
            Some("note-taking")
        );
        assert!(names_brand_or_product(
            "Fresh loaves from CRUMB & CO",
            brand,
            product
        ));
        assert!(names_brand_or_product(
            "Warm breads at dawn",
            brand,
            product
        ));
        assert!(!names_brand_or_product(
            "Join the best team ever",
            brand,
            product
        ));
        // A word that merely contains the name does not count.
        assert!(!names_brand_or_product("Breadth of choice", brand, product));
        assert!(names_brand_or_product(
            "Save with PennyJar",
            "Penny Jar",
            "budgeting app"
        ));
        assert!(names_brand_or_product(
            "Linen shirt, relaxed fit",
            "Holloway",
            "linen shirts"
        ));
        assert!(names_brand_or_product(
            "Crème glacée maison",
            "Glacier",
            "crème glacée"
        ));
    }

    #[test]
    fn cuts_are_fields_at_the_limit_ending_inside_a_word() {
        let vocabulary = vocabulary();
        let cut = "Welcome to a world s";
        assert!(cut_mid_word(cut, cut.len(), &vocabulary));
        assert!(cut_mid_word("This awesome co", 15, &vocabulary));
        // Under the limit, ending on punctuation or a number, or on a known word: not a cut.
        assert!(!cut_mid_word("This awesome co", 20, &vocabulary));
        assert!(!cut_mid_word("Fresh bread.", 12, &vocabulary));
        assert!(!cut_mid_word("Fresh bread at 8", 16, &vocabulary));
        assert!(!cut_mid_word("Fresh bread at your door", 24, &vocabulary));
        let mut with_brief = vocabulary.clone();
        with_brief.add_text("Inkpad");
        assert!(!cut_mid_word("Notes with Inkpad", 17, &with_brief));
    }

    #[test]
    fn dangling_endings_are_found_per_language() {
        assert!(dangling_end("Fresh bread and", "en"));
        assert!(dangling_end("Fresh bread,", "en"));
        assert!(dangling_end("Du pain frais et", "fr"));
        assert!(!dangling_end("Fresh bread at your door", "en"));
        assert!(!dangling_end("Order now!", "en"));
    }

    #[test]
    fn artefacts_are_named_by_kind() {
        assert_eq!(artefacts("**Fresh** bread"), ["markup character"]);
        assert_eq!(artefacts("Order at https://x.example"), ["url"]);
        assert_eq!(artefacts("Headline: Fresh bread"), ["field label"]);
        assert_eq!(artefacts("Save XX% today"), ["placeholder"]);
        assert_eq!(artefacts("'}"), ["markup character", "stray quote"]);
        assert!(artefacts("Fresh sourdough, delivered before 8 am.").is_empty());
        assert!(artefacts("Crumb & Co: l’été en pain").is_empty());
    }

    #[test]
    fn languages_are_identified() {
        assert_eq!(
            detect_language("Fresh sourdough delivered to your door twice a week"),
            Some("en")
        );
        assert_eq!(
            detect_language("Du pain au levain livré chez vous deux fois par semaine"),
            Some("fr")
        );
        assert_eq!(
            detect_language("Frisches Sauerteigbrot zweimal pro Woche an Ihre Tür geliefert"),
            Some("de")
        );
        assert_eq!(detect_language(""), None);
    }
}
