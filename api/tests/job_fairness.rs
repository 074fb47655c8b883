//! Two tenants share the generation workers: one floods the queue, the other's job must still
//! start as soon as a worker is free; and a cancelled job frees its worker within seconds.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adforge_api::infra::changes::ChangeSignal;
use adforge_api::jobs::generation::pipeline::SharedPipeline;
use adforge_api::jobs::generation::worker::{self, WorkerContext, WorkerOptions};
use adforge_api::store::leases::{self, LeaseStatus, Queue};
use common::{databases, Db, TestApp};
use serde_json::{json, Value};

/// Queues a one-variant job for `campaign` and returns its id.
async fn queue_job(app: &TestApp, key: &str, campaign: &str, body: Value) -> String {
    let (status, job) = app
        .call(
            "POST",
            &format!("/v1/campaigns/{campaign}/generate"),
            key,
            Some(body),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    job["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn claims_go_round_robin_between_tenants() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let (flooder, other) = (app.new_tenant("Flood"), app.new_tenant("Other"));
        let (a, b) = (app.seed(&flooder).await, app.seed(&other).await);
        let mut a_jobs = Vec::new();
        for _ in 0..6 {
            a_jobs.push(queue_job(&app, &flooder, &a.campaign, json!({"variants": 1})).await);
        }
        let mut b_jobs = Vec::new();
        for _ in 0..2 {
            b_jobs.push(queue_job(&app, &other, &b.campaign, json!({"variants": 1})).await);
        }
        let mut conn = app.state.store.conn().unwrap();
        let lease = Duration::from_secs(30);
        let mut claim = |owner: &str| {
            std::thread::sleep(Duration::from_millis(5));
            leases::claim_next(&mut conn, Queue::GenerationJobs, owner, lease, |_| true)
                .unwrap()
                .expect("a claimable job")
        };
        // One runner, finishing each job before the next claim: the tenants alternate,
        // though all of the flooder's jobs were queued first.
        let mut order = Vec::new();
        for _ in 0..4 {
            let id = claim("w1");
            order.push(id.clone());
            let mut conn = app.state.store.conn().unwrap();
            assert!(leases::finish(
                &mut conn,
                Queue::GenerationJobs,
                &id,
                "w1",
                LeaseStatus::Succeeded
            )
            .unwrap());
        }
        assert_eq!(
            order,
            vec![
                a_jobs[0].clone(),
                b_jobs[0].clone(),
                a_jobs[1].clone(),
                b_jobs[1].clone()
            ],
            "{db:?}"
        );
        // Two runners: the second goes to the tenant with nothing running.
        let c = queue_job(&app, &other, &b.campaign, json!({"variants": 1})).await;
        let first = claim("w1");
        assert_eq!(first, a_jobs[2], "the flooder was served longest ago");
        let second = claim("w2");
        assert_eq!(
            second, c,
            "{db:?}: the other tenant's job goes to the free runner"
        );
    }
}

fn models_present() -> bool {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models");
    let present = models
        .join(adforge_generator::text::DEFAULT_MODEL_FILE)
        .exists();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the default models are missing"
        );
        eprintln!("default models missing; test skipped");
    }
    present
}

/// Starts one in-process worker thread on `app`'s database.
fn start_worker(app: &TestApp, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let mut settings = app.state.settings.clone();
    settings.models_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models");
    let context = WorkerContext {
        store: app.state.store.clone(),
        assets: app.state.assets.clone(),
        pipeline: SharedPipeline::new(&settings, app.state.assets.clone()),
        serving: ChangeSignal::Cache(app.state.serving.cache().clone()),
    };
    let mut options = WorkerOptions::from_settings(&settings);
    options.poll = Duration::from_millis(100);
    std::thread::spawn(move || worker::run(context, options, stop))
}

async fn job(app: &TestApp, key: &str, id: &str) -> Value {
    app.call("GET", &format!("/v1/jobs/{id}"), key, None)
        .await
        .1
}

