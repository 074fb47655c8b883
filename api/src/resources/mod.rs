//! The `/v1` resources an advertiser manages: campaigns, brand kits, segments, placements and
//! creatives. Every query is scoped by the caller's advertiser id; another tenant's id answers
//! 404 exactly like an id that does not exist.

pub mod brand_kits;
pub mod campaigns;
pub mod creatives;
pub mod placements;
pub mod segments;

use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::problem::ApiError;
use crate::store::schema::{
    brand_kits as brand_kits_table, placements as placements_table, segments as segments_table,
};
use crate::store::Conn;

/// Registers every resource's routes (mounted under `/v1`).
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    campaigns::routes(cfg);
    brand_kits::routes(cfg);
    segments::routes(cfg);
    placements::routes(cfg);
    creatives::routes(cfg);
}

/// Length rule for a text field, in grapheme clusters.
#[derive(Clone, Copy)]
pub(crate) struct Text {
    required: bool,
    max: usize,
}

impl Text {
    /// A field that must hold visible text.
    pub(crate) fn required(max: usize) -> Self {
        Text {
            required: true,
            max,
        }
    }
    /// A field that may be empty.
    pub(crate) fn optional(max: usize) -> Self {
        Text {
            required: false,
            max,
        }
    }
}

/// Checks a text field's length and that it holds no control characters.
pub(crate) fn check_text(field: &str, value: &str, rule: Text) -> Result<(), ApiError> {
    use unicode_segmentation::UnicodeSegmentation;
    if rule.required && value.trim().is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    let length = value.graphemes(true).count();
    if length > rule.max {
        return Err(ApiError::field(
            field,
            format!("is {length} characters long; the limit is {}", rule.max),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// RFC 3339 form of a Unix-millisecond time.
pub fn iso_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The JSON text stored for a structured column.
pub(crate) fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Reads back a structured column; a failure means the row is corrupt (500).
pub(crate) fn json_from_text<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(ApiError::internal)
}

/// The stored name of a unit enum (its serde name).
pub(crate) fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Parses a stored enum name.
pub(crate) fn enum_from_text<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(ApiError::internal)
}

/// A `LIKE` pattern matching `text` anywhere, with the wildcards in `text` escaped.
pub(crate) fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Checks that a brand kit belongs to the tenant (a 422 on `field` otherwise).
pub(crate) fn owned_brand_kit(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    field: &str,
) -> Result<(), ApiError> {
    let count: i64 = brand_kits_table::table
        .filter(brand_kits_table::advertiser_id.eq(advertiser_id))
        .filter(brand_kits_table::id.eq(id))
        .count()
        .get_result(conn)?;
    (count == 1)
        .then_some(())
        .ok_or_else(|| ApiError::missing_reference(field, format!("no brand kit {id}")))
}

/// Checks that a segment belongs to the tenant and campaign (a 422 on `field` otherwise).
pub(crate) fn owned_segment(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    id: &str,
    field: &str,
) -> Result<(), ApiError> {
    let count: i64 = segments_table::table
        .filter(segments_table::advertiser_id.eq(advertiser_id))
        .filter(segments_table::campaign_id.eq(campaign_id))
        .filter(segments_table::id.eq(id))
        .count()
        .get_result(conn)?;
    (count == 1).then_some(()).ok_or_else(|| {
        ApiError::missing_reference(field, format!("no segment {id} in this campaign"))
    })
}

/// Checks that a placement belongs to the tenant and campaign (a 422 on `field` otherwise).
pub(crate) fn owned_placement(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    id: &str,
    field: &str,
) -> Result<(), ApiError> {
    let count: i64 = placements_table::table
        .filter(placements_table::advertiser_id.eq(advertiser_id))
        .filter(placements_table::campaign_id.eq(campaign_id))
        .filter(placements_table::id.eq(id))
        .count()
        .get_result(conn)?;
    (count == 1).then_some(()).ok_or_else(|| {
        ApiError::missing_reference(field, format!("no placement {id} in this campaign"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_count_graphemes() {
        // "é" written as e + combining accent is one grapheme.
        let word = "e\u{301}".repeat(10);
        assert!(check_text("name", &word, Text::required(10)).is_ok());
        assert!(check_text("name", &word, Text::required(9)).is_err());
        assert!(check_text("name", "  ", Text::required(9)).is_err());
        assert!(check_text("name", "a\u{0}b", Text::optional(9)).is_err());
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
    }
}
