//! Errors as RFC 9457 `application/problem+json` answers.
//!
//! Every failure a client can cause names what went wrong and, where one field is at fault,
//! carries it in the `field` member as a JSON path (`brand_kit.colors[2]`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::FieldError;
use crate::store::StoreError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a field is invalid.
    #[error("{detail}")]
    Invalid {
        /// HTTP status, 400 or 422.
        status: StatusCode,
        /// Path of the offending field, when one is at fault.
        field: Option<String>,
        /// Human-readable explanation.
        detail: String,
    },
    /// No or an unknown API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// The resource does not exist or belongs to another tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than allowed.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not of a supported media type.
    #[error("unsupported media type: expected {expected}")]
    UnsupportedMediaType {
        /// What the endpoint accepts.
        expected: &'static str,
    },
    /// The caller holds too many of something at once (e.g. open event streams).
    #[error("{0}")]
    TooManyRequests(String),
    /// A failure on our side; details are logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 422 for a field that parsed but holds an unacceptable value.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// A 400 for a request that could not be read at all.
    pub fn bad_request(field: Option<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            status: StatusCode::BAD_REQUEST,
            field,
            detail: detail.into(),
        }
    }

    /// A 404 for a request field that refers to something the caller does not have (another
    /// tenant's id answers exactly like an id that does not exist).
    pub fn missing_reference(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            status: StatusCode::NOT_FOUND,
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// A 500 wrapping any error.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Invalid { status, .. } if *status == StatusCode::BAD_REQUEST => {
                "malformed-request"
            }
            ApiError::Invalid { status, .. } if *status == StatusCode::NOT_FOUND => "not-found",
            ApiError::Invalid { .. } => "invalid-field",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType { .. } => "unsupported-media-type",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::field(error.path, error.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { what, .. } => ApiError::NotFound(what),
            StoreError::MissingReference { field, message } => {
                ApiError::missing_reference(field, message)
            }
            StoreError::Invalid(error) => error.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => ApiError::NotFound("resource"),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// The body of a problem answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// JSON path of the offending field, when one is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid { status, .. } => *status,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let ApiError::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "internal error");
        }
        let problem = Problem {
            kind: format!("/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            field: match self {
                ApiError::Invalid { field, .. } => field.clone(),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(problem)
    }
}
