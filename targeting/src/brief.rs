//! Plain input records that describe what to advertise, to whom, for which brand and where:
//! the api maps its database rows onto these and passes them to prompt building
//! ([`crate::prompt`]) and the policy checks ([`crate::policy`]).

use serde::{Deserialize, Serialize};

/// A language that copy can be written in. Prompts and policy rule packs exist for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// German.
    De,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 4] = [Language::En, Language::Fr, Language::Es, Language::De];

    /// Parses a BCP 47 tag by its primary subtag (`fr-CA` is French); `None` when unsupported.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "fr" => Some(Language::Fr),
            "es" => Some(Language::Es),
            "de" => Some(Language::De),
            _ => None,
        }
    }

    /// The ISO 639-1 code (`en`, `fr`, `es`, `de`).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::De => "de",
        }
    }

    /// The language's name in English, as used in prompts.
    pub fn english_name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Fr => "French",
            Language::Es => "Spanish",
            Language::De => "German",
        }
    }
}

/// What the campaign advertises. Every text field is treated as data, never as instructions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignBrief {
    /// Campaign name.
    pub name: String,
    /// The product or service advertised.
    pub product: String,
    /// Free-form description written by the advertiser.
    pub description: String,
    /// Benefits the copy may mention.
    #[serde(default)]
    pub key_benefits: Vec<String>,
    /// Preferred call to action, e.g. "Book a test ride".
    #[serde(default)]
    pub call_to_action: Option<String>,
    /// Whether the advertiser has substantiated superlatives and guarantees ("the best",
    /// "guaranteed"); when false the policy checks reject them.
    #[serde(default)]
    pub allow_claims: bool,
}

/// The brand's identity and rules.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BrandKit {
    /// Brand name.
    pub name: String,
    /// Tone of voice, e.g. "warm, direct, no jargon".
    #[serde(default)]
    pub voice: String,
    /// Brand colours as `#rrggbb`.
    #[serde(default)]
    pub colors: Vec<String>,
    /// Visual style for images, e.g. "bright natural light, minimal".
    #[serde(default)]
    pub visual_style: String,
    /// Words and phrases the copy must never contain.
    #[serde(default)]
    pub banned_phrases: Vec<String>,
    /// Phrases that must appear in the copy.
    #[serde(default)]
    pub required_phrases: Vec<String>,
    /// Legal disclaimer that must appear in the copy, when the brand has one.
    #[serde(default)]
    pub disclaimer: Option<String>,
}

/// An audience segment as prompt building sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentBrief {
    /// Segment name.
    pub name: String,
    /// A short description of the people in the segment, e.g. "urban cyclists aged 25-34
    /// who commute by bike".
    pub persona: String,
    /// The language of the segment, which is the language of the copy.
    pub language: Language,
}

/// Where the ad is shown, with its text limits in grapheme clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementSpec {
    /// Placement name, e.g. "instagram_feed".
    pub name: String,
    /// Creative width in pixels.
    pub width: u32,
    /// Creative height in pixels.
    pub height: u32,
    /// Longest headline.
    pub headline_max: usize,
    /// Longest body text.
    pub body_max: usize,
    /// Longest call to action.
    pub cta_max: usize,
}

/// One generated piece of ad copy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AdCopy {
    /// The headline.
    pub headline: String,
    /// The body text.
    pub body: String,
    /// The call to action.
    pub call_to_action: String,
}

/// A field of [`AdCopy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyField {
    /// [`AdCopy::headline`].
    Headline,
    /// [`AdCopy::body`].
    Body,
    /// [`AdCopy::call_to_action`].
    CallToAction,
}

impl AdCopy {
    /// The fields with their text, in display order.
    pub fn fields(&self) -> [(CopyField, &str); 3] {
        [
            (CopyField::Headline, self.headline.as_str()),
            (CopyField::Body, self.body.as_str()),
            (CopyField::CallToAction, self.call_to_action.as_str()),
        ]
    }

    /// The headline and the body, the copy's prose (the CTA is a standard label).
    pub fn prose(&self) -> String {
        format!("{} {}", self.headline, self.body)
    }

    /// All fields joined with newlines, e.g. as text to embed for ranking.
    pub fn joined(&self) -> String {
        format!("{}\n{}\n{}", self.headline, self.body, self.call_to_action)
    }
}
