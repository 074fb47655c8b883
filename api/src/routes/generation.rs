//! `/v1` generation-job routes: queue a job for a campaign, list, read and cancel jobs, and
//! follow one's progress as server-sent events. The jobs themselves are
//! [`crate::jobs::generation`]; this file only speaks HTTP, and translates [`JobError`] into
//! problem answers.

use std::sync::Arc;
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

/// Most event streams one tenant may hold open at once; one more answers 429.
pub const MAX_STREAMS_PER_TENANT: usize = 8;

/// How often a job's state is read for its event streams.
const STREAM_POLL: Duration = Duration::from_secs(1);

/// How often a stream with nothing new sends a comment: writing is how a client that went
/// away is noticed, and the stream (with its polling) dropped.
pub const STREAM_HEARTBEAT: Duration = Duration::from_secs(3);

/// The open job event streams of the server, per tenant, with the
/// `adforge_job_streams_open` gauge.
pub struct JobStreams {
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    gauge: prometheus::IntGauge,
}

impl JobStreams {
    /// No streams open; the gauge is registered in `registry`.
    pub fn new(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let gauge = prometheus::IntGauge::new(
            "job_streams_open",
            "Job event streams (GET /v1/jobs/{id}/events) open now",
        )?;
        registry.register(Box::new(gauge.clone()))?;
        Ok(JobStreams {
            open: Default::default(),
            gauge,
        })
    }

    /// Streams open now, all tenants together.
    pub fn open(&self) -> i64 {
        self.gauge.get()
    }

    /// Counts a new stream of `advertiser_id`, unless it already holds
    /// [`MAX_STREAMS_PER_TENANT`]; the stream is counted until the guard drops.
    fn enter(self: &Arc<Self>, advertiser_id: &str) -> Option<StreamGuard> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(advertiser_id.to_string()).or_default();
        if *count >= MAX_STREAMS_PER_TENANT {
            return None;
        }
        *count += 1;
        self.gauge.inc();
        Some(StreamGuard {
            streams: self.clone(),
            advertiser_id: advertiser_id.to_string(),
        })
    }
}

/// One open stream, counted in [`JobStreams`] while it lives.
struct StreamGuard {
    streams: Arc<JobStreams>,
    advertiser_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.advertiser_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.advertiser_id);
            }
        }
        self.streams.gauge.dec();
    }
}

/// Where a job's event stream stands.
struct StreamState {
    _guard: StreamGuard,
    store: Arc<Store>,
    advertiser_id: String,
    job_id: String,
    /// A state read but not sent yet.
    next: Option<Job>,
    /// The last state sent.
    last: Option<Job>,
    /// Since when nothing was sent.
    quiet_since: tokio::time::Instant,
}

/// The next frame of a stream: a `progress` event when the job changed, a comment when nothing
/// was sent for [`STREAM_HEARTBEAT`]; the stream ends after the event of a finished job, or
/// when the job cannot be read.
async fn next_frame(mut state: StreamState) -> Option<(web::Bytes, StreamState)> {
    if state
        .last
        .as_ref()
        .is_some_and(|job| job.status.is_terminal())
    {
        return None;
    }
    loop {
        if let Some(job) = state.next.take() {
            if state.last.as_ref() != Some(&job) {
                let frame = format!(
                    "event: progress\ndata: {}\n\n",
                    serde_json::to_string(&job).unwrap_or_default()
                );
                state.last = Some(job);
                state.quiet_since = tokio::time::Instant::now();
                return Some((web::Bytes::from(frame), state));
            }
        }
        if state.quiet_since.elapsed() >= STREAM_HEARTBEAT {
            state.quiet_since = tokio::time::Instant::now();
            return Some((web::Bytes::from_static(b": keepalive\n\n"), state));
        }
        tokio::time::sleep(STREAM_POLL).await;
        let (advertiser, id) = (state.advertiser_id.clone(), state.job_id.clone());
        match state
            .store
            .run(move |conn| jobs::find(conn, &advertiser, &id))
            .await
        {
            Ok(fresh) => state.next = Some(fresh),
            Err(_) => return None,
        }
    }
}

#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "generation",
    responses((status = 200, content_type = "text/event-stream", description = "`progress` events carrying the Job, until it ends; a `: keepalive` comment every few seconds while nothing changes"),
        (status = 404, body = crate::http::problem::Problem),
        (status = 429, body = crate::http::problem::Problem, description = "the tenant already holds the most open streams")),
    security(("bearer" = [])))]
async fn events(
    store: web::Data<Store>,
    streams: web::Data<Arc<JobStreams>>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Fail with a 404 before opening the stream.
    let (advertiser, job_id) = (tenant.advertiser_id.clone(), id.clone());
    let first = store
        .run(move |conn| jobs::find(conn, &advertiser, &job_id))
        .await?;
    let guard = streams.enter(&tenant.advertiser_id).ok_or_else(|| {
        ApiError::TooManyRequests(format!(
            "{MAX_STREAMS_PER_TENANT} job event streams are open already; close one first"
        ))
    })?;
    let state = StreamState {
        _guard: guard,
        store: store.into_inner(),
        advertiser_id: tenant.advertiser_id,
        job_id: id,
        next: Some(first),
        last: None,
        quiet_since: tokio::time::Instant::now(),
    };
    let stream = futures_util::stream::unfold(state, |state| async move {
        next_frame(state)
            .await
            .map(|(frame, state)| (Ok::<_, actix_web::Error>(frame), state))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

/// Registers the job routes under `/v1`, with the server's open-stream registry.
pub fn routes(streams: Arc<JobStreams>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(streams))
            .route("/campaigns/{id}/generate", web::post().to(generate))
            .route("/jobs", web::get().to(list))
            .route("/jobs/{id}", web::get().to(get))
            .route("/jobs/{id}/cancel", web::post().to(cancel))
            .route("/jobs/{id}/events", web::get().to(events));
    }
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(generate, get, list, cancel, events))]
pub struct Api;
