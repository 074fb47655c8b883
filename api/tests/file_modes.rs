//! What the server stores on disk is readable by its own user only: under the data directory
//! every directory is 0700 and every file 0600 (the SQLite database and its WAL files, uploaded
//! logos, uploaded batch files), whatever the process umask lets through.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{Db, TestApp};

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u32, bool)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        out.push((
            path.clone(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            walk(&path, out);
        }
    }
}

#[actix_web::test]
async fn stored_files_are_private() {
    let root = tempfile::tempdir().unwrap();
    // A data directory that does not exist yet, below a world-readable one.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = root.path().join("var/adforge");
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.data_dir = data_dir.clone()).await;
    let key = app.new_tenant("Acme");
    let seed = app.seed(&key).await;

    let mut png = Vec::new();
    image::RgbaImage::from_pixel(32, 16, image::Rgba([200, 10, 10, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let response = app
        .client
        .put(app.url(&format!("/v1/brand-kits/{}/logo", seed.brand_kit)))
        .bearer_auth(&key)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let csv = "campaign,segment,placement\nSpring,Cyclists,Feed\n";
    let part = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
        .file_name("rows.csv")
        .mime_str("text/csv")
        .unwrap();
    let response = app
        .client
        .post(app.url("/v1/batches"))
        .bearer_auth(&key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    let mut entries = Vec::new();
    walk(&data_dir, &mut entries);
    let names: Vec<String> = entries
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&data_dir).unwrap().display().to_string())
        .collect();
    for expected in [
        "adforge.sqlite3",
        "adforge.sqlite3-wal",
        "assets",
        "batches",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing in {names:?}"
        );
    }
    assert!(entries
        .iter()
        .any(|(p, _, dir)| !dir && p.starts_with(data_dir.join("assets"))));
    assert!(entries
        .iter()
        .any(|(p, _, dir)| !dir && p.starts_with(data_dir.join("batches"))));
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "data directory");
    for (path, mode, is_dir) in &entries {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
}
