//! Placements: where a campaign's creatives appear (platform and format), with the text limits
//! and image sizes that follow. Built-in presets carry the published figures from
//! `shared/reference/ad-specs.md`; their image sizes come from the one ad-size catalogue,
//! [`adforge_generator::compose::PRESET_SIZES`]. Every field can be overridden.

use adforge_generator::compose::{AdSize, SizeFamily, PRESET_SIZES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, Text, Validate};

/// Character limits (grapheme clusters) of the copy fields for a placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextLimits {
    /// Headline (title) limit.
    pub headline: u32,
    /// Body (primary text, description) limit.
    pub body: u32,
    /// Call-to-action limit.
    pub cta: u32,
}

/// A built-in placement preset.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Preset {
    /// Key used in `PlacementInput.preset`.
    pub key: &'static str,
    /// Platform, e.g. `meta`.
    pub platform: &'static str,
    /// Format on that platform, e.g. `feed`.
    pub format: &'static str,
    /// Copy limits.
    pub text_limits: TextLimits,
    /// Image sizes, from the one ad-size catalogue; written as `WIDTHxHEIGHT`.
    #[serde(serialize_with = "size_texts")]
    #[schema(value_type = Vec<String>)]
    pub image_sizes: &'static [AdSize],
    /// Where the figures come from.
    pub source: &'static str,
}

const fn limits(headline: u32, body: u32, cta: u32) -> TextLimits {
    TextLimits {
        headline,
        body,
        cta,
    }
}

/// How many sizes the IAB New Ad Portfolio lists: its fixed display sizes and its full-screen
/// interstitials.
const IAB_SIZE_COUNT: usize = 14;

/// The IAB New Ad Portfolio sizes (every catalogue size that is not a social one), in catalogue
/// order.
const IAB_SIZES: [AdSize; IAB_SIZE_COUNT] = iab_sizes();

const fn iab_sizes() -> [AdSize; IAB_SIZE_COUNT] {
    let mut sizes = [AdSize::new(0, 0); IAB_SIZE_COUNT];
    let (mut i, mut n) = (0, 0);
    while i < PRESET_SIZES.len() {
        if !matches!(PRESET_SIZES[i].family, SizeFamily::Social) {
            sizes[n] = PRESET_SIZES[i].size;
            n += 1;
        }
        i += 1;
    }
    assert!(
        n == IAB_SIZE_COUNT,
        "the catalogue's IAB size count changed"
    );
    sizes
}

fn size_texts<S: serde::Serializer>(sizes: &&'static [AdSize], out: S) -> Result<S::Ok, S::Error> {
    out.collect_seq(sizes.iter().map(|size| size.to_string()))
}

/// Largest side a placement's image may have, in pixels (the image engine's limit; the
/// catalogue's parser allows more).
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// Most image sizes one placement may have. The largest preset (`iab_display`, the IAB New Ad
/// Portfolio) has 14.
pub const MAX_IMAGE_SIZES: usize = 16;

/// The largest copy limits a placement may set, in grapheme clusters: the highest maximum any
/// platform in `shared/reference/ad-specs.md` publishes for the field (LinkedIn single image:
/// headline 200 max, intro text 600 max; Meta description and Google business name 25 to 30
/// for the short third field, which the call to action fills).
pub const MAX_TEXT_LIMITS: TextLimits = limits(200, 600, 30);

/// Parses a placement image size: `WIDTHxHEIGHT` as the ad-size catalogue reads it, with both
/// sides at most [`MAX_IMAGE_SIDE`] pixels.
pub fn parse_size(text: &str) -> Option<AdSize> {
    AdSize::parse(text)
        .ok()
        .filter(|size| size.width <= MAX_IMAGE_SIDE && size.height <= MAX_IMAGE_SIDE)
}

