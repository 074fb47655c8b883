//! `/v1/batches`: upload a batch CSV (multipart/form-data, field `file`), list the tenant's
//! batches, follow one's progress, and download `results.csv` and `images.zip`. An upload is
//! checked, stored under `<data_dir>/batches/<id>/` and queued; the server's
//! [`BatchService`](super::queue::BatchService) runs queued batches one at a time with the same
//! [`runner`](super::runner) as `adforge batch`, and resumes those a stopped server left
//! unfinished. Every query is scoped by the caller's advertiser id; another tenant's batch
//! answers 404 and never appears in a list.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queue::{batch_dir, BatchService, INPUT_FILE};
use super::rows::StoredResources;
use super::runner::{self, BatchOptions};
use super::{BatchError, RowError};
use crate::auth::Tenant;
use crate::config::Settings;
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::http::UploadLimit;
use crate::resources::brand_kits::{self, BrandKit};
use crate::resources::campaigns::{self, Campaign};
use crate::resources::placements::{self, Placement};
use crate::resources::segments::{self, Segment};
use crate::resources::{iso_time, json_from_text, json_text};
use crate::store::schema::batches;
use crate::store::schema::campaigns as campaigns_table;
use crate::store::{new_id, now_millis, Conn, Store};

/// Most row errors kept on a batch record (`results.csv` has every one).
const MAX_ERRORS: usize = 1000;

/// A batch and its progress.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Batch {
    /// Identifier.
    pub id: String,
    /// Name of the uploaded file.
    pub file_name: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    #[schema(example = "running")]
    pub status: String,
    /// Data rows in the file.
    pub rows_total: i32,
    /// Rows generated.
    pub rows_done: i32,
    /// Rows that failed.
    pub rows_failed: i32,
    /// Row errors, in file order (the first 1000).
    pub errors: Vec<RowError>,
    /// Why the whole batch failed, if it did.
    pub error: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last update time (RFC 3339).
    pub updated_at: String,
}

#[derive(Serialize, serde::Deserialize)]
struct StoredRowError {
    row: u64,
    column: Option<String>,
    message: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = batches)]
struct BatchRow {
    id: String,
    advertiser_id: String,
    file_name: String,
    status: String,
    rows_total: i32,
    rows_done: i32,
    rows_failed: i32,
    errors: String,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl BatchRow {
    fn into_api(self) -> Result<Batch, ApiError> {
        Ok(Batch {
            errors: errors_from_text(&self.errors)?,
            id: self.id,
            file_name: self.file_name,
            status: self.status,
            rows_total: self.rows_total,
            rows_done: self.rows_done,
            rows_failed: self.rows_failed,
            error: self.error,
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

/// Reads back the `errors` column of a batch.
pub(super) fn errors_from_text(text: &str) -> Result<Vec<RowError>, ApiError> {
    let errors: Vec<StoredRowError> = json_from_text(text)?;
    Ok(errors
        .into_iter()
        .map(|e| RowError {
            row: e.row,
            column: e.column,
            message: e.message,
        })
        .collect())
}

/// The `errors` column of a batch: the first [`MAX_ERRORS`] row errors as JSON.
pub(super) fn errors_text(errors: &[RowError]) -> String {
    let stored: Vec<StoredRowError> = errors
        .iter()
        .take(MAX_ERRORS)
        .map(|e| StoredRowError {
            row: e.row,
            column: e.column.clone(),
            message: e.message.clone(),
        })
        .collect();
    json_text(&stored)
}

/// What the batch handlers share.
#[derive(Clone)]
struct BatchContext {
    settings: Settings,
    service: Arc<BatchService>,
}

impl BatchContext {
    fn dir(&self, id: &str) -> PathBuf {
        batch_dir(&self.settings.data_dir, id)
    }
}

/// Registers the batch routes (mounted under `/v1`), with the server's settings and its
/// [`BatchService`] (started with the server's state; it resumes the batches a stopped server
/// left queued or running).
pub fn routes(
    settings: Settings,
    service: Arc<BatchService>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(BatchContext { settings, service }))
            .route("/batches", web::post().to(create))
            .route("/batches", web::get().to(list))
            .route("/batches/{id}", web::get().to(get))
            .route("/batches/{id}/results.csv", web::get().to(results_csv))
            .route("/batches/{id}/images.zip", web::get().to(images_zip));
    }
}

/// The OpenAPI description of these routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, list, get, results_csv, images_zip),
    components(schemas(Batch, BatchUpload, RowError))
)]
pub struct Api;

/// The body of `POST /v1/batches` (multipart/form-data).
#[derive(ToSchema)]
pub struct BatchUpload {
    /// The batch CSV file (UTF-8, comma or semicolon separated, header first; see the batch
    /// module documentation for its columns). Other form fields are ignored.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// Query of `GET /v1/batches`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BatchFilter {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<BatchRow, ApiError> {
    batches::table
        .filter(batches::advertiser_id.eq(advertiser_id))
        .filter(batches::id.eq(id))
        .select(BatchRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound("batch"))
}

/// `POST /v1/batches`: stores the upload, checks the whole file, and queues the batch.
#[utoipa::path(post, path = "/v1/batches", tag = "batches",
    request_body(content = BatchUpload, content_type = "multipart/form-data"),
    responses((status = 202, body = Batch, description = "checked and queued; rows that cannot be generated are listed in `errors`"),
        (status = 400, body = crate::http::problem::Problem, description = "no `file` field or an unreadable body"),
        (status = 413, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem, description = "bad header, too many rows, or unreadable CSV (`field`: `file`)")),
    security(("bearer" = [])))]
