//! The Hugging Face cache layout, shared with `huggingface_hub`, `hf`, transformers and
//! llama.cpp's `-hf`: `<cache>/models--OWNER--NAME/` holds `blobs/<etag>` (file contents, named
//! by their ETag: the SHA-256 of LFS files), `snapshots/<commit>/<path>` (relative symbolic
//! links to the blobs) and `refs/<revision>` (the commit a branch pointed at when pulled).
//! A download in progress is `blobs/<etag>.incomplete`.

use std::fs;
use std::path::{Path, PathBuf};

use super::{HubError, Result};

/// The cache folder and the operations on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubCache {
    root: PathBuf,
}

/// A repository present in the cache, as `adforge models list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedRepo {
    /// `OWNER/NAME`.
    pub repo: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Bytes of its complete blobs.
    pub size_bytes: u64,
    /// Bytes of interrupted downloads (`.incomplete` blobs) that a pull would resume.
    pub partial_bytes: u64,
    /// Files of its snapshots (paths inside the repository), sorted, without repeats.
    pub files: Vec<String>,
    /// Commits it has snapshots of.
    pub commits: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `revision` is a full commit hash.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

impl HubCache {
    /// A cache in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HubCache { root: root.into() }
    }

    /// The cache the Hugging Face tools use: `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
            return HubCache::new(dir);
        }
        HubCache::new(hf_home().join("hub"))
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a model repository (`models--OWNER--NAME`).
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    /// Where the contents with `etag` live.
    pub fn blob_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(etag)
    }

    /// Where an interrupted download of `etag` is kept.
    pub fn incomplete_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_dir(repo)
            .join("blobs")
            .join(format!("{etag}.incomplete"))
    }

    /// The snapshot folder of `commit`.
    pub fn snapshot_dir(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_dir(repo).join("snapshots").join(commit)
    }

    /// The commit `revision` stands for: itself when it is a commit hash, else what
    /// `refs/<revision>` says.
    pub fn read_ref(&self, repo: &str, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let text = fs::read_to_string(self.repo_dir(repo).join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// Records that `revision` points at `commit`.
    pub fn write_ref(&self, repo: &str, revision: &str, commit: &str) -> Result<()> {
        if is_commit(revision) {
            return Ok(());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::write(&path, commit).map_err(io(&path))
    }

    /// Links `snapshots/<commit>/<file>` to the blob `etag` (a relative symbolic link, as the
    /// Hugging Face tools make; a copy where links are not available) and returns its path.
    pub fn link(&self, repo: &str, commit: &str, file: &str, etag: &str) -> Result<PathBuf> {
        let target = self.snapshot_dir(repo, commit).join(file);
        let parent = target.parent().unwrap_or(&self.root);
        fs::create_dir_all(parent).map_err(io(parent))?;
        if fs::symlink_metadata(&target).is_ok() {
            fs::remove_file(&target).map_err(io(&target))?;
        }
        let blob = self.blob_path(repo, etag);
        #[cfg(unix)]
        {
            // From snapshots/<commit>/<dirs...>/file up to the repo folder, then blobs/<etag>.
            let depth = file.split('/').count() + 1;
            let relative = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
            std::os::unix::fs::symlink(&relative, &target).map_err(io(&target))?;
        }
        #[cfg(not(unix))]
        fs::copy(&blob, &target).map_err(io(&target))?;
        let _ = blob;
        Ok(target)
    }

    /// The cached path of `file` at `revision`, when its snapshot entry resolves to a file.
    pub fn cached_file(&self, repo: &str, revision: &str, file: &str) -> Option<PathBuf> {
        let commit = self.read_ref(repo, revision)?;
        let path = self.snapshot_dir(repo, &commit).join(file);
        path.is_file().then_some(path)
    }

    /// The snapshot folder of `revision` holding every one of `files`: the one `refs/` names,
    /// else the newest snapshot that has them all (a cache filled by another tool may lack the
    /// ref).
    pub fn find_model(
        &self,
        repo: &str,
        revision: &str,
        files: &[String],
    ) -> Result<Option<PathBuf>> {
        let complete = |dir: &Path| files.iter().all(|f| dir.join(f).is_file());
        if let Some(commit) = self.read_ref(repo, revision) {
            let dir = self.snapshot_dir(repo, &commit);
            if complete(&dir) {
                return Ok(Some(dir));
            }
        }
        let snapshots = self.repo_dir(repo).join("snapshots");
        let Ok(read) = fs::read_dir(&snapshots) else {
            return Ok(None);
        };
        let mut found: Option<(std::time::SystemTime, PathBuf)> = None;
        for dir in read.flatten() {
            let path = dir.path();
            if !complete(&path) {
                continue;
            }
            let modified = dir
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if found.as_ref().is_none_or(|(t, _)| modified > *t) {
                found = Some((modified, path));
            }
        }
        Ok(found.map(|(_, path)| path))
    }

    /// Every model repository in the cache, sorted by name.
    pub fn list(&self) -> Result<Vec<CachedRepo>> {
        let read = match fs::read_dir(&self.root) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.root)(e)),
        };
        let mut repos = Vec::new();
        for dir in read.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("models--") else {
                continue;
            };
            let Some((owner, model)) = rest.split_once("--") else {
                continue;
            };
            repos.push(self.describe(&format!("{owner}/{model}"))?);
        }
        repos.sort_by(|a, b| a.repo.cmp(&b.repo));
        Ok(repos)
    }

    /// What the cache holds of `repo`.
    pub fn describe(&self, repo: &str) -> Result<CachedRepo> {
        let dir = self.repo_dir(repo);
        let (mut size_bytes, mut partial_bytes) = (0, 0);
        if let Ok(blobs) = fs::read_dir(dir.join("blobs")) {
            for blob in blobs.flatten() {
                let len = blob.metadata().map(|m| m.len()).unwrap_or(0);
                if blob.file_name().to_string_lossy().ends_with(".incomplete") {
                    partial_bytes += len;
                } else {
                    size_bytes += len;
                }
            }
        }
        let mut files = std::collections::BTreeSet::new();
        let mut commits = Vec::new();
        if let Ok(snapshots) = fs::read_dir(dir.join("snapshots")) {
            for snapshot in snapshots.flatten() {
                commits.push(snapshot.file_name().to_string_lossy().into_owned());
                collect_files(&snapshot.path(), "", &mut files);
            }
        }
        commits.sort();
        Ok(CachedRepo {
            repo: repo.to_string(),
            dir,
            size_bytes,
            partial_bytes,
            files: files.into_iter().collect(),
            commits,
        })
    }

    /// Deletes `repo` from the cache (blobs, snapshots, refs, interrupted downloads) and
    /// returns what it held, or `None` when it was not there.
    pub fn remove(&self, repo: &str) -> Result<Option<CachedRepo>> {
        let dir = self.repo_dir(repo);
        if !dir.is_dir() {
            return Ok(None);
        }
        let held = self.describe(repo)?;
        fs::remove_dir_all(&dir).map_err(io(&dir))?;
        Ok(Some(held))
    }
}

/// Adds the paths under `dir` (files and links to files) to `out`, as `prefix/name`.
fn collect_files(dir: &Path, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    let Ok(read) = fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if path.is_dir() {
            collect_files(&path, &relative, out);
        } else if path.is_file() {
            out.insert(relative);
        }
    }
}

/// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = var("HF_HOME") {
        return PathBuf::from(home);
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("huggingface");
    }
    let home = var("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface")
}
