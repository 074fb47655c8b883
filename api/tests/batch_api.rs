//! `/v1/batches` over HTTP: upload, row errors against the tenant's stored campaigns, progress,
//! the results download, the list, tenant scoping, the header and size checks and the OpenAPI
//! document; batches a stopped server left unfinished are resumed by the next one, redoing
//! only their unfinished rows, and two servers on one database never both run a batch. Most
//! rows here fail to resolve, so no model is loaded; the restart test also generates one row
//! with the default models in `.deps/models` when they are there (always under `CI=true`).

mod common;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use adforge_api::config::Settings;
use adforge_api::jobs::batch::runner::RESULT_COLUMNS;
use adforge_api::jobs::batch::service as queue;
use adforge_api::store::schema::batches;
use adforge_api::store::{new_id, now_millis, Store};
use common::{databases, Db, TestApp};
use diesel::prelude::*;
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

/// Polls `GET /v1/batches/{id}` until the batch ends; panics after `patience`.
async fn wait_for_end(app: &TestApp, key: &str, id: &str, patience: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, current) = app
            .call("GET", &format!("/v1/batches/{id}"), key, None)
            .await;
        assert_eq!(status, 200, "{current}");
        if current["status"] == "succeeded" || current["status"] == "failed" {
            return current;
        }
        assert!(started.elapsed() < patience, "batch still {current}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect()
}

#[actix_web::test]
async fn batches_are_listed_newest_first_page_by_page_and_per_tenant() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let owner = app.new_tenant("Owner");
        let other = app.new_tenant("Other");
        let csv = "campaign,segment,placement\nNowhere,Nobody,meta_feed\n";

        let mut uploaded = Vec::new();
        for _ in 0..3 {
            let (status, batch) = upload(&app, &owner, csv).await;
            assert_eq!(status, 202, "{batch}");
            uploaded.push(batch["id"].as_str().unwrap().to_string());
            // Distinct creation times, so that the order is the upload order.
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, foreign) = upload(&app, &other, csv).await;
        assert_eq!(status, 202, "{foreign}");
        let newest_first: Vec<String> = uploaded.iter().rev().cloned().collect();

        let (status, page) = app.call("GET", "/v1/batches", &owner, None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(ids_of(&page), newest_first, "{page}");
        assert_eq!(
            (&page["total"], &page["limit"], &page["offset"]),
            (&Value::from(3), &Value::from(20), &Value::from(0)),
            "{page}"
        );
        assert_eq!(page["items"][0]["file_name"], "rows.csv", "{page}");
        assert_eq!(page["items"][0]["rows_total"], 1, "{page}");

        let (status, first) = app.call("GET", "/v1/batches?limit=2", &owner, None).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(ids_of(&first), newest_first[..2], "{first}");
        assert_eq!(first["total"], 3, "{first}");
        let (status, second) = app
            .call("GET", "/v1/batches?limit=2&offset=2", &owner, None)
            .await;
        assert_eq!(status, 200, "{second}");
        assert_eq!(ids_of(&second), newest_first[2..], "{second}");
        assert_eq!(
            (&second["total"], &second["limit"], &second["offset"]),
            (&Value::from(3), &Value::from(2), &Value::from(2)),
            "{second}"
        );
        let (status, beyond) = app.call("GET", "/v1/batches?offset=10", &owner, None).await;
        assert_eq!(status, 200, "{beyond}");
        assert_eq!(ids_of(&beyond), Vec::<String>::new(), "{beyond}");

        let (status, theirs) = app.call("GET", "/v1/batches", &other, None).await;
        assert_eq!(status, 200, "{theirs}");
        assert_eq!(
            ids_of(&theirs),
            [foreign["id"].as_str().unwrap()],
            "{theirs}"
        );
        assert_eq!(theirs["total"], 1, "{theirs}");

        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("offset=-1", "offset"),
        ] {
            let (status, problem) = app
                .call("GET", &format!("/v1/batches?{query}"), &owner, None)
                .await;
            assert_eq!(status, 422, "{query}: {problem}");
            assert_eq!(problem["field"], field, "{query}: {problem}");
        }
        let (status, problem) = app
            .call("GET", "/v1/batches?colour=red", &owner, None)
            .await;
        assert_eq!(status, 400, "{problem}");
        let (status, problem) = app.call("GET", "/v1/batches", "adf_wrong", None).await;
        assert_eq!(status, 401, "{problem}");

        // Every listed batch runs to its end.
        for id in uploaded {
            let finished = wait_for_end(&app, &owner, &id, Duration::from_secs(60)).await;
            assert_eq!(finished["status"], "succeeded", "{finished}");
        }
    }
}

