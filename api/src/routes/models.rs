//! `GET /v1/models/text`: the configured text model and the languages it writes, so that a
//! client (the dashboard's generate page) can tell before generating that a segment's language
//! will get no copy.

use actix_web::{web, HttpResponse};

use crate::config::TextModelInfo;
use crate::http::auth::Tenant;

#[utoipa::path(get, path = "/v1/models/text", tag = "generation",
    responses((status = 200, body = TextModelInfo)), security(("bearer" = [])))]
async fn text_model(info: web::Data<TextModelInfo>, _tenant: Tenant) -> HttpResponse {
    HttpResponse::Ok().json(info.get_ref())
}

/// Registers `/models/text` (under `/v1`); the app provides the [`TextModelInfo`] of its
/// settings.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/models/text", web::get().to(text_model));
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(text_model), components(schemas(TextModelInfo)))]
pub struct Api;
