//! The `creatives` table. Clients write a creative's copy and review status; generation jobs
//! insert whole rows ([`CreativeRow`]) with images, violations and provenance.

use diesel::prelude::*;

use super::campaigns::{self, check_owned};
use super::columns::{enum_from_text, enum_text, json_from_text, json_text};
use super::crud::{self, tenant_queries, Db, EditableTable, TenantTable};
use super::placements::{self, Placements};
use super::schema::creatives;
use super::segments::{self, Segments};
use super::{brand_kits, now_millis, Conn, StoreError};
use crate::domain::creatives::{
    check_approvable, CopyRules, Creative, CreativeFilter, CreativeInput, CreativeStatus, Violation,
};
use crate::domain::iso_time;

/// The creatives table, for [`crud`].
pub struct Creatives;

/// A creative row as stored; generation writes these directly.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = creatives)]
#[diesel(treat_none_as_null = true)]
pub struct CreativeRow {
    /// Identifier.
    pub id: String,
    /// Owner.
    pub advertiser_id: String,
    /// Campaign.
    pub campaign_id: String,
    /// Segment, if any.
    pub segment_id: Option<String>,
    /// Placement, if any.
    pub placement_id: Option<String>,
    /// Generation job, if any.
    pub job_id: Option<String>,
    /// Variant number.
    pub variant: i32,
    /// Headline.
    pub headline: String,
    /// Body.
    pub body: String,
    /// Call to action.
    pub cta: String,
    /// JSON list of [`crate::domain::ImageAsset`].
    pub assets: String,
    /// [`CreativeStatus`] name.
    pub status: String,
    /// JSON list of [`crate::domain::Violation`].
    pub violations: String,
    /// JSON provenance object.
    pub provenance: String,
    /// Ranking score.
    pub score: Option<f64>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Update time, Unix ms.
    pub updated_at: i64,
}

impl CreativeRow {
    /// The domain value of this row.
    pub fn into_item(self) -> Result<Creative, StoreError> {
        Creatives::into_item(self)
    }
}

