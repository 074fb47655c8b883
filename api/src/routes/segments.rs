//! `/v1/segments`: the generic CRUD handlers.

use actix_web::web;

use super::crud::{crud_handlers, CrudResource};
use crate::domain::segments::{Segment, SegmentFilter, SegmentInput};
use crate::http::pagination::PageQuery;
use crate::infra::changes::ChangeKind;
use crate::store::segments::Segments;

impl CrudResource for Segments {
    const KIND: ChangeKind = ChangeKind::Segment;

    fn page_query(filter: &SegmentFilter) -> PageQuery {
        PageQuery {
            limit: filter.limit,
            offset: filter.offset,
        }
    }
}

crud_handlers! {
    table: Segments, item: Segment, input: SegmentInput, filter: SegmentFilter,
    tag: "segments", collection: "/v1/segments", member: "/v1/segments/{id}",
    scope_collection: "/segments", scope_member: "/segments/{id}",
    patch_description: "JSON merge patch of SegmentInput"
}

/// Registers the segment routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    crud_routes(cfg);
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, get, update, delete))]
pub struct Api;
