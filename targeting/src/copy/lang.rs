//! Language identification of generated copy with `whatlang`, among the four languages copy is
//! written in and six more Latin-script languages that short ad texts are often mistaken for.
//!
//! A candidate passes only when the identifier names its language, or names none (empty
//! text). On short texts whatlang is rarely "reliable" by its own measure, so reliability is
//! recorded but not used: copy that reads to the identifier as Italian or Dutch usually is odd
//! English (fragments, made-up words), and over-generation has other candidates. The copy
//! evaluation (`adforge eval copy`) measures the right-language rate with [`identify`] too.

use serde::{Deserialize, Serialize};
use whatlang::{Detector, Lang};

use crate::brief::Language;

/// What the detector says about a text, for provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageCheck {
    /// The language detected, as an ISO 639-1 code; `None` when nothing was detected.
    pub detected: Option<String>,
    /// The detector's confidence in `[0, 1]`.
    pub confidence: f64,
    /// Whether the detector considers its answer reliable.
    pub reliable: bool,
    /// False when the detector names a language other than the expected one.
    pub passes: bool,
}

/// The languages the identifier chooses among, with their ISO 639-1 codes.
const CANDIDATES: [(Lang, &str); 10] = [
    (Lang::Eng, "en"),
    (Lang::Fra, "fr"),
    (Lang::Spa, "es"),
    (Lang::Deu, "de"),
    (Lang::Ita, "it"),
    (Lang::Por, "pt"),
    (Lang::Nld, "nl"),
    (Lang::Swe, "sv"),
    (Lang::Pol, "pl"),
    (Lang::Tur, "tr"),
];

fn detector() -> Detector {
    Detector::with_allowlist(CANDIDATES.iter().map(|(lang, _)| *lang).collect())
}

fn code(lang: Lang) -> Option<&'static str> {
    CANDIDATES
        .iter()
        .find(|(candidate, _)| *candidate == lang)
        .map(|(_, code)| *code)
}

/// The language of `text` as an ISO 639-1 code; `None` when nothing is recognised.
pub fn identify(text: &str) -> Option<&'static str> {
    detector().detect_lang(text).and_then(code)
}

/// Identifies the language of `text` (headline and body together work best) and checks it
/// against `expected`.
pub fn detect_language(text: &str, expected: Language) -> LanguageCheck {
    match detector().detect(text) {
        Some(info) => {
            let detected = code(info.lang());
            LanguageCheck {
                detected: detected.map(str::to_string),
                confidence: info.confidence(),
                reliable: info.is_reliable(),
                passes: detected == Some(expected.code()),
            }
        }
        None => LanguageCheck {
            detected: None,
            confidence: 0.0,
            reliable: false,
            passes: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_language_passes_and_a_wrong_one_is_caught() {
        let en = "Northwind Cold Brew. Steeped for 18 hours from single-origin beans, delivered to your office.";
        let fr = "Le café infusé à froid de Northwind, préparé pendant 18 heures et livré à votre bureau.";
        let de = "Der Cold Brew von Northwind wird 18 Stunden lang gebrüht und direkt ins Büro geliefert.";
        let es = "El café de Northwind se prepara en frío durante 18 horas y llega a tu oficina.";
        assert!(detect_language(en, Language::En).passes);
        for (text, language) in [(fr, Language::Fr), (de, Language::De), (es, Language::Es)] {
            let right = detect_language(text, language);
            assert!(right.passes, "{text}");
            assert_eq!(right.detected.as_deref(), Some(language.code()));
            let wrong = detect_language(text, Language::En);
            assert!(!wrong.passes, "{text} passed as English: {wrong:?}");
        }
        assert!(!detect_language(en, Language::De).passes);
    }

    #[test]
    fn nothing_to_detect_passes() {
        let check = detect_language("", Language::En);
        assert!(check.passes);
        assert_eq!(check.detected, None);
    }
}
