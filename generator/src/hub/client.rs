//! A blocking client for the hub's download protocol, the one `huggingface_hub` speaks:
//!
//! - `GET {endpoint}/api/models/{repo}/revision/{rev}` lists the repository (`siblings`) and
//!   pins the revision to a commit (`sha`);
//! - `HEAD {endpoint}/{repo}/resolve/{commit}/{file}` answers the file's ETag (`X-Linked-Etag`
//!   for LFS files: their SHA-256), size (`X-Linked-Size`), commit (`X-Repo-Commit`) and, for
//!   LFS files, a redirect to the storage that serves the bytes;
//! - `GET` of that location, with `Range: bytes=N-` to go on from `N` bytes already there.
//!
//! Bytes go to `blobs/<etag>.incomplete`, which survives an interruption: the next attempt (a
//! retry, or the next `pull`) asks only for the rest. A finished file is checked against the
//! announced size and, for LFS files, SHA-256 before it becomes `blobs/<etag>`; a mismatch is
//! deleted and reported.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH, LOCATION, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::cache::{hf_home, is_commit, HubCache};
use super::files::{select_files, ModelRef, Wanted};
use super::{HubError, Result};

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where the client talks to and what it may do.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Base URL of the hub or a mirror, without a trailing `/`.
    pub endpoint: String,
    /// Access token for gated and private repositories.
    pub token: Option<String>,
    /// Use the cache only; never touch the network.
    pub offline: bool,
    /// The local cache.
    pub cache: HubCache,
    /// How many times an interrupted download is resumed before giving up.
    pub retries: u32,
}

impl HubConfig {
    /// From the environment: `HF_ENDPOINT`, `HF_TOKEN` (else `HUGGING_FACE_HUB_TOKEN`, else the
    /// file `HF_TOKEN_PATH` or `$HF_HOME/token` that `hf auth login` writes), `HF_HUB_OFFLINE`
    /// and the cache of [`HubCache::from_env`].
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| hf_home().join("token"));
                fs::read_to_string(path)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        });
        HubConfig {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
                .trim_end_matches('/')
                .to_string(),
            token,
            offline,
            cache: HubCache::from_env(),
            retries: 5,
        }
    }
}

/// Reports download progress (the command line draws a bar).
pub trait Progress {
    /// A file starts downloading: `total` bytes when known, `resumed` already on disk.
    fn start(&mut self, file: &str, total: Option<u64>, resumed: u64);
    /// `bytes` more arrived.
    fn advance(&mut self, bytes: u64);
    /// The current file is finished and checked.
    fn finish(&mut self, file: &str);
    /// Something worth telling (a retry, a file already in the cache).
    fn note(&mut self, message: &str);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: &str) {}
    fn note(&mut self, _: &str) {}
}

/// A repository's listing at one commit.
#[derive(Clone, Debug, PartialEq)]
pub struct RepoInfo {
    /// The commit the revision points at.
    pub commit: String,
    /// Every file, as a path inside the repository.
    pub files: Vec<String>,
}

/// What a pull put in the cache.
#[derive(Clone, Debug, PartialEq)]
pub struct Pulled {
    /// `OWNER/NAME`.
    pub repo: String,
    /// The commit the files come from.
    pub commit: String,
    /// The files pulled (paths inside the repository).
    pub files: Vec<String>,
    /// The file to load (a GGUF, the first part of a split one) or the snapshot folder.
    pub path: PathBuf,
    /// Bytes that came over the network this time.
    pub downloaded: u64,
}

/// The file's facts from the `HEAD` of its resolve URL.
struct FileMeta {
    etag: String,
    size: Option<u64>,
    url: String,
}

/// Why one download attempt stopped.
enum Attempt {
    /// Worth trying again from where it stopped (connection dropped, 5xx).
    Retry(String),
    /// Not worth trying again.
    Fail(HubError),
}

