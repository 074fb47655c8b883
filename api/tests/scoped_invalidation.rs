//! A tenant's writes rebuild only what they touched: another tenant's compiled serving data
//! survives them, and a write that changed nothing (an empty PATCH, or the values already
//! stored) rebuilds nothing at all. What changed is still served at once. Rebuilds are
//! observed through serving's compile counter (also `adforge_serving_compiles_total`).

mod common;

use common::{databases, TestApp};
use serde_json::{json, Value};

/// A live campaign with one approved creative on a placement with a serving key; returns the
/// campaign id, the creative id and the key.
async fn live_placement(app: &TestApp, key: &str) -> (String, String, String) {
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
    let creative = app
        .create(
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
    (
        c,
        creative["id"].as_str().unwrap().to_string(),
        body["serve_key"].as_str().unwrap().to_string(),
    )
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

async fn patch(app: &TestApp, key: &str, path: &str, body: Value) {
    let (status, answer) = app.call("PATCH", path, key, Some(body)).await;
    assert_eq!(status, 200, "PATCH {path}: {answer}");
}

#[actix_web::test]
async fn a_tenants_writes_leave_other_tenants_compiled_copies_alone() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let compiles = || app.state.serving.metrics().compiles();
        let (a, b) = (app.new_tenant("A"), app.new_tenant("B"));
        let (a_campaign, a_creative, a_serve) = live_placement(&app, &a).await;
        let (_, _, b_serve) = live_placement(&app, &b).await;
        serve(&app, &a_serve).await;
        serve(&app, &b_serve).await;
        let start = compiles();
        serve(&app, &a_serve).await;
        serve(&app, &b_serve).await;
        assert_eq!(compiles(), start, "{db:?}: both copies are current");

        // Writes that change nothing rebuild nothing, not even the writer's own copy.
        let campaign_path = format!("/v1/campaigns/{a_campaign}");
        for _ in 0..20 {
            patch(&app, &a, &campaign_path, json!({})).await;
        }
        patch(&app, &a, &campaign_path, json!({"name": "Bikes"})).await;
        serve(&app, &a_serve).await;
        serve(&app, &b_serve).await;
        assert_eq!(compiles(), start, "{db:?}: no-op PATCHes rebuilt something");

        // A real change rebuilds the writer's placements only, and is served at once.
        patch(
            &app,
            &a,
            &format!("/v1/creatives/{a_creative}"),
            json!({"headline": "Ride further"}),
        )
        .await;
        patch(&app, &a, &campaign_path, json!({"name": "Renamed"})).await;
        for _ in 0..5 {
            assert_eq!(serve(&app, &b_serve).await["headline"], "Ride on");
        }
        assert_eq!(
            compiles(),
            start,
            "{db:?}: B's copy was rebuilt for A's write"
        );
        let (status, served) = app
            .call(
                "POST",
                "/v1/serve",
                "",
                Some(json!({"placement_key": a_serve})),
            )
            .await;
        assert_eq!(compiles(), start + 1, "{db:?}");
        // The edit may send an approved creative back to review (nothing to serve); either
        // way the old copy is never served again.
        assert!(
            status == 204 || (status == 200 && served["headline"] == "Ride further"),
            "{db:?}: {status} {served}"
        );
    }
}
