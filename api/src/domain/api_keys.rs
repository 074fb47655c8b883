//! API keys as an advertiser sees them: never the secret or its hash, only what identifies a
//! key (its id and clear prefix) and when it was created and revoked.

use serde::Serialize;
use utoipa::ToSchema;

/// One of an advertiser's API keys. Keys read `adf_<prefix>_<secret>`; the secret is shown
/// once, when the key is created, and never stored in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKey {
    /// Identifier (what `DELETE /v1/keys/{id}` takes).
    pub id: String,
    /// The clear part of the key after `adf_`, to tell keys apart.
    pub prefix: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Revocation time (RFC 3339); a revoked key is refused at once.
    pub revoked_at: Option<String>,
}

/// A key just created: its description and the only clear-text copy of the key.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NewApiKey {
    /// The key's description.
    #[serde(flatten)]
    pub key_info: ApiKey,
    /// The whole key, `adf_<prefix>_<secret>`: shown this once, store it now.
    pub key: String,
}
