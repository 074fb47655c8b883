//! The brief set of the copy evaluation (`assets/eval/briefs.toml`, schema in that file) and
//! its mapping to the domain values a generation job works on.

use serde::Deserialize;

use crate::domain::{
    placements, BrandKit, BrandKitInput, Campaign, CampaignInput, CampaignStatus, FieldError,
    Objective, Placement, PlacementInput, Segment, SegmentInput, Validate,
};

/// The brief set shipped with adforge, used when no other file is given.
pub const BUILTIN_BRIEFS: &str = include_str!("../../../../assets/eval/briefs.toml");

/// Why a brief file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BriefError {
    /// The file is not TOML of the brief schema.
    #[error("brief file: {0}")]
    Parse(#[from] toml::de::Error),
    /// A brief holds a value a campaign, brand kit, segment or placement does not accept.
    #[error("brief {id}: {field}: {message}")]
    Field {
        /// The brief's `id`.
        id: String,
        /// Path of the field inside the brief, e.g. `campaign.landing_url`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Two briefs share an id, or the file holds none.
    #[error("brief file: {0}")]
    Set(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BriefFile {
    brief: Vec<Brief>,
}

/// One evaluation brief: a campaign, its brand kit, one segment and one placement preset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    /// Unique identifier, `<language>-<short name>`.
    pub id: String,
    /// Free label for reading the report.
    #[serde(default)]
    pub industry: String,
    /// A placement preset key (`google_search_rsa`, `meta_feed`…).
    pub placement: String,
    /// `search`, `display` or `social`.
    #[serde(default)]
    pub kind: String,
    /// The campaign.
    pub campaign: BriefCampaign,
    /// The brand kit.
    pub brand: BriefBrand,
    /// The audience segment.
    pub segment: BriefSegment,
}

/// The campaign of a brief.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BriefCampaign {
    /// Internal name.
    pub name: String,
    /// The product or service.
    pub product: String,
    /// What it is and why it matters.
    #[serde(default)]
    pub description: String,
    /// The offer.
    #[serde(default)]
    pub offer: Option<String>,
    /// Where a click leads.
    pub landing_url: String,
    /// Whether superlatives and guarantees are substantiated.
    #[serde(default)]
    pub allow_claims: bool,
}

/// The brand of a brief.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BriefBrand {
    /// The brand name (the campaign's `brand`).
    pub name: String,
    /// The voice (the campaign's `tone`).
    #[serde(default)]
    pub voice: Option<String>,
    /// Words the copy must not use.
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// Phrases the copy must contain.
    #[serde(default)]
    pub required_phrases: Vec<String>,
    /// Brand colours, `#rrggbb`.
    #[serde(default)]
    pub colors: Vec<String>,
}

/// The segment of a brief.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BriefSegment {
    /// The segment's name.
    pub name: String,
    /// Who the copy is written for.
    pub persona: String,
    /// The language the copy must be in.
    pub language: String,
}

/// The domain values of one brief, as a generation job would read them from the store.
#[derive(Debug, Clone)]
pub struct BriefValues {
    /// The campaign.
    pub campaign: Campaign,
    /// Its brand kit.
    pub brand_kit: BrandKit,
    /// The segment.
    pub segment: Segment,
    /// The placement, filled from its preset.
    pub placement: Placement,
}

