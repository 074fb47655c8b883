//! The `batches` table as the batch code uses it: the columns of
//! `migrations/2026-11-26-000003_batches` plus the lease of
//! `migrations/2026-11-27-000001_batch_leases`.
//!
//! It is declared here rather than in [`crate::store::schema`] so that the lease columns are
//! known to the batch code; `crate::store::schema::batches` lists the older columns only, and
//! every batch query goes through this definition.

diesel::table! {
    /// CSV batches uploaded over `POST /v1/batches`: progress, row errors and the lease of the
    /// server running them.
    batches (id) {
        /// Identifier (UUID v7).
        id -> Text,
        /// The tenant that uploaded the batch.
        advertiser_id -> Text,
        /// Name of the uploaded file.
        file_name -> Text,
        /// `queued`, `running`, `succeeded` or `failed`.
        status -> Text,
        /// Data rows in the file.
        rows_total -> Integer,
        /// Rows generated.
        rows_done -> Integer,
        /// Rows that failed.
        rows_failed -> Integer,
        /// Row errors as a JSON array (the first 1000).
        errors -> Text,
        /// Why the whole batch failed, if it did.
        error -> Nullable<Text>,
        /// Creation time, Unix milliseconds.
        created_at -> BigInt,
        /// Last update time, Unix milliseconds.
        updated_at -> BigInt,
        /// The runner holding the batch while it is `running`.
        lease_owner -> Nullable<Text>,
        /// When that runner's lease runs out without a heartbeat, Unix milliseconds.
        lease_expires_at -> Nullable<BigInt>,
    }
}
