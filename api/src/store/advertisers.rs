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
    let mut prefix = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut prefix);
    rand::thread_rng().fill_bytes(&mut secret);
    let prefix = hex::encode(prefix);
    let secret = hex::encode(secret);
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(new_id()),
            api_keys::advertiser_id.eq(advertiser_id),
            api_keys::prefix.eq(&prefix),
            api_keys::secret_sha256.eq(sha256_hex(&secret)),
            api_keys::created_at.eq(now_millis()),
        ))
        .execute(conn)?;
    Ok(format!("adf_{prefix}_{secret}"))
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
