//! The plain resource types an advertiser manages (campaigns, brand kits, segments, placements
//! and creatives) and the rules their fields follow. Nothing here knows about HTTP or the
//! database: validation fails with a [`FieldError`] naming the field's JSON path, which the
//! HTTP layer turns into a problem answer and the batch jobs into a row error.

pub mod api_keys;
pub mod brand_kits;
pub mod campaigns;
pub mod creatives;
pub mod images;
pub mod listing;
pub mod placements;
pub mod product_images;
pub mod segments;

pub use brand_kits::{parse_hex_color, BrandKit, BrandKitInput};
pub use campaigns::{is_language_tag, Campaign, CampaignInput, CampaignStatus, Objective};
pub use creatives::{Creative, CreativeInput, CreativeStatus, ImageAsset, Violation};
pub use listing::{Page, PageWindow};
pub use placements::{Placement, PlacementInput, Preset, TextLimits, PRESETS};
pub use product_images::ProductImage;
pub use segments::{Segment, SegmentInput};

/// A field that holds an unacceptable value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// JSON path of the field, e.g. `colors[2]` or `text_limits.body`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error on the field at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Checks run on a value after it deserialized, before it is stored.
pub trait Validate {
    /// Returns the first problem found, naming its field.
    fn validate(&self) -> Result<(), FieldError>;
}

/// Length rule for a text field, in grapheme clusters.
#[derive(Clone, Copy, Debug)]
pub struct Text {
    required: bool,
    max: usize,
}

impl Text {
    /// A field that must hold visible text of at most `max` graphemes.
    pub fn required(max: usize) -> Self {
        Text {
            required: true,
            max,
        }
    }

    /// A field that may be empty, with at most `max` graphemes.
    pub fn optional(max: usize) -> Self {
        Text {
            required: false,
            max,
        }
    }

    /// Checks `value`, the content of the field at `path`: its length and that it holds no
    /// control characters other than newlines and tabs.
    pub fn check(self, path: &str, value: &str) -> Result<(), FieldError> {
        use unicode_segmentation::UnicodeSegmentation;
        if self.required && value.trim().is_empty() {
            return Err(FieldError::new(path, "must not be empty"));
        }
        let length = value.graphemes(true).count();
        if length > self.max {
            return Err(FieldError::new(
                path,
                format!("is {length} characters long; the limit is {}", self.max),
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(FieldError::new(path, "must not contain control characters"));
        }
        Ok(())
    }
}

/// RFC 3339 form of a Unix-millisecond time, as resources show their timestamps.
pub fn iso_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_count_graphemes() {
        // "é" written as e + combining accent is one grapheme.
        let word = "e\u{301}".repeat(10);
        assert!(Text::required(10).check("name", &word).is_ok());
        assert!(Text::required(9).check("name", &word).is_err());
        assert!(Text::required(9).check("name", "  ").is_err());
        assert!(Text::optional(9).check("name", "a\u{0}b").is_err());
    }
}
