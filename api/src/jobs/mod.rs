//! Background work, with no HTTP in it: generation jobs (queued per campaign, run by workers
//! into stored creatives) and batches (one CSV file in, one creative group per row out). Both
//! run on the one lease-based queue of [`crate::store::leases`]; `routes/` exposes them over
//! HTTP and translates [`JobError`] into problem answers.

pub mod batch;
pub mod eval;
pub mod generation;

use crate::domain::FieldError;
use crate::store::leases::UnknownStatus;
use crate::store::StoreError;

/// Why a job or batch operation asked for by a caller failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job or batch does not exist, or belongs to another tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A request field holds an unacceptable value.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// A request field names something the caller does not have.
    #[error("{field}: {message}")]
    MissingReference {
        /// Path of the field, e.g. `segment_ids[2]`.
        field: String,
        /// What is missing.
        message: String,
    },
    /// The request conflicts with the job's state (e.g. cancelling an ended job).
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    /// A batch file could not be checked.
    #[error(transparent)]
    Batch(#[from] batch::BatchError),
    /// A stored row cannot be read back.
    #[error("corrupt stored row: {0}")]
    Corrupt(String),
}

impl From<UnknownStatus> for JobError {
    fn from(error: UnknownStatus) -> Self {
        JobError::Corrupt(error.to_string())
    }
}

impl From<serde_json::Error> for JobError {
    fn from(error: serde_json::Error) -> Self {
        JobError::Corrupt(error.to_string())
    }
}
