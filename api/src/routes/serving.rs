//! HTTP handlers of the serving engine: `POST /v1/serve`, the event URLs `GET /e/{token}`,
//! `GET /v1/campaigns/{id}/stats`, and rotating or revoking a placement's serving key. They
//! only translate between HTTP and [`Serving`]; serving's errors become problem+json here.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::auth::Tenant;
use crate::http::json::ValidJson;
use crate::http::problem::ApiError;
use crate::infra::changes::{Change, ChangeKind, ChangeNotifier};
use crate::serving::{
    CampaignStats, EventOutcome, ServeError, ServeRequest, ServeResponse, Serving,
};

impl From<ServeError> for ApiError {
    fn from(error: ServeError) -> Self {
        match error {
            ServeError::InvalidField { field, detail } => ApiError::field(field, detail),
            ServeError::Malformed { field, detail } => ApiError::bad_request(Some(field), detail),
            ServeError::InvalidEventToken => ApiError::bad_request(
                Some("token".into()),
                ServeError::InvalidEventToken.to_string(),
            ),
            ServeError::NotFound(what) => ApiError::NotFound(what),
            ServeError::Database(error) => ApiError::from(error),
            ServeError::Store(error) => ApiError::from(error),
            ServeError::Corrupt(error) => ApiError::internal(error),
        }
    }
}

#[utoipa::path(post, path = "/v1/serve", tag = "serving", request_body = ServeRequest,
    responses((status = 200, body = ServeResponse), (status = 204, description = "no creative to show"),
        (status = 404, body = crate::http::problem::Problem)))]
async fn serve(
    serving: web::Data<Serving>,
    body: ValidJson<ServeRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(match serving.serve(body.0).await? {
        Some(served) => HttpResponse::Ok().json(served),
        None => HttpResponse::NoContent().finish(),
    })
}

async fn event(
    serving: web::Data<Serving>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(match serving.record_event(&token).await? {
        EventOutcome::Click { landing_url } => HttpResponse::Found()
            .insert_header(("Location", landing_url))
            .finish(),
        EventOutcome::Impression => HttpResponse::NoContent().finish(),
    })
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/stats", tag = "serving",
    responses((status = 200, body = CampaignStats), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn stats(
    serving: web::Data<Serving>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let stats = serving.campaign_stats(&tenant.advertiser_id, &id).await?;
    Ok(HttpResponse::Ok().json(stats))
}

/// A placement's public serving key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServeKey {
    /// Give this to the ad server; `POST` again to rotate, `DELETE` to revoke.
    pub serve_key: String,
}

#[utoipa::path(post, path = "/v1/placements/{id}/serve-key", tag = "serving",
    responses((status = 200, body = ServeKey), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn rotate_serve_key(
    serving: web::Data<Serving>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = serving.rotate_serve_key(&tenant.advertiser_id, &id).await?;
    changes
        .notify(Change::new(&tenant.advertiser_id, ChangeKind::ServeKey))
        .await;
    Ok(HttpResponse::Ok().json(ServeKey { serve_key: key }))
}

#[utoipa::path(delete, path = "/v1/placements/{id}/serve-key", tag = "serving",
    responses((status = 204), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn revoke_serve_key(
    serving: web::Data<Serving>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serving.revoke_serve_key(&tenant.advertiser_id, &id).await?;
    changes
        .notify(Change::new(&tenant.advertiser_id, ChangeKind::ServeKey))
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers `/v1` serving routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/serve", web::post().to(serve))
        .route("/campaigns/{id}/stats", web::get().to(stats))
        .route(
            "/placements/{id}/serve-key",
            web::post().to(rotate_serve_key),
        )
        .route(
            "/placements/{id}/serve-key",
            web::delete().to(revoke_serve_key),
        );
}

/// Registers the event route (outside `/v1`: its URLs are handed to browsers).
pub fn event_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/e/{token}", web::get().to(event));
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(serve, stats, rotate_serve_key, revoke_serve_key))]
pub struct Api;