/// The hub client.
pub struct HubClient {
    config: HubConfig,
    http: Client,
}

impl HubClient {
    /// A client with `config`.
    pub fn new(config: HubConfig) -> Result<Self> {
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("adforge/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            // Per read, not for the whole transfer: a stalled connection fails and resumes.
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| HubError::Http {
                url: config.endpoint.clone(),
                message: e.to_string(),
            })?;
        Ok(HubClient { config, http })
    }

    /// Its configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Pulls the files `model` needs into the cache and records `refs/main`. Offline, or when
    /// the hub cannot be reached and the cache already has the model, the cache answers.
    pub fn pull(
        &self,
        model: &ModelRef,
        default_quant: Option<&str>,
        progress: &mut dyn Progress,
    ) -> Result<Pulled> {
        if self.config.offline {
            return self.pull_from_cache(model, default_quant);
        }
        let info = match self.repo_info(&model.repo, "main") {
            Ok(info) => info,
            Err(HubError::Http { url, message }) => {
                return match self.pull_from_cache(model, default_quant) {
                    Ok(pulled) => {
                        progress.note(&format!(
                            "the hub is unreachable ({message}); using the cached copy"
                        ));
                        Ok(pulled)
                    }
                    Err(_) => Err(HubError::Http { url, message }),
                }
            }
            Err(e) => return Err(e),
        };
        let files = select_files(&model.repo, &info.files, &model.wanted, default_quant)?;
        let mut downloaded = 0;
        for file in &files {
            downloaded += self.download(&model.repo, &info.commit, file, progress)?;
        }
        self.config
            .cache
            .write_ref(&model.repo, "main", &info.commit)?;
        Ok(self.pulled(model, info.commit, files, downloaded))
    }

    /// The model from the cache alone, choosing files among those cached.
    fn pull_from_cache(&self, model: &ModelRef, default_quant: Option<&str>) -> Result<Pulled> {
        let cache = &self.config.cache;
        let offline = || HubError::Offline {
            what: model.repo.clone(),
            cache: cache.root().to_path_buf(),
        };
        let commit = cache.read_ref(&model.repo, "main").ok_or_else(offline)?;
        let cached = cache.describe(&model.repo)?;
        let snapshot = cache.snapshot_dir(&model.repo, &commit);
        let listing: Vec<String> = cached
            .files
            .into_iter()
            .filter(|f| snapshot.join(f).is_file())
            .collect();
        let files = match &model.wanted {
            Wanted::Files(files) if files.iter().all(|f| listing.contains(f)) => files.clone(),
            Wanted::Files(_) => return Err(offline()),
            wanted => {
                select_files(&model.repo, &listing, wanted, default_quant).map_err(|_| offline())?
            }
        };
        Ok(self.pulled(model, commit, files, 0))
    }

    fn pulled(
        &self,
        model: &ModelRef,
        commit: String,
        files: Vec<String>,
        downloaded: u64,
    ) -> Pulled {
        let snapshot = self.config.cache.snapshot_dir(&model.repo, &commit);
        let mut ggufs: Vec<&String> = files.iter().filter(|f| f.ends_with(".gguf")).collect();
        ggufs.sort();
        let path = match ggufs.first() {
            Some(first) => snapshot.join(first),
            None => snapshot,
        };
        Pulled {
            repo: model.repo.clone(),
            commit,
            files,
            path,
            downloaded,
        }
    }

