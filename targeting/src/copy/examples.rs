//! Few-shot example ads (`assets/copy/examples.toml`), standard calls to action
//! (`assets/copy/ctas.toml`) and what each of them suits (`assets/copy/cta_uses.toml`), embedded
//! in the binary and parsed once.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use unicode_segmentation::UnicodeSegmentation;

use crate::brief::{Language, PlacementSpec};

const EXAMPLES_TOML: &str = include_str!("../../../assets/copy/examples.toml");
const CTAS_TOML: &str = include_str!("../../../assets/copy/ctas.toml");
const CTA_USES_TOML: &str = include_str!("../../../assets/copy/cta_uses.toml");

/// The kind of placement, which sets the shape of the ads shown as examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementKind {
    /// Search ads: short headline, one-line body.
    Search,
    /// Display banners and native ads.
    Display,
    /// Social feeds and stories: longer headline and body.
    Social,
}

impl PlacementKind {
    /// The kind of a placement: by its name (`*search*`, `*pmax*`; `meta_*`, `*feed*`, `*stories*`,
    /// `*social*`, `instagram*`, `facebook*`, `tiktok*`, `linkedin*`), else by its limits (a body
    /// over 100 characters reads as social), else display.
    pub fn of(placement: &PlacementSpec) -> PlacementKind {
        let name = placement.name.to_ascii_lowercase();
        let social = [
            "meta",
            "feed",
            "stories",
            "story",
            "social",
            "instagram",
            "facebook",
        ]
        .iter()
        .chain(["tiktok", "linkedin", "reels"].iter())
        .any(|w| name.contains(w));
        if name.contains("search") || name.contains("pmax") {
            PlacementKind::Search
        } else if social || placement.body_max > 100 {
            PlacementKind::Social
        } else {
            PlacementKind::Display
        }
    }

    /// The words for the ad's kind in a prompt, in `language`.
    pub fn ad_words(self, language: Language) -> &'static str {
        use Language::*;
        use PlacementKind::*;
        match (language, self) {
            (En, Search) => "search ad",
            (En, Display) => "display ad",
            (En, Social) => "social media ad",
            (Fr, Search) => "annonce de recherche",
            (Fr, Display) => "bannière publicitaire",
            (Fr, Social) => "publicité pour les réseaux sociaux",
            (Es, Search) => "anuncio de búsqueda",
            (Es, Display) => "anuncio de display",
            (Es, Social) => "anuncio para redes sociales",
            (De, Search) => "Suchanzeige",
            (De, Display) => "Displayanzeige",
            (De, Social) => "Social-Media-Anzeige",
        }
    }
}

/// One example ad with its brief.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CopyExample {
    /// Language of the brief and the ad.
    pub language: Language,
    /// Placement kind it was written for.
    pub kind: PlacementKind,
    /// Brand name.
    pub brand: String,
    /// What is advertised.
    pub product: String,
    /// Facts about the product.
    pub description: String,
    /// The offer, empty when none.
    pub offer: String,
    /// The audience persona.
    pub audience: String,
    /// The ad's headline.
    pub headline: String,
    /// The ad's body.
    pub body: String,
    /// Key of the call to action in `ctas.toml`.
    pub cta_key: String,
    /// The call to action's label.
    pub cta: String,
}

#[derive(Deserialize)]
struct ExampleFile {
    example: Vec<CopyExample>,
}

fn all_examples() -> &'static [CopyExample] {
    static EXAMPLES: OnceLock<Vec<CopyExample>> = OnceLock::new();
    EXAMPLES.get_or_init(|| match toml::from_str::<ExampleFile>(EXAMPLES_TOML) {
        Ok(file) => file.example,
        Err(error) => {
            // The file is embedded and checked by this module's tests; an error here is a
            // build of a broken asset, and prompts then go without examples.
            tracing::error!(%error, "assets/copy/examples.toml does not parse");
            Vec::new()
        }
    })
}

/// The text of every example ad of `language` (brief facts and ad together, one string per
/// example): what the model may copy from the prompt instead of the brief.
pub fn example_texts(language: Language) -> Vec<String> {
    all_examples()
        .iter()
        .filter(|e| e.language == language)
        .map(|e| {
            format!(
                "{}. {}. {}. {}. {}",
                e.product, e.description, e.offer, e.headline, e.body
            )
        })
        .collect()
}

