//! Following a job's progress as server-sent events: a stream sends a keepalive comment while
//! nothing changes, ends once the job has ended, is dropped (with its polling) soon after its
//! client goes away, and a tenant cannot hold more than a few open at once.

mod common;

use std::time::{Duration, Instant};

use adforge_api::routes::generation::{MAX_STREAMS_PER_TENANT, STREAM_HEARTBEAT};
use common::{databases, TestApp};
use serde_json::json;

/// The `adforge_job_streams_open` gauge, read from `/metrics`.
async fn open_streams(app: &TestApp) -> i64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("adforge_job_streams_open "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the open-streams gauge")
}

async fn open_stream(app: &TestApp, key: &str, job: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/jobs/{job}/events")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Reads the stream until `needle` appears; returns everything read.
async fn read_until(response: &mut reqwest::Response, needle: &str, within: Duration) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + within;
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within {within:?}: {seen}"))
            .unwrap();
        match chunk {
            Some(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            None => panic!("the stream ended before {needle:?}: {seen}"),
        }
    }
    seen
}

#[actix_web::test]
async fn job_streams_end_are_capped_and_are_dropped_after_disconnect() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let (status, job) = app
            .call(
                "POST",
                &format!("/v1/campaigns/{}/generate", seed.campaign),
                &key,
                Some(json!({"variants": 1})),
            )
            .await;
        assert_eq!(status, 202, "{job}");
        let job_id = job["id"].as_str().unwrap().to_string();

        // The job stays queued (no worker runs): the streams only poll.
        let mut streams = Vec::new();
        for _ in 0..MAX_STREAMS_PER_TENANT {
            let mut response = open_stream(&app, &key, &job_id).await;
            assert_eq!(response.status(), 200);
            read_until(&mut response, "event: progress", Duration::from_secs(5)).await;
            streams.push(response);
        }
        assert_eq!(open_streams(&app).await, MAX_STREAMS_PER_TENANT as i64);
        let refused = open_stream(&app, &key, &job_id).await;
        assert_eq!(refused.status(), 429);
        let problem: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(problem["status"], 429, "{problem}");
        // Another tenant is not affected by this one's streams.
        let other = app.new_tenant("Other");
        let (status, _) = app.call("GET", "/v1/jobs", &other, None).await;
        assert_eq!(status, 200);

        // A quiet stream still sends a comment every few seconds.
        read_until(&mut streams[0], ": keepalive", STREAM_HEARTBEAT * 2).await;

        // The clients go away: the server notices at its next writes and drops the streams.
        let closed_at = Instant::now();
        streams.clear();
        while open_streams(&app).await > 0 {
            assert!(
                closed_at.elapsed() < STREAM_HEARTBEAT * 5,
                "{} streams still open after their clients left",
                open_streams(&app).await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!(
            "FIGURE {db:?}: {MAX_STREAMS_PER_TENANT} streams closed by their clients, 0 open after {:.1} s",
            closed_at.elapsed().as_secs_f64()
        );

        // A finished job's stream ends by itself.
        let mut following = open_stream(&app, &key, &job_id).await;
        assert_eq!(following.status(), 200);
        read_until(&mut following, "event: progress", Duration::from_secs(5)).await;
        let (status, _) = app
            .call("POST", &format!("/v1/jobs/{job_id}/cancel"), &key, None)
            .await;
        assert_eq!(status, 200);
        let rest = tokio::time::timeout(Duration::from_secs(10), following.text())
            .await
            .expect("the stream of a finished job ends")
            .unwrap();
        assert!(rest.contains("\"status\":\"cancelled\""), "{rest}");
        let started = Instant::now();
        while open_streams(&app).await > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the ended stream is still counted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Opening a stream on a job that has ended gives its last state and ends at once.
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            open_stream(&app, &key, &job_id).await.text(),
        )
        .await
        .expect("ends at once")
        .unwrap();
        assert!(ended.contains("cancelled"), "{ended}");
    }
}
