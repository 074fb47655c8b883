//! Impression and click URLs of one serve belong together: a click counts only after the
//! impression of the same serve was recorded, at most once per serve, so the click rate never
//! passes 100%; refused clicks still reach the landing page and are counted by reason in
//! `/metrics`. Recording events also prunes expired serve ids from `event_nonces`.

mod common;

use common::{databases, TestApp};
use diesel::RunQueryDsl;
use serde_json::{json, Value};

/// A live campaign with one approved creative on a placement with a serving key; returns the
/// campaign id and the key.
async fn live_placement(app: &TestApp, key: &str) -> (String, String) {
    let campaign = app
        .create(
            "/v1/campaigns",
            key,
            json!({"name": "Bikes", "brand": "Velo", "product": "bike",
                   "landing_url": "https://velo.example/bike", "status": "live"}),
        )
        .await;
    let c = campaign["id"].as_str().unwrap().to_string();
    let placement = app
        .create(
            "/v1/placements",
            key,
            json!({"campaign_id": c, "name": "MPU", "preset": "iab_medium_rectangle"}),
        )
        .await;
    let p = placement["id"].as_str().unwrap();
    app.create(
        "/v1/creatives",
        key,
        json!({"campaign_id": c, "placement_id": p, "headline": "Ride on",
               "body": "Light bikes.", "cta": "Shop", "status": "approved"}),
    )
    .await;
    let (status, body) = app
        .call("POST", &format!("/v1/placements/{p}/serve-key"), key, None)
        .await;
    assert_eq!(status, 200, "{body}");
    (c, body["serve_key"].as_str().unwrap().to_string())
}

async fn serve(app: &TestApp, serve_key: &str) -> Value {
    let (status, body) = app
        .call(
            "POST",
            "/v1/serve",
            "",
            Some(json!({"placement_key": serve_key})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Fires an event URL without following the redirect; returns the status and `Location`.
async fn fire(url: &Value) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url.as_str().unwrap()).send().await.unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (response.status().as_u16(), location)
}

async fn totals(app: &TestApp, key: &str, campaign: &str) -> (i64, i64, f64) {
    let (status, stats) = app
        .call("GET", &format!("/v1/campaigns/{campaign}/stats"), key, None)
        .await;
    assert_eq!(status, 200, "{stats}");
    let t = &stats["totals"];
    (
        t["impressions"].as_i64().unwrap(),
        t["clicks"].as_i64().unwrap(),
        t["ctr"].as_f64().unwrap(),
    )
}

/// The value of a metric line `name{labels} value` in `/metrics`, 0 when absent.
async fn metric(app: &TestApp, line_start: &str) -> f64 {
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
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[actix_web::test]
async fn clicks_count_only_after_the_impression_of_the_same_serve() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Velo");
        let (campaign, serve_key) = live_placement(&app, &key).await;

        // 30 serves with only their click fired: the viewer still lands, nothing counts.
        for _ in 0..30 {
            let served = serve(&app, &serve_key).await;
            let (status, location) = fire(&served["click_url"]).await;
            assert_eq!(status, 302, "{db:?}");
            assert_eq!(location.as_deref(), Some("https://velo.example/bike"));
        }
        assert_eq!(totals(&app, &key, &campaign).await, (0, 0, 0.0), "{db:?}");
        assert_eq!(
            metric(
                &app,
                "adforge_clicks_rejected_total{reason=\"no_impression\"}"
            )
            .await,
            30.0
        );

        // An impression, then its click twice: one click.
        let served = serve(&app, &serve_key).await;
        assert_eq!(fire(&served["impression_url"]).await.0, 204);
        assert_eq!(fire(&served["click_url"]).await.0, 302);
        assert_eq!(fire(&served["click_url"]).await.0, 302);
        assert_eq!(totals(&app, &key, &campaign).await, (1, 1, 1.0), "{db:?}");
        assert_eq!(
            metric(&app, "adforge_clicks_rejected_total{reason=\"duplicate\"}").await,
            1.0
        );

        // Another serve's impression does not license this serve's click.
        let shown = serve(&app, &serve_key).await;
        let clicked = serve(&app, &serve_key).await;
        assert_eq!(fire(&shown["impression_url"]).await.0, 204);
        assert_eq!(fire(&clicked["click_url"]).await.0, 302);
        let (impressions, clicks, ctr) = totals(&app, &key, &campaign).await;
        assert_eq!((impressions, clicks), (2, 1), "{db:?}");
        assert!(ctr <= 1.0);
    }
}

#[actix_web::test]
async fn recording_events_prunes_expired_serve_ids() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Velo");
        let (_, serve_key) = live_placement(&app, &key).await;
        let count = |expired: bool| {
            let mut conn = app.state.store.conn().unwrap();
            let now = adforge_api::store::now_millis();
            let op = if expired { "<" } else { ">=" };
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query(format!(
                "SELECT COUNT(*) AS n FROM event_nonces WHERE expires_at {op} {now}"
            ))
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
        };
        {
            let mut conn = app.state.store.conn().unwrap();
            let past = adforge_api::store::now_millis() - 1000;
            for i in 0..100 {
                diesel::sql_query(format!(
                    "INSERT INTO event_nonces (nonce, kind, expires_at) VALUES ('old{i}', 'i', {past})"
                ))
                .execute(&mut conn)
                .unwrap();
            }
        }
        assert_eq!(count(true), 100);
        // Each recorded event deletes a bounded batch of expired ids; live ones stay.
        let first = serve(&app, &serve_key).await;
        assert_eq!(fire(&first["impression_url"]).await.0, 204);
        let left = count(true);
        assert!((100 - 64..100).contains(&left), "{db:?}: {left} left");
        let second = serve(&app, &serve_key).await;
        assert_eq!(fire(&second["impression_url"]).await.0, 204);
        assert_eq!(count(true), 0, "{db:?}");
        assert_eq!(count(false), 2, "{db:?}: the live serve ids remain");
        // A replay of a live one still records nothing.
        assert_eq!(fire(&first["impression_url"]).await.0, 204);
        assert_eq!(count(false), 2);
    }
}
