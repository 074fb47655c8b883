//! Signed event URLs: an impression or click token carries what happened to which creative,
//! a nonce and an expiry, authenticated with HMAC-SHA256 under the server's secret; and
//! [`load_secret`], which finds that secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::Settings;

/// Why the signing secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured secret is too short to be safe.
    #[error("signing_secret must be at least 16 characters")]
    TooShort,
    /// The key file exists but does not hold hex.
    #[error("{path} is not hex")]
    NotHex {
        /// The key file.
        path: String,
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
/// with 32 random bytes on first start.
pub fn load_secret(settings: &Settings) -> Result<Vec<u8>, SecretError> {
    if let Some(secret) = &settings.signing_secret {
        if secret.len() < 16 {
            return Err(SecretError::TooShort);
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("signing.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).map_err(|_| SecretError::NotHex {
            path: path.display().to_string(),
        }),
        Err(_) => {
            use rand::RngCore;
            let mut secret = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut secret);
            let write_error = |source| SecretError::Write {
                path: path.display().to_string(),
                source,
            };
            std::fs::create_dir_all(&settings.data_dir).map_err(write_error)?;
            std::fs::write(&path, hex::encode(secret)).map_err(write_error)?;
            Ok(secret.to_vec())
        }
    }
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
    /// Unique per served response; an event is recorded once per nonce and kind.
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