/// Parses a brief file; every brief is checked as [`Brief::values`] would.
pub fn parse(text: &str) -> Result<Vec<Brief>, BriefError> {
    let file: BriefFile = toml::from_str(text)?;
    if file.brief.is_empty() {
        return Err(BriefError::Set("no [[brief]] in the file".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for brief in &file.brief {
        if !seen.insert(brief.id.as_str()) {
            return Err(BriefError::Set(format!(
                "two briefs have id {:?}",
                brief.id
            )));
        }
        brief.values()?;
    }
    Ok(file.brief)
}

impl Brief {
    /// The brief's language tag (its segment's).
    pub fn language(&self) -> &str {
        &self.segment.language
    }

    /// The campaign, brand kit, segment and placement of this brief, validated like API input;
    /// an error names the brief and the field.
    pub fn values(&self) -> Result<BriefValues, BriefError> {
        let field_error = |prefix: &str, error: FieldError| BriefError::Field {
            id: self.id.clone(),
            field: format!("{prefix}.{}", error.path),
            message: error.message,
        };
        let campaign = CampaignInput {
            name: self.campaign.name.clone(),
            brand: self.brand.name.clone(),
            product: self.campaign.product.clone(),
            description: self.campaign.description.clone(),
            offer: self.campaign.offer.clone(),
            call_to_action: None,
            landing_url: self.campaign.landing_url.clone(),
            objective: Objective::default(),
            tone: self.brand.voice.clone(),
            languages: vec![self.segment.language.clone()],
            status: CampaignStatus::Draft,
            allow_claims: self.campaign.allow_claims,
            auto_approve: false,
            brand_kit_id: Some(format!("{}-brand-kit", self.id)),
        };
        campaign
            .validate()
            .map_err(|e| field_error("campaign", e))?;
        let kit = BrandKitInput {
            name: self.brand.name.clone(),
            colors: self.brand.colors.clone(),
            font: None,
            banned_words: self.brand.banned_words.clone(),
            required_phrases: self.brand.required_phrases.clone(),
            disclaimer: None,
        };
        kit.validate().map_err(|e| field_error("brand", e))?;
        let campaign_id = format!("{}-campaign", self.id);
        let segment = SegmentInput {
            campaign_id: campaign_id.clone(),
            name: self.segment.name.clone(),
            rules: None,
            persona: self.segment.persona.clone(),
            language: self.segment.language.clone(),
        };
        segment.validate().map_err(|e| field_error("segment", e))?;
        let preset = placements::preset(&self.placement).ok_or_else(|| BriefError::Field {
            id: self.id.clone(),
            field: "placement".into(),
            message: format!("{:?} is not a placement preset", self.placement),
        })?;
        let placement = PlacementInput {
            campaign_id: campaign_id.clone(),
            name: preset.key.to_string(),
            preset: preset.key.to_string(),
            platform: Some(preset.platform.to_string()),
            format: Some(preset.format.to_string()),
            text_limits: Some(preset.text_limits),
            image_sizes: Some(preset.image_sizes.iter().map(|s| s.to_string()).collect()),
        };
        placement
            .validate()
            .map_err(|e| field_error("placement", e))?;
        let stamp = |id: String| (id, String::new(), String::new());
        let (id, created_at, updated_at) = stamp(campaign_id);
        Ok(BriefValues {
            campaign: Campaign {
                id,
                input: campaign,
                created_at,
                updated_at,
            },
            brand_kit: BrandKit {
                id: format!("{}-brand-kit", self.id),
                input: kit,
                logo_asset: None,
                created_at: String::new(),
                updated_at: String::new(),
            },
            segment: Segment {
                id: format!("{}-segment", self.id),
                input: segment,
                created_at: String::new(),
                updated_at: String::new(),
            },
            placement: Placement {
                id: format!("{}-placement", self.id),
                input: placement,
                created_at: String::new(),
                updated_at: String::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_covers_four_languages_and_three_kinds() {
        let briefs = parse(BUILTIN_BRIEFS).expect("the shipped briefs parse");
        assert!(briefs.len() >= 16);
        for language in ["en", "fr", "es", "de"] {
            assert!(
                briefs.iter().any(|b| b.language() == language),
                "{language}"
            );
        }
        for kind in ["search", "display", "social"] {
            assert!(briefs.iter().any(|b| b.kind == kind), "{kind}");
        }
    }

    #[test]
    fn a_bad_value_names_the_brief_and_field() {
        let text = BUILTIN_BRIEFS.replacen("https://", "ftp://", 1);
        let error = parse(&text).expect_err("ftp is refused").to_string();
        assert!(error.contains("campaign.landing_url"), "{error}");
        assert!(error.starts_with("brief "), "{error}");
    }
}
