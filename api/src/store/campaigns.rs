//! The `campaigns` table.

use diesel::prelude::*;

use super::brand_kits::BrandKits;
use super::columns::{enum_from_text, enum_text, json_from_text, json_text, like_pattern};
use super::crud::{self, tenant_queries, Db, EditableTable, TenantTable};
use super::schema::campaigns;
use super::{now_millis, Conn, StoreError};
use crate::domain::campaigns::{Campaign, CampaignFilter, CampaignInput};
use crate::domain::iso_time;

/// The campaigns table, for [`crud`].
pub struct Campaigns;

/// A campaign as stored.
#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = campaigns)]
#[diesel(treat_none_as_null = true)]
pub struct CampaignRow {
    id: String,
    advertiser_id: String,
    brand_kit_id: Option<String>,
    name: String,
    brand: String,
    product: String,
    description: String,
    offer: Option<String>,
    landing_url: String,
    objective: String,
    tone: Option<String>,
    languages: String,
    status: String,
    allow_claims: bool,
    auto_approve: bool,
    created_at: i64,
    updated_at: i64,
    call_to_action: Option<String>,
}

fn filtered(
    mut query: campaigns::BoxedQuery<'static, Db>,
    filter: &CampaignFilter,
) -> campaigns::BoxedQuery<'static, Db> {
    if let Some(status) = filter.status {
        query = query.filter(campaigns::status.eq(enum_text(&status)));
    }
    if let Some(q) = &filter.q {
        query = query.filter(campaigns::name.like(like_pattern(q)).escape('\\'));
    }
    query
}

impl TenantTable for Campaigns {
    const WHAT: &'static str = "campaign";
    type Row = CampaignRow;
    type Item = Campaign;
    type Filter = CampaignFilter;

    tenant_queries!(campaigns, CampaignRow, filtered);

    fn into_item(row: CampaignRow) -> Result<Campaign, StoreError> {
        Ok(Campaign {
            id: row.id,
            input: CampaignInput {
                name: row.name,
                brand: row.brand,
                product: row.product,
                description: row.description,
                offer: row.offer,
                call_to_action: row.call_to_action,
                landing_url: row.landing_url,
                objective: enum_from_text(&row.objective)?,
                tone: row.tone,
                languages: json_from_text(&row.languages)?,
                status: enum_from_text(&row.status)?,
                allow_claims: row.allow_claims,
                auto_approve: row.auto_approve,
                brand_kit_id: row.brand_kit_id,
            },
            created_at: iso_time(row.created_at),
            updated_at: iso_time(row.updated_at),
        })
    }
}

impl EditableTable for Campaigns {
    type Input = CampaignInput;

    tenant_queries!(campaigns, CampaignRow, editable);

    fn input_of(item: &Campaign) -> CampaignInput {
        item.input.clone()
    }

    fn check_references(
        conn: &mut Conn,
        advertiser_id: &str,
        input: &CampaignInput,
    ) -> Result<(), StoreError> {
        if let Some(kit) = &input.brand_kit_id {
            crud::require::<BrandKits>(conn, advertiser_id, kit, "brand_kit_id", || {
                format!("no brand kit {kit}")
            })?;
        }
        Ok(())
    }

    fn new_row(
        id: String,
        advertiser_id: String,
        input: CampaignInput,
        previous: Option<CampaignRow>,
    ) -> Result<CampaignRow, StoreError> {
        let now = now_millis();
        let input = input.normalized()?;
        Ok(CampaignRow {
            id,
            advertiser_id,
            brand_kit_id: input.brand_kit_id,
            name: input.name,
            brand: input.brand,
            product: input.product,
            description: input.description,
            offer: input.offer,
            landing_url: input.landing_url,
            objective: enum_text(&input.objective),
            tone: input.tone,
            languages: json_text(&input.languages),
            status: enum_text(&input.status),
            allow_claims: input.allow_claims,
            auto_approve: input.auto_approve,
            created_at: previous.map_or(now, |row| row.created_at),
            updated_at: now,
            call_to_action: input.call_to_action,
        })
    }
}

/// Loads one of the tenant's campaigns, or [`StoreError::NotFound`].
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Campaign, StoreError> {
    crud::get::<Campaigns>(conn, advertiser_id, id)
}

/// Checks that `campaign_id` names one of the tenant's campaigns; `field` names the input
/// field holding it.
pub fn check_owned(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    field: &str,
) -> Result<(), StoreError> {
    crud::require::<Campaigns>(conn, advertiser_id, campaign_id, field, || {
        format!("no campaign {campaign_id}")
    })
    .map(|_| ())
}
