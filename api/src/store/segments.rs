//! The `segments` table.

use diesel::prelude::*;

use super::campaigns::check_owned;
use super::columns::{json_from_text, json_text};
use super::crud::{self, tenant_queries, CampaignScoped, Db, EditableTable, TenantTable};
use super::schema::segments;
use super::{now_millis, Conn, StoreError};
use crate::domain::iso_time;
use crate::domain::segments::{Segment, SegmentFilter, SegmentInput};

/// The segments table, for [`crud`].
pub struct Segments;

/// A segment as stored.
#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = segments)]
pub struct SegmentRow {
    id: String,
    advertiser_id: String,
    campaign_id: String,
    name: String,
    rules: String,
    persona: String,
    language: String,
    created_at: i64,
    updated_at: i64,
}

fn filtered(
    mut query: segments::BoxedQuery<'static, Db>,
    filter: &SegmentFilter,
) -> segments::BoxedQuery<'static, Db> {
    if let Some(campaign_id) = &filter.campaign_id {
        query = query.filter(segments::campaign_id.eq(campaign_id.clone()));
    }
    if let Some(language) = &filter.language {
        query = query.filter(segments::language.eq(language.clone()));
    }
    query
}

impl TenantTable for Segments {
    const WHAT: &'static str = "segment";
    type Row = SegmentRow;
    type Item = Segment;
    type Filter = SegmentFilter;

    tenant_queries!(segments, SegmentRow, filtered);

    fn into_item(row: SegmentRow) -> Result<Segment, StoreError> {
        Ok(Segment {
            id: row.id,
            input: SegmentInput {
                campaign_id: row.campaign_id,
                name: row.name,
                rules: json_from_text(&row.rules)?,
                persona: row.persona,
                language: row.language,
            },
            created_at: iso_time(row.created_at),
            updated_at: iso_time(row.updated_at),
        })
    }
}

impl CampaignScoped for Segments {
    fn campaign_of(row: &SegmentRow) -> &str {
        &row.campaign_id
    }

    fn of_campaign(campaign_id: &str) -> SegmentFilter {
        SegmentFilter {
            campaign_id: Some(campaign_id.to_string()),
            ..Default::default()
        }
    }
}

impl EditableTable for Segments {
    type Input = SegmentInput;

    tenant_queries!(segments, SegmentRow, editable);

    fn input_of(item: &Segment) -> SegmentInput {
        item.input.clone()
    }

    fn check_references(
        conn: &mut Conn,
        advertiser_id: &str,
        input: &SegmentInput,
    ) -> Result<(), StoreError> {
        check_owned(conn, advertiser_id, &input.campaign_id, "campaign_id")
    }

    fn new_row(
        id: String,
        advertiser_id: String,
        input: SegmentInput,
        previous: Option<SegmentRow>,
    ) -> Result<SegmentRow, StoreError> {
        let now = now_millis();
        Ok(SegmentRow {
            id,
            advertiser_id,
            campaign_id: input.campaign_id,
            name: input.name,
            rules: json_text(&input.rules),
            persona: input.persona,
            language: input.language,
            created_at: previous.map_or(now, |row| row.created_at),
            updated_at: now,
        })
    }
}

/// Loads one of the tenant's segments, or [`StoreError::NotFound`].
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Segment, StoreError> {
    crud::get::<Segments>(conn, advertiser_id, id)
}

/// All segments of a campaign, oldest first.
pub fn for_campaign(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
) -> Result<Vec<Segment>, StoreError> {
    crud::for_campaign::<Segments>(conn, advertiser_id, campaign_id)
}
