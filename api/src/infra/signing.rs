//! Signed event URLs: an impression or click token carries what happened to which creative,
//! the serve it belongs to and an expiry, authenticated with HMAC-SHA256 under the server's
//! secret; and [`load_secret`], which finds that secret.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::files;
use crate::config::Settings;

/// The shortest signing secret accepted, in bytes: HMAC-SHA256's own output size. A shorter
/// (or empty) key would let anyone forge event URLs.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why the signing secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured secret is too short to be safe.
    #[error(
        "signing_secret is {len} bytes long; at least {MIN_SECRET_BYTES} are needed \
         (for example 64 random hex characters)"
    )]
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// The key file holds too short a key (an empty file, say, after a crash during the first
    /// start).
    #[error(
        "{path} holds a {len}-byte signing key; at least {MIN_SECRET_BYTES} bytes \
         ({hex} hex characters) are needed. Refusing to start: write a longer key there, or \
         delete the file to have a new one made (event URLs already handed out stop working)",
        hex = 2 * MIN_SECRET_BYTES
    )]
    KeyFileTooShort {
        /// The key file.
        path: String,
        /// The key's length in bytes.
        len: usize,
    },
    /// The key file exists but does not hold hex.
    #[error("{path} is not hex")]
    NotHex {
        /// The key file.
        path: String,
    },
    /// The key file exists but could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The key file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The key file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The key file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The event-signing secret: from the settings, else from `<data_dir>/signing.key`, created
/// on first start with 32 random bytes (64 hex characters, mode 0600, written atomically).
/// A secret shorter than [`MIN_SECRET_BYTES`] is refused.
pub fn load_secret(settings: &Settings) -> Result<Vec<u8>, SecretError> {
    if let Some(secret) = &settings.signing_secret {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort { len: secret.len() });
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("signing.key");
    let shown = || path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key =
                hex::decode(text.trim()).map_err(|_| SecretError::NotHex { path: shown() })?;
            if key.len() < MIN_SECRET_BYTES {
                return Err(SecretError::KeyFileTooShort {
                    path: shown(),
                    len: key.len(),
                });
            }
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => new_key_file(&path),
        Err(source) => Err(SecretError::Read {
            path: shown(),
            source,
        }),
    }
}

/// Makes a random key and writes it to `path`.
fn new_key_file(path: &Path) -> Result<Vec<u8>, SecretError> {
    use rand::RngCore;
    let mut secret = [0u8; MIN_SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut secret);
    files::write_private_atomic(path, hex::encode(secret).as_bytes()).map_err(|source| {
        SecretError::Write {
            path: path.display().to_string(),
            source,
        }
    })?;
    Ok(secret.to_vec())
}

/// What a token records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventClaim {
    /// `i` for an impression, `c` for a click.
    pub kind: char,
    /// The creative shown.
    pub creative: String,
    /// The segment it was chosen for (`-` when none).
    pub segment: String,
    /// The serve id: unique per served response and shared by its impression and click
    /// tokens. An event is recorded once per serve id and kind, a click only after the
    /// impression of the same serve id.
    pub nonce: String,
    /// Expiry, Unix seconds.
    pub expires: i64,
}

/// Signs and verifies event tokens.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// A signer with this secret.
    pub fn new(secret: &[u8]) -> Self {
        Signer {
            key: secret.to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// The token for a claim: `base64url(json).base64url(hmac)`.
    pub fn sign(&self, claim: &EventClaim) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claim).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The claim of a genuine, unexpired token.
    pub fn verify(&self, token: &str, now_seconds: i64) -> Option<EventClaim> {
        let (payload, signature) = token.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let claim: EventClaim =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claim.expires >= now_seconds && matches!(claim.kind, 'i' | 'c')).then_some(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> EventClaim {
        EventClaim {
            kind: 'c',
            creative: "cr".into(),
            segment: "sg".into(),
            nonce: "n1".into(),
            expires: 100,
        }
    }

    #[test]
    fn genuine_tokens_verify_and_forged_ones_do_not() {
        let signer = Signer::new(b"secret");
        let token = signer.sign(&claim());
        assert_eq!(signer.verify(&token, 50), Some(claim()));
        assert_eq!(signer.verify(&token, 101), None, "expired");
        assert_eq!(Signer::new(b"other").verify(&token, 50), None, "wrong key");
        let (payload, signature) = token.split_once('.').unwrap();
        let mut forged = claim();
        forged.creative = "someone-else".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            signer.verify(&format!("{forged_payload}.{signature}"), 50),
            None
        );
        assert_eq!(signer.verify(payload, 50), None);
    }
}