/// Waits until job `id` leaves `queued`; returns it.
async fn started(app: &TestApp, key: &str, id: &str, deadline: Instant) -> Value {
    loop {
        let job = job(app, key, id).await;
        if job["status"] != "queued" {
            return job;
        }
        assert!(Instant::now() < deadline, "never started: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_flooded_queue_still_starts_another_tenants_job_and_cancel_frees_the_worker() {
    if !models_present() {
        return;
    }
    let db = if std::env::var("ADFORGE_TEST_DATABASE_URL").is_ok() {
        Db::Postgres
    } else {
        Db::Sqlite
    };
    let app = TestApp::spawn_with(db, |s| s.job_lease_seconds = 30).await;
    let (flooder, other) = (app.new_tenant("Flood"), app.new_tenant("Other"));
    let (a, b) = (app.seed(&flooder).await, app.seed(&other).await);
    let stop = Arc::new(AtomicBool::new(false));
    let worker = start_worker(&app, stop.clone());
    let deadline = Instant::now() + Duration::from_secs(900);

    // The flooder's backlog: 8 jobs, one running.
    let mut a_jobs = Vec::new();
    for _ in 0..8 {
        a_jobs.push(queue_job(&app, &flooder, &a.campaign, json!({"variants": 1})).await);
    }
    // Once the models are loaded (the first job ended) and the second job runs, the other
    // tenant queues one job: it must be the next to start.
    loop {
        let first = job(&app, &flooder, &a_jobs[0]).await;
        if first["status"] == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline && first["status"] != "failed",
            "{first}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started(&app, &flooder, &a_jobs[1], deadline).await;
    let queued_at = Instant::now();
    let b_job = queue_job(&app, &other, &b.campaign, json!({"variants": 1})).await;
    started(&app, &other, &b_job, deadline).await;
    let wait = queued_at.elapsed();
    let mut a_started = 0;
    for id in &a_jobs {
        if job(&app, &flooder, id).await["status"] != "queued" {
            a_started += 1;
        }
    }
    eprintln!(
        "FIGURE second tenant's wait behind a flood of 8 jobs: {:.2} s",
        wait.as_secs_f64()
    );
    assert!(
        a_started <= 2,
        "the other tenant waited behind {a_started} of the flooder's jobs"
    );

    // A large job: 8 segments on the IAB display placement (14 sizes), 4 variants.
    let placement = app
        .create(
            "/v1/placements",
            &flooder,
            json!({"campaign_id": a.campaign, "name": "Display", "preset": "iab_display"}),
        )
        .await;
    let mut segments = Vec::new();
    for name in [
        "Runners",
        "Parents",
        "Students",
        "Cooks",
        "Gamers",
        "Readers",
        "Gardeners",
        "Divers",
    ] {
        let segment = app
            .create(
                "/v1/segments",
                &flooder,
                json!({"campaign_id": a.campaign, "name": name, "persona": name}),
            )
            .await;
        segments.push(segment["id"].clone());
    }
    let stop_all = app
        .call("POST", &format!("/v1/jobs/{b_job}/cancel"), &other, None)
        .await;
    drop(stop_all);
    for id in &a_jobs {
        app.call("POST", &format!("/v1/jobs/{id}/cancel"), &flooder, None)
            .await;
    }
    let big = queue_job(
        &app,
        &flooder,
        &a.campaign,
        json!({"variants": 4, "segment_ids": segments, "placement_ids": [placement["id"]]}),
    )
    .await;
    started(&app, &flooder, &big, deadline).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, cancelled) = app
        .call("POST", &format!("/v1/jobs/{big}/cancel"), &flooder, None)
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let cancelled_at = Instant::now();
    // The worker is free again when it takes the next job.
    let next = queue_job(&app, &other, &b.campaign, json!({"variants": 1})).await;
    started(&app, &other, &next, deadline).await;
    let freed = cancelled_at.elapsed();
    eprintln!(
        "FIGURE time from cancel to the worker stopping: {:.2} s",
        freed.as_secs_f64()
    );
    assert!(
        freed < Duration::from_secs(5),
        "the worker went on for {freed:?} after the cancel"
    );
    let big_job = job(&app, &flooder, &big).await;
    assert_eq!(big_job["status"], "cancelled", "{big_job}");
    assert!(big_job["items_done"].as_i64().unwrap() < 32, "{big_job}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.join().ok();
}
