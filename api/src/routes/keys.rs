//! `/v1/keys`: the calling advertiser's own API keys. A new key is shown once; listings never
//! show a secret or its hash; another advertiser's key answers 404; a revoked key is refused
//! from the next request on. Rotation is create, switch the clients over, revoke the old key.

use actix_web::{web, HttpResponse};

use crate::domain::api_keys::{ApiKey, NewApiKey};
use crate::http::auth::Tenant;
use crate::http::problem::ApiError;
use crate::store::advertisers::{self, RevokeError};
use crate::store::Store;

#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = Vec<ApiKey>)),
    security(("bearer" = [])))]
async fn list(store: web::Data<Store>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let keys = store
        .run(move |conn| {
            Ok::<_, ApiError>(advertisers::list_api_keys(conn, &tenant.advertiser_id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    responses((status = 201, body = NewApiKey)),
    security(("bearer" = [])))]
async fn create(store: web::Data<Store>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let created = store
        .run(move |conn| Ok::<_, ApiError>(advertisers::add_api_key(conn, &tenant.advertiser_id)?))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(created))
}

#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    responses((status = 204), (status = 404, body = crate::http::problem::Problem),
        (status = 409, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn revoke(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    store
        .run(move |conn| {
            advertisers::revoke_api_key(conn, &tenant.advertiser_id, &id, true).map_err(|error| {
                match error {
                    RevokeError::Store(error) => ApiError::from(error),
                    last @ RevokeError::LastKey(_) => ApiError::Conflict(last.to_string()),
                }
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the key routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .route("/keys/{id}", web::delete().to(revoke));
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, revoke), components(schemas(ApiKey, NewApiKey)))]
pub struct Api;
