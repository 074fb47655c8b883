//! The `placements` table.

use diesel::prelude::*;

use super::campaigns::check_owned;
use super::columns::{json_from_text, json_text};
use super::crud::{self, tenant_queries, CampaignScoped, Db, EditableTable, TenantTable};
use super::schema::placements;
use super::{now_millis, Conn, StoreError};
use crate::domain::iso_time;
use crate::domain::placements::{Placement, PlacementFilter, PlacementInput};

/// The placements table, for [`crud`].
pub struct Placements;

/// A placement as stored.
#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = placements)]
pub struct PlacementRow {
    id: String,
    advertiser_id: String,
    campaign_id: String,
    name: String,
    preset: String,
    platform: String,
    format: String,
    text_limits: String,
    image_sizes: String,
    created_at: i64,
    updated_at: i64,
}

fn filtered(
    mut query: placements::BoxedQuery<'static, Db>,
    filter: &PlacementFilter,
) -> placements::BoxedQuery<'static, Db> {
    if let Some(campaign_id) = &filter.campaign_id {
        query = query.filter(placements::campaign_id.eq(campaign_id.clone()));
    }
    if let Some(platform) = &filter.platform {
        query = query.filter(placements::platform.eq(platform.clone()));
    }
    query
}

impl TenantTable for Placements {
    const WHAT: &'static str = "placement";
    type Row = PlacementRow;
    type Item = Placement;
    type Filter = PlacementFilter;

    tenant_queries!(placements, PlacementRow, filtered);

    fn into_item(row: PlacementRow) -> Result<Placement, StoreError> {
        Ok(Placement {
            id: row.id,
            input: PlacementInput {
                campaign_id: row.campaign_id,
                name: row.name,
                preset: row.preset,
                platform: Some(row.platform),
                format: Some(row.format),
                text_limits: json_from_text(&row.text_limits)?,
                image_sizes: json_from_text(&row.image_sizes)?,
            },
            created_at: iso_time(row.created_at),
            updated_at: iso_time(row.updated_at),
        })
    }
}

impl CampaignScoped for Placements {
    fn campaign_of(row: &PlacementRow) -> &str {
        &row.campaign_id
    }

    fn of_campaign(campaign_id: &str) -> PlacementFilter {
        PlacementFilter {
            campaign_id: Some(campaign_id.to_string()),
            ..Default::default()
        }
    }
}

impl EditableTable for Placements {
    type Input = PlacementInput;

    tenant_queries!(placements, PlacementRow, editable);

    fn input_of(item: &Placement) -> PlacementInput {
        item.input.clone()
    }

    fn check_references(
        conn: &mut Conn,
        advertiser_id: &str,
        input: &PlacementInput,
    ) -> Result<(), StoreError> {
        check_owned(conn, advertiser_id, &input.campaign_id, "campaign_id")
    }

    fn new_row(
        id: String,
        advertiser_id: String,
        input: PlacementInput,
        previous: Option<PlacementRow>,
    ) -> Result<PlacementRow, StoreError> {
        let input = input.resolve()?;
        let now = now_millis();
        Ok(PlacementRow {
            id,
            advertiser_id,
            campaign_id: input.campaign_id,
            name: input.name,
            preset: input.preset,
            platform: input.platform.unwrap_or_default(),
            format: input.format.unwrap_or_default(),
            text_limits: json_text(&input.text_limits),
            image_sizes: json_text(&input.image_sizes),
            created_at: previous.map_or(now, |row| row.created_at),
            updated_at: now,
        })
    }
}

/// Loads one of the tenant's placements, or [`StoreError::NotFound`].
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Placement, StoreError> {
    crud::get::<Placements>(conn, advertiser_id, id)
}

/// All placements of a campaign, oldest first.
pub fn for_campaign(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
) -> Result<Vec<Placement>, StoreError> {
    crud::for_campaign::<Placements>(conn, advertiser_id, campaign_id)
}