/// Every built-in preset. Where sources disagree the stricter figure is used.
pub const PRESETS: &[Preset] = &[
    Preset {
        key: "google_search_rsa",
        platform: "google",
        format: "responsive_search",
        text_limits: limits(30, 90, 15),
        image_sizes: &[],
        source:
            "Google Ads help, About responsive search ads (headline 30, description 90, path 15)",
    },
    Preset {
        key: "google_pmax",
        platform: "google",
        format: "performance_max",
        text_limits: limits(30, 90, 25),
        image_sizes: &[AdSize::new(1200, 628), AdSize::new(1200, 1200)],
        source: "Google Ads help 17091269 (headline 30, description 90, business name 25)",
    },
    Preset {
        key: "meta_feed",
        platform: "meta",
        format: "feed",
        text_limits: limits(40, 125, 25),
        image_sizes: &[AdSize::new(1080, 1080), AdSize::new(1080, 1350)],
        source: "Meta ads guide (primary text 125, headline 40, description 25)",
    },
    Preset {
        key: "meta_stories",
        platform: "meta",
        format: "stories",
        text_limits: limits(40, 125, 25),
        image_sizes: &[AdSize::new(1080, 1920)],
        source: "Meta ads guide, stories and reels 9:16",
    },
    Preset {
        key: "meta_link",
        platform: "meta",
        format: "link",
        text_limits: limits(27, 125, 25),
        image_sizes: &[AdSize::new(1200, 628)],
        source: "Meta ads guide (headline 27 on some placements)",
    },
    Preset {
        key: "x_promoted",
        platform: "x",
        format: "promoted_post",
        text_limits: limits(70, 280, 25),
        image_sizes: &[AdSize::new(1200, 675), AdSize::new(1200, 1200)],
        source: "X ads specs (post 280, website card headline 70)",
    },
    Preset {
        key: "linkedin_single_image",
        platform: "linkedin",
        format: "single_image",
        text_limits: limits(70, 150, 25),
        image_sizes: &[AdSize::new(1200, 627)],
        source: "LinkedIn ads specs (intro 150, headline 70 recommended)",
    },
    Preset {
        key: "openrtb_native",
        platform: "openrtb",
        format: "native",
        text_limits: limits(25, 90, 15),
        image_sizes: &[AdSize::new(1200, 627)],
        source: "IAB OpenRTB Native 1.2 (title 25/90/140 recommended)",
    },
    Preset {
        key: "iab_display",
        platform: "iab",
        format: "display",
        text_limits: limits(40, 90, 20),
        image_sizes: &IAB_SIZES,
        source: "IAB New Ad Portfolio fixed sizes",
    },
    Preset {
        key: "iab_medium_rectangle",
        platform: "iab",
        format: "medium_rectangle",
        text_limits: limits(40, 90, 20),
        image_sizes: &[AdSize::new(300, 250)],
        source: "IAB New Ad Portfolio (300x250, 150 kB initial load)",
    },
    Preset {
        key: "iab_leaderboard",
        platform: "iab",
        format: "leaderboard",
        text_limits: limits(40, 60, 15),
        image_sizes: &[AdSize::new(728, 90)],
        source: "IAB New Ad Portfolio",
    },
    Preset {
        key: "iab_mobile_banner",
        platform: "iab",
        format: "smartphone_banner",
        text_limits: limits(30, 40, 12),
        image_sizes: &[AdSize::new(320, 50)],
        source: "IAB New Ad Portfolio",
    },
];

/// The preset with this key.
pub fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

/// The editable fields of a placement. With a preset, omitted fields take the preset's values;
/// with `preset: "custom"`, every field must be given.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementInput {
    /// The campaign this placement belongs to.
    pub campaign_id: String,
    /// Name, e.g. "Homepage leaderboard".
    pub name: String,
    /// A preset key from `GET /v1/placement-presets`, or `custom`.
    pub preset: String,
    /// Platform; defaults to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Format; defaults to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Copy limits; default to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_limits: Option<TextLimits>,
    /// Image sizes as `WIDTHxHEIGHT`; default to the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sizes: Option<Vec<String>>,
}

impl PlacementInput {
    /// Fills omitted fields from the preset; fails for an unknown preset or an incomplete
    /// custom placement.
    pub fn resolve(mut self) -> Result<Self, FieldError> {
        let base = if self.preset == "custom" {
            None
        } else {
            Some(preset(&self.preset).ok_or_else(|| {
                FieldError::new(
                    "preset",
                    format!(
                        "unknown preset {:?}; see /v1/placement-presets",
                        self.preset
                    ),
                )
            })?)
        };
        let missing = |field: &str| FieldError::new(field, "required for a custom placement");
        self.platform = match (self.platform, base) {
            (Some(p), _) => Some(p),
            (None, Some(b)) => Some(b.platform.into()),
            (None, None) => return Err(missing("platform")),
        };
        self.format = match (self.format, base) {
            (Some(f), _) => Some(f),
            (None, Some(b)) => Some(b.format.into()),
            (None, None) => return Err(missing("format")),
        };
        self.text_limits = match (self.text_limits, base) {
            (Some(l), _) => Some(l),
            (None, Some(b)) => Some(b.text_limits),
            (None, None) => return Err(missing("text_limits")),
        };
        self.image_sizes = match (self.image_sizes, base) {
            (Some(s), _) => Some(s),
            (None, Some(b)) => Some(b.image_sizes.iter().map(|s| s.to_string()).collect()),
            (None, None) => return Err(missing("image_sizes")),
        };
        Ok(self)
    }
}