    /// The repository's files at `revision` and the commit it points at.
    pub fn repo_info(&self, repo: &str, revision: &str) -> Result<RepoInfo> {
        #[derive(serde::Deserialize)]
        struct Sibling {
            rfilename: String,
        }
        #[derive(serde::Deserialize)]
        struct Info {
            sha: Option<String>,
            #[serde(default)]
            siblings: Vec<Sibling>,
        }
        let url = format!(
            "{}/api/models/{repo}/revision/{}",
            self.config.endpoint,
            encode_path(revision)
        );
        let response = self.send(self.authorized(self.http.get(&url), &url), &url)?;
        if !response.status().is_success() {
            return Err(self.status_error(&response, repo, None));
        }
        let body = response.bytes().map_err(|e| HubError::Http {
            url: url.clone(),
            message: format!("reading the repository listing: {e}"),
        })?;
        let info: Info = serde_json::from_slice(&body).map_err(|e| HubError::Http {
            url: url.clone(),
            message: format!("unreadable repository listing: {e}"),
        })?;
        let commit = info
            .sha
            .filter(|s| is_commit(s))
            .ok_or_else(|| HubError::Http {
                url: url.clone(),
                message: "the listing names no commit".into(),
            })?;
        Ok(RepoInfo {
            commit,
            files: info.siblings.into_iter().map(|s| s.rfilename).collect(),
        })
    }

