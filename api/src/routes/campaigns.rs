//! `/v1/campaigns`: the generic CRUD handlers.

use actix_web::web;

use super::crud::{crud_handlers, CrudResource};
use crate::domain::campaigns::{Campaign, CampaignFilter, CampaignInput};
use crate::http::pagination::PageQuery;
use crate::infra::changes::ChangeKind;
use crate::store::campaigns::Campaigns;

impl CrudResource for Campaigns {
    const KIND: ChangeKind = ChangeKind::Campaign;

    fn page_query(filter: &CampaignFilter) -> PageQuery {
        PageQuery {
            limit: filter.limit,
            offset: filter.offset,
        }
    }
}

crud_handlers! {
    table: Campaigns, item: Campaign, input: CampaignInput, filter: CampaignFilter,
    tag: "campaigns", collection: "/v1/campaigns", member: "/v1/campaigns/{id}",
    scope_collection: "/campaigns", scope_member: "/campaigns/{id}",
    patch_description: "JSON merge patch of CampaignInput"
}

/// Registers the campaign routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    crud_routes(cfg);
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub struct Api;
