//! Request-body size limits, registered as app data and read by the body extractors.

/// The limit on JSON bodies, in bytes (`max_json_bytes`).
#[derive(Clone, Copy, Debug)]
pub struct JsonLimit(pub usize);

/// The limit on upload bodies (logos, CSV files), in bytes (`max_upload_bytes`).
#[derive(Clone, Copy, Debug)]
pub struct UploadLimit(pub usize);
