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

/// The rules a creative's copy is checked against: the same brand and policy checks generation
/// runs ([`adforge_targeting::PolicyChecker`] with the language's rule pack, the campaign's
/// claims setting, its brand kit's word rules and the placement's length limits).
#[derive(Clone, Copy, Debug)]
pub struct CopyRules<'a> {
    /// The campaign the creative belongs to.
    pub campaign: &'a super::CampaignInput,
    /// The campaign's brand kit, if it has one.
    pub brand_kit: Option<&'a super::BrandKitInput>,
    /// The placement the copy is shown in, if any (its name and text limits).
    pub placement: Option<(&'a str, super::TextLimits)>,
    /// Language tag of the copy (the segment's, else the campaign's first language).
    pub language: &'a str,
}

impl CopyRules<'_> {
    /// Every rule `headline`, `body` and `cta` break, in the form creatives store them. The
    /// brand's disclaimer is not asked of the copy: it is drawn on every image and served beside
    /// the copy.
    pub fn check(&self, headline: &str, body: &str, cta: &str) -> Vec<Violation> {
        use adforge_targeting as targeting;
        let language =
            targeting::Language::from_tag(self.language).unwrap_or(targeting::Language::En);
        let kit = self.brand_kit;
        let brand = targeting::BrandKit {
            name: self.campaign.brand.clone(),
            voice: self.campaign.tone.clone().unwrap_or_default(),
            colors: kit.map(|k| k.colors.clone()).unwrap_or_default(),
            visual_style: String::new(),
            banned_phrases: kit.map(|k| k.banned_words.clone()).unwrap_or_default(),
            required_phrases: kit.map(|k| k.required_phrases.clone()).unwrap_or_default(),
            disclaimer: None,
        };
        let (name, limits) = self.placement.unwrap_or((
            "none",
            super::TextLimits {
                headline: u32::MAX,
                body: u32::MAX,
                cta: u32::MAX,
            },
        ));
        let spec = targeting::PlacementSpec {
            name: name.to_string(),
            width: 0,
            height: 0,
            headline_max: limits.headline as usize,
            body_max: limits.body as usize,
            cta_max: limits.cta as usize,
        };
        let pack = targeting::RulePack::builtin(language);
        let checker =
            targeting::PolicyChecker::new(pack, &brand, &spec, self.campaign.allow_claims);
        let copy = targeting::AdCopy {
            headline: headline.to_string(),
            body: body.to_string(),
            call_to_action: cta.to_string(),
        };
        checker
            .check(&copy)
            .into_iter()
            .map(Violation::from_policy)
            .collect()
    }
}

impl Violation {
    /// The stored form of a violation found by [`adforge_targeting::PolicyChecker`].
    pub fn from_policy(v: adforge_targeting::Violation) -> Violation {
        use adforge_targeting::CopyField;
        let (field, span) = match &v.span {
            Some(span) => {
                let field = match span.field {
                    CopyField::Headline => "headline",
                    CopyField::Body => "body",
                    CopyField::CallToAction => "cta",
                };
                (field.to_string(), (span.range.start, span.range.end))
            }
            None => ("copy".to_string(), (0, 0)),
        };
        Violation {
            rule: v.rule,
            field,
            span,
            message: v.message,
        }
    }

    /// Whether this is a rule on the copy (not a layout problem of a rendered image).
    pub fn is_copy_rule(&self) -> bool {
        matches!(self.field.as_str(), "headline" | "body" | "cta" | "copy")
    }
}

/// Refuses an approved creative whose copy breaks a rule: the error names the first broken
/// field and rule.
pub fn check_approvable(
    status: CreativeStatus,
    violations: &[Violation],
) -> Result<(), FieldError> {
    if status != CreativeStatus::Approved {
        return Ok(());
    }
    match violations.iter().find(|v| v.is_copy_rule()) {
        None => Ok(()),
        Some(v) => Err(FieldError::new(
            v.field.clone(),
            format!(
                "breaks rule {}: {}; copy that breaks a rule cannot be approved",
                v.rule, v.message
            ),
        )),
    }
}

/// The stored input a merge patch applies to: a patch that changes the copy of an approved
/// creative without setting `status` sends it back to draft (and so out of serving) until it is
/// reviewed again.
pub fn edit_base(mut stored: CreativeInput, patch: &serde_json::Value) -> CreativeInput {
    let changes = |name: &str, current: &str| {
        patch
            .get(name)
            .is_some_and(|value| value.as_str() != Some(current))
    };
    let copy_changed = changes("headline", &stored.headline)
        || changes("body", &stored.body)
        || changes("cta", &stored.cta);
    if copy_changed && stored.status == CreativeStatus::Approved && patch.get("status").is_none() {
        stored.status = CreativeStatus::Draft;
    }
    stored
}
