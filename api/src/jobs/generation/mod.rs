//! Generation jobs: `POST /v1/campaigns/{id}/generate` queues a job over the chosen segments,
//! placements and variants; workers (in `adforge serve`, or `adforge worker` processes
//! elsewhere) lease it from the queue of [`crate::store::leases`] and produce each item exactly
//! once. Progress, cancellation and per-item errors are read back with [`find`] and [`list`].
//!
//! This module owns the job records; [`worker`] runs them and [`pipeline`] generates one
//! (segment, placement) group.

pub mod copy;
pub mod models;
pub mod pipeline;
pub mod product;
pub mod worker;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobError;
use crate::domain::{iso_time, FieldError, Page, PageWindow, Validate};
use crate::store::crud::{self, tenant_queries, Db, TenantTable};
use crate::store::leases::{self, LeaseStatus, Queue};
use crate::store::schema::{generation_items, generation_jobs};
use crate::store::{campaigns, new_id, now_millis, placements, segments, Conn, StoreError};

/// What to generate.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// Segments to write for; all of the campaign's when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ids: Option<Vec<String>>,
    /// Placements to write for; all of the campaign's when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_ids: Option<Vec<String>>,
    /// Variants per (segment, placement), 1 to 4.
    #[serde(default = "two")]
    pub variants: u32,
}

fn two() -> u32 {
    2
}

/// Checks the request's own values (the ids are checked against the campaign by [`queue`]).
impl Validate for GenerateRequest {
    fn validate(&self) -> Result<(), FieldError> {
        if !(1..=4).contains(&self.variants) {
            return Err(FieldError::new("variants", "must be between 1 and 4"));
        }
        for (name, list) in [
            ("segment_ids", &self.segment_ids),
            ("placement_ids", &self.placement_ids),
        ] {
            if list.as_ref().is_some_and(|l| l.is_empty() || l.len() > 100) {
                return Err(FieldError::new(
                    name,
                    "give 1 to 100 ids, or leave it out for all",
                ));
            }
        }
        Ok(())
    }
}

/// The resolved work of a job, stored with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobPlan {
    /// Segment ids.
    pub segment_ids: Vec<String>,
    /// Placement ids.
    pub placement_ids: Vec<String>,
    /// Variants per group.
    pub variants: u32,
}

