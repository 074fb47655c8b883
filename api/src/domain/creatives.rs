//! Creatives: a piece of copy (headline, body, CTA) with its images, its review status and
//! where it came from (provenance). Generation jobs create them as drafts; advertisers may also
//! write their own.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, Text, Validate};

/// Review state of a creative; only `approved` creatives of live campaigns are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreativeStatus {
    /// Waiting for review.
    #[default]
    Draft,
    /// May be served.
    Approved,
    /// Turned down by a reviewer.
    Rejected,
    /// Retired.
    Archived,
}

/// One rendered image of a creative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageAsset {
    /// `WIDTHxHEIGHT`.
    pub size: String,
    /// Asset name in the content-addressed store (`<sha256>.<ext>`).
    pub asset: String,
    /// Encoded size in bytes.
    pub bytes: u64,
}

/// One rule a creative's copy breaks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Violation {
    /// The rule, e.g. `banned_word` or `length`.
    pub rule: String,
    /// The copy field, e.g. `headline`.
    pub field: String,
    /// Byte range `[start, end)` of the offending text in the field.
    pub span: (usize, usize),
    /// What is wrong.
    pub message: String,
}

/// The editable fields of a creative.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativeInput {
    /// The campaign the creative belongs to.
    pub campaign_id: String,
    /// The segment it was written for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<String>,
    /// The placement it was written for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_id: Option<String>,
    /// Headline.
    pub headline: String,
    /// Body text.
    #[serde(default)]
    pub body: String,
    /// Call to action.
    #[serde(default)]
    pub cta: String,
    /// Review state.
    #[serde(default)]
    pub status: CreativeStatus,
}

impl Validate for CreativeInput {
    fn validate(&self) -> Result<(), FieldError> {
        Text::required(500).check("headline", &self.headline)?;
        Text::optional(5000).check("body", &self.body)?;
        Text::optional(100).check("cta", &self.cta)?;
        Ok(())
    }
}

impl CreativeInput {
    /// Checks the copy against a placement's limits (a creative written for a placement must
    /// fit it).
    pub fn check_fits(&self, limits: super::TextLimits) -> Result<(), FieldError> {
        for (field, text, max) in [
            ("headline", &self.headline, limits.headline),
            ("body", &self.body, limits.body),
            ("cta", &self.cta, limits.cta),
        ] {
            Text::optional(max as usize).check(field, text)?;
        }
        Ok(())
    }
}

/// A stored creative.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Creative {
    /// Identifier.
    pub id: String,
    /// The editable fields.
    #[serde(flatten)]
    pub input: CreativeInput,
    /// The generation job that made it, if any.
    pub job_id: Option<String>,
    /// Variant number within its job item.
    pub variant: i32,
    /// Rendered images.
    pub assets: Vec<ImageAsset>,
    /// Rules the copy breaks (empty when clean).
    pub violations: Vec<Violation>,
    /// How it was made: model id and file hash, prompts, seed, sampler settings, time.
    #[schema(value_type = Object)]
    pub provenance: serde_json::Value,
    /// Relevance score from ranking, if ranked.
    pub score: Option<f64>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

/// Filters for listing creatives.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CreativeFilter {
    /// Only creatives of this campaign.
    pub campaign_id: Option<String>,
    /// Only creatives for this segment.
    pub segment_id: Option<String>,
    /// Only creatives for this placement.
    pub placement_id: Option<String>,
    /// Only creatives made by this job.
    pub job_id: Option<String>,
    /// Only creatives in this review state.
    pub status: Option<CreativeStatus>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}
