//! `adforge models` and the hub client against a local server that answers like the Hugging
//! Face Hub (repository listing, resolve URLs with LFS redirects, ETag / X-Linked-Etag /
//! X-Linked-Size / X-Repo-Commit headers, Range requests, 401 for gated repositories), serving
//! small files the test makes. No internet.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use adforge_generator::hub::{
    self, Catalogue, HubCache, HubClient, HubConfig, HubError, ModelRef, NoProgress,
};
use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const TOKEN: &str = "hf_test_token";

struct FakeFile {
    bytes: Vec<u8>,
    lfs: bool,
}

#[derive(Default)]
struct Hub {
    repos: BTreeMap<String, (bool, BTreeMap<String, FakeFile>)>,
    /// LFS files whose first download is cut off halfway.
    drop_once: HashSet<String>,
    /// LFS files served with one byte changed (same length).
    corrupt: HashSet<String>,
    /// `METHOD path [range]` of every request.
    log: Vec<String>,
}

struct FakeHub {
    url: String,
    state: Arc<Mutex<Hub>>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Deterministic bytes that do not compress to anything meaningful.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

impl FakeHub {
    fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Hub::default()));
        let shared = state.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                let base = base.clone();
                std::thread::spawn(move || serve(stream, &state, &base));
            }
        });
        FakeHub { url, state }
    }

    fn add(&self, repo: &str, gated: bool, files: Vec<(&str, Vec<u8>, bool)>) {
        let files = files
            .into_iter()
            .map(|(name, bytes, lfs)| (name.to_string(), FakeFile { bytes, lfs }))
            .collect();
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(repo.to_string(), (gated, files));
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    fn config(&self, cache: &Path) -> HubConfig {
        HubConfig {
            endpoint: self.url.clone(),
            token: None,
            offline: false,
            cache: HubCache::new(cache),
            retries: 3,
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn serve(mut stream: TcpStream, state: &Mutex<Hub>, base: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let authorized = headers.get("authorization").map(String::as_str)
        == Some(&format!("Bearer {TOKEN}") as &str);
    let range = headers.get("range").cloned();
    let mut hub = state.lock().unwrap();
    hub.log.push(format!(
        "{method} {path} {}",
        range.clone().unwrap_or_default()
    ));
    let head = method == "HEAD";

    // GET /api/models/{owner}/{name}/revision/{rev}
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let repo = rest.split("/revision/").next().unwrap_or("");
        let Some((_, files)) = hub.repos.get(repo) else {
            let h = vec![("X-Error-Code".into(), "RepoNotFound".into())];
            return respond(&mut stream, "401 Unauthorized", &h, b"");
        };
        let siblings: Vec<_> = files
            .keys()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        let body =
            serde_json::json!({ "id": repo, "sha": COMMIT, "siblings": siblings }).to_string();
        let h = vec![("Content-Length".into(), body.len().to_string())];
        return respond(&mut stream, "200 OK", &h, body.as_bytes());
    }
    // LFS storage: GET /lfs/{sha256}, with Range.
    if let Some(sha) = path.strip_prefix("/lfs/") {
        let found = hub
            .repos
            .values()
            .flat_map(|(_, f)| f.iter())
            .find_map(|(name, f)| {
                (sha256(&f.bytes) == sha).then(|| (name.clone(), f.bytes.clone()))
            });
        let Some((name, mut body)) = found else {
            return respond(&mut stream, "404 Not Found", &[], b"");
        };
        if hub.corrupt.contains(&name) {
            body[0] ^= 0xff;
        }
        let total = body.len();
        let start: usize = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.trim_end_matches('-').parse().ok())
            .unwrap_or(0);
        let cut = hub.drop_once.remove(&name);
        drop(hub);
        let (status, mut h) = if start > 0 {
            (
                "206 Partial Content",
                vec![(
                    "Content-Range".to_string(),
                    format!("bytes {start}-{}/{total}", total - 1),
                )],
            )
        } else {
            ("200 OK", vec![])
        };
        h.push(("Content-Length".into(), (total - start).to_string()));
        if cut {
            // Announce everything, send half, hang up.
            let half = start + (total - start) / 2;
            respond(&mut stream, status, &h, &body[start..half]);
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        return respond(&mut stream, status, &h, &body[start..]);
    }
    // HEAD/GET /{owner}/{name}/resolve/{rev}/{file}
    let Some((repo, rest)) = path[1..].split_once("/resolve/") else {
        return respond(&mut stream, "404 Not Found", &[], b"");
    };
    let Some((gated, files)) = hub.repos.get(repo) else {
        return respond(&mut stream, "404 Not Found", &[], b"");
    };
    if *gated && !authorized {
        let h = vec![("X-Error-Code".into(), "GatedRepo".into())];
        return respond(&mut stream, "401 Unauthorized", &h, b"");
    }
    let (rev, file) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(found) = files.get(file).filter(|_| rev == COMMIT || rev == "main") else {
        let h = vec![("X-Error-Code".into(), "EntryNotFound".into())];
        return respond(&mut stream, "404 Not Found", &h, b"");
    };
    let mut h = vec![("X-Repo-Commit".to_string(), COMMIT.to_string())];
    if found.lfs {
        let sha = sha256(&found.bytes);
        h.push(("X-Linked-Etag".into(), format!("\"{sha}\"")));
        h.push(("X-Linked-Size".into(), found.bytes.len().to_string()));
        h.push(("ETag".into(), "\"pointer-etag\"".into()));
        h.push(("Location".into(), format!("{base}/lfs/{sha}")));
        h.push(("Content-Length".into(), "0".into()));
        respond(&mut stream, "302 Found", &h, b"");
    } else {
        let body = found.bytes.clone();
        h.push(("ETag".into(), format!("\"{}\"", &sha256(&body)[..40])));
        h.push(("Content-Length".into(), body.len().to_string()));
        respond(
            &mut stream,
            "200 OK",
            &h,
            if head { &[][..] } else { &body[..] },
        );
    }
}

fn tiny_repo(hub: &FakeHub) -> (Vec<u8>, Vec<u8>) {
    let q4 = bytes(300_000, 1);
    let q8 = bytes(500_000, 2);
    hub.add(
        "acme/tiny-GGUF",
        false,
        vec![
            ("README.md", b"# tiny\n".to_vec(), false),
            ("tiny-Q4_K_M.gguf", q4.clone(), true),
            ("tiny-Q8_0.gguf", q8.clone(), true),
        ],
    );
    (q4, q8)
}

fn lfs_gets(log: &[String]) -> usize {
    log.iter().filter(|l| l.starts_with("GET /lfs/")).count()
}

#[test]
fn pull_takes_only_the_wanted_quant_into_the_standard_cache() {
    let hub = FakeHub::start();
    let (q4, q8) = tiny_repo(&hub);
    let dir = tempfile::tempdir().unwrap();
    let client = HubClient::new(hub.config(dir.path())).unwrap();
    let catalogue = Catalogue::builtin().unwrap();

    let model = ModelRef::parse("acme/tiny-GGUF", catalogue).unwrap();
    let pulled = client.pull(&model, None, &mut NoProgress).unwrap();
    assert_eq!(pulled.files, vec!["tiny-Q4_K_M.gguf"]);
    assert_eq!(pulled.commit, COMMIT);
    assert_eq!(pulled.downloaded, q4.len() as u64);
    assert_eq!(std::fs::read(&pulled.path).unwrap(), q4);
    let repo_dir = dir.path().join("models--acme--tiny-GGUF");
    assert_eq!(
        pulled.path,
        repo_dir
            .join("snapshots")
            .join(COMMIT)
            .join("tiny-Q4_K_M.gguf")
    );
    assert!(std::fs::symlink_metadata(&pulled.path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(repo_dir.join("blobs").join(sha256(&q4)).is_file());
    let main = std::fs::read_to_string(repo_dir.join("refs/main")).unwrap();
    assert_eq!(main, COMMIT);
    assert!(
        !hub.log().iter().any(|l| l.contains("Q8_0")),
        "{:?}",
        hub.log()
    );

    // Pulled again: checked against the hub, nothing downloaded.
    let again = client.pull(&model, None, &mut NoProgress).unwrap();
    assert_eq!(again.downloaded, 0);
    assert_eq!(lfs_gets(&hub.log()), 1);

    // Another quantisation by name.
    let model = ModelRef::parse("acme/tiny-GGUF:Q8_0", catalogue).unwrap();
    let pulled = client.pull(&model, None, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&pulled.path).unwrap(), q8);

    // A split GGUF comes with all its parts; the first part is the model's path.
    hub.add(
        "acme/split-GGUF",
        false,
        vec![
            ("m-Q4_K_M-00001-of-00002.gguf", bytes(1000, 3), true),
            ("m-Q4_K_M-00002-of-00002.gguf", bytes(1000, 4), true),
            ("m-Q8_0.gguf", bytes(1000, 5), true),
        ],
    );
    let model = ModelRef::parse("acme/split-GGUF", catalogue).unwrap();
    let pulled = client.pull(&model, None, &mut NoProgress).unwrap();
    assert_eq!(pulled.files.len(), 2);
    assert!(pulled.path.ends_with("m-Q4_K_M-00001-of-00002.gguf"));

    // A file that is not there is named, with what is.
    let model = ModelRef::parse("acme/tiny-GGUF:Q2_K", catalogue).unwrap();
    let err = client
        .pull(&model, None, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Q2_K") && err.contains("tiny-Q8_0.gguf"),
        "{err}"
    );
}

#[test]
fn an_interrupted_pull_resumes_where_it_stopped() {
    let hub = FakeHub::start();
    let big = bytes(2_000_000, 7);
    hub.add(
        "acme/big-GGUF",
        false,
        vec![("big-Q4_K_M.gguf", big.clone(), true)],
    );
    hub.state
        .lock()
        .unwrap()
        .drop_once
        .insert("big-Q4_K_M.gguf".into());
    let dir = tempfile::tempdir().unwrap();
    let model = ModelRef::parse("acme/big-GGUF", Catalogue::builtin().unwrap()).unwrap();

    // No retries: the pull fails and keeps what arrived.
    let mut config = hub.config(dir.path());
    config.retries = 0;
    let err = HubClient::new(config)
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("pull again to resume"), "{err}");
    let incomplete = dir
        .path()
        .join("models--acme--big-GGUF/blobs")
        .join(format!("{}.incomplete", sha256(&big)));
    let kept = std::fs::metadata(&incomplete).unwrap().len();
    assert!(kept > 0 && kept < big.len() as u64, "{kept}");

    // The next pull asks only for the rest.
    let client = HubClient::new(hub.config(dir.path())).unwrap();
    let pulled = client.pull(&model, None, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&pulled.path).unwrap(), big);
    assert_eq!(pulled.downloaded, big.len() as u64 - kept);
    assert!(!incomplete.exists());
    let resumed = format!("bytes={kept}-");
    assert!(
        hub.log()
            .iter()
            .any(|l| l.starts_with("GET /lfs/") && l.ends_with(&resumed)),
        "{:?}",
        hub.log()
    );

    // Within one pull, a dropped connection is retried from where it stopped.
    hub.add(
        "acme/big2-GGUF",
        false,
        vec![("big2-Q4_K_M.gguf", bytes(1_500_000, 9), true)],
    );
    hub.state
        .lock()
        .unwrap()
        .drop_once
        .insert("big2-Q4_K_M.gguf".into());
    let model = ModelRef::parse("acme/big2-GGUF", Catalogue::builtin().unwrap()).unwrap();
    let pulled = client.pull(&model, None, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&pulled.path).unwrap(), bytes(1_500_000, 9));
    let ranged = hub
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /lfs/") && l.contains("bytes="))
        .count();
    assert_eq!(ranged, 2, "{:?}", hub.log());
}

