//! The serve request an ad server sends, how its ad request is read, and the answer it gets.

use adforge_targeting::AdRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ServeError;
use crate::domain::{FieldError, Validate};

/// An ad server's request for a creative.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServeRequest {
    /// The placement's public serving key.
    pub placement_key: String,
    /// Attributes of the ad request (age, gender, country, region, city, language, device, os,
    /// interests, keywords, timestamp, time_zone, attributes); `timestamp` defaults to now and
    /// `time_zone` to UTC.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// A stable identifier of the viewer for frequency capping (hashed before use).
    #[serde(default)]
    pub user_key: Option<String>,
    /// `json` (default) or `openrtb` for an OpenRTB Native 1.2 `adm`.
    #[serde(default)]
    pub format: Option<String>,
}

impl Validate for ServeRequest {
    fn validate(&self) -> Result<(), FieldError> {
        if !matches!(
            self.format.as_deref(),
            None | Some("json") | Some("openrtb")
        ) {
            return Err(FieldError::new("format", "must be json or openrtb"));
        }
        if !self.request.is_object() && !self.request.is_null() {
            return Err(FieldError::new("request", "must be an object"));
        }
        Ok(())
    }
}

/// The chosen creative.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServeResponse {
    /// Creative id.
    pub creative_id: String,
    /// The segment it was chosen for, if any.
    pub segment_id: Option<String>,
    /// Headline.
    pub headline: String,
    /// Body.
    pub body: String,
    /// Call to action.
    pub cta: String,
    /// The brand's legal text, to show with the ad (it is also drawn on the image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclaimer: Option<String>,
    /// Image URL with its size, if the creative has one.
    pub image: Option<ServedImage>,
    /// Fire when the ad is shown.
    pub impression_url: String,
    /// Send the viewer here on a click; it records the click and redirects to the landing page.
    pub click_url: String,
    /// OpenRTB Native 1.2 markup (a JSON string), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adm: Option<String>,
}

/// An image of a served creative.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServedImage {
    /// Absolute URL.
    pub url: String,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

/// Reads the `request` member as an [`AdRequest`], defaulting `timestamp` to now and
/// `time_zone` to UTC; errors name the field under `request.`.
pub(super) fn ad_request(value: serde_json::Value) -> Result<AdRequest, ServeError> {
    let mut object = match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    object
        .entry("timestamp")
        .or_insert_with(|| serde_json::Value::String(chrono::Utc::now().to_rfc3339()));
    object
        .entry("time_zone")
        .or_insert_with(|| serde_json::Value::String("UTC".into()));
    serde_path_to_error::deserialize(serde_json::Value::Object(object)).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let field = match path.as_str() {
            "." | "" => "request.".to_string(),
            path => format!("request.{path}"),
        };
        if inner.is_data() {
            ServeError::InvalidField {
                field,
                detail: inner.to_string(),
            }
        } else {
            ServeError::Malformed {
                field,
                detail: format!("malformed JSON: {inner}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_request_errors_name_the_field_under_request() {
        match ad_request(serde_json::json!({"age": "old"})) {
            Err(ServeError::InvalidField { field, .. }) => assert_eq!(field, "request.age"),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn missing_request_defaults_to_now_in_utc() {
        assert!(ad_request(serde_json::Value::Null).is_ok());
    }
}