async fn create(
    mut payload: Multipart,
    store: web::Data<Store>,
    limit: web::Data<UploadLimit>,
    context: web::Data<BatchContext>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    let options = BatchOptions::default();
    let limit = (limit.0 as u64).min(options.limits.max_bytes);
    let id = new_id();
    let dir = context.dir(&id);
    let input = dir.join(INPUT_FILE);
    let received = receive_file(&mut payload, &dir, &input, limit).await;
    let file_name = match received {
        Ok(name) => name,
        Err(error) => {
            std::fs::remove_dir_all(&dir).ok();
            return Err(error);
        }
    };

    let checked = {
        let (store, input, advertiser) = (
            store.get_ref().clone(),
            input.clone(),
            tenant.advertiser_id.clone(),
        );
        web::block(move || -> Result<_, ApiError> {
            let mut stored = TenantResources {
                conn: store.conn()?,
                advertiser_id: advertiser,
            };
            Ok(runner::check(&input, &options, Some(&mut stored)))
        })
        .await
        .map_err(ApiError::internal)??
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(error) => {
            std::fs::remove_dir_all(&dir).ok();
            return Err(match error {
                BatchError::Header(_)
                | BatchError::TooManyRows { .. }
                | BatchError::TooLarge { .. }
                | BatchError::Csv(_) => ApiError::field("file", error.to_string()),
                other => ApiError::internal(other),
            });
        }
    };

    let now = now_millis();
    let row = BatchRow {
        id: id.clone(),
        advertiser_id: tenant.advertiser_id.clone(),
        file_name,
        status: "queued".into(),
        rows_total: checked.rows_total as i32,
        rows_done: 0,
        rows_failed: 0,
        errors: errors_text(&checked.errors),
        error: None,
        created_at: now,
        updated_at: now,
    };
    let inserted = store
        .run(move |conn| {
            diesel::insert_into(batches::table)
                .values(&row)
                .execute(conn)?;
            Ok::<_, ApiError>(row)
        })
        .await;
    let row = match inserted {
        Ok(row) => row,
        Err(error) => {
            std::fs::remove_dir_all(&dir).ok();
            return Err(error);
        }
    };
    context.service.wake();
    Ok(HttpResponse::Accepted().json(row.into_api()?))
}

/// Streams the multipart field `file` into `path`, failing with 413 past `limit` bytes.
/// Returns the uploaded file's name.
async fn receive_file(
    payload: &mut Multipart,
    dir: &Path,
    path: &Path,
    limit: u64,
) -> Result<String, ApiError> {
    std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
    let mut file_name = None;
    while let Some(field) = payload.next().await {
        let mut field = field
            .map_err(|e| ApiError::bad_request(None, format!("reading the multipart body: {e}")))?;
        if field.name() != Some("file") {
            while let Some(chunk) = field.next().await {
                chunk.map_err(|e| {
                    ApiError::bad_request(None, format!("reading the multipart body: {e}"))
                })?;
            }
            continue;
        }
        let name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect())
            .unwrap_or_else(|| "batch.csv".to_string());
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(path).map_err(ApiError::internal)?);
        let mut written = 0u64;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(Some("file".into()), format!("reading the upload: {e}"))
            })?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(ApiError::PayloadTooLarge {
                    limit: limit as usize,
                });
            }
            out.write_all(&chunk).map_err(ApiError::internal)?;
        }
        out.flush().map_err(ApiError::internal)?;
        file_name = Some(name);
    }
    file_name.ok_or_else(|| {
        ApiError::bad_request(
            Some("file".into()),
            "the multipart body has no `file` field",
        )
    })
}