    /// Puts `file` of `repo` at `commit` in the cache (resuming a previous attempt, checking
    /// size and SHA-256) and links it into the snapshot. Returns the bytes downloaded.
    pub fn download(
        &self,
        repo: &str,
        commit: &str,
        file: &str,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        let cache = &self.config.cache;
        if self.config.offline {
            return match cache.cached_file(repo, commit, file) {
                Some(_) => Ok(0),
                None => Err(HubError::Offline {
                    what: format!("{repo}/{file}"),
                    cache: cache.root().to_path_buf(),
                }),
            };
        }
        let meta = self.file_meta(repo, commit, file)?;
        let blob = cache.blob_path(repo, &meta.etag);
        let complete = fs::metadata(&blob)
            .map(|m| meta.size.is_none_or(|size| m.len() == size))
            .unwrap_or(false);
        if complete {
            progress.note(&format!("{file}: already in the cache"));
            cache.link(repo, commit, file, &meta.etag)?;
            return Ok(0);
        }
        let incomplete = cache.incomplete_path(repo, &meta.etag);
        if let Some(parent) = incomplete.parent() {
            fs::create_dir_all(parent).map_err(|source| HubError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let before = file_len(&incomplete);
        progress.start(file, meta.size, before);
        let mut retries = 0;
        loop {
            match self.fetch(&meta, &incomplete, repo, file, progress) {
                Ok(()) => break,
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry(why)) if retries < self.config.retries => {
                    retries += 1;
                    let at = file_len(&incomplete);
                    progress.note(&format!(
                        "{file}: {why}; resuming at byte {at} (retry {retries} of {})",
                        self.config.retries
                    ));
                    std::thread::sleep(Duration::from_millis(250 * u64::from(retries)));
                }
                Err(Attempt::Retry(why)) => {
                    return Err(HubError::Http {
                        url: meta.url.clone(),
                        message: format!(
                            "{why}; gave up after {} retries (the partial download is kept: \
                             pull again to resume)",
                            self.config.retries
                        ),
                    })
                }
            }
        }
        let received = file_len(&incomplete);
        verify(&incomplete, file, &meta)?;
        fs::rename(&incomplete, &blob).map_err(|source| HubError::Io {
            path: blob.clone(),
            source,
        })?;
        cache.link(repo, commit, file, &meta.etag)?;
        progress.finish(file);
        Ok(received.saturating_sub(before))
    }

    /// `HEAD` of the file's resolve URL, following redirects within the hub (renamed
    /// repositories) but not to the storage (where the LFS facts are in the redirect itself).
    fn file_meta(&self, repo: &str, commit: &str, file: &str) -> Result<FileMeta> {
        let mut url = format!(
            "{}/{repo}/resolve/{commit}/{}",
            self.config.endpoint,
            encode_path(file)
        );
        for _ in 0..5 {
            let request = self
                .authorized(self.http.head(&url), &url)
                .header("Accept-Encoding", "identity");
            let response = self.send(request, &url)?;
            let status = response.status();
            let headers = response.headers();
            let location = header(headers, LOCATION.as_str());
            if status.is_redirection() {
                match location.as_deref() {
                    None => {
                        return Err(HubError::Http {
                            url,
                            message: format!("{status} without a Location"),
                        })
                    }
                    Some(relative) if relative.starts_with('/') => {
                        url = format!("{}{relative}", origin(&self.config.endpoint));
                        continue;
                    }
                    Some(_) => {}
                }
            } else if !status.is_success() {
                return Err(self.status_error(&response, repo, Some(file)));
            }
            let etag = header(headers, "x-linked-etag")
                .or_else(|| header(headers, "etag"))
                .map(|e| e.trim_start_matches("W/").trim_matches('"').to_string())
                .filter(|e| !e.is_empty() && !e.contains(['/', '\\']) && e != "..")
                .ok_or_else(|| HubError::Http {
                    url: url.clone(),
                    message: "no ETag in the answer (is HF_ENDPOINT a hub?)".into(),
                })?;
            let size = header(headers, "x-linked-size")
                .or_else(|| header(headers, CONTENT_LENGTH.as_str()))
                .and_then(|s| s.parse().ok());
            let url = match location {
                Some(location) if status.is_redirection() => location,
                _ => url,
            };
            return Ok(FileMeta { etag, size, url });
        }
        Err(HubError::Http {
            url,
            message: "too many redirects".into(),
        })
    }

    /// One attempt at the bytes not yet in `incomplete`.
    fn fetch(
        &self,
        meta: &FileMeta,
        incomplete: &Path,
        repo: &str,
        file: &str,
        progress: &mut dyn Progress,
    ) -> std::result::Result<(), Attempt> {
        let io = |source| {
            Attempt::Fail(HubError::Io {
                path: incomplete.to_path_buf(),
                source,
            })
        };
        let mut offset = file_len(incomplete);
        if meta.size.is_some_and(|size| offset > size) {
            offset = 0;
        }
        if offset > 0 && meta.size == Some(offset) {
            return Ok(());
        }
        let mut request = self.authorized(self.http.get(&meta.url), &meta.url);
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let mut response = request
            .send()
            .map_err(|e| Attempt::Retry(format!("connection failed: {e}")))?;
        let status = response.status();
        let append = match status {
            StatusCode::PARTIAL_CONTENT => {
                let range = header(response.headers(), "content-range").unwrap_or_default();
                if !range.starts_with(&format!("bytes {offset}-")) {
                    return Err(Attempt::Retry(format!(
                        "the server answered range '{range}' for bytes {offset}-"
                    )));
                }
                true
            }
            StatusCode::OK => false,
            StatusCode::RANGE_NOT_SATISFIABLE => {
                fs::remove_file(incomplete).map_err(io)?;
                return Err(Attempt::Retry(
                    "the partial download did not fit; starting over".into(),
                ));
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(Attempt::Retry(format!("the server answered {s}")))
            }
            _ => {
                return Err(Attempt::Fail(self.status_error(
                    &response,
                    repo,
                    Some(file),
                )))
            }
        };
        let mut out = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(incomplete)
            .map_err(io)?;
        if !append && offset > 0 {
            progress.note(&format!(
                "{file}: the server ignored the range; starting over"
            ));
        }
        let mut buffer = vec![0u8; 1 << 18];
        loop {
            let n = match response.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    out.flush().map_err(io)?;
                    return Err(Attempt::Retry(format!("the connection dropped: {e}")));
                }
            };
            out.write_all(&buffer[..n]).map_err(io)?;
            progress.advance(n as u64);
        }
        out.flush().map_err(io)?;
        let got = file_len(incomplete);
        match meta.size {
            Some(size) if got < size => Err(Attempt::Retry(format!(
                "the connection closed at byte {got} of {size}"
            ))),
            _ => Ok(()),
        }
    }

    fn send(&self, request: RequestBuilder, url: &str) -> Result<Response> {
        request.send().map_err(|e| HubError::Http {
            url: url.to_string(),
            message: format!("cannot reach the hub: {e}"),
        })
    }

    /// Adds the token when `url` is on the hub itself (never to the storage it redirects to).
    fn authorized(&self, request: RequestBuilder, url: &str) -> RequestBuilder {
        match &self.config.token {
            Some(token) if origin(url) == origin(&self.config.endpoint) => {
                request.header(AUTHORIZATION, format!("Bearer {token}"))
            }
            _ => request,
        }
    }

    /// The error an unsuccessful answer stands for, in words a user can act on.
    fn status_error(&self, response: &Response, repo: &str, file: Option<&str>) -> HubError {
        let status = response.status();
        let code = header(response.headers(), "x-error-code").unwrap_or_default();
        let endpoint = &self.config.endpoint;
        let has_token = self.config.token.is_some();
        match (status.as_u16(), code.as_str()) {
            (401, "RepoNotFound") | (404, "RepoNotFound") if !has_token => HubError::NotFound(format!(
                "{repo} was not found on {endpoint} (a private repository needs HF_TOKEN)"
            )),
            (401 | 403, _) if !has_token => HubError::Unauthorized(format!(
                "{repo} is gated: accept its licence at {endpoint}/{repo} while logged in, then set \
                 HF_TOKEN to an access token of that account ({endpoint}/settings/tokens) and pull again"
            )),
            (401 | 403, _) => HubError::Unauthorized(format!(
                "{repo} refused the token in HF_TOKEN ({status}): accept the licence at \
                 {endpoint}/{repo} with the account the token belongs to, or check that the token \
                 is valid and may read"
            )),
            (404, _) if file.is_some() && code != "RepoNotFound" && code != "RevisionNotFound" => {
                HubError::NotFound(format!(
                    "{repo} has no file {} on {endpoint}",
                    file.unwrap_or_default()
                ))
            }
            (404, "RevisionNotFound") => HubError::NotFound(format!(
                "{repo} has no such revision on {endpoint}"
            )),
            (404, _) => HubError::NotFound(format!("{repo} was not found on {endpoint}")),
            _ => HubError::Http {
                url: response.url().to_string(),
                message: format!("the hub answered {status}"),
            },
        }
    }
}

