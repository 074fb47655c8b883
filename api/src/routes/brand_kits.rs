//! `/v1/brand-kits`: the generic CRUD handlers, plus uploading and reading a kit's logo.

use actix_web::{web, HttpRequest, HttpResponse};

use super::crud::{crud_handlers, CrudResource};
use crate::domain::brand_kits::{check_logo, BrandKit, BrandKitFilter, BrandKitInput};
use crate::domain::images::{UploadFormat, ACCEPTED_TYPES};
use crate::http::auth::Tenant;
use crate::http::json::read_limited;
use crate::http::limits::UploadLimit;
use crate::http::pagination::PageQuery;
use crate::http::problem::ApiError;
use crate::infra::assets::{mime_for, AssetStore};
use crate::infra::changes::{Change, ChangeKind, ChangeNotifier};
use crate::store::brand_kits::{self, BrandKits};
use crate::store::{crud, Store};

impl CrudResource for BrandKits {
    const KIND: ChangeKind = ChangeKind::BrandKit;

    fn page_query(filter: &BrandKitFilter) -> PageQuery {
        PageQuery {
            limit: filter.limit,
            offset: filter.offset,
        }
    }
}

crud_handlers! {
    table: BrandKits, item: BrandKit, input: BrandKitInput, filter: BrandKitFilter,
    tag: "brand kits", collection: "/v1/brand-kits", member: "/v1/brand-kits/{id}",
    scope_collection: "/brand-kits", scope_member: "/brand-kits/{id}",
    patch_description: "JSON merge patch of BrandKitInput"
}

#[utoipa::path(put, path = "/v1/brand-kits/{id}/logo", tag = "brand kits",
    request_body(content = Vec<u8>, content_type = "image/png", description = "PNG, JPEG or WebP bytes"),
    responses((status = 200, body = BrandKit), (status = 415, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
#[allow(clippy::too_many_arguments)] // actix extractors
async fn upload_logo(
    req: HttpRequest,
    mut payload: web::Payload,
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    limit: web::Data<UploadLimit>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let format = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(UploadFormat::from_media_type)
        .ok_or(ApiError::UnsupportedMediaType {
            expected: ACCEPTED_TYPES,
        })?;
    let id = id.into_inner();
    // Check ownership before reading the body, so another tenant learns nothing from errors.
    let (advertiser_id, lookup) = (tenant.advertiser_id.clone(), id.clone());
    store
        .run(move |conn| {
            Ok::<_, ApiError>(crud::find::<BrandKits>(conn, &advertiser_id, &lookup).map(drop)?)
        })
        .await?;

    let bytes = read_limited(&mut payload, limit.0).await?;
    // Decoding a large image takes a CPU for a while, and so does hashing and writing it: on
    // the blocking pool, so that the server's event loops keep answering other requests.
    let name = web::block(move || {
        check_logo(&bytes, format)?;
        assets
            .put(&bytes, format.extension())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;

    let advertiser_id = tenant.advertiser_id.clone();
    let kit = store
        .run(move |conn| Ok::<_, ApiError>(brand_kits::set_logo(conn, &advertiser_id, &id, name)?))
        .await?;
    changes
        .notify(Change::new(&tenant.advertiser_id, ChangeKind::BrandKit))
        .await;
    Ok(HttpResponse::Ok().json(kit))
}

#[utoipa::path(get, path = "/v1/brand-kits/{id}/logo", tag = "brand kits",
    responses((status = 200, content_type = "image/png"), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get_logo(
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let kit = store
        .run(move |conn| Ok::<_, ApiError>(brand_kits::find(conn, &tenant.advertiser_id, &id)?))
        .await?;
    let name = kit.logo_asset.ok_or(ApiError::NotFound("logo"))?;
    let bytes = assets.read(&name).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(mime_for(&name)).body(bytes))
}

/// Registers the brand-kit routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    crud_routes(cfg);
    cfg.service(
        web::resource("/brand-kits/{id}/logo")
            .route(web::put().to(upload_logo))
            .route(web::get().to(get_logo)),
    );
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete, upload_logo, get_logo))]
pub struct Api;
