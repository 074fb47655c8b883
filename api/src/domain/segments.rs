//! Audience segments: who a campaign speaks to (targeting rules), how to picture them (persona)
//! and in which language.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::is_language_tag;
use super::{FieldError, Text, Validate};

/// The editable fields of a segment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// The campaign this segment belongs to.
    pub campaign_id: String,
    /// Name, e.g. "Young urban cyclists".
    pub name: String,
    /// Targeting rules over ad-request attributes (`all`, `any`, `not`, `age`, `country`...),
    /// validated when saved. Omitted or `null` matches every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rules: Option<serde_json::Value>,
    /// Who these people are, in words; it steers the copy and the ranking.
    #[serde(default)]
    pub persona: String,
    /// Language of this segment's copy (`en`, `fr`, `es`, `de`...).
    #[serde(default = "english")]
    pub language: String,
}

fn english() -> String {
    "en".into()
}

impl Validate for SegmentInput {
    fn validate(&self) -> Result<(), FieldError> {
        Text::required(200).check("name", &self.name)?;
        Text::optional(2000).check("persona", &self.persona)?;
        if !is_language_tag(&self.language) {
            return Err(FieldError::new(
                "language",
                format!("{:?} is not a language tag", self.language),
            ));
        }
        if let Some(rules) = &self.rules {
            adforge_targeting::rules::Rule::from_json(rules)
                .map_err(|e| FieldError::new(e.path().to_string(), e.to_string()))?;
        }
        Ok(())
    }
}

/// A stored segment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Segment {
    /// Identifier.
    pub id: String,
    /// The segment's fields.
    #[serde(flatten)]
    pub input: SegmentInput,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

/// Filters for listing segments.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    /// Only segments of this campaign.
    pub campaign_id: Option<String>,
    /// Only segments in this language.
    pub language: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}
