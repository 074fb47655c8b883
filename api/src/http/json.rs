//! Request-body extraction with precise errors.
//!
//! [`ValidJson`] reads at most `max_json_bytes`, requires a JSON content type, reports the path
//! of the field that failed to deserialize, and then runs the type's own [`Validate`] checks.
//! [`JsonPatch`] reads a JSON merge patch the same way; [`apply_patch`] merges it into a
//! resource and validates the result.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::limits::JsonLimit;
use super::problem::ApiError;
use crate::domain::Validate;

/// A JSON body that parsed and validated.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body(req, payload);
        Box::pin(async move {
            let value = parse_json::<T>(&body.await?)?;
            value.validate()?;
            Ok(ValidJson(value))
        })
    }
}

/// A JSON merge patch (RFC 7396) body: a JSON object, read like [`ValidJson`].
#[derive(Debug)]
pub struct JsonPatch(pub serde_json::Value);

impl FromRequest for JsonPatch {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body(req, payload);
        Box::pin(async move {
            let value = parse_json::<serde_json::Value>(&body.await?)?;
            if !value.is_object() {
                return Err(ApiError::bad_request(None, "a patch must be a JSON object"));
            }
            Ok(JsonPatch(value))
        })
    }
}

/// Reads a JSON request body: checks the content type, then reads at most the registered
/// [`JsonLimit`] (1 MiB when none is registered).
fn json_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<web::BytesMut, ApiError>> {
    let limit = req
        .app_data::<web::Data<JsonLimit>>()
        .map(|l| l.0)
        .unwrap_or(1 << 20);
    let content_type_ok = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let essence = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false);
    let mut payload = payload.take();
    async move {
        if !content_type_ok {
            return Err(ApiError::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        read_limited(&mut payload, limit).await
    }
}

/// Reads a request body, failing with 413 as soon as it grows past `limit`.
pub async fn read_limited<S>(payload: &mut S, limit: usize) -> Result<web::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(None, format!("reading body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Deserializes JSON, naming the failing field's path in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(field_error)?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(None, format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Deserializes an already-parsed JSON value (e.g. a merged patch) with the same errors as
/// [`parse_json`].
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(field_error)
}

/// Applies a JSON merge patch to `current` and validates the result as a whole, so that an
/// update obeys the same rules as a create.
pub fn apply_patch<T>(current: &T, patch: serde_json::Value) -> Result<T, ApiError>
where
    T: serde::Serialize + DeserializeOwned + Validate,
{
    let mut doc = serde_json::to_value(current).map_err(ApiError::internal)?;
    super::pagination::merge_patch(&mut doc, patch);
    let updated: T = from_value(doc)?;
    updated.validate()?;
    Ok(updated)
}

fn field_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let field = (path != "." && !path.is_empty()).then_some(path);
    if inner.is_data() {
        ApiError::Invalid {
            status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            field,
            detail: inner.to_string(),
        }
    } else {
        ApiError::bad_request(field, format!("malformed JSON: {inner}"))
    }
}

/// Turns query-string and path errors into problem answers.
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request(None, format!("invalid query string: {error}")).into()
}

/// Turns path-segment errors into problem answers.
pub fn path_error(error: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    tracing::debug!(%error, "unparsable path segment");
    ApiError::NotFound("resource").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        tags: Vec<u32>,
    }

    fn field_of(error: ApiError) -> Option<String> {
        match error {
            ApiError::Invalid { field, .. } => field,
            _ => None,
        }
    }

    #[test]
    fn wrong_type_names_the_field_path() {
        let error = parse_json::<Body>(br#"{"name":"a","tags":[1,"x"]}"#).unwrap_err();
        assert_eq!(field_of(error).as_deref(), Some("tags[1]"));
    }

    #[test]
    fn unknown_field_is_reported() {
        let error = parse_json::<Body>(br#"{"name":"a","tags":[],"extra":1}"#).unwrap_err();
        assert!(error.to_string().contains("extra"), "{error}");
    }

    #[test]
    fn truncated_json_is_a_bad_request() {
        let error = parse_json::<Body>(br#"{"name":"a""#).unwrap_err();
        assert!(matches!(error, ApiError::Invalid { status, .. } if status == 400));
    }
}