#[actix_web::test]
async fn the_openapi_document_describes_the_batch_routes() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let response = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .expect("openapi.json");
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.expect("JSON");
    let paths = &doc["paths"];
    for (path, method) in [
        ("/v1/batches", "post"),
        ("/v1/batches", "get"),
        ("/v1/batches/{id}", "get"),
        ("/v1/batches/{id}/results.csv", "get"),
        ("/v1/batches/{id}/images.zip", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from {paths}"
        );
        assert_eq!(paths[path][method]["tags"][0], "batches", "{method} {path}");
    }
    assert!(
        paths["/v1/batches"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object(),
        "{}",
        paths["/v1/batches"]["post"]
    );
    assert!(
        paths["/v1/batches"]["get"]["responses"]["200"].is_object(),
        "{}",
        paths["/v1/batches"]["get"]
    );
    let schemas = &doc["components"]["schemas"];
    for schema in ["Batch", "BatchUpload", "RowError"] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
    assert!(schemas["Batch"]["properties"]["rows_done"].is_object());
    // The other resources are still there.
    assert!(paths["/v1/campaigns"]["get"].is_object());
}

/// A data folder and database that outlive one server: SQLite in the folder, or a fresh
/// PostgreSQL database.
fn lasting_storage(db: Db) -> (tempfile::TempDir, Option<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match db {
        Db::Sqlite => None,
        Db::Postgres => {
            let base =
                std::env::var("ADFORGE_TEST_DATABASE_URL").expect("ADFORGE_TEST_DATABASE_URL");
            let name = format!("adforge_t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&base).expect("connect to PostgreSQL");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create database");
            let mut url = url::Url::parse(&base).expect("database URL");
            url.set_path(&name);
            Some(url.to_string())
        }
    };
    (dir, url)
}

/// Records a batch of `advertiser` in `status` (and under `lease`, owner and expiry) as
/// `POST /v1/batches` and a runner would have left it.
fn insert_batch(
    store: &Store,
    advertiser: &str,
    status: &str,
    rows: (i32, i32, i32),
    lease: Option<(&str, i64)>,
) -> String {
    let id = new_id();
    let now = now_millis();
    diesel::insert_into(batches::table)
        .values((
            batches::id.eq(&id),
            batches::advertiser_id.eq(advertiser),
            batches::file_name.eq("rows.csv"),
            batches::status.eq(status),
            batches::rows_total.eq(rows.0),
            batches::rows_done.eq(rows.1),
            batches::rows_failed.eq(rows.2),
            batches::errors.eq("[]"),
            batches::created_at.eq(now),
            batches::updated_at.eq(now),
            batches::lease_owner.eq(lease.map(|(owner, _)| owner.to_string())),
            batches::lease_expires_at.eq(lease.map(|(_, expires)| expires)),
        ))
        .execute(&mut store.conn().expect("connection"))
        .expect("insert batch");
    id
}

/// Whether the default models are there (`.deps/models`); under `CI=true` they must be.
fn models_present() -> bool {
    let dir = Settings::default().models_dir;
    let present =
        dir.join("smollm2-135m-instruct").is_dir() && dir.join("all-minilm-l6-v2").is_dir();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the models are missing from {}",
            dir.display()
        );
        eprintln!(
            "note: no models in {}; the restart test generates no row",
            dir.display()
        );
    }
    present
}

/// The records of a results file, header first.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("record").iter().map(str::to_string).collect())
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("batch folder");
    std::fs::write(path, text).expect("write");
}

