//! `/v1/batches`: upload a batch CSV (multipart/form-data, field `file`), follow its progress,
//! and download `results.csv` and `images.zip`. Batches run one at a time on a background
//! thread of the server with the same [`runner`](super::runner) as `adforge batch`; their
//! files live under `<data_dir>/batches/<id>/`. Every query is scoped by the caller's
//! advertiser id; another tenant's batch answers 404.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use futures_util::StreamExt;
use serde::Serialize;

use super::rows::StoredResources;
use super::runner::{self, BatchOptions, PipelineGenerator, Progress, RowOutcome};
use super::{BatchError, RowError};
use crate::assets::AssetStore;
use crate::auth::Tenant;
use crate::config::Settings;
use crate::http::problem::ApiError;
use crate::http::UploadLimit;
use crate::resources::brand_kits::{self, BrandKit};
use crate::resources::campaigns::{self, Campaign};
use crate::resources::placements::{self, Placement};
use crate::resources::segments::{self, Segment};
use crate::resources::{iso_time, json_from_text, json_text};
use crate::store::schema::{batches, campaigns as campaigns_table};
use crate::store::{new_id, now_millis, Conn, Store};

/// Most row errors kept on a batch record (`results.csv` has every one).
const MAX_ERRORS: usize = 1000;

/// Batches run one after another, so that one server holds one copy of the models for them.
static RUNNING: Mutex<()> = Mutex::new(());

/// A batch and its progress.
#[derive(Clone, Debug, Serialize)]
pub struct Batch {
    /// Identifier.
    pub id: String,
    /// Name of the uploaded file.
    pub file_name: String,
    /// `queued`, `running`, `succeeded` or `failed`.
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
        let errors: Vec<StoredRowError> = json_from_text(&self.errors)?;
        Ok(Batch {
            id: self.id,
            file_name: self.file_name,
            status: self.status,
            rows_total: self.rows_total,
            rows_done: self.rows_done,
            rows_failed: self.rows_failed,
            errors: errors
                .into_iter()
                .map(|e| RowError {
                    row: e.row,
                    column: e.column,
                    message: e.message,
                })
                .collect(),
            error: self.error,
            created_at: iso_time(self.created_at),
            updated_at: iso_time(self.updated_at),
        })
    }
}

fn errors_text(errors: &[RowError]) -> String {
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
}

impl BatchContext {
    fn dir(&self, id: &str) -> PathBuf {
        self.settings.data_dir.join("batches").join(id)
    }
}

/// Registers the batch routes (mounted under `/v1`), with the server's settings.
pub fn routes(settings: Settings) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(BatchContext { settings }))
            .route("/batches", web::post().to(create))
            .route("/batches/{id}", web::get().to(get))
            .route("/batches/{id}/results.csv", web::get().to(results_csv))
            .route("/batches/{id}/images.zip", web::get().to(images_zip));
    }
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

/// `POST /v1/batches`: stores the upload, checks the whole file, and starts the batch.
async fn create(
    mut payload: Multipart,
    store: web::Data<Store>,
    assets: web::Data<AssetStore>,
    limit: web::Data<UploadLimit>,
    context: web::Data<BatchContext>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    let options = BatchOptions::default();
    let limit = (limit.0 as u64).min(options.limits.max_bytes);
    let id = new_id();
    let dir = context.dir(&id);
    let input = dir.join("input.csv");
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
    let mut conn = store.conn()?;
    diesel::insert_into(batches::table)
        .values(&row)
        .execute(&mut conn)?;
    let batch = row.into_api()?;

    let job = BatchJob {
        id,
        advertiser_id: tenant.advertiser_id.clone(),
        dir,
        input,
        options,
        checked_errors: checked.errors,
        store: store.get_ref().clone(),
        assets: assets.get_ref().clone(),
        settings: context.settings.clone(),
    };
    std::thread::Builder::new()
        .name(format!("batch-{}", &batch.id))
        .spawn(move || job.run())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Accepted().json(batch))
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

/// `GET /v1/batches/{id}`.
async fn get(
    store: web::Data<Store>,
    tenant: Tenant,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = store.conn()?;
    Ok(HttpResponse::Ok().json(find(&mut conn, &tenant.advertiser_id, &id)?.into_api()?))
}

