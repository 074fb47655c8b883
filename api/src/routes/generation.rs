//! `/v1` generation-job routes: queue a job for a campaign, list, read and cancel jobs, and
//! follow one's progress as server-sent events. The jobs themselves are
//! [`crate::jobs::generation`]; this file only speaks HTTP, and translates [`JobError`] into
//! problem answers.

use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::http::auth::Tenant;
use crate::http::json::ValidJson;
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::infra::changes::{Change, ChangeKind, ChangeNotifier};
use crate::jobs::generation::{self as jobs, GenerateRequest, Job, JobFilter};
use crate::jobs::JobError;
use crate::store::Store;

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::NotFound(what) => ApiError::NotFound(what),
            JobError::Invalid(error) => error.into(),
            JobError::MissingReference { field, message } => {
                ApiError::missing_reference(field, message)
            }
            JobError::Conflict(message) => ApiError::Conflict(message),
            JobError::Store(error) => error.into(),
            JobError::Query(error) => error.into(),
            other @ (JobError::Corrupt(_) | JobError::Batch(_)) => ApiError::internal(other),
        }
    }
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/generate", tag = "generation", request_body = GenerateRequest,
    responses((status = 202, body = Job), (status = 404, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn generate(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
    body: ValidJson<GenerateRequest>,
) -> Result<HttpResponse, ApiError> {
    let (id, advertiser_id) = (id.into_inner(), tenant.advertiser_id.clone());
    let job = store
        .run(move |conn| jobs::queue(conn, &advertiser_id, &id, body.0))
        .await?;
    changes
        .notify(Change::new(
            &tenant.advertiser_id,
            ChangeKind::GenerationJob,
        ))
        .await;
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
        .run(move |conn| jobs::find(conn, &tenant.advertiser_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(get, path = "/v1/jobs", tag = "generation", params(JobFilter),
    responses((status = 200, body = Page<Job>)), security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<JobFilter>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.into_inner();
    let window = PageQuery {
        limit: filter.limit,
        offset: filter.offset,
    }
    .window()?;
    let page = store
        .run(move |conn| jobs::list(conn, &tenant.advertiser_id, &filter, window))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "generation",
    responses((status = 200, body = Job), (status = 404, body = crate::http::problem::Problem),
        (status = 409, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn cancel(
    store: web::Data<Store>,
    changes: web::Data<ChangeNotifier>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, advertiser_id) = (id.into_inner(), tenant.advertiser_id.clone());
    let job = store
        .run(move |conn| jobs::cancel(conn, &advertiser_id, &id))
        .await?;
    changes
        .notify(Change::new(
            &tenant.advertiser_id,
            ChangeKind::GenerationJob,
        ))
        .await;
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
        .run(move |conn| jobs::find(conn, &advertiser, &job_id))
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
                    match store
                        .run(move |conn| jobs::find(conn, &advertiser, &id))
                        .await
                    {
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