impl Validate for PlacementInput {
    fn validate(&self) -> Result<(), FieldError> {
        Text::required(200).check("name", &self.name)?;
        if let Some(platform) = &self.platform {
            Text::required(50).check("platform", platform)?;
        }
        if let Some(format) = &self.format {
            Text::required(50).check("format", format)?;
        }
        if let Some(limits) = &self.text_limits {
            let max = MAX_TEXT_LIMITS;
            for (field, value, most) in [
                ("headline", limits.headline, max.headline),
                ("body", limits.body, max.body),
                ("cta", limits.cta, max.cta),
            ] {
                if !(1..=most).contains(&value) {
                    return Err(FieldError::new(
                        format!("text_limits.{field}"),
                        format!("must be between 1 and {most}, the most any ad format allows"),
                    ));
                }
            }
        }
        if let Some(sizes) = &self.image_sizes {
            if sizes.len() > MAX_IMAGE_SIZES {
                return Err(FieldError::new(
                    "image_sizes",
                    format!(
                        "{} sizes; a placement may have at most {MAX_IMAGE_SIZES}",
                        sizes.len()
                    ),
                ));
            }
            for (i, size) in sizes.iter().enumerate() {
                if parse_size(size).is_none() {
                    return Err(FieldError::new(
                        format!("image_sizes[{i}]"),
                        format!("{size:?} is not WIDTHxHEIGHT with sides of 16 to {MAX_IMAGE_SIDE} pixels"),
                    ));
                }
            }
        }
        self.clone().resolve().map(|_| ())
    }
}

/// A stored placement, with every field resolved.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Placement {
    /// Identifier.
    pub id: String,
    /// The placement's fields, with preset defaults filled in.
    #[serde(flatten)]
    pub input: PlacementInput,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

impl Placement {
    /// The copy limits (always set on a stored placement).
    pub fn text_limits(&self) -> TextLimits {
        self.input.text_limits.unwrap_or(limits(40, 90, 20))
    }

    /// The image sizes as `(width, height)`.
    pub fn sizes(&self) -> Vec<(u32, u32)> {
        self.input
            .image_sizes
            .iter()
            .flatten()
            .filter_map(|s| parse_size(s))
            .map(|size| (size.width, size.height))
            .collect()
    }
}

/// Filters for listing placements.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlacementFilter {
    /// Only placements of this campaign.
    pub campaign_id: Option<String>,
    /// Only placements on this platform.
    pub platform: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_use_catalogue_sizes_and_unique_keys() {
        let mut keys = std::collections::HashSet::new();
        for preset in PRESETS {
            assert!(keys.insert(preset.key), "duplicate {}", preset.key);
            for size in preset.image_sizes {
                assert!(size.preset().is_some(), "{size} is not in the catalogue");
            }
        }
        assert_eq!(preset("iab_display").unwrap().image_sizes.len(), 14);
    }

    #[test]
    fn custom_placement_needs_every_field() {
        let input = PlacementInput {
            campaign_id: "c".into(),
            name: "n".into(),
            preset: "custom".into(),
            platform: Some("web".into()),
            format: None,
            text_limits: None,
            image_sizes: None,
        };
        assert!(input.validate().is_err());
    }

    fn custom(limits: TextLimits, sizes: Vec<String>) -> PlacementInput {
        PlacementInput {
            campaign_id: "c".into(),
            name: "n".into(),
            preset: "custom".into(),
            platform: Some("web".into()),
            format: Some("banner".into()),
            text_limits: Some(limits),
            image_sizes: Some(sizes),
        }
    }

    #[test]
    fn sizes_and_text_limits_are_bounded() {
        let ok = custom(MAX_TEXT_LIMITS, vec!["16x16".into(), "4096x4096".into()]);
        assert!(ok.validate().is_ok());
        let path = |input: PlacementInput| input.validate().unwrap_err().path;
        let many = vec!["300x250".to_string(); MAX_IMAGE_SIZES + 1];
        assert_eq!(path(custom(MAX_TEXT_LIMITS, many)), "image_sizes");
        assert_eq!(
            path(custom(MAX_TEXT_LIMITS, vec!["8x8".into()])),
            "image_sizes[0]"
        );
        assert_eq!(
            path(custom(MAX_TEXT_LIMITS, vec!["300x4097".into()])),
            "image_sizes[0]"
        );
        for (limits, field) in [
            (limits(201, 600, 30), "text_limits.headline"),
            (limits(200, 5000, 30), "text_limits.body"),
            (limits(200, 600, 31), "text_limits.cta"),
        ] {
            assert_eq!(path(custom(limits, vec!["300x250".into()])), field);
        }
        for preset in PRESETS {
            assert!(
                preset.image_sizes.len() <= MAX_IMAGE_SIZES,
                "{}",
                preset.key
            );
            let l = preset.text_limits;
            assert!(l.headline <= MAX_TEXT_LIMITS.headline && l.body <= MAX_TEXT_LIMITS.body);
            assert!(l.cta <= MAX_TEXT_LIMITS.cta, "{}", preset.key);
        }
    }
}
