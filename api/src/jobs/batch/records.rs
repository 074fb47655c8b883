//! The `batches` table as the API sees it: accepting an upload as a queued batch, reading one
//! back or a page of them, and the row errors kept on each record.

use std::path::Path;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::runner::{self, BatchOptions};
use super::tenant::TenantResources;
use super::{BatchError, BatchStatus, RowError};
use crate::domain::{iso_time, FieldError, Page, PageWindow};
use crate::jobs::JobError;
use crate::store::crud::{self, tenant_queries, Db, TenantTable};
use crate::store::leases::LeaseStatus;
use crate::store::schema::batches;
use crate::store::{now_millis, Conn, StoreError};

/// Most row errors kept on a batch record (`results.csv` has every one).
const MAX_ERRORS: usize = 1000;

/// A batch and its progress.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Batch {
    /// Identifier.
    pub id: String,
    /// Name of the uploaded file.
    pub file_name: String,
    /// State.
    pub status: BatchStatus,
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

/// A row error as stored in the `errors` column.
#[derive(Serialize, Deserialize)]
struct StoredRowError {
    row: u64,
    column: Option<String>,
    message: String,
}

/// Query of `GET /v1/batches`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BatchFilter {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

/// A batch as stored.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batches)]
pub struct BatchRow {
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

/// The batches table, read through the generic [`crud`] functions.
pub struct Batches;

fn filtered(
    query: batches::BoxedQuery<'static, Db>,
    _filter: &BatchFilter,
) -> batches::BoxedQuery<'static, Db> {
    query
}

impl TenantTable for Batches {
    const WHAT: &'static str = "batch";
    type Row = BatchRow;
    type Item = Batch;
    type Filter = BatchFilter;

    tenant_queries!(batches, BatchRow, filtered);

    fn into_item(row: BatchRow) -> Result<Batch, StoreError> {
        row.into_batch()
            .map_err(|error| StoreError::Corrupt(error.to_string()))
    }
}

impl BatchRow {
    fn into_batch(self) -> Result<Batch, JobError> {
        Ok(Batch {
            errors: errors_from_text(&self.errors)?,
            id: self.id,
            file_name: self.file_name,
            status: LeaseStatus::parse(&self.status)?.try_into()?,
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
pub(super) fn errors_from_text(text: &str) -> Result<Vec<RowError>, serde_json::Error> {
    let errors: Vec<StoredRowError> = serde_json::from_str(text)?;
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
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// Checks the whole uploaded file at `input` (against the tenant's stored campaigns) and
/// records it as queued batch `id`. A file that cannot be read as a batch at all is an
/// invalid `file`; rows that cannot be generated are listed in the batch's `errors`.
pub fn accept_upload(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    file_name: String,
    input: &Path,
) -> Result<Batch, JobError> {
    let mut stored = TenantResources {
        conn: &mut *conn,
        advertiser_id,
    };
    let checked =
        runner::check(input, &BatchOptions::default(), Some(&mut stored)).map_err(|error| {
            match error {
                BatchError::Header(_)
                | BatchError::TooManyRows { .. }
                | BatchError::TooLarge { .. }
                | BatchError::Csv(_) => {
                    JobError::Invalid(FieldError::new("file", error.to_string()))
                }
                other => JobError::Batch(other),
            }
        })?;
    let now = now_millis();
    let row = BatchRow {
        id: id.to_string(),
        advertiser_id: advertiser_id.to_string(),
        file_name,
        status: LeaseStatus::Queued.as_str().into(),
        rows_total: checked.rows_total as i32,
        rows_done: 0,
        rows_failed: 0,
        errors: errors_text(&checked.errors),
        error: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(batches::table)
        .values(&row)
        .execute(conn)?;
    row.into_batch()
}

/// The tenant's batch `id`.
pub fn find(conn: &mut Conn, advertiser_id: &str, id: &str) -> Result<Batch, JobError> {
    Batches::find_row(conn, advertiser_id, id)?
        .ok_or(JobError::NotFound("batch"))?
        .into_batch()
}

/// A page of the tenant's batches, newest first.
pub fn list(
    conn: &mut Conn,
    advertiser_id: &str,
    window: PageWindow,
) -> Result<Page<Batch>, JobError> {
    Ok(crud::list::<Batches>(
        conn,
        advertiser_id,
        &BatchFilter::default(),
        window,
    )?)
}
