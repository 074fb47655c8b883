//! Brand kits: colours, logo, font and the word rules every creative of a brand must follow.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{FieldError, Text, Validate};

/// The editable fields of a brand kit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandKitInput {
    /// Name of the kit, e.g. the brand.
    pub name: String,
    /// Brand colours as `#RRGGBB`, most important first.
    #[serde(default)]
    pub colors: Vec<String>,
    /// Preferred font family name (the compositor falls back to its bundled font).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<String>,
    /// Words and phrases copy must never contain.
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// Phrases copy must contain.
    #[serde(default)]
    pub required_phrases: Vec<String>,
    /// Legal text shown on every creative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
}

impl Validate for BrandKitInput {
    fn validate(&self) -> Result<(), FieldError> {
        Text::required(200).check("name", &self.name)?;
        if self.colors.len() > 16 {
            return Err(FieldError::new("colors", "at most 16 colours"));
        }
        for (i, color) in self.colors.iter().enumerate() {
            if parse_hex_color(color).is_none() {
                return Err(FieldError::new(
                    format!("colors[{i}]"),
                    format!("{color:?} is not a #RRGGBB colour"),
                ));
            }
        }
        if let Some(font) = &self.font {
            Text::required(100).check("font", font)?;
        }
        for (list, name) in [
            (&self.banned_words, "banned_words"),
            (&self.required_phrases, "required_phrases"),
        ] {
            if list.len() > 500 {
                return Err(FieldError::new(name, "at most 500 entries"));
            }
            for (i, entry) in list.iter().enumerate() {
                Text::required(200).check(&format!("{name}[{i}]"), entry)?;
            }
        }
        if let Some(disclaimer) = &self.disclaimer {
            Text::optional(500).check("disclaimer", disclaimer)?;
        }
        Ok(())
    }
}

/// Parses `#RRGGBB` into its three channels.
pub fn parse_hex_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// A stored brand kit.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BrandKit {
    /// Identifier.
    pub id: String,
    /// The kit's fields.
    #[serde(flatten)]
    pub input: BrandKitInput,
    /// Name of the stored logo asset, if one was uploaded.
    pub logo_asset: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

/// Largest logo accepted, in pixels on either side.
pub const MAX_LOGO_SIDE: u32 = super::images::MAX_IMAGE_SIDE;

/// Checks uploaded logo bytes in `format`: they must decode, with 1 to [`MAX_LOGO_SIDE`]
/// pixels on each side (see [`super::images::check_upload`]).
pub fn check_logo(bytes: &[u8], format: super::images::UploadFormat) -> Result<(), FieldError> {
    super::images::check_upload(bytes, format, "logo", MAX_LOGO_SIDE).map(drop)
}

/// Filters for listing brand kits.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BrandKitFilter {
    /// Only kits whose name contains this text.
    pub q: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_parse() {
        assert_eq!(parse_hex_color("#FF8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex_color("FF8000"), None);
        assert_eq!(parse_hex_color("#FF80"), None);
        assert_eq!(parse_hex_color("#GG8000"), None);
    }
}