/// State of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Every item was produced (some may have failed: see `items_failed`).
    Succeeded,
    /// The job could not run.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobStatus {
    /// Whether the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl From<LeaseStatus> for JobStatus {
    fn from(status: LeaseStatus) -> Self {
        match status {
            LeaseStatus::Queued => JobStatus::Queued,
            LeaseStatus::Running => JobStatus::Running,
            LeaseStatus::Succeeded => JobStatus::Succeeded,
            LeaseStatus::Failed => JobStatus::Failed,
            LeaseStatus::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// A generation job as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Job {
    /// Identifier.
    pub id: String,
    /// The campaign.
    pub campaign_id: String,
    /// State.
    pub status: JobStatus,
    /// Items in all (segments × placements × variants).
    pub items_total: i32,
    /// Items finished (including failed ones).
    pub items_done: i32,
    /// Items that failed.
    pub items_failed: i32,
    /// Variants not delivered because too few candidates passed the quality checks (counted
    /// in `items_done`, never padded with rejected copy).
    pub items_undelivered: i32,
    /// Why the job failed, if it did.
    pub error: Option<String>,
    /// Per-item errors.
    pub item_errors: Vec<ItemError>,
    /// The undelivered variants, with why (at most 100).
    pub undelivered: Vec<ItemError>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

/// One failed item.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ItemError {
    /// Segment of the item.
    pub segment_id: String,
    /// Placement of the item.
    pub placement_id: String,
    /// Variant number.
    pub variant: i32,
    /// What went wrong.
    pub error: String,
}

/// Filters for listing jobs.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobFilter {
    /// Only jobs of this campaign.
    pub campaign_id: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

/// A job as stored.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = generation_jobs)]
pub(crate) struct JobRow {
    pub id: String,
    pub advertiser_id: String,
    pub campaign_id: String,
    pub status: String,
    pub request: String,
    pub items_total: i32,
    pub items_done: i32,
    pub items_failed: i32,
    pub error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Loads a job with its item errors, scoped to the tenant.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Job, JobError> {
    let row =
        GenerationJobs::find_row(conn, advertiser_id, id)?.ok_or(JobError::NotFound("job"))?;
    to_job(conn, row)
}

/// The generation jobs table, listed through the generic [`crud::list`].
struct GenerationJobs;

fn filtered(
    mut query: generation_jobs::BoxedQuery<'static, Db>,
    filter: &JobFilter,
) -> generation_jobs::BoxedQuery<'static, Db> {
    if let Some(id) = &filter.campaign_id {
        query = query.filter(generation_jobs::campaign_id.eq(id.clone()));
    }
    query
}

impl TenantTable for GenerationJobs {
    const WHAT: &'static str = "job";
    type Row = JobRow;
    type Item = JobRow;
    type Filter = JobFilter;

    tenant_queries!(generation_jobs, JobRow, filtered);

    fn into_item(row: JobRow) -> Result<JobRow, StoreError> {
        Ok(row)
    }
}

/// A page of the tenant's jobs matching `filter`, newest first.
pub fn list(
    conn: &mut Conn,
    advertiser_id: &str,
    filter: &JobFilter,
    window: PageWindow,
) -> Result<Page<Job>, JobError> {
    let page = crud::list::<GenerationJobs>(conn, advertiser_id, filter, window)?;
    let jobs = page
        .items
        .into_iter()
        .map(|row| to_job(conn, row))
        .collect::<Result<_, _>>()?;
    Ok(Page::new(jobs, page.total, window))
}

fn to_job(conn: &mut Conn, row: JobRow) -> Result<Job, JobError> {
    let items = |conn: &mut Conn, statuses: &[&str]| {
        generation_items::table
            .filter(generation_items::job_id.eq(&row.id))
            .filter(generation_items::status.eq_any(statuses.iter().map(|s| s.to_string())))
            .order((
                generation_items::segment_id,
                generation_items::placement_id,
                generation_items::variant,
            ))
            .limit(100)
            .select((
                generation_items::segment_id,
                generation_items::placement_id,
                generation_items::variant,
                generation_items::error,
            ))
            .load::<(String, String, i32, Option<String>)>(conn)
            .map(|rows| {
                rows.into_iter()
                    .map(|(segment_id, placement_id, variant, error)| ItemError {
                        segment_id,
                        placement_id,
                        variant,
                        error: error.unwrap_or_default(),
                    })
                    .collect::<Vec<_>>()
            })
    };
    let item_errors = items(conn, &["failed"])?;
    let undelivered = items(conn, &["undelivered", "dropped"])?;
    let items_undelivered: i64 = generation_items::table
        .filter(generation_items::job_id.eq(&row.id))
        .filter(generation_items::status.eq_any(["undelivered", "dropped"]))
        .count()
        .get_result(conn)?;
    Ok(Job {
        id: row.id,
        campaign_id: row.campaign_id,
        status: LeaseStatus::parse(&row.status)?.into(),
        items_total: row.items_total,
        items_done: row.items_done,
        items_failed: row.items_failed,
        items_undelivered: items_undelivered as i32,
        error: row.error,
        item_errors,
        undelivered,
        created_at: iso_time(row.created_at),
        updated_at: iso_time(row.updated_at),
    })
}

/// Most items (segments × placements × variants) one job may hold.
pub const MAX_JOB_ITEMS: usize = 400;

/// Most images (segments × variants × the sizes of every placement) one job may render.
pub const MAX_JOB_IMAGES: usize = 1_000;

/// Most pixels one job may render, all its images together: 1,000 megapixels, about 850
/// 1080x1080 images or 60 of 4096x4096.
pub const MAX_JOB_PIXELS: u64 = 1_000_000_000;

/// Refuses a job whose work passes [`MAX_JOB_ITEMS`], [`MAX_JOB_IMAGES`] or
/// [`MAX_JOB_PIXELS`], naming the limit, so that one request cannot hold the shared workers
/// for hours.
fn check_work(plan: &JobPlan, chosen: &[crate::domain::Placement]) -> Result<(), FieldError> {
    let per_group = plan.segment_ids.len() * plan.variants as usize;
    let items = per_group * plan.placement_ids.len();
    // Every placement of the plan, as often as the plan names it.
    let sizes: Vec<(u32, u32)> = plan
        .placement_ids
        .iter()
        .filter_map(|id| chosen.iter().find(|p| &p.id == id))
        .flat_map(|p| p.sizes())
        .collect();
    let images = per_group * sizes.len();
    let pixels: u64 = per_group as u64
        * sizes
            .iter()
            .map(|&(w, h)| u64::from(w) * u64::from(h))
            .sum::<u64>();
    let over = |what: &str, amount: String, limit: String, name: &str| {
        FieldError::new(
            "segment_ids",
            format!(
                "this job would make {amount} {what} (segments × placements × variants × image \
                 sizes); the limit {name} is {limit}: generate for fewer segments, placements \
                 or variants at a time"
            ),
        )
    };
    if items > MAX_JOB_ITEMS {
        return Err(over(
            "items",
            items.to_string(),
            MAX_JOB_ITEMS.to_string(),
            "max_job_items",
        ));
    }
    if images > MAX_JOB_IMAGES {
        return Err(over(
            "images",
            images.to_string(),
            MAX_JOB_IMAGES.to_string(),
            "max_job_images",
        ));
    }
    if pixels > MAX_JOB_PIXELS {
        return Err(over(
            "image pixels",
            pixels.to_string(),
            MAX_JOB_PIXELS.to_string(),
            "max_job_pixels",
        ));
    }
    Ok(())
}

/// Queues a job for a campaign after resolving and checking its segments and placements, and
/// the amount of work they make ([`MAX_JOB_ITEMS`], [`MAX_JOB_IMAGES`], [`MAX_JOB_PIXELS`]).
pub fn queue(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    request: GenerateRequest,
) -> Result<Job, JobError> {
    let campaign = campaigns::find(conn, advertiser_id, campaign_id)?;
    let segment_ids = segments::for_campaign(conn, advertiser_id, &campaign.id)?
        .into_iter()
        .map(|segment| segment.id)
        .collect();
    let all_placements = placements::for_campaign(conn, advertiser_id, &campaign.id)?;
    let placement_ids = all_placements.iter().map(|p| p.id.clone()).collect();
    let plan = JobPlan {
        segment_ids: pick("segment_ids", request.segment_ids, segment_ids)?,
        placement_ids: pick("placement_ids", request.placement_ids, placement_ids)?,
        variants: request.variants,
    };
    let chosen: Vec<_> = all_placements
        .into_iter()
        .filter(|p| plan.placement_ids.contains(&p.id))
        .collect();
    check_work(&plan, &chosen)?;
    let now = now_millis();
    let row = JobRow {
        id: new_id(),
        advertiser_id: advertiser_id.to_string(),
        campaign_id: campaign.id,
        status: LeaseStatus::Queued.as_str().into(),
        items_total: (plan.segment_ids.len() * plan.placement_ids.len()) as i32
            * plan.variants as i32,
        request: serde_json::to_string(&plan)?,
        items_done: 0,
        items_failed: 0,
        error: None,
        lease_owner: None,
        lease_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(generation_jobs::table)
        .values(&row)
        .execute(conn)?;
    to_job(conn, row)
}

/// The ids `wanted` in request field `field`, each checked to be among the campaign's (`have`);
/// all of the campaign's when none are named.
fn pick(
    field: &str,
    wanted: Option<Vec<String>>,
    have: Vec<String>,
) -> Result<Vec<String>, JobError> {
    match wanted {
        None if have.is_empty() => Err(FieldError::new(
            field,
            format!("the campaign has no {}", field.trim_end_matches("_ids")),
        )
        .into()),
        None => Ok(have),
        Some(wanted) => {
            for (i, id) in wanted.iter().enumerate() {
                if !have.contains(id) {
                    return Err(JobError::MissingReference {
                        field: format!("{field}[{i}]"),
                        message: format!("no {id} in this campaign"),
                    });
                }
            }
            Ok(wanted)
        }
    }
}

/// Cancels a queued or running job of the tenant; its worker stops at its next heartbeat.
pub fn cancel(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Job, JobError> {
    let job = find(conn, advertiser_id, id)?;
    if job.status.is_terminal() {
        return Err(JobError::Conflict(format!(
            "the job already ended ({:?})",
            job.status
        )));
    }
    leases::cancel(conn, Queue::GenerationJobs, id)?;
    find(conn, advertiser_id, id)
}
