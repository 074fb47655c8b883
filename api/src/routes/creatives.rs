//! `/v1/creatives`: the generic CRUD handlers, plus approving and rejecting a creative.

use actix_web::{web, HttpResponse};

use super::crud::{crud_handlers, CrudResource};
use crate::domain::creatives::{Creative, CreativeFilter, CreativeInput, CreativeStatus};
use crate::http::auth::Tenant;
use crate::http::pagination::PageQuery;
use crate::http::problem::ApiError;
use crate::infra::changes::{Change, ChangeKind, ChangeNotifier};
use crate::store::creatives::{self, Creatives};
use crate::store::Store;

impl CrudResource for Creatives {
    const KIND: ChangeKind = ChangeKind::Creative;

    fn page_query(filter: &CreativeFilter) -> PageQuery {
        PageQuery {
            limit: filter.limit,
            offset: filter.offset,
        }
    }

    /// New copy for an approved creative sends it back to review unless the patch sets a status.
    fn patch_base(stored: CreativeInput, patch: &serde_json::Value) -> CreativeInput {
        crate::domain::creatives::edit_base(stored, patch)
    }
}

crud_handlers! {
    table: Creatives, item: Creative, input: CreativeInput, filter: CreativeFilter,
    tag: "creatives", collection: "/v1/creatives", member: "/v1/creatives/{id}",
    scope_collection: "/creatives", scope_member: "/creatives/{id}",
    patch_description: "JSON merge patch of CreativeInput"
}

/// Sets a creative's review status and answers it.
async fn review(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: String,
    status: CreativeStatus,
) -> Result<HttpResponse, ApiError> {
    let advertiser_id = tenant.advertiser_id.clone();
    let creative = store
        .run(move |conn| {
            Ok::<_, ApiError>(creatives::set_status(conn, &advertiser_id, &id, status)?)
        })
        .await?;
    changes
        .notify(Change::new(&tenant.advertiser_id, ChangeKind::Creative))
        .await;
    Ok(HttpResponse::Ok().json(creative))
}

#[utoipa::path(post, path = "/v1/creatives/{id}/approve", tag = "creatives",
    responses((status = 200, body = Creative), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn approve(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    review(
        store,
        changes,
        tenant,
        id.into_inner(),
        CreativeStatus::Approved,
    )
    .await
}

#[utoipa::path(post, path = "/v1/creatives/{id}/reject", tag = "creatives",
    responses((status = 200, body = Creative), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn reject(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    review(
        store,
        changes,
        tenant,
        id.into_inner(),
        CreativeStatus::Rejected,
    )
    .await
}

/// Registers the creative routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/creatives/{id}/approve", web::post().to(approve))
        .route("/creatives/{id}/reject", web::post().to(reject));
    crud_routes(cfg);
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete, approve, reject))]
pub struct Api;
