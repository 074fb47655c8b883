//! Infrastructure the layers above share, with no HTTP and no serving logic in it.
//!
//! - [`cache`]: the serving cache, Redis or in-process, behind one type.
//! - [`signing`]: HMAC-signed event tokens and loading the server's signing secret.
//! - [`assets`]: content-addressed storage for logos and images.
//! - [`changes`]: how writers say that something servable changed after a commit.
//! - [`files`]: private directories (0700) and files (0600), written atomically.

pub mod assets;
pub mod cache;
pub mod changes;
pub mod files;
pub mod signing;