/// Up to `count` examples of `language` and `kind` whose headline, body and CTA fit the
/// placement's limits, in file order. Falls back to other kinds of the same language when too
/// few fit.
pub fn examples_for(
    language: Language,
    kind: PlacementKind,
    placement: &PlacementSpec,
    count: usize,
) -> Vec<&'static CopyExample> {
    let fits = |e: &CopyExample| {
        e.headline.graphemes(true).count() <= placement.headline_max
            && e.body.graphemes(true).count() <= placement.body_max
            && e.cta.graphemes(true).count() <= placement.cta_max
    };
    let same_language = all_examples()
        .iter()
        .filter(|e| e.language == language && fits(e));
    let mut picked: Vec<&CopyExample> = same_language
        .clone()
        .filter(|e| e.kind == kind)
        .take(count)
        .collect();
    for e in same_language.filter(|e| e.kind != kind) {
        if picked.len() >= count {
            break;
        }
        picked.push(e);
    }
    picked
}

fn all_ctas() -> &'static BTreeMap<String, BTreeMap<String, String>> {
    static CTAS: OnceLock<BTreeMap<String, BTreeMap<String, String>>> = OnceLock::new();
    CTAS.get_or_init(|| {
        toml::from_str(CTAS_TOML).unwrap_or_else(|error| {
            tracing::error!(%error, "assets/copy/ctas.toml does not parse");
            BTreeMap::new()
        })
    })
}

/// The standard call-to-action labels of `language` that fit in `max_graphemes`, without
/// repeats, in the file's order of keys (sorted).
pub fn cta_labels(language: Language, max_graphemes: usize) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for cta in standard_ctas(language, max_graphemes) {
        if !labels.contains(&cta.label) {
            labels.push(cta.label);
        }
    }
    labels
}

/// A standard call to action of a language, with what it suits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardCta {
    /// Its key in `assets/copy/ctas.toml` (`shop_now`).
    pub key: String,
    /// Its label in the language ("Shop now", "Acheter").
    pub label: String,
    /// What it suits, in English words, for comparing with the campaign by embeddings (empty
    /// when `assets/copy/cta_uses.toml` has no line for it).
    pub suits: String,
}

fn cta_uses() -> &'static BTreeMap<String, String> {
    #[derive(Deserialize)]
    struct File {
        uses: BTreeMap<String, String>,
    }
    static USES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    USES.get_or_init(|| match toml::from_str::<File>(CTA_USES_TOML) {
        Ok(file) => file.uses,
        Err(error) => {
            tracing::error!(%error, "assets/copy/cta_uses.toml does not parse");
            BTreeMap::new()
        }
    })
}

/// The standard calls to action of `language` whose label fits in `max_graphemes`, with what
/// each suits, in the file's order of keys (sorted).
pub fn standard_ctas(language: Language, max_graphemes: usize) -> Vec<StandardCta> {
    let Some(table) = all_ctas().get(language.code()) else {
        return Vec::new();
    };
    table
        .iter()
        .filter(|(_, label)| label.graphemes(true).count() <= max_graphemes)
        .map(|(key, label)| StandardCta {
            key: key.clone(),
            label: label.clone(),
            suits: cta_uses().get(key).cloned().unwrap_or_default(),
        })
        .collect()
}

/// How far under the best-fitting call to action another may score (cosine of embeddings) and
/// still be offered: on the English evaluation briefs and twelve more product lines, the right
/// CTA scored highest, and the ones within this margin were as fitting ("Shop now" and "Buy
/// now" for toy blocks); wider margins let in "See menu" for car hire.
pub const CTA_FIT_MARGIN: f32 = 0.03;

/// Most calls to action offered to the model for one campaign.
pub const MAX_FITTING_CTAS: usize = 3;

/// The labels to offer, from each label's fit with the campaign: the best fitting, and those
/// within [`CTA_FIT_MARGIN`] of it, at most [`MAX_FITTING_CTAS`], best first, without repeats.
pub fn fitting_ctas(scored: &[(String, f32)]) -> Vec<String> {
    let mut order: Vec<&(String, f32)> = scored.iter().filter(|(_, s)| s.is_finite()).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let Some(best) = order.first().map(|(_, s)| *s) else {
        return Vec::new();
    };
    let mut labels: Vec<String> = Vec::new();
    for (label, score) in order {
        if *score < best - CTA_FIT_MARGIN || labels.len() == MAX_FITTING_CTAS {
            break;
        }
        if !labels.contains(label) {
            labels.push(label.clone());
        }
    }
    labels
}

