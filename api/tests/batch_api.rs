//! `/v1/batches` over HTTP: upload, row errors against the tenant's stored campaigns, progress,
//! the results download, tenant scoping, and the header and size checks. The rows here all
//! fail to resolve, so no model is loaded.

mod common;

use std::time::{Duration, Instant};

use common::{databases, TestApp};
use serde_json::Value;

async fn upload(app: &TestApp, key: &str, csv: &str) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
        .file_name("rows.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = app
        .client
        .post(app.url("/v1/batches"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn a_batch_reports_row_errors_and_stays_with_its_tenant() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let owner = app.new_tenant("Owner");
        let intruder = app.new_tenant("Intruder");
        app.seed(&owner).await;

        let csv = "campaign;segment;placement\nSpring;Walkers;Feed\nAutumn;Cyclists;Feed\nSpring;Cyclists;billboard\n";
        let (status, batch) = upload(&app, &owner, csv).await;
        assert_eq!(status, 202, "{batch}");
        assert_eq!(batch["rows_total"], 3, "{batch}");
        let errors: Vec<(u64, &str)> = batch["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["row"].as_u64().unwrap(), e["column"].as_str().unwrap()))
            .collect();
        assert_eq!(
            errors,
            [(2, "segment"), (3, "campaign"), (4, "placement")],
            "{batch}"
        );
        let id = batch["id"].as_str().unwrap().to_string();

        let started = Instant::now();
        let finished = loop {
            let (status, current) = app
                .call("GET", &format!("/v1/batches/{id}"), &owner, None)
                .await;
            assert_eq!(status, 200, "{current}");
            if current["status"] == "succeeded" || current["status"] == "failed" {
                break current;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "batch still {current}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            (
                finished["status"].as_str(),
                finished["rows_failed"].as_i64()
            ),
            (Some("succeeded"), Some(3)),
            "{finished}"
        );

        let response = app
            .client
            .get(app.url(&format!("/v1/batches/{id}/results.csv")))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await.unwrap();
        assert!(
            text.starts_with("row,campaign,segment,placement,variant,status"),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.contains(",error,")).count(),
            3,
            "{text}"
        );

        let response = app
            .client
            .get(app.url(&format!("/v1/batches/{id}/images.zip")))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
        let bytes = response.bytes().await.unwrap();
        let archive =
            zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip archive");
        assert_eq!(archive.len(), 0, "no row made an image");

        for path in [
            format!("/v1/batches/{id}"),
            format!("/v1/batches/{id}/results.csv"),
            format!("/v1/batches/{id}/images.zip"),
        ] {
            let (status, body) = app.call("GET", &path, &intruder, None).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
}

#[actix_web::test]
async fn a_bad_header_is_422_and_a_large_file_413() {
    let app = TestApp::spawn_with(common::Db::Sqlite, |s| s.max_upload_bytes = 1000).await;
    let key = app.new_tenant("Owner");
    let (status, problem) = upload(&app, &key, "campaign,placement\nSpring,Feed\n").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "file");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("missing required columns: segment"),
        "{problem}"
    );

    let big = format!(
        "campaign,segment,placement\n{}",
        "Spring,Cyclists,Feed\n".repeat(100)
    );
    let (status, problem) = upload(&app, &key, &big).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["status"], 413);
}
