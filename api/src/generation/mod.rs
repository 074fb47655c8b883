//! Generation jobs: `POST /v1/campaigns/{id}/generate` queues a job over the chosen segments,
//! placements and variants; workers (in `adforge serve`, or `adforge worker` processes
//! elsewhere) lease it and produce each item exactly once. Progress, cancellation and per-item
//! errors are visible through `/v1/jobs/{id}` and its server-sent event stream.

pub mod pipeline;
pub mod worker;

use std::time::Duration;

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::http::json::{ValidJson, Validate};
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::resources::{campaigns, iso_time, json_text, placements, segments};
use crate::store::schema::{generation_items, generation_jobs};
use crate::store::{new_id, now_millis, Conn, Store};

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

impl Validate for GenerateRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if !(1..=4).contains(&self.variants) {
            return Err(ApiError::field("variants", "must be between 1 and 4"));
        }
        for (name, list) in [
            ("segment_ids", &self.segment_ids),
            ("placement_ids", &self.placement_ids),
        ] {
            if list.as_ref().is_some_and(|l| l.is_empty() || l.len() > 100) {
                return Err(ApiError::field(
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
    /// Why the job failed, if it did.
    pub error: Option<String>,
    /// Per-item errors.
    pub item_errors: Vec<ItemError>,
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

#[derive(Queryable, Selectable, Insertable)]
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
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Job, ApiError> {
    let row: JobRow = generation_jobs::table
        .filter(generation_jobs::advertiser_id.eq(advertiser_id))
        .filter(generation_jobs::id.eq(id))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("job"))?;
    to_api(conn, row)
}

fn to_api(conn: &mut Conn, row: JobRow) -> Result<Job, ApiError> {
    let item_errors = generation_items::table
        .filter(generation_items::job_id.eq(&row.id))
        .filter(generation_items::status.eq("failed"))
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
        .load::<(String, String, i32, Option<String>)>(conn)?
        .into_iter()
        .map(|(segment_id, placement_id, variant, error)| ItemError {
            segment_id,
            placement_id,
            variant,
            error: error.unwrap_or_default(),
        })
        .collect();
    Ok(Job {
        id: row.id,
        campaign_id: row.campaign_id,
        status: crate::resources::enum_from_text(&row.status)?,
        items_total: row.items_total,
        items_done: row.items_done,
        items_failed: row.items_failed,
        error: row.error,
        item_errors,
        created_at: iso_time(row.created_at),
        updated_at: iso_time(row.updated_at),
    })
}

/// Queues a job for a campaign after resolving and checking its segments and placements.
pub fn queue(
    conn: &mut Conn,
    advertiser_id: &str,
    campaign_id: &str,
    request: GenerateRequest,
) -> Result<Job, ApiError> {
    let campaign = campaigns::find(conn, advertiser_id, campaign_id)?;
    let segments = segments::for_campaign(conn, advertiser_id, &campaign.id)?;
    let placements = placements::for_campaign(conn, advertiser_id, &campaign.id)?;
    let pick = |field: &str,
                wanted: Option<Vec<String>>,
                have: Vec<String>|
     -> Result<Vec<String>, ApiError> {
        match wanted {
            None if have.is_empty() => Err(ApiError::field(
                field,
                format!("the campaign has no {}", field.trim_end_matches("_ids")),
            )),
            None => Ok(have),
            Some(wanted) => {
                for (i, id) in wanted.iter().enumerate() {
                    if !have.contains(id) {
                        return Err(ApiError::missing_reference(
                            format!("{field}[{i}]"),
                            format!("no {id} in this campaign"),
                        ));
                    }
                }
                Ok(wanted)
            }
        }
    };
    let plan = JobPlan {
        segment_ids: pick(
            "segment_ids",
            request.segment_ids,
            segments.into_iter().map(|s| s.id).collect(),
        )?,
        placement_ids: pick(
            "placement_ids",
            request.placement_ids,
            placements.into_iter().map(|p| p.id).collect(),
        )?,
        variants: request.variants,
    };
    let now = now_millis();
    let row = JobRow {
        id: new_id(),
        advertiser_id: advertiser_id.to_string(),
        campaign_id: campaign.id,
        status: "queued".into(),
        items_total: (plan.segment_ids.len() * plan.placement_ids.len()) as i32
            * plan.variants as i32,
        request: json_text(&plan),
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
    to_api(conn, row)
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/generate", tag = "generation", request_body = GenerateRequest,
    responses((status = 202, body = Job), (status = 404, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn generate(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
    body: ValidJson<GenerateRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let job = store
        .run(move |conn| queue(conn, &tenant.advertiser_id, &id, body.0))
        .await?;
    Ok(HttpResponse::Accepted().json(job))
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "generation",
    responses((status = 200, body = Job), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let job = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Filters for listing jobs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobFilter {
    /// Only jobs of this campaign.
    pub campaign_id: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/jobs", tag = "generation", params(JobFilter),
    responses((status = 200, body = Page<Job>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<JobFilter>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.into_inner();
    let (limit, offset) = PageQuery {
        limit: filter.limit,
        offset: filter.offset,
    }
    .bounds()?;
    let page = store
        .run(move |conn| {
            let query = || {
                let mut query = generation_jobs::table
                    .filter(generation_jobs::advertiser_id.eq(tenant.advertiser_id.clone()))
                    .into_boxed();
                if let Some(id) = &filter.campaign_id {
                    query = query.filter(generation_jobs::campaign_id.eq(id.clone()));
                }
                query
            };
            let total: i64 = query().count().get_result(conn)?;
            let rows: Vec<JobRow> = query()
                .order((
                    generation_jobs::created_at.desc(),
                    generation_jobs::id.desc(),
                ))
                .limit(limit)
                .offset(offset)
                .select(JobRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(|row| to_api(conn, row))
                .collect::<Result<_, _>>()?;
            Ok::<_, ApiError>(Page {
                items,
                total,
                limit,
                offset,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "generation",
    responses((status = 200, body = Job), (status = 404, body = crate::http::problem::Problem),
        (status = 409, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn cancel(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let job = store
        .run(move |conn| {
            let job = find(conn, &tenant.advertiser_id, &id)?;
            if job.status.is_terminal() {
                return Err(ApiError::Conflict(format!(
                    "the job already ended ({:?})",
                    job.status
                )));
            }
            diesel::update(
                generation_jobs::table
                    .filter(generation_jobs::id.eq(&id))
                    .filter(generation_jobs::status.eq_any(["queued", "running"])),
            )
            .set((
                generation_jobs::status.eq("cancelled"),
                generation_jobs::updated_at.eq(now_millis()),
            ))
            .execute(conn)?;
            find(conn, &tenant.advertiser_id, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "generation",
    responses((status = 200, content_type = "text/event-stream", description = "`progress` events carrying the Job, until it ends")),
    security(("bearer" = [])))]
async fn events(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Fail with a 404 before opening the stream.
    let (advertiser, job_id) = (tenant.advertiser_id.clone(), id.clone());
    let first = store
        .run(move |conn| find(conn, &advertiser, &job_id))
        .await?;
    let store = store.into_inner();
    let stream = futures_util::stream::unfold(
        (Some(first), None::<Job>, false),
        move |(next, last, done)| {
            let store = store.clone();
            let (advertiser, id) = (tenant.advertiser_id.clone(), id.clone());
            async move {
                if done {
                    return None;
                }
                let mut job = next;
                loop {
                    if let Some(job) = job.take() {
                        if last.as_ref() != Some(&job) {
                            let frame = format!(
                                "event: progress\ndata: {}\n\n",
                                serde_json::to_string(&job).unwrap_or_default()
                            );
                            let ended = job.status.is_terminal();
                            return Some((
                                Ok::<_, actix_web::Error>(web::Bytes::from(frame)),
                                (None, Some(job), ended),
                            ));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let (advertiser, id) = (advertiser.clone(), id.clone());
                    match store.run(move |conn| find(conn, &advertiser, &id)).await {
                        Ok(fresh) => job = Some(fresh),
                        Err(_) => return None,
                    }
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

/// Registers the job routes under `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/campaigns/{id}/generate", web::post().to(generate))
        .route("/jobs", web::get().to(list))
        .route("/jobs/{id}", web::get().to(get))
        .route("/jobs/{id}/cancel", web::post().to(cancel))
        .route("/jobs/{id}/events", web::get().to(events));
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(generate, get, list, cancel, events))]
pub struct Api;
