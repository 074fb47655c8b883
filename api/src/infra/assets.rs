//! Content-addressed storage for binary assets (logos, generated images) in a local folder.
//!
//! An asset's name is the SHA-256 of its bytes plus an extension, so storing the same bytes
//! twice keeps one file and a name can never point at changed content. The folder is created
//! with mode 0700 and files with 0600.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A folder of content-addressed files.
#[derive(Clone, Debug)]
pub struct AssetStore {
    root: PathBuf,
}

/// Errors reading or writing assets.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// Filesystem failure.
    #[error("asset storage: {0}")]
    Io(#[from] std::io::Error),
    /// The name is not one this store hands out.
    #[error("invalid asset name {0:?}")]
    InvalidName(String),
}

impl AssetStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        AssetStore { root: root.into() }
    }

    /// Stores `bytes` and returns the asset name, `<sha256>.<extension>`.
    pub fn put(&self, bytes: &[u8], extension: &str) -> Result<String, AssetError> {
        let name = format!("{}.{extension}", hex::encode(Sha256::digest(bytes)));
        let path = self.root.join(&name);
        if !path.exists() {
            // Whole files only (written beside, then renamed), readable by the server's user
            // only: 0600 in a 0700 folder.
            super::files::write_private_atomic(&path, bytes)?;
        }
        Ok(name)
    }

    /// The path of a stored asset, after checking the name is well-formed.
    pub fn path(&self, name: &str) -> Result<PathBuf, AssetError> {
        let valid = name
            .split_once('.')
            .map(|(hash, ext)| {
                hash.len() == 64
                    && hash.chars().all(|c| c.is_ascii_hexdigit())
                    && !ext.is_empty()
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
            })
            .unwrap_or(false);
        if !valid {
            return Err(AssetError::InvalidName(name.to_string()));
        }
        Ok(self.root.join(name))
    }

    /// Reads a stored asset.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, AssetError> {
        Ok(std::fs::read(self.path(name)?)?)
    }

    /// The folder assets live in.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The MIME type for an asset's extension.
pub fn mime_for(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "csv" => "text/csv; charset=utf-8",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_name_and_bad_names_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let store = AssetStore::new(dir.path());
        let a = store.put(b"logo", "png").unwrap();
        let b = store.put(b"logo", "png").unwrap();
        assert_eq!(a, b);
        assert_eq!(store.read(&a).unwrap(), b"logo");
        assert!(store.path("../etc/passwd").is_err());
        assert!(store.path(&format!("{}.png/..", "a".repeat(64))).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn assets_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = AssetStore::new(dir.path().join("assets"));
        let name = store.put(b"logo", "png").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.path(&name).unwrap()), 0o600);
        assert_eq!(mode(store.root()), 0o700);
        assert_eq!(std::fs::read_dir(store.root()).unwrap().count(), 1);
    }
}
