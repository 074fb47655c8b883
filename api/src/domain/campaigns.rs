//! Campaigns: what an advertiser promotes, to whom it links, and how copy should sound.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, Text, Validate};

/// Lifecycle of a campaign; only `live` campaigns are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being prepared; nothing is served.
    #[default]
    Draft,
    /// Approved creatives are served.
    Live,
    /// Temporarily not served.
    Paused,
    /// Finished; kept for reporting.
    Archived,
}

/// What the campaign optimises for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Reach and recall.
    #[default]
    Awareness,
    /// Visits to the landing page.
    Traffic,
    /// Interactions with the ad.
    Engagement,
    /// Sign-ups and contact details.
    Leads,
    /// Purchases or other conversions.
    Sales,
}

/// The editable fields of a campaign (create body, and the document a PATCH merges into).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// Internal name, shown in the dashboard.
    pub name: String,
    /// The advertised brand.
    pub brand: String,
    /// The advertised product or service.
    pub product: String,
    /// What the product is and why it matters; fed to copy generation as data.
    #[serde(default)]
    pub description: String,
    /// The offer, e.g. "20% off the first month".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// The campaign's own call to action (e.g. "Book a test ride"), used on placements whose
    /// CTA limit it fits; otherwise the copy takes a standard label of the segment's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_to_action: Option<String>,
    /// Where a click leads (http or https).
    pub landing_url: String,
    /// What the campaign optimises for.
    #[serde(default)]
    pub objective: Objective,
    /// Voice of the copy, e.g. "playful", "formal".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<String>,
    /// Languages copy is written in (BCP 47 primary tags such as `en`, `fr`).
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub status: CampaignStatus,
    /// Whether the advertiser can substantiate superlatives and guarantees.
    #[serde(default)]
    pub allow_claims: bool,
    /// Approve generated creatives that pass every rule without a human.
    #[serde(default)]
    pub auto_approve: bool,
    /// The brand kit whose colours, logo and word rules apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_kit_id: Option<String>,
}

fn default_languages() -> Vec<String> {
    vec!["en".into()]
}

impl CampaignInput {
    /// The input as stored: the landing URL in its normalised form (see [`landing_url`]).
    pub fn normalized(mut self) -> Result<Self, FieldError> {
        self.landing_url = landing_url(&self.landing_url)?;
        Ok(self)
    }
}

impl Validate for CampaignInput {
    fn validate(&self) -> Result<(), FieldError> {
        Text::required(200).check("name", &self.name)?;
        Text::required(200).check("brand", &self.brand)?;
        Text::required(200).check("product", &self.product)?;
        Text::optional(4000).check("description", &self.description)?;
        if let Some(offer) = &self.offer {
            Text::optional(500).check("offer", offer)?;
        }
        if let Some(cta) = &self.call_to_action {
            Text::optional(40).check("call_to_action", cta)?;
            if let Some(c) = cta
                .chars()
                .find(|c| c.is_control() || matches!(c, '"' | '\\' | '<' | '>'))
            {
                return Err(FieldError::new(
                    "call_to_action",
                    format!("must be plain words; {c:?} is not allowed"),
                ));
            }
        }
        if let Some(tone) = &self.tone {
            Text::optional(200).check("tone", tone)?;
        }
        landing_url(&self.landing_url)?;
        if self.languages.is_empty() {
            return Err(FieldError::new(
                "languages",
                "at least one language is needed",
            ));
        }
        for (i, language) in self.languages.iter().enumerate() {
            if !is_language_tag(language) {
                return Err(FieldError::new(
                    format!("languages[{i}]"),
                    format!("{language:?} is not a language tag such as en or pt-BR"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a landing URL and returns its normalised form (the `url` crate's serialisation, which
/// is what is stored and where clicks redirect): an absolute http or https URL with a host, with
/// no white space or control characters (a CR or LF would end up in the `Location` header).
pub fn landing_url(text: &str) -> Result<String, FieldError> {
    let field = |message: &str| FieldError::new("landing_url", message);
    if let Some(c) = text.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(field(&format!(
            "must not contain white space or control characters (found U+{:04X})",
            c as u32
        )));
    }
    let url = url::Url::parse(text).map_err(|e| field(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(field("must be an http or https URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(field("must not hold a user name or password"));
    }
    Ok(url.to_string())
}

/// Whether `tag` looks like a BCP 47 language tag (`fr`, `pt-BR`, `zh-Hant`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A stored campaign.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Campaign {
    /// Identifier.
    pub id: String,
    /// The campaign's fields.
    #[serde(flatten)]
    pub input: CampaignInput,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

/// Filters for listing campaigns.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CampaignFilter {
    /// Only campaigns in this status.
    pub status: Option<CampaignStatus>,
    /// Only campaigns whose name contains this text.
    pub q: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}
