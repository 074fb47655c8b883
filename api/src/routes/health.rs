//! Liveness (`/healthz`), readiness (`/readyz`, the database answers) and the public asset
//! files (`/assets/{name}`).

use actix_web::{web, HttpResponse, ResponseError};

use crate::http::problem::ApiError;
use crate::infra::assets::{mime_for, AssetStore};
use crate::store::Store;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

/// Images of creatives and logos, public so that ad slots can load them. Names are SHA-256
/// digests of the content, so they cannot be guessed.
async fn public_asset(assets: web::Data<AssetStore>, name: web::Path<String>) -> HttpResponse {
    match assets.read(&name) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(mime_for(&name))
            .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
            .body(bytes),
        Err(_) => ApiError::NotFound("asset").error_response(),
    }
}

/// Registers `/healthz`, `/readyz` and `/assets/{name}` (outside `/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/assets/{name}", web::get().to(public_asset));
}