/// Checks the finished download against the hub's size and (for LFS files, whose ETag is the
/// SHA-256) digest; a file that fails is deleted.
fn verify(incomplete: &Path, file: &str, meta: &FileMeta) -> Result<()> {
    let io = |source| HubError::Io {
        path: incomplete.to_path_buf(),
        source,
    };
    let got = file_len(incomplete);
    if let Some(size) = meta.size.filter(|&size| size != got) {
        let _ = fs::remove_file(incomplete);
        return Err(HubError::Size {
            file: file.to_string(),
            expected: size,
            actual: got,
        });
    }
    let lfs = meta.etag.len() == 64 && meta.etag.bytes().all(|b| b.is_ascii_hexdigit());
    if !lfs {
        return Ok(());
    }
    let mut hasher = Sha256::new();
    let mut input = fs::File::open(incomplete).map_err(io)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let actual = format!("{:x}", hasher.finalize());
    if actual != meta.etag.to_ascii_lowercase() {
        drop(input);
        fs::remove_file(incomplete).map_err(io)?;
        return Err(HubError::Checksum {
            file: file.to_string(),
            expected: meta.etag.clone(),
            actual,
        });
    }
    Ok(())
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Percent-encodes a repository path, keeping `/` between its segments.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_paths() {
        assert_eq!(origin("https://hf.co/a/b"), "https://hf.co");
        assert_eq!(origin("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
        assert_eq!(origin("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(encode_path("unet/a b+c.json"), "unet/a%20b%2Bc.json");
    }
}