#[actix_web::test]
async fn servers_started_on_the_data_of_a_stopped_one_finish_its_batch_once() {
    let generate = models_present();
    for db in databases() {
        // What a server stopped in the middle of a batch leaves behind: the batch `running`
        // under its lease, which ran out, and rows 2 and 3 finished in results.csv.
        let (dir, database_url) = lasting_storage(db);
        let store = Store::open(database_url.as_deref(), dir.path()).expect("store");
        let tenant =
            adforge_api::store::advertisers::create_advertiser(&mut store.conn().unwrap(), "Owner")
                .expect("advertiser");
        let mut input = String::from("campaign,segment,placement,brand,product,landing_url\n");
        input.push_str("Spring,Cyclists,meta_feed,Acme,Bikes,https://acme.example/bikes\n");
        input.push_str("Gone,Cyclists,meta_feed,,,\n");
        input.push_str("Gone,Walkers,meta_feed,,,\n");
        input.push_str("Spring,Walkers,meta_feed,Acme,Bikes,not a url\n");
        if generate {
            input.push_str(
                "Spring,Runners,iab_medium_rectangle,Acme,Bikes,https://acme.example/run\n",
            );
        }
        let rows_total = if generate { 5 } else { 4 };
        let id = insert_batch(
            &store,
            &tenant.id,
            "running",
            (rows_total, 1, 1),
            Some(("stopped-server", now_millis() - 1)),
        );
        let folder = queue::batch_dir(dir.path(), &id);
        write(&folder.join(queue::INPUT_FILE), &input);
        let earlier = format!(
            "{}\n2,Spring,Cyclists,Cyclists,0,ok,Earlier headline,Earlier body,Shop,,,0.5000,\n\
             3,,,,,error,,,,,,,earlier run: no such campaign\n",
            RESULT_COLUMNS.join(",")
        );
        write(&folder.join("results.csv"), &earlier);

        // Two servers start on that data; exactly one of them takes the batch over.
        let same_data = |s: &mut Settings| {
            s.data_dir = dir.path().to_path_buf();
            s.database_url = database_url.clone();
        };
        let first = TestApp::spawn_with(db, same_data).await;
        let second = TestApp::spawn_with(db, same_data).await;
        let key = &tenant.api_key;
        let finished = wait_for_end(&first, key, &id, Duration::from_secs(600)).await;
        assert_eq!(finished["status"], "succeeded", "{finished}");
        assert_eq!(
            (&finished["rows_done"], &finished["rows_failed"]),
            (&Value::from(if generate { 2 } else { 1 }), &Value::from(3)),
            "{finished}"
        );
        let error_rows: Vec<u64> = finished["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["row"].as_u64().unwrap())
            .collect();
        assert_eq!(error_rows, [3, 4, 5], "{finished}");
        let (_, seen_by_second) = second
            .call("GET", &format!("/v1/batches/{id}"), key, None)
            .await;
        assert_eq!(seen_by_second["status"], "succeeded", "{seen_by_second}");

        let response = second
            .client
            .get(second.url(&format!("/v1/batches/{id}/results.csv")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let records = csv_records(&response.text().await.unwrap());
        assert_eq!(records[0], RESULT_COLUMNS, "{records:?}");
        let mut rows: Vec<&str> = records[1..].iter().map(|r| r[0].as_str()).collect();
        rows.sort();
        let expected: &[&str] = if generate {
            &["2", "3", "4", "5", "6"]
        } else {
            &["2", "3", "4", "5"]
        };
        assert_eq!(rows, expected, "every row exactly once: {records:?}");
        let record = |row: &str| {
            records[1..]
                .iter()
                .find(|r| r[0] == row)
                .expect("the row's record")
                .clone()
        };
        // The rows finished before the stop were not redone.
        assert_eq!(record("2")[6], "Earlier headline");
        assert_eq!(record("3")[12], "earlier run: no such campaign");
        assert_eq!(record("4")[5], "error");
        assert!(record("5")[12].contains("landing_url"), "{:?}", record("5"));
        if generate {
            let generated = record("6");
            assert_eq!(generated[5], "ok", "{generated:?}");
            assert!(!generated[6].is_empty(), "a headline: {generated:?}");
            let response = first
                .client
                .get(first.url(&format!("/v1/batches/{id}/images.zip")))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let bytes = response.bytes().await.unwrap();
            let archive =
                zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip archive");
            assert!(
                archive.file_names().all(|n| n.starts_with("images/6-")),
                "only row 6 made images: {:?}",
                archive.file_names().collect::<Vec<_>>()
            );
            assert!(!archive.is_empty());
        }

        // The lease was dropped with the end of the batch.
        let lease: (Option<String>, Option<i64>) = batches::table
            .filter(batches::id.eq(&id))
            .select((batches::lease_owner, batches::lease_expires_at))
            .first(&mut store.conn().unwrap())
            .unwrap();
        assert_eq!(lease, (None, None));
    }
}

#[actix_web::test]
async fn a_batch_under_a_live_lease_is_left_to_its_runner() {
    for db in databases() {
        let (dir, database_url) = lasting_storage(db);
        let store = Store::open(database_url.as_deref(), dir.path()).expect("store");
        let tenant =
            adforge_api::store::advertisers::create_advertiser(&mut store.conn().unwrap(), "Owner")
                .expect("advertiser");
        let held = insert_batch(
            &store,
            &tenant.id,
            "running",
            (1, 0, 0),
            Some(("live-server", now_millis() + 600_000)),
        );
        let folder = queue::batch_dir(dir.path(), &held);
        write(
            &folder.join(queue::INPUT_FILE),
            "campaign,segment,placement\nGone,Nobody,meta_feed\n",
        );
        let app = TestApp::spawn_with(db, |s| {
            s.data_dir = dir.path().to_path_buf();
            s.database_url = database_url.clone();
        })
        .await;
        // A batch uploaded now runs, while the held one is not touched.
        let (status, fresh) = upload(
            &app,
            &tenant.api_key,
            "campaign,segment,placement\nGone,Nobody,meta_feed\n",
        )
        .await;
        assert_eq!(status, 202, "{fresh}");
        let fresh_id = fresh["id"].as_str().unwrap();
        let finished = wait_for_end(&app, &tenant.api_key, fresh_id, Duration::from_secs(60)).await;
        assert_eq!(finished["status"], "succeeded", "{finished}");
        let (_, current) = app
            .call("GET", &format!("/v1/batches/{held}"), &tenant.api_key, None)
            .await;
        assert_eq!(current["status"], "running", "{current}");
        assert!(
            !folder.join("results.csv").exists(),
            "the held batch was run"
        );
    }
}

#[test]
fn one_runner_at_a_time_holds_a_batch_and_a_lost_lease_fences_its_writes() {
    for db in databases() {
        let (dir, database_url) = lasting_storage(db);
        let store = Store::open(database_url.as_deref(), dir.path()).expect("store");
        let mut conn = store.conn().unwrap();
        let tenant = adforge_api::store::advertisers::create_advertiser(&mut conn, "Owner")
            .expect("advertiser");
        let lease = Duration::from_secs(30);
        let id = insert_batch(&store, &tenant.id, "queued", (1, 0, 0), None);

        // A runner that cannot read the batch's files does not take it.
        let unreadable = queue::claim_next(&mut conn, "replica-c", lease, |_| false).unwrap();
        assert!(unreadable.is_none());

        // Runners racing for it on their own connections: exactly one wins.
        let racers = 6;
        let barrier = Arc::new(Barrier::new(racers));
        let handles: Vec<_> = (0..racers)
            .map(|n| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut conn = store.conn().unwrap();
                    let owner = format!("replica-{n}");
                    barrier.wait();
                    queue::claim_next(&mut conn, &owner, lease, |_| true)
                        .unwrap()
                        .map(|claimed| (owner, claimed))
                })
            })
            .collect();
        let winners: Vec<String> = handles
            .into_iter()
            .filter_map(|racer| racer.join().unwrap())
            .map(|(owner, claimed)| {
                assert_eq!(claimed.id, id);
                assert_eq!(claimed.advertiser_id, tenant.id);
                owner
            })
            .collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        let holder = winners[0].clone();
        assert!(
            queue::claim_next(&mut conn, "replica-late", lease, |_| true)
                .unwrap()
                .is_none()
        );
        assert!(queue::renew(&mut conn, &id, &holder, lease).unwrap());

        // The holder stops heartbeating; once its lease has run out another runner takes
        // over, and the old holder can neither write progress nor end the batch.
        diesel::update(batches::table.filter(batches::id.eq(&id)))
            .set(batches::lease_expires_at.eq(now_millis() - 1))
            .execute(&mut conn)
            .unwrap();
        let taken = queue::claim_next(&mut conn, "replica-new", lease, |_| true).unwrap();
        assert_eq!(taken.map(|c| c.id), Some(id.clone()));
        assert!(!queue::renew(&mut conn, &id, &holder, lease).unwrap());
        assert!(!queue::record_progress(&mut conn, &id, &holder, 1, 0, &[]).unwrap());
        assert!(!queue::end(&mut conn, &id, &holder, queue::BatchEnd::Released).unwrap());
        assert!(queue::record_progress(&mut conn, &id, "replica-new", 1, 0, &[]).unwrap());

        // Handed back, the batch is queued again for anyone.
        assert!(queue::end(&mut conn, &id, "replica-new", queue::BatchEnd::Released).unwrap());
        let again = queue::claim_next(&mut conn, "replica-next", lease, |_| true).unwrap();
        assert_eq!(again.map(|c| c.id), Some(id.clone()));
        assert!(queue::end(
            &mut conn,
            &id,
            "replica-next",
            queue::BatchEnd::Succeeded {
                rows_done: 1,
                rows_failed: 0,
                errors: &[],
            },
        )
        .unwrap());
        assert!(
            queue::claim_next(&mut conn, "replica-last", lease, |_| true)
                .unwrap()
                .is_none()
        );
    }
}