/// `GET /v1/batches`: the tenant's batches, newest first.
#[utoipa::path(get, path = "/v1/batches", tag = "batches", params(BatchFilter),
    responses((status = 200, body = Page<Batch>), (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn list(
    store: web::Data<Store>,
    tenant: Tenant,
    filter: web::Query<BatchFilter>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter.into_inner();
    let (limit, offset) = PageQuery {
        limit: filter.limit,
        offset: filter.offset,
    }
    .bounds()?;
    let page = store
        .run(move |conn| {
            let owned =
                || batches::table.filter(batches::advertiser_id.eq(tenant.advertiser_id.clone()));
            let total: i64 = owned().count().get_result(conn)?;
            let rows: Vec<BatchRow> = owned()
                .order((batches::created_at.desc(), batches::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(BatchRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(BatchRow::into_api)
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

/// `GET /v1/batches/{id}`.
#[utoipa::path(get, path = "/v1/batches/{id}", tag = "batches",
    responses((status = 200, body = Batch), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let batch = store
        .run(move |conn| find(conn, &tenant.advertiser_id, &id)?.into_api())
        .await?;
    Ok(HttpResponse::Ok().json(batch))
}

/// `GET /v1/batches/{id}/results.csv`: one row per creative (or per failed input row), growing
/// as rows finish.
#[utoipa::path(get, path = "/v1/batches/{id}/results.csv", tag = "batches",
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, body = crate::http::problem::Problem),
        (status = 409, body = crate::http::problem::Problem, description = "the batch has not started yet")),
    security(("bearer" = [])))]
async fn results_csv(
    store: web::Data<Store>,
    context: web::Data<BatchContext>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(
        &store,
        &context,
        &tenant,
        &id,
        runner::RESULTS_FILE,
        "text/csv; charset=utf-8",
    )
    .await
}

/// `GET /v1/batches/{id}/images.zip`: every image of the batch, written when it ends.
#[utoipa::path(get, path = "/v1/batches/{id}/images.zip", tag = "batches",
    responses((status = 200, content_type = "application/zip", body = Vec<u8>),
        (status = 404, body = crate::http::problem::Problem),
        (status = 409, body = crate::http::problem::Problem, description = "the batch has not ended yet")),
    security(("bearer" = [])))]
async fn images_zip(
    store: web::Data<Store>,
    context: web::Data<BatchContext>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(
        &store,
        &context,
        &tenant,
        &id,
        runner::IMAGES_ZIP,
        "application/zip",
    )
    .await
}

async fn download(
    store: &Store,
    context: &BatchContext,
    tenant: &Tenant,
    id: &str,
    file_name: &'static str,
    content_type: &'static str,
) -> Result<HttpResponse, ApiError> {
    let row = {
        let (advertiser_id, id) = (tenant.advertiser_id.clone(), id.to_string());
        store
            .run(move |conn| find(conn, &advertiser_id, &id))
            .await?
    };
    let path = context.dir(&row.id).join(file_name);
    if !path.is_file() {
        return Err(ApiError::Conflict(format!(
            "{file_name} is not ready: the batch is {}",
            row.status
        )));
    }
    let file = std::fs::File::open(&path).map_err(ApiError::internal)?;
    let length = file.metadata().map_err(ApiError::internal)?.len();
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"batch-{}-{file_name}\"", row.id),
        ))
        .no_chunking(length)
        .streaming(file_chunks(file)))
}

/// The file's bytes in 64 KiB chunks, each read on the blocking thread pool, so a large
/// archive is never held in memory.
fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let read = web::block(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            let count = std::io::Read::read(&mut file, &mut buffer)?;
            buffer.truncate(count);
            Ok::<_, std::io::Error>((file, buffer))
        })
        .await;
        match read {
            Ok(Ok((_, buffer))) if buffer.is_empty() => None,
            Ok(Ok((file, buffer))) => Some((Ok(web::Bytes::from(buffer)), Some(file))),
            Ok(Err(error)) => Some((Err(actix_web::error::ErrorInternalServerError(error)), None)),
            Err(error) => Some((Err(actix_web::error::ErrorInternalServerError(error)), None)),
        }
    })
}

/// The tenant's stored campaigns, segments and placements, found by name.
pub(super) struct TenantResources {
    /// The connection used for the look-ups.
    pub(super) conn: Conn,
    /// The tenant.
    pub(super) advertiser_id: String,
}

impl StoredResources for TenantResources {
    fn campaign(&mut self, name: &str) -> Result<Option<(Campaign, Option<BrandKit>)>, String> {
        let id: Option<String> = campaigns_table::table
            .filter(campaigns_table::advertiser_id.eq(&self.advertiser_id))
            .filter(campaigns_table::name.eq(name))
            .order(campaigns_table::created_at.desc())
            .select(campaigns_table::id)
            .first(&mut self.conn)
            .optional()
            .map_err(|e| e.to_string())?;
        let Some(id) = id else { return Ok(None) };
        let campaign =
            campaigns::find(&mut self.conn, &self.advertiser_id, &id).map_err(|e| e.to_string())?;
        let brand_kit = match &campaign.input.brand_kit_id {
            Some(kit) => brand_kits::find(&mut self.conn, &self.advertiser_id, kit).ok(),
            None => None,
        };
        Ok(Some((campaign, brand_kit)))
    }

    fn segment(&mut self, campaign: &Campaign, name: &str) -> Result<Option<Segment>, String> {
        let all = segments::for_campaign(&mut self.conn, &self.advertiser_id, &campaign.id)
            .map_err(|e| e.to_string())?;
        Ok(all.into_iter().find(|s| s.input.name == name))
    }

    fn placement(&mut self, campaign: &Campaign, name: &str) -> Result<Option<Placement>, String> {
        let all = placements::for_campaign(&mut self.conn, &self.advertiser_id, &campaign.id)
            .map_err(|e| e.to_string())?;
        Ok(all.into_iter().find(|p| p.input.name == name))
    }
}
