//! Batch jobs: one CSV file in, one creative group per row out.
//!
//! Used by `adforge batch input.csv --out DIR` (`cli/batch.rs`) and, through the same
//! [`runner`], by `POST /v1/batches` (`routes/batches.rs`, with [`service`] running them).
//!
//! # The input file
//!
//! - UTF-8, with or without a byte-order mark; comma **or** semicolon separated (the header line
//!   decides: whichever of the two appears more often outside quotes); fields may be quoted
//!   with `"` and quoted fields may hold delimiters, doubled quotes and newlines.
//! - The first record is the header. Column names are matched ignoring case and surrounding
//!   spaces; an unknown or repeated column name, or a missing required column, is one
//!   file-level error naming them, and nothing is generated.
//! - Rows are numbered like a spreadsheet: the header is row 1, the first data row is row 2.
//!   A bad row (invalid UTF-8, wrong number of fields, a value that fails validation) is
//!   reported as `row N, column C: problem`, and the other rows go on.
//! - Lists hold values separated by `|`. Booleans are `true`/`false` (also `yes`/`no`, `1`/`0`).
//! - Empty cells mean "not given".
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `campaign` | yes | Campaign name (1–200 characters). |
//! | `segment` | yes | Segment name (1–200 characters). |
//! | `placement` | yes | A placement preset key (`iab_medium_rectangle`, `meta_feed`, ... see `GET /v1/placement-presets`); over the API also the name of one of the campaign's placements. |
//! | `variants` | no | Variants to write for the row, 1–8 (default: `--variants`, else 1). |
//! | `brand` | see below | Advertised brand. A row with a `brand` describes its campaign inline. |
//! | `product` | with `brand` | Advertised product or service. |
//! | `landing_url` | with `brand` | Where a click leads: an http(s) URL with a host. |
//! | `description` | no | What the product is and why it matters (up to 4000 characters). |
//! | `offer` | no | The offer, e.g. `20% off the first month`. |
//! | `call_to_action` | no | The campaign's own call to action, e.g. `Book a test ride` (up to 40 characters); used where it fits the placement, else a standard label of the language. |
//! | `tone` | no | Voice of the copy, e.g. `playful`. |
//! | `allow_claims` | no | Whether superlatives and guarantees may be used (default false). |
//! | `persona` | no | Who the segment's people are, in words. |
//! | `language` | no | Language of the copy, a tag such as `en` or `pt-BR` (default `en`). |
//! | `brand_colors` | no | Brand colours, `#RRGGBB` separated by `|`. |
//! | `banned_words` | no | Words the copy must not contain, separated by `|`. |
//! | `required_phrases` | no | Phrases the copy must contain, separated by `|`. |
//! | `disclaimer` | no | Legal text shown on every image. |
//! | `product_image` | no | A product photo (PNG, JPEG or WebP) shown in the row's creatives: on the command line a path relative to the CSV file's folder, over the API the file name of a picture uploaded with the batch. A row naming a stored campaign uses the campaign's own photos without it. See [`photos`]. |
//!
//! Every value is checked by the same rules as the JSON API (`CampaignInput`, `SegmentInput`,
//! `PlacementInput` and `BrandKitInput`). A row without `brand` refers to a stored campaign
//! by name, and its segment (and placement, unless it is a preset key) by name within that
//! campaign; only the HTTP API has stored campaigns, so on the command line every row needs
//! `brand`, `product` and `landing_url`. A sample file is `assets/samples/batch.csv`.
//!
//! # Limits
//!
//! The file size (default 50 MB) is checked before anything is read, and the row count
//! (default 10,000) while the whole file is checked, before anything is generated.
//!
//! # Output
//!
//! In the output folder: `results.csv` (one row per creative, see [`runner::RESULT_COLUMNS`]),
//! `images/` with every image named `ROW-SEGMENT-PLACEMENT-VARIANT-SIZE.png`, and `images.zip`
//! holding the same images. `results.csv` is appended one input row at a time, so a run that
//! is interrupted and started again with the same output folder skips the rows it already
//! finished.
//!
//! Over the API the output folder is `<data_dir>/batches/<id>/`, and the server resumes a
//! batch its predecessor left unfinished the same way (see [`service`]).

pub mod csv_input;
pub mod photos;
pub mod records;
pub mod results;
pub mod rows;
pub mod runner;
pub mod service;
pub mod tenant;

use serde::Serialize;

use crate::store::leases::LeaseStatus;

/// Where a batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Waiting for the server's runner.
    Queued,
    /// A runner holds it.
    Running,
    /// Every row is in the results (some may have failed: see `rows_failed`).
    Succeeded,
    /// The batch could not go on.
    Failed,
}

impl BatchStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Queued => "queued",
            BatchStatus::Running => "running",
            BatchStatus::Succeeded => "succeeded",
            BatchStatus::Failed => "failed",
        }
    }
}

impl TryFrom<LeaseStatus> for BatchStatus {
    type Error = crate::store::leases::UnknownStatus;

    fn try_from(status: LeaseStatus) -> Result<Self, Self::Error> {
        Ok(match status {
            LeaseStatus::Queued => BatchStatus::Queued,
            LeaseStatus::Running => BatchStatus::Running,
            LeaseStatus::Succeeded => BatchStatus::Succeeded,
            LeaseStatus::Failed => BatchStatus::Failed,
            LeaseStatus::Cancelled => {
                return Err(crate::store::leases::UnknownStatus(
                    status.as_str().to_string(),
                ))
            }
        })
    }
}

/// A problem with one row of the input, reported by row number and column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Spreadsheet row number (the header is row 1).
    pub row: u64,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl RowError {
    /// An error on `column` of `row`.
    pub fn new(row: u64, column: Option<&str>, message: impl Into<String>) -> Self {
        RowError {
            row,
            column: column.map(str::to_string),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(column) => write!(f, "row {}, column {column}: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// Limits applied to an input file before any work is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input file in bytes.
    pub max_bytes: u64,
    /// Most data rows (the header not counted).
    pub max_rows: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 50_000_000,
            max_rows: 10_000,
        }
    }
}

/// Errors that stop a whole batch (a bad row is a [`RowError`] instead).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The input file is larger than allowed.
    #[error("the input file is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The input file has more data rows than allowed.
    #[error("the input file has more than {limit} rows; the limit is {limit}")]
    TooManyRows {
        /// The limit.
        limit: u64,
    },
    /// The header is missing, unreadable or names the wrong columns.
    #[error("header: {0}")]
    Header(String),
    /// The CSV reader failed in a way that is not tied to one row.
    #[error("reading the CSV file: {0}")]
    Csv(String),
    /// The output folder holds results that cannot be read back.
    #[error("{path}: {message}")]
    Results {
        /// The results file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The database could not be reached (batches run over the API).
    #[error("database: {0}")]
    Store(String),
    /// The models could not be loaded.
    #[error("loading the models: {0}")]
    Models(String),
    /// The run was stopped before the end.
    #[error("stopped before the end; run again with the same output folder to resume")]
    Stopped,
}

impl BatchError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        BatchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
