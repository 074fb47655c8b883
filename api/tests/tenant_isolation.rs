//! A second tenant walks every `/v1` route against the first tenant's data and never sees any.

mod common;

use common::{databases, TestApp};
use serde_json::{json, Value};

/// Asserts an answer leaks nothing: 403/404 problem, or an empty page.
fn assert_no_data(route: &str, status: u16, body: &Value) {
    match status {
        403 | 404 => assert_eq!(
            body["status"], status,
            "{route}: not a problem body: {body}"
        ),
        200 if body.get("items").is_some() => {
            assert_eq!(
                body["total"], 0,
                "{route} listed another tenant's data: {body}"
            );
        }
        _ => panic!("{route} answered {status}: {body}"),
    }
}

#[actix_web::test]
async fn another_tenant_gets_404_or_nothing_on_every_route() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let owner = app.new_tenant("Owner");
        let intruder = app.new_tenant("Intruder");
        let seed = app.seed(&owner).await;
        let before = snapshot(&app, &owner, &seed).await;

        let c = &seed.campaign;
        let routes: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/v1/campaigns/{c}"), None),
            (
                "PATCH",
                format!("/v1/campaigns/{c}"),
                Some(json!({"name": "pwned"})),
            ),
            ("DELETE", format!("/v1/campaigns/{c}"), None),
            ("GET", format!("/v1/brand-kits/{}", seed.brand_kit), None),
            (
                "PATCH",
                format!("/v1/brand-kits/{}", seed.brand_kit),
                Some(json!({"name": "pwned"})),
            ),
            ("DELETE", format!("/v1/brand-kits/{}", seed.brand_kit), None),
            (
                "GET",
                format!("/v1/brand-kits/{}/logo", seed.brand_kit),
                None,
            ),
            ("GET", format!("/v1/segments/{}", seed.segment), None),
            (
                "PATCH",
                format!("/v1/segments/{}", seed.segment),
                Some(json!({"name": "pwned"})),
            ),
            ("DELETE", format!("/v1/segments/{}", seed.segment), None),
            ("GET", format!("/v1/placements/{}", seed.placement), None),
            (
                "PATCH",
                format!("/v1/placements/{}", seed.placement),
                Some(json!({"name": "pwned"})),
            ),
            ("DELETE", format!("/v1/placements/{}", seed.placement), None),
            ("GET", format!("/v1/creatives/{}", seed.creative), None),
            (
                "PATCH",
                format!("/v1/creatives/{}", seed.creative),
                Some(json!({"status": "approved"})),
            ),
            ("DELETE", format!("/v1/creatives/{}", seed.creative), None),
            ("GET", "/v1/campaigns".into(), None),
            ("GET", "/v1/brand-kits".into(), None),
            ("GET", format!("/v1/segments?campaign_id={c}"), None),
            ("GET", format!("/v1/placements?campaign_id={c}"), None),
            ("GET", format!("/v1/creatives?campaign_id={c}"), None),
            // Creating things that point into the owner's campaign or kit.
            (
                "POST",
                "/v1/segments".into(),
                Some(json!({"campaign_id": c, "name": "x"})),
            ),
            (
                "POST",
                "/v1/placements".into(),
                Some(json!({"campaign_id": c, "name": "x", "preset": "meta_feed"})),
            ),
            (
                "POST",
                "/v1/creatives".into(),
                Some(json!({"campaign_id": c, "headline": "x"})),
            ),
            (
                "POST",
                "/v1/campaigns".into(),
                Some(json!({"name": "x", "brand": "b", "product": "p",
                "landing_url": "https://x.example", "brand_kit_id": seed.brand_kit})),
            ),
        ];
        for (method, path, body) in routes {
            let (status, answer) = app.call(method, &path, &intruder, body).await;
            assert_no_data(&format!("{db:?} {method} {path}"), status, &answer);
        }
        // The logo upload refuses before reading the body.
        let response = app
            .client
            .put(app.url(&format!("/v1/brand-kits/{}/logo", seed.brand_kit)))
            .bearer_auth(&intruder)
            .header("content-type", "image/png")
            .body(vec![0u8; 10])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);

        assert_eq!(
            snapshot(&app, &owner, &seed).await,
            before,
            "{db:?}: the owner's data changed"
        );
    }
}

/// Everything the owner can read about the seeded resources.
async fn snapshot(app: &TestApp, key: &str, seed: &common::Seed) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        format!("/v1/campaigns/{}", seed.campaign),
        format!("/v1/brand-kits/{}", seed.brand_kit),
        format!("/v1/segments/{}", seed.segment),
        format!("/v1/placements/{}", seed.placement),
        format!("/v1/creatives/{}", seed.creative),
    ] {
        let (status, body) = app.call("GET", &path, key, None).await;
        assert_eq!(status, 200, "{path}");
        all.push(body);
    }
    all
}