fn filtered(
    mut query: creatives::BoxedQuery<'static, Db>,
    filter: &CreativeFilter,
) -> creatives::BoxedQuery<'static, Db> {
    if let Some(id) = &filter.campaign_id {
        query = query.filter(creatives::campaign_id.eq(id.clone()));
    }
    if let Some(id) = &filter.segment_id {
        query = query.filter(creatives::segment_id.eq(id.clone()));
    }
    if let Some(id) = &filter.placement_id {
        query = query.filter(creatives::placement_id.eq(id.clone()));
    }
    if let Some(id) = &filter.job_id {
        query = query.filter(creatives::job_id.eq(id.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(creatives::status.eq(enum_text(&status)));
    }
    query
}

impl TenantTable for Creatives {
    const WHAT: &'static str = "creative";
    type Row = CreativeRow;
    type Item = Creative;
    type Filter = CreativeFilter;

    tenant_queries!(creatives, CreativeRow, filtered);

    fn into_item(row: CreativeRow) -> Result<Creative, StoreError> {
        Ok(Creative {
            id: row.id,
            input: CreativeInput {
                campaign_id: row.campaign_id,
                segment_id: row.segment_id,
                placement_id: row.placement_id,
                headline: row.headline,
                body: row.body,
                cta: row.cta,
                status: enum_from_text(&row.status)?,
            },
            job_id: row.job_id,
            variant: row.variant,
            assets: json_from_text(&row.assets)?,
            violations: json_from_text(&row.violations)?,
            provenance: json_from_text(&row.provenance)?,
            score: row.score,
            created_at: iso_time(row.created_at),
            updated_at: iso_time(row.updated_at),
        })
    }
}

impl EditableTable for Creatives {
    type Input = CreativeInput;

    tenant_queries!(creatives, CreativeRow, editable);

    fn input_of(item: &Creative) -> CreativeInput {
        item.input.clone()
    }

    /// Checks the campaign, segment and placement, and the copy against the placement's limits.
    fn check_references(
        conn: &mut Conn,
        advertiser_id: &str,
        input: &CreativeInput,
    ) -> Result<(), StoreError> {
        check_owned(conn, advertiser_id, &input.campaign_id, "campaign_id")?;
        if let Some(segment) = &input.segment_id {
            crud::require_in_campaign::<Segments>(
                conn,
                advertiser_id,
                &input.campaign_id,
                segment,
                "segment_id",
            )?;
        }
        if let Some(placement) = &input.placement_id {
            crud::require_in_campaign::<Placements>(
                conn,
                advertiser_id,
                &input.campaign_id,
                placement,
                "placement_id",
            )?;
            let limits = placements::find(conn, advertiser_id, placement)?.text_limits();
            input.check_fits(limits)?;
        }
        Ok(())
    }

    fn new_row(
        id: String,
        advertiser_id: String,
        input: CreativeInput,
        previous: Option<CreativeRow>,
    ) -> Result<CreativeRow, StoreError> {
        let now = now_millis();
        let base = match previous {
            Some(row) => row,
            None => CreativeRow {
                id,
                advertiser_id,
                campaign_id: String::new(),
                segment_id: None,
                placement_id: None,
                job_id: None,
                variant: 0,
                headline: String::new(),
                body: String::new(),
                cta: String::new(),
                assets: "[]".into(),
                status: String::new(),
                violations: "[]".into(),
                provenance: json_text(
                    &serde_json::json!({ "source": "manual", "created_at": iso_time(now) }),
                ),
                score: None,
                created_at: now,
                updated_at: now,
            },
        };
        Ok(CreativeRow {
            campaign_id: input.campaign_id,
            segment_id: input.segment_id,
            placement_id: input.placement_id,
            headline: input.headline,
            body: input.body,
            cta: input.cta,
            status: enum_text(&input.status),
            updated_at: now,
            ..base
        })
    }

    /// Checks the copy with the brand and policy rules generation uses and stores what it
    /// breaks; an approved creative must break none.
    fn finish_row(
        conn: &mut Conn,
        advertiser_id: &str,
        row: &mut CreativeRow,
    ) -> Result<(), StoreError> {
        check_copy(conn, advertiser_id, row)
    }
}

/// Re-checks a row's copy against the current rules of its campaign, brand kit, segment and
/// placement: replaces its copy violations (layout problems of its images stay) and refuses
/// the row when it is approved and breaks a rule.
fn check_copy(
    conn: &mut Conn,
    advertiser_id: &str,
    row: &mut CreativeRow,
) -> Result<(), StoreError> {
    let campaign = campaigns::find(conn, advertiser_id, &row.campaign_id)?.input;
    let kit = match &campaign.brand_kit_id {
        Some(id) => match brand_kits::find(conn, advertiser_id, id) {
            Ok(kit) => Some(kit.input),
            Err(StoreError::NotFound { .. }) => None,
            Err(error) => return Err(error),
        },
        None => None,
    };
    let placement = match &row.placement_id {
        Some(id) => Some(placements::find(conn, advertiser_id, id)?),
        None => None,
    };
    let language = match &row.segment_id {
        Some(id) => segments::find(conn, advertiser_id, id)?.input.language,
        None => campaign.languages.first().cloned().unwrap_or_default(),
    };
    let rules = CopyRules {
        campaign: &campaign,
        brand_kit: kit.as_ref(),
        placement: placement
            .as_ref()
            .map(|p| (p.input.name.as_str(), p.text_limits())),
        language: &language,
    };
    let mut violations = rules.check(&row.headline, &row.body, &row.cta);
    let stored: Vec<Violation> = json_from_text(&row.violations)?;
    violations.extend(stored.into_iter().filter(|v| !v.is_copy_rule()));
    check_approvable(enum_from_text(&row.status)?, &violations)?;
    row.violations = json_text(&violations);
    Ok(())
}

/// Loads one of the tenant's creatives, or [`StoreError::NotFound`].
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Creative, StoreError> {
    crud::get::<Creatives>(conn, advertiser_id, id)
}

/// Sets the review status of one of the tenant's creatives and returns it. Approving re-checks
/// the copy against the current rules and refuses copy that breaks one.
pub fn set_status(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    status: CreativeStatus,
) -> Result<Creative, StoreError> {
    conn.transaction(|conn| {
        let mut row = crud::find::<Creatives>(conn, advertiser_id, id)?;
        row.status = enum_text(&status);
        row.updated_at = now_millis();
        check_copy(conn, advertiser_id, &mut row)?;
        Creatives::update_row(conn, &row)?;
        row.into_item()
    })
}
