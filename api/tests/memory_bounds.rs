//! What outsiders can make the server remember stays bounded: made-up HTTP methods share one
//! `other` label in `/metrics`, and frequency-cap counts of viewers expire, so 100,000 serves
//! to random viewers leave memory flat.

mod common;

use std::sync::Arc;
use std::time::Duration;

use adforge_api::infra::cache::{Cache, MemoryCache, SWEEP_BATCH};
use adforge_api::serving::{FrequencyCaps, ServeRequest, Serving};
use common::{Db, TestApp};
use serde_json::json;

async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[actix_web::test]
async fn made_up_methods_share_one_metrics_label() {
    let app = TestApp::spawn(Db::Sqlite).await;
    for _ in 0..5 {
        app.client.get(app.url("/healthz")).send().await.unwrap();
    }
    let before = metrics_text(&app).await.len();
    for i in 0..2000 {
        let method = reqwest::Method::from_bytes(format!("X{i}Y").as_bytes()).unwrap();
        let response = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let after = metrics_text(&app).await;
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(!after.contains("X1999Y"));
    assert!(
        after.len() < before + 8 * 1024,
        "/metrics grew from {before} to {} bytes",
        after.len()
    );
}

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// 100,000 serves to random viewers (`ADFORGE_SOAK_SERVES` overrides the count) through a
/// serving engine whose cap window is 50 ms, so the run spans many windows. The in-process
/// cache holds only the viewers of about the last window, and resident memory over the second
/// half of the run stays flat.
#[actix_web::test]
async fn serving_random_viewers_keeps_memory_flat() {
    let serves: usize = std::env::var("ADFORGE_SOAK_SERVES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let app = TestApp::spawn(Db::Sqlite).await;
    let window = Duration::from_millis(50);
    let memory = Arc::new(MemoryCache::default());
    let serving = Serving::new(
        app.state.store.clone(),
        Cache::Memory(memory.clone()),
        &[7u8; 32],
        app.base.clone(),
        FrequencyCaps {
            per_creative: 3,
            per_campaign: 10,
            window,
        },
    );
    let key = app.new_tenant("Velo");
    let campaign = app
        .create(
            "/v1/campaigns",
            &key,
            json!({"name": "Bikes", "brand": "Velo", "product": "bike",
                   "landing_url": "https://velo.example", "status": "live"}),
        )
        .await;
    let c = campaign["id"].as_str().unwrap();
    let placement = app
        .create(
            "/v1/placements",
            &key,
            json!({"campaign_id": c, "name": "MPU", "preset": "iab_medium_rectangle"}),
        )
        .await;
    let p = placement["id"].as_str().unwrap();
    for headline in ["One", "Two", "Three"] {
        app.create(
            "/v1/creatives",
            &key,
            json!({"campaign_id": c, "placement_id": p, "headline": headline,
                   "status": "approved"}),
        )
        .await;
    }
    let (_, body) = app
        .call("POST", &format!("/v1/placements/{p}/serve-key"), &key, None)
        .await;
    let serve_key = body["serve_key"].as_str().unwrap().to_string();

    let started = std::time::Instant::now();
    let (mut half_rss, mut half_keys) = (0, 0);
    for i in 0..serves {
        let request = ServeRequest {
            placement_key: serve_key.clone(),
            request: json!({"country": "FR"}),
            user_key: Some(uuid::Uuid::new_v4().to_string()),
            format: None,
        };
        let served = serving.serve(request).await.unwrap();
        assert!(served.is_some());
        if i + 1 == serves / 2 {
            (half_rss, half_keys) = (rss_bytes(), memory.integer_keys());
        }
    }
    let elapsed = started.elapsed();
    let (end_rss, end_keys) = (rss_bytes(), memory.integer_keys());
    let rate = serves as f64 / elapsed.as_secs_f64();
    eprintln!(
        "soak: {serves} serves in {:.1} s ({rate:.0}/s); cache keys {half_keys} at half, \
         {end_keys} at end; RSS {:.1} MiB at half, {:.1} MiB at end",
        elapsed.as_secs_f64(),
        half_rss as f64 / 1048576.0,
        end_rss as f64 / 1048576.0
    );
    // Two cap keys per serve and viewer were written; only those of about the last window
    // (plus one sweep's worth) are held.
    let window_keys = (2.0 * rate * 3.0 * window.as_secs_f64()) as usize + 2 * SWEEP_BATCH;
    assert!(
        end_keys <= window_keys.max(1000) && end_keys < serves,
        "{end_keys} keys held after {serves} serves at {rate:.0}/s"
    );
    let growth = end_rss.saturating_sub(half_rss);
    assert!(
        growth < 8 << 20,
        "resident memory grew {:.1} MiB over the second half",
        growth as f64 / 1048576.0
    );
}