#[test]
fn a_corrupted_download_is_refused_and_deleted() {
    let hub = FakeHub::start();
    tiny_repo(&hub);
    hub.state
        .lock()
        .unwrap()
        .corrupt
        .insert("tiny-Q4_K_M.gguf".into());
    let dir = tempfile::tempdir().unwrap();
    let client = HubClient::new(hub.config(dir.path())).unwrap();
    let model = ModelRef::parse("acme/tiny-GGUF", Catalogue::builtin().unwrap()).unwrap();
    let err = client.pull(&model, None, &mut NoProgress).unwrap_err();
    assert!(matches!(err, HubError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
    let blobs = dir.path().join("models--acme--tiny-GGUF/blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!dir
        .path()
        .join("models--acme--tiny-GGUF/snapshots")
        .exists());
}

#[test]
fn offline_pulls_and_resolution_use_the_cache_only() {
    let hub = FakeHub::start();
    let (q4, _) = tiny_repo(&hub);
    let dir = tempfile::tempdir().unwrap();
    let catalogue = Catalogue::parse(
        "[[model]]\nname = \"tiny\"\nrepo = \"acme/tiny-GGUF\"\nkind = \"text\"\n\
         architecture = \"llama\"\ntitle = \"Tiny\"\ngood_for = \"tests\"\nlicense = \"mit\"\n\
         gated = false\nsize_mb = 1\nquant = \"Q4_K_M\"\nfiles = [\"tiny-Q4_K_M.gguf\"]\n\
         languages = [\"en\", \"fr\"]\n",
    )
    .unwrap();
    let cache = HubCache::new(dir.path());

    // Not pulled yet: the error names the command.
    let err = hub::resolve_model_in("tiny", &catalogue, &cache).unwrap_err();
    assert!(
        err.to_string().contains("adforge models pull tiny"),
        "{err}"
    );
    assert_eq!(
        hub::resolve_model_in("/x/y.gguf", &catalogue, &cache).unwrap(),
        None
    );

    let model = ModelRef::parse("tiny", &catalogue).unwrap();
    let mut offline = hub.config(dir.path());
    offline.offline = true;
    offline.endpoint = "http://127.0.0.1:9".into();
    let err = HubClient::new(offline.clone())
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");

    HubClient::new(hub.config(dir.path()))
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap();
    let requests = hub.log().len();
    let pulled = HubClient::new(offline)
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap();
    assert_eq!(std::fs::read(&pulled.path).unwrap(), q4);
    assert_eq!(hub.log().len(), requests, "offline must not ask the hub");
    let resolved = hub::resolve_model_in("tiny", &catalogue, &cache)
        .unwrap()
        .unwrap();
    assert_eq!(resolved.path, pulled.path);
    assert_eq!(resolved.entry.unwrap().languages, vec!["en", "fr"]);
}

#[test]
fn a_gated_model_without_a_token_gets_a_clear_error() {
    let hub = FakeHub::start();
    let weights = bytes(4000, 11);
    hub.add(
        "acme/gated",
        true,
        vec![
            ("config.json", b"{\"model_type\":\"llama\"}".to_vec(), false),
            ("model.safetensors", weights.clone(), true),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let model = ModelRef::parse("acme/gated", Catalogue::builtin().unwrap()).unwrap();
    let err = HubClient::new(hub.config(dir.path()))
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap_err();
    assert!(matches!(err, HubError::Unauthorized(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("gated") && message.contains("HF_TOKEN") && message.contains("acme/gated"),
        "{message}"
    );

    let mut config = hub.config(dir.path());
    config.token = Some(TOKEN.into());
    let pulled = HubClient::new(config)
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap();
    assert_eq!(pulled.files, vec!["config.json", "model.safetensors"]);
    assert!(pulled.path.is_dir());
    assert_eq!(
        std::fs::read(pulled.path.join("model.safetensors")).unwrap(),
        weights
    );

    let mut config = hub.config(dir.path());
    config.token = Some("hf_wrong".into());
    let err = HubClient::new(config)
        .unwrap()
        .pull(&model, None, &mut NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("refused the token"), "{err}");
}

fn adforge(hf_home: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_adforge"))
        .args(args)
        .env("HF_HOME", hf_home)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("ADFORGE_CONFIG")
        .env("ADFORGE_LOG", "warn")
        .current_dir(hf_home)
        .output()
        .unwrap()
}

#[test]
fn the_command_line_pulls_lists_and_removes() {
    let hub = FakeHub::start();
    tiny_repo(&hub);
    let home = tempfile::tempdir().unwrap();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let out = adforge(home.path(), &hub.url, &["models", "pull", "acme/tiny-GGUF"]);
    assert!(out.status.success(), "{}", text(&out));
    let cached = home
        .path()
        .join("hub/models--acme--tiny-GGUF/snapshots")
        .join(COMMIT);
    assert!(text(&out).contains(&cached.join("tiny-Q4_K_M.gguf").display().to_string()));

    let out = adforge(home.path(), &hub.url, &["models", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("acme/tiny-GGUF") && text(&out).contains("tiny-Q4_K_M.gguf"),
        "{}",
        text(&out)
    );

    // HF_HUB_OFFLINE=1: the cache answers, the (dead) endpoint is never asked.
    let out = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .args(["models", "pull", "acme/tiny-GGUF"])
        .env("HF_HOME", home.path())
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HUB_CACHE")
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // HF_TOKEN opens a gated repository.
    hub.add(
        "acme/gated",
        true,
        vec![
            ("config.json", b"{}".to_vec(), false),
            ("model.safetensors", bytes(100, 1), true),
        ],
    );
    let out = adforge(home.path(), &hub.url, &["models", "pull", "acme/gated"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("HF_TOKEN"), "{}", text(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .args(["models", "pull", "acme/gated"])
        .env("HF_HOME", home.path())
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_TOKEN", TOKEN)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let out = adforge(home.path(), &hub.url, &["models", "list", "--catalogue"]);
    assert!(
        text(&out).contains("qwen3-1.7b") && text(&out).contains("sd-turbo"),
        "{}",
        text(&out)
    );

    let out = adforge(home.path(), &hub.url, &["models", "rm", "acme/tiny-GGUF"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!home.path().join("hub/models--acme--tiny-GGUF").exists());
    let out = adforge(home.path(), &hub.url, &["models", "list"]);
    assert!(!text(&out).contains("acme/tiny-GGUF"), "{}", text(&out));
    let out = adforge(home.path(), &hub.url, &["models", "rm", "acme/tiny-GGUF"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not in the cache"), "{}", text(&out));

    let out = adforge(home.path(), &hub.url, &["models", "pull", "nonsense"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("OWNER/REPO"), "{}", text(&out));
}

#[test]
fn serve_with_a_model_not_pulled_says_how_to_pull_it() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("HF_HOME", home.path())
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env_remove("ADFORGE_CONFIG")
        .env("ADFORGE_TEXT_MODEL", "qwen3-1.7b")
        .env("ADFORGE_DATA_DIR", home.path().join("data"))
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("adforge models pull qwen3-1.7b"),
        "{stderr}"
    );
}