/// The label of CTA `key` in `language`, if the list has it.
pub fn cta_label(language: Language, key: &str) -> Option<&'static str> {
    all_ctas()
        .get(language.code())
        .and_then(|t| t.get(key))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, headline: usize, body: usize, cta: usize) -> PlacementSpec {
        PlacementSpec {
            name: name.into(),
            width: 300,
            height: 250,
            headline_max: headline,
            body_max: body,
            cta_max: cta,
        }
    }

    #[test]
    fn assets_parse_and_cover_every_language_and_kind() {
        assert!(all_examples().len() >= 36);
        for language in Language::ALL {
            for (kind, placement) in [
                (PlacementKind::Search, spec("google_search_rsa", 30, 90, 15)),
                (
                    PlacementKind::Display,
                    spec("iab_medium_rectangle", 25, 90, 15),
                ),
                (PlacementKind::Social, spec("meta_feed", 40, 125, 15)),
            ] {
                assert_eq!(PlacementKind::of(&placement), kind);
                let picked = examples_for(language, kind, &placement, 3);
                assert_eq!(picked.len(), 3, "{language:?} {kind:?}");
                assert!(picked
                    .iter()
                    .all(|e| e.language == language && e.kind == kind));
                for e in picked {
                    assert_eq!(cta_label(language, &e.cta_key), Some(e.cta.as_str()));
                }
            }
            let ctas = cta_labels(language, 15);
            assert!(ctas.len() >= 15, "{language:?}: {ctas:?}");
            assert!(ctas.iter().all(|c| c.graphemes(true).count() <= 15));
        }
        assert!(cta_labels(Language::Fr, 15).contains(&"Réserver".to_string()));
        assert!(cta_labels(Language::De, 15).contains(&"Jetzt kaufen".to_string()));
        assert!(!cta_labels(Language::De, 15).contains(&"Angebot anfordern".to_string()));
        assert!(cta_labels(Language::En, 8).iter().all(|c| c.len() <= 8));
    }

    #[test]
    fn kind_from_name_then_limits() {
        assert_eq!(
            PlacementKind::of(&spec("google_pmax", 30, 90, 15)),
            PlacementKind::Search
        );
        assert_eq!(
            PlacementKind::of(&spec("openrtb_native", 25, 90, 15)),
            PlacementKind::Display
        );
        assert_eq!(
            PlacementKind::of(&spec("meta_stories", 40, 125, 20)),
            PlacementKind::Social
        );
        assert_eq!(
            PlacementKind::of(&spec("custom", 40, 150, 20)),
            PlacementKind::Social
        );
        assert_eq!(
            PlacementKind::of(&spec("my search", 40, 150, 20)),
            PlacementKind::Search
        );
    }

    #[test]
    fn examples_fall_back_to_other_kinds_that_fit() {
        // Nothing social fits a 25-character headline limit, so display and search ads that do
        // fit fill in.
        let tight = spec("meta_feed", 25, 90, 15);
        let picked = examples_for(Language::En, PlacementKind::Social, &tight, 3);
        assert_eq!(picked.len(), 3);
        assert!(picked
            .iter()
            .all(|e| e.headline.graphemes(true).count() <= 25));
    }

    #[test]
    fn every_standard_cta_says_what_it_suits() {
        for language in Language::ALL {
            let ctas = standard_ctas(language, 40);
            assert_eq!(ctas.len(), 21, "{language:?}");
            for cta in ctas {
                assert!(!cta.suits.is_empty(), "{language:?} {}", cta.key);
            }
        }
        assert!(standard_ctas(Language::En, 8)
            .iter()
            .all(|c| c.label.graphemes(true).count() <= 8));
    }

    #[test]
    fn the_best_fitting_ctas_and_close_ones_are_offered() {
        let scored = |pairs: &[(&str, f32)]| -> Vec<(String, f32)> {
            pairs.iter().map(|(l, s)| (l.to_string(), *s)).collect()
        };
        assert_eq!(
            fitting_ctas(&scored(&[
                ("Book now", 0.22),
                ("Shop now", 0.26),
                ("Buy now", 0.24),
                ("Get offer", 0.14)
            ])),
            ["Shop now", "Buy now"]
        );
        assert_eq!(
            fitting_ctas(&scored(&[("A", 0.3), ("B", 0.3), ("C", 0.3), ("D", 0.3)])).len(),
            MAX_FITTING_CTAS
        );
        // French labels shared by two keys are offered once.
        assert_eq!(
            fitting_ctas(&scored(&[("Acheter", 0.3), ("Acheter", 0.29)])),
            ["Acheter"]
        );
        assert!(fitting_ctas(&scored(&[("A", f32::NAN)])).is_empty());
    }
}
