//! Advertisers (tenants) and their API keys, as stored.
//!
//! A key reads `adf_<prefix>_<secret>`. The prefix is stored in clear to find the key's row;
//! the secret is stored only as its SHA-256 (the secret is 256 random bits, so a fast hash is
//! as strong as a slow one here) and compared in constant time. A key is shown once, at creation.

use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::schema::{advertisers, api_keys};
use super::{new_id, now_millis, Conn, StoreError};
use crate::domain::api_keys::{ApiKey, NewApiKey};
use crate::domain::iso_time;

/// A newly created advertiser and its only clear-text copy of the API key.
#[derive(Debug)]
pub struct NewAdvertiser {
    /// The advertiser's id.
    pub id: String,
    /// The API key, to hand to the user once.
    pub api_key: String,
}

/// Creates an advertiser with one API key.
pub fn create_advertiser(conn: &mut Conn, name: &str) -> Result<NewAdvertiser, StoreError> {
    let id = new_id();
    let now = now_millis();
    conn.transaction(|conn| {
        diesel::insert_into(advertisers::table)
            .values((
                advertisers::id.eq(&id),
                advertisers::name.eq(name),
                advertisers::created_at.eq(now),
            ))
            .execute(conn)?;
        let api_key = create_api_key(conn, &id)?;
        Ok(NewAdvertiser { id, api_key })
    })
}

/// Adds an API key to an advertiser and returns it in clear, once.
pub fn create_api_key(
    conn: &mut Conn,
    advertiser_id: &str,
) -> Result<String, diesel::result::Error> {
    Ok(add_api_key(conn, advertiser_id)?.key)
}

/// Adds an API key to an advertiser: its description and its only clear-text copy.
pub fn add_api_key(
    conn: &mut Conn,
    advertiser_id: &str,
) -> Result<NewApiKey, diesel::result::Error> {
    let mut prefix = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut prefix);
    rand::thread_rng().fill_bytes(&mut secret);
    let prefix = hex::encode(prefix);
    let secret = hex::encode(secret);
    let (id, now) = (new_id(), now_millis());
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(&id),
            api_keys::advertiser_id.eq(advertiser_id),
            api_keys::prefix.eq(&prefix),
            api_keys::secret_sha256.eq(sha256_hex(&secret)),
            api_keys::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(NewApiKey {
        key: format!("adf_{prefix}_{secret}"),
        key_info: ApiKey {
            id,
            prefix,
            created_at: iso_time(now),
            revoked_at: None,
        },
    })
}

/// Whether the advertiser exists.
pub fn advertiser_exists(conn: &mut Conn, advertiser_id: &str) -> Result<bool, StoreError> {
    let found: i64 = advertisers::table
        .filter(advertisers::id.eq(advertiser_id))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// The advertiser's keys, revoked ones included, oldest first; never their secrets or hashes.
pub fn list_api_keys(conn: &mut Conn, advertiser_id: &str) -> Result<Vec<ApiKey>, StoreError> {
    let rows: Vec<(String, String, i64, Option<i64>)> = api_keys::table
        .filter(api_keys::advertiser_id.eq(advertiser_id))
        .order((api_keys::created_at.asc(), api_keys::id.asc()))
        .select((
            api_keys::id,
            api_keys::prefix,
            api_keys::created_at,
            api_keys::revoked_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, prefix, created_at, revoked_at)| ApiKey {
            id,
            prefix,
            created_at: iso_time(created_at),
            revoked_at: revoked_at.map(iso_time),
        })
        .collect())
}

/// Why a key could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The advertiser has no such key (or another advertiser owns it).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// It is the advertiser's last active key, and `keep_one` asked to keep one.
    #[error("key {0} is the last active key; create another before revoking it")]
    LastKey(String),
}

impl From<diesel::result::Error> for RevokeError {
    fn from(error: diesel::result::Error) -> Self {
        RevokeError::Store(error.into())
    }
}

/// Revokes one of the advertiser's keys (from then on it is refused) and returns it; revoking
/// a revoked key changes nothing. With `keep_one`, the last active key is not revoked, so that
/// an advertiser cannot lock itself out through the API.
pub fn revoke_api_key(
    conn: &mut Conn,
    advertiser_id: &str,
    id: &str,
    keep_one: bool,
) -> Result<ApiKey, RevokeError> {
    conn.transaction(|conn| {
        let keys = list_api_keys(conn, advertiser_id)?;
        let Some(key) = keys.iter().find(|k| k.id == id) else {
            return Err(StoreError::NotFound {
                what: "API key",
                id: id.to_string(),
            }
            .into());
        };
        if key.revoked_at.is_some() {
            return Ok(key.clone());
        }
        let active = keys.iter().filter(|k| k.revoked_at.is_none()).count();
        if keep_one && active <= 1 {
            return Err(RevokeError::LastKey(id.to_string()));
        }
        let now = now_millis();
        diesel::update(
            api_keys::table
                .filter(api_keys::advertiser_id.eq(advertiser_id))
                .filter(api_keys::id.eq(id)),
        )
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)?;
        Ok(ApiKey {
            revoked_at: Some(iso_time(now)),
            ..key.clone()
        })
    })
}

/// SHA-256 of a string, hex-encoded.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Finds the advertiser owning a clear-text key, if the key is valid and not revoked.
pub fn advertiser_for_key(conn: &mut Conn, key: &str) -> Result<Option<String>, StoreError> {
    let Some((prefix, secret)) = key
        .strip_prefix("adf_")
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let row: Option<(String, String)> = api_keys::table
        .filter(api_keys::prefix.eq(prefix))
        .filter(api_keys::revoked_at.is_null())
        .select((api_keys::advertiser_id, api_keys::secret_sha256))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(advertiser_id, stored)| {
        let given = sha256_hex(secret);
        bool::from(given.as_bytes().ct_eq(stored.as_bytes())).then_some(advertiser_id)
    }))
}