/// `GET /v1/batches/{id}/results.csv`.
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

/// `GET /v1/batches/{id}/images.zip`.
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
        let mut conn = store.conn()?;
        find(&mut conn, &tenant.advertiser_id, id)?
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
struct TenantResources {
    conn: Conn,
    advertiser_id: String,
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

/// A batch to run on its own thread.
struct BatchJob {
    id: String,
    advertiser_id: String,
    dir: PathBuf,
    input: PathBuf,
    options: BatchOptions,
    checked_errors: Vec<RowError>,
    store: Store,
    assets: AssetStore,
    settings: Settings,
}

impl BatchJob {
    fn run(self) {
        let _turn = RUNNING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcome = self
            .store
            .conn()
            .map_err(|e| BatchError::Store(e.to_string()))
            .and_then(|conn| {
                let mut stored = TenantResources {
                    conn,
                    advertiser_id: self.advertiser_id.clone(),
                };
                let mut generator = PipelineGenerator::new(&self.settings, self.assets.clone());
                let mut progress = RecordedProgress {
                    store: self.store.clone(),
                    id: self.id.clone(),
                    done: 0,
                    failed: 0,
                    errors: self.checked_errors.clone(),
                };
                let stop = AtomicBool::new(false);
                runner::run(
                    &self.input,
                    &self.dir,
                    &self.options,
                    Some(&mut stored),
                    &mut generator,
                    &mut progress,
                    &stop,
                )
            });
        let (status, error, counts) = match outcome {
            Ok(summary) => (
                "succeeded",
                None,
                Some((summary.rows_done, summary.rows_failed)),
            ),
            Err(error) => {
                tracing::error!(batch = %self.id, %error, "batch failed");
                ("failed", Some(error.to_string()), None)
            }
        };
        let update = self
            .store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                let target = batches::table.filter(batches::id.eq(&self.id));
                let now = now_millis();
                match counts {
                    Some((done, failed)) => diesel::update(target)
                        .set((
                            batches::status.eq(status),
                            batches::rows_done.eq(done as i32),
                            batches::rows_failed.eq(failed as i32),
                            batches::updated_at.eq(now),
                        ))
                        .execute(&mut conn),
                    None => diesel::update(target)
                        .set((
                            batches::status.eq(status),
                            batches::error.eq(error),
                            batches::updated_at.eq(now),
                        ))
                        .execute(&mut conn),
                }
                .map_err(|e| e.to_string())
            });
        if let Err(error) = update {
            tracing::error!(batch = %self.id, %error, "could not record the end of a batch");
        }
    }
}

/// Records progress on the batch's row after every input row; `errors` starts with those
/// found when the upload was checked.
struct RecordedProgress {
    store: Store,
    id: String,
    done: i32,
    failed: i32,
    errors: Vec<RowError>,
}

impl RecordedProgress {
    fn record(&self, status: &str) {
        let result = self
            .store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                diesel::update(batches::table.filter(batches::id.eq(&self.id)))
                    .set((
                        batches::status.eq(status),
                        batches::rows_done.eq(self.done),
                        batches::rows_failed.eq(self.failed),
                        batches::errors.eq(errors_text(&self.errors)),
                        batches::updated_at.eq(now_millis()),
                    ))
                    .execute(&mut conn)
                    .map_err(|e| e.to_string())
            });
        if let Err(error) = result {
            tracing::warn!(batch = %self.id, %error, "could not record batch progress");
        }
    }
}

impl Progress for RecordedProgress {
    fn started(&mut self, _rows_total: u64, _rows_finished: u64) {
        self.record("running");
    }

    fn row_finished(&mut self, _row: u64, outcome: &RowOutcome) {
        match outcome {
            RowOutcome::Generated { .. } => self.done += 1,
            RowOutcome::Failed(error) => {
                self.failed += 1;
                // Errors found when the upload was checked are listed already.
                if !self.errors.iter().any(|known| known.row == error.row) {
                    self.errors.push(error.clone());
                }
            }
        }
        self.record("running");
    }
}
