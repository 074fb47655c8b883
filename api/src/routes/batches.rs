//! `/v1/batches`: upload a batch CSV (multipart/form-data, field `file`), list the tenant's
//! batches, follow one's progress, and download `results.csv` and `images.zip`. An upload is
//! stored under `<data_dir>/batches/<id>/`, checked and queued
//! ([`records::accept_upload`]); the server's [`BatchService`] runs queued batches one at a
//! time with the same runner as `adforge batch`, and resumes those a stopped server left
//! unfinished. Every query is scoped by the caller's advertiser id; another tenant's batch
//! answers 404 and never appears in a list.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use utoipa::ToSchema;

use crate::config::Settings;
use crate::domain::product_images::check_product_photo;
use crate::http::auth::Tenant;
use crate::http::limits::UploadLimit;
use crate::http::pagination::{Page, PageQuery};
use crate::http::problem::ApiError;
use crate::infra::changes::{Change, ChangeKind, ChangeNotifier};
use crate::jobs::batch::photos;
use crate::jobs::batch::records::{self, Batch, BatchFilter};
use crate::jobs::batch::runner::{self, BatchOptions};
use crate::jobs::batch::service::{batch_dir, BatchService, INPUT_FILE};
use crate::jobs::batch::{BatchStatus, RowError};
use crate::store::{new_id, Store};

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
    components(schemas(Batch, BatchStatus, BatchUpload, RowError))
)]
pub struct Api;

/// The body of `POST /v1/batches` (multipart/form-data).
#[derive(ToSchema)]
pub struct BatchUpload {
    /// The batch CSV file (UTF-8, comma or semicolon separated, header first; see the batch
    /// module documentation for its columns). Other form fields are ignored, but count
    /// toward the upload limit.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Product photos the rows' `product_image` column names by file name: any other part
    /// with a file name (PNG, JPEG or WebP, 32 to 4096 pixels on each side), e.g. several
    /// `images` parts. They count toward the upload limit.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub images: Vec<Vec<u8>>,
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
    changes: web::Data<ChangeNotifier>,
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

    let accepted = {
        let (input, advertiser, id) = (input.clone(), tenant.advertiser_id.clone(), id.clone());
        store
            .run(move |conn| records::accept_upload(conn, &advertiser, &id, file_name, &input))
            .await
    };
    let batch = match accepted {
        Ok(batch) => batch,
        Err(error) => {
            std::fs::remove_dir_all(&dir).ok();
            return Err(error.into());
        }
    };
    context.service.wake();
    changes
        .notify(Change::new(&tenant.advertiser_id, ChangeKind::Batch))
        .await;
    Ok(HttpResponse::Accepted().json(batch))
}

/// Streams the multipart field `file` into `path`, failing with 413 once the fields read,
/// `file` and every other one together, pass `limit` bytes (other fields are read and
/// dropped). Returns the uploaded file's name.
async fn receive_file(
    payload: &mut Multipart,
    dir: &Path,
    path: &Path,
    limit: u64,
) -> Result<String, ApiError> {
    crate::infra::files::create_private_dir(dir).map_err(ApiError::internal)?;
    let mut file_name = None;
    let mut received = 0u64;
    let mut count = |bytes: usize| {
        received += bytes as u64;
        if received > limit {
            Err(ApiError::PayloadTooLarge {
                limit: limit as usize,
            })
        } else {
            Ok(())
        }
    };
    while let Some(field) = payload.next().await {
        let mut field = field
            .map_err(|e| ApiError::bad_request(None, format!("reading the multipart body: {e}")))?;
        if field.name() != Some("file") {
            let picture = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .map(str::to_string);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::bad_request(None, format!("reading the multipart body: {e}"))
                })?;
                count(chunk.len())?;
                if picture.is_some() {
                    bytes.extend_from_slice(&chunk);
                }
            }
            // A file part other than `file` is a picture the rows' `product_image` names.
            if let Some(name) = picture {
                let field_name = field.name().unwrap_or("").to_string();
                let declared = field.content_type().map(|m| m.essence_str().to_string());
                let dir = dir.to_path_buf();
                web::block(move || store_picture(&dir, &field_name, &name, declared, &bytes))
                    .await
                    .map_err(ApiError::internal)??;
            }
            continue;
        }
        let name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect())
            .unwrap_or_else(|| "batch.csv".to_string());
        // Readable by the server's user only (0600), like everything it stores.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = std::io::BufWriter::new(options.open(path).map_err(ApiError::internal)?);
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(Some("file".into()), format!("reading the upload: {e}"))
            })?;
            count(chunk.len())?;
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

/// Checks a picture uploaded with a batch (as a product photo: PNG, JPEG or WebP, 32 to 4096
/// pixels on each side) and stores it under its file name in the batch's
/// [`photos::UPLOADED_DIR`]; problems are errors on the part's field.
fn store_picture(
    dir: &Path,
    field: &str,
    file_name: &str,
    declared: Option<String>,
    bytes: &[u8],
) -> Result<(), ApiError> {
    let field = if field.is_empty() { "images" } else { field };
    let checked = check_product_photo(bytes, declared.as_deref(), file_name, field)?;
    let folder = dir.join(photos::UPLOADED_DIR);
    crate::infra::files::create_private_dir(&folder).map_err(ApiError::internal)?;
    let path = folder.join(&checked.file_name);
    if path.exists() {
        return Err(ApiError::field(
            field,
            format!(
                "two pictures are named {:?}; give each a different file name",
                checked.file_name
            ),
        ));
    }
    crate::infra::files::write_private_atomic(&path, bytes).map_err(ApiError::internal)
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
    let window = PageQuery {
        limit: filter.limit,
        offset: filter.offset,
    }
    .window()?;
    let page = store
        .run(move |conn| records::list(conn, &tenant.advertiser_id, window))
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
        .run(move |conn| records::find(conn, &tenant.advertiser_id, &id))
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
    let batch = {
        let (advertiser_id, id) = (tenant.advertiser_id.clone(), id.to_string());
        store
            .run(move |conn| records::find(conn, &advertiser_id, &id))
            .await?
    };
    let path = context.dir(&batch.id).join(file_name);
    if !path.is_file() {
        return Err(ApiError::Conflict(format!(
            "{file_name} is not ready: the batch is {}",
            batch.status.as_str()
        )));
    }
    let file = std::fs::File::open(&path).map_err(ApiError::internal)?;
    let length = file.metadata().map_err(ApiError::internal)?.len();
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"batch-{}-{file_name}\"", batch.id),
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
