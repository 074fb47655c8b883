//! A worker killed with SIGKILL in the middle of a job: another worker takes the job over when
//! the lease runs out and finishes it, with no missing and no duplicate creative.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Db, TestApp};
use diesel::prelude::*;
use serde_json::json;

/// An `adforge worker` process, killed (SIGKILL) when dropped, so a failing test leaves none
/// behind.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn kill(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_worker(app: &TestApp) -> WorkerProcess {
    let settings = &app.state.settings;
    let mut command = Command::new(env!("CARGO_BIN_EXE_adforge"));
    command
        .args(["worker", "--threads", "1"])
        .env("ADFORGE_DATA_DIR", &settings.data_dir)
        .env("ADFORGE_JOB_LEASE_SECONDS", "3")
        // The default three candidates per variant: this flow accepts groups that deliver fewer
        // variants than asked (issue #13), and more candidates (up to six rounds of them) would
        // only make the job longer than its deadline.
        .env("ADFORGE_COPY_CANDIDATES_PER_VARIANT", "3")
        .env("ADFORGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match &settings.database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    WorkerProcess(command.spawn().expect("start adforge worker"))
}

#[actix_web::test]
async fn killed_worker_job_is_finished_by_another_exactly_once() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models");
    if !models
        .join(adforge_generator::text::DEFAULT_MODEL_FILE)
        .exists()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the default models are missing"
        );
        eprintln!("default models missing; test skipped");
        return;
    }
    let db = if std::env::var("ADFORGE_TEST_DATABASE_URL").is_ok() {
        Db::Postgres
    } else {
        Db::Sqlite
    };
    let app = TestApp::spawn(db).await;
    let key = app.new_tenant("Acme");
    let seed = app.seed(&key).await;
    // Nine (segment, placement) groups: more than a worker generates at once, so the job is
    // still unfinished after the first ones are saved.
    let segments = [
        "Runners",
        "Parents",
        "Students",
        "Cyclists",
        "Gamers",
        "Cooks",
        "Gardeners",
        "Readers",
    ];
    for name in segments {
        app.create(
            "/v1/segments",
            &key,
            json!({"campaign_id": seed.campaign, "name": name, "persona": name}),
        )
        .await;
    }
    let (status, job) = app
        .call(
            "POST",
            &format!("/v1/campaigns/{}/generate", seed.campaign),
            &key,
            Some(json!({"variants": 2})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["id"].as_str().unwrap().to_string();
    let total = 2 * (segments.len() as i64 + 1);
    assert_eq!(job["items_total"], total);

    let mut first = spawn_worker(&app);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, job) = app
            .call("GET", &format!("/v1/jobs/{job_id}"), &key, None)
            .await;
        let done = job["items_done"].as_i64().unwrap();
        if done >= 2 {
            assert!(
                done < total,
                "the first worker finished before it could be killed"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker made no progress: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    first.kill();

    let mut second = spawn_worker(&app);
    let job = loop {
        let (_, job) = app
            .call("GET", &format!("/v1/jobs/{job_id}"), &key, None)
            .await;
        if job["status"] != "running" && job["status"] != "queued" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the job was never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    second.kill();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["items_done"], total);

    use adforge_api::store::schema::{creatives, generation_items};
    let mut conn = app.state.store.conn().unwrap();
    let items: Vec<(String, String, i32, String, Option<String>, String)> = generation_items::table
        .filter(generation_items::job_id.eq(&job_id))
        .select((
            generation_items::segment_id,
            generation_items::placement_id,
            generation_items::variant,
            generation_items::status,
            generation_items::creative_id,
            generation_items::worker,
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        items.len() as i64,
        total,
        "every item exactly once: {items:?}"
    );
    let workers: std::collections::HashSet<&String> = items.iter().map(|i| &i.5).collect();
    assert_eq!(workers.len(), 2, "both workers produced items");
    let made: Vec<(Option<String>, Option<String>, i32)> = creatives::table
        .filter(creatives::job_id.eq(&job_id))
        .select((
            creatives::segment_id,
            creatives::placement_id,
            creatives::variant,
        ))
        .load(&mut conn)
        .unwrap();
    let done_items = items.iter().filter(|i| i.3 == "done").count();
    assert_eq!(
        made.len(),
        done_items,
        "one creative per produced item, no duplicates"
    );
    let distinct: std::collections::HashSet<_> = made.iter().collect();
    assert_eq!(distinct.len(), made.len());
    assert!(
        // "undelivered": the group had fewer good candidates than variants asked (issue #13).
        items
            .iter()
            .all(|i| { ["done", "dropped", "undelivered", "failed"].contains(&i.3.as_str()) }),
        "{items:?}"
    );
    // A group may fail only because none of its copy passed the quality checks (issue #13),
    // never because of the worker that was killed or the lease that was taken over.
    let failures: Vec<Option<String>> = generation_items::table
        .filter(generation_items::job_id.eq(&job_id))
        .filter(generation_items::status.eq("failed"))
        .select(generation_items::error)
        .load(&mut conn)
        .unwrap();
    for error in &failures {
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("quality checks")),
            "{failures:?}"
        );
    }
}
