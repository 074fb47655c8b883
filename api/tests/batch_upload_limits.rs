//! A batch upload whose other multipart fields are huge is refused like a huge file: every
//! field counts toward the upload limit, and nothing is stored.

mod common;

use common::{databases, TestApp};
use serde_json::Value;

#[actix_web::test]
async fn a_huge_junk_field_is_refused_with_413() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Owner");
        let limit = app.state.settings.max_upload_bytes;
        // 60 MiB of junk in a field that is not `file`, then a small valid file.
        let junk = reqwest::multipart::Part::bytes(vec![b'x'; 60 << 20]);
        let file = reqwest::multipart::Part::bytes(b"campaign,segment,placement\n".to_vec())
            .file_name("rows.csv")
            .mime_str("text/csv")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .part("junk", junk)
            .part("file", file);
        let sent = app
            .client
            .post(app.url("/v1/batches"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await;
        match sent {
            Ok(response) => {
                assert_eq!(response.status(), 413, "{db:?}");
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["status"], 413, "{problem}");
                assert!(
                    problem["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&limit.to_string()),
                    "{problem}"
                );
            }
            // The server answered 413 and closed the connection while the client was still
            // sending; nothing may have been stored (checked below).
            Err(error) => eprintln!("{db:?}: upload cut off by the server: {error}"),
        }
        let (status, batches) = app.call("GET", "/v1/batches", &key, None).await;
        assert_eq!(status, 200);
        assert_eq!(batches["total"], 0, "nothing stored: {batches}");
        let dir = app.state.settings.data_dir.join("batches");
        let left = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "no upload folder left behind in {}", dir.display());
    }
}
