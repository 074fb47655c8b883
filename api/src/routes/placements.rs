//! `/v1/placements`: the generic CRUD handlers, plus the list of built-in presets.

use actix_web::{web, HttpResponse};

use super::crud::{crud_handlers, CrudResource};
use crate::domain::placements::{Placement, PlacementFilter, PlacementInput, Preset, PRESETS};
use crate::http::auth::Tenant;
use crate::http::pagination::PageQuery;
use crate::infra::changes::ChangeKind;
use crate::store::placements::Placements;

impl CrudResource for Placements {
    const KIND: ChangeKind = ChangeKind::Placement;

    fn page_query(filter: &PlacementFilter) -> PageQuery {
        PageQuery {
            limit: filter.limit,
            offset: filter.offset,
        }
    }

    /// A patch naming a new preset brings that preset's defaults for whatever it leaves out.
    fn patch_base(mut stored: PlacementInput, patch: &serde_json::Value) -> PlacementInput {
        let new_preset = patch.get("preset").and_then(|p| p.as_str());
        if new_preset.is_some_and(|p| p != stored.preset) {
            stored.platform = None;
            stored.format = None;
            stored.text_limits = None;
            stored.image_sizes = None;
        }
        stored
    }
}

crud_handlers! {
    table: Placements, item: Placement, input: PlacementInput, filter: PlacementFilter,
    tag: "placements", collection: "/v1/placements", member: "/v1/placements/{id}",
    scope_collection: "/placements", scope_member: "/placements/{id}",
    patch_description: "JSON merge patch of PlacementInput; a new preset resets the fields the patch does not set"
}

#[utoipa::path(get, path = "/v1/placement-presets", tag = "placements",
    responses((status = 200, body = Vec<Preset>)), security(("bearer" = [])))]
async fn presets(_tenant: Tenant) -> HttpResponse {
    HttpResponse::Ok().json(PRESETS)
}

/// Registers the placement routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/placement-presets").route(web::get().to(presets)));
    crud_routes(cfg);
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(presets, create, list, get, update, delete))]
pub struct Api;
