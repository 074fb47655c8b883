//! The `/v1` resources end to end, on SQLite and (when available) PostgreSQL.

mod common;

use common::{databases, TestApp};
use serde_json::json;

#[actix_web::test]
async fn campaign_lifecycle() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let created = app
            .create(
                "/v1/campaigns",
                &key,
                json!({"name": "Spring sale", "brand": "Acme", "product": "Bikes",
                       "landing_url": "https://acme.example", "languages": ["en", "fr"]}),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        assert_eq!(created["status"], "draft", "{db:?}");
        assert_eq!(created["objective"], "awareness");

        let (status, fetched) = app
            .call("GET", &format!("/v1/campaigns/{id}"), &key, None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(fetched["languages"], json!(["en", "fr"]));

        let (status, patched) = app
            .call(
                "PATCH",
                &format!("/v1/campaigns/{id}"),
                &key,
                Some(json!({"status": "live", "offer": "20% off"})),
            )
            .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["status"], "live");
        assert_eq!(patched["offer"], "20% off");
        assert_eq!(patched["name"], "Spring sale");
        assert_eq!(patched["created_at"], created["created_at"]);

        // Removing an optional field with null (JSON merge patch).
        let (_, patched) = app
            .call(
                "PATCH",
                &format!("/v1/campaigns/{id}"),
                &key,
                Some(json!({"offer": null})),
            )
            .await;
        assert!(patched.get("offer").is_none(), "{patched}");

        for i in 0..3 {
            app.create(
                "/v1/campaigns",
                &key,
                json!({"name": format!("Other {i}"), "brand": "Acme", "product": "Helmets", "landing_url": "https://acme.example/h"}),
            )
            .await;
        }
        let (_, page) = app.call("GET", "/v1/campaigns?limit=2", &key, None).await;
        assert_eq!(page["total"], 4);
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let (_, page) = app
            .call("GET", "/v1/campaigns?limit=2&offset=2", &key, None)
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let (_, live) = app
            .call("GET", "/v1/campaigns?status=live", &key, None)
            .await;
        assert_eq!(live["total"], 1);
        assert_eq!(live["items"][0]["id"], id);
        let (_, found) = app.call("GET", "/v1/campaigns?q=Other", &key, None).await;
        assert_eq!(found["total"], 3);
        let (_, none) = app.call("GET", "/v1/campaigns?q=%25", &key, None).await;
        assert_eq!(none["total"], 0, "a literal % must not match everything");

        let (status, _) = app
            .call("DELETE", &format!("/v1/campaigns/{id}"), &key, None)
            .await;
        assert_eq!(status, 204);
        let (status, problem) = app
            .call("GET", &format!("/v1/campaigns/{id}"), &key, None)
            .await;
        assert_eq!(status, 404);
        assert_eq!(problem["status"], 404);
    }
}

#[actix_web::test]
async fn segments_validate_rules_with_a_path() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let (status, problem) = app
            .call(
                "POST",
                "/v1/segments",
                &key,
                Some(json!({"campaign_id": seed.campaign, "name": "Bad",
                            "rules": {"all": [{"country": ["FR"]}, {"age": {"min": 40, "max": 30}}]}})),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["field"].as_str().unwrap().contains("all[1]"),
            "{problem}"
        );

        let (status, segment) = app
            .call(
                "POST",
                "/v1/segments",
                &key,
                Some(
                    json!({"campaign_id": seed.campaign, "name": "French adults", "language": "fr",
                            "rules": {"all": [{"country": ["FR"]}, {"age": {"min": 18}}]}}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{segment}");
        let (_, list) = app
            .call(
                "GET",
                &format!("/v1/segments?campaign_id={}&language=fr", seed.campaign),
                &key,
                None,
            )
            .await;
        assert_eq!(list["total"], 1);
    }
}

#[actix_web::test]
async fn placements_take_preset_defaults() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let (_, placement) = app
            .call(
                "GET",
                &format!("/v1/placements/{}", seed.placement),
                &key,
                None,
            )
            .await;
        assert_eq!(placement["platform"], "meta");
        assert_eq!(
            placement["text_limits"],
            json!({"headline": 40, "body": 125, "cta": 25})
        );
        assert_eq!(placement["image_sizes"], json!(["1080x1080", "1080x1350"]));

        // A new preset resets what the patch leaves out; explicit fields win.
        let (status, patched) = app
            .call("PATCH", &format!("/v1/placements/{}", seed.placement), &key,
                  Some(json!({"preset": "iab_medium_rectangle", "text_limits": {"headline": 20, "body": 50, "cta": 10}})))
            .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["image_sizes"], json!(["300x250"]));
        assert_eq!(patched["text_limits"]["headline"], 20);

        let (status, problem) = app
            .call(
                "POST",
                "/v1/placements",
                &key,
                Some(json!({"campaign_id": seed.campaign, "name": "x", "preset": "nope"})),
            )
            .await;
        assert_eq!((status, problem["field"].as_str()), (422, Some("preset")));
        let (status, presets) = app.call("GET", "/v1/placement-presets", &key, None).await;
        assert_eq!(status, 200);
        assert!(presets.as_array().unwrap().len() >= 10);
    }
}

#[actix_web::test]
async fn creatives_respect_placement_limits_and_review_states() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let long = "é".repeat(41);
        let (status, problem) = app
            .call("POST", "/v1/creatives", &key,
                  Some(json!({"campaign_id": seed.campaign, "placement_id": seed.placement, "headline": long})))
            .await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some("headline")),
            "{problem}"
        );
        let exact = "é".repeat(40);
        let (status, _) = app
            .call("POST", "/v1/creatives", &key,
                  Some(json!({"campaign_id": seed.campaign, "placement_id": seed.placement, "headline": exact})))
            .await;
        assert_eq!(status, 201, "40 graphemes fit a 40-character limit");

        let (status, approved) = app
            .call(
                "PATCH",
                &format!("/v1/creatives/{}", seed.creative),
                &key,
                Some(json!({"status": "approved"})),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["provenance"]["source"], "manual");
        let (_, list) = app
            .call(
                "GET",
                &format!(
                    "/v1/creatives?campaign_id={}&status=approved",
                    seed.campaign
                ),
                &key,
                None,
            )
            .await;
        assert_eq!(list["total"], 1);
    }
}

#[actix_web::test]
async fn brand_kit_logo_upload_round_trips() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let mut png = Vec::new();
        image::RgbaImage::from_pixel(16, 8, image::Rgba([200, 10, 10, 255]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let path = format!("/v1/brand-kits/{}/logo", seed.brand_kit);
        let put = |body: Vec<u8>, content_type: &'static str| {
            app.client
                .put(app.url(&path))
                .bearer_auth(&key)
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let response = put(png.clone(), "image/png").await.unwrap();
        assert_eq!(response.status(), 200);
        let kit: serde_json::Value = response.json().await.unwrap();
        assert!(kit["logo_asset"].as_str().unwrap().ends_with(".png"));
        let logo = app
            .client
            .get(app.url(&path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(logo.headers()["content-type"], "image/png");
        assert_eq!(logo.bytes().await.unwrap().to_vec(), png);

        let response = put(b"not an image".to_vec(), "image/png").await.unwrap();
        assert_eq!(response.status(), 422);
        let response = put(png.clone(), "text/plain").await.unwrap();
        assert_eq!(response.status(), 415);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

#[actix_web::test]
async fn health_metrics_and_openapi() {
    let app = TestApp::spawn(common::Db::Sqlite).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let key = app.new_tenant("Acme");
    let (status, doc) = app.call("GET", "/v1/openapi.json", &key, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/campaigns",
        "/v1/campaigns/{id}",
        "/v1/brand-kits/{id}/logo",
        "/v1/segments",
        "/v1/placements",
        "/v1/creatives/{id}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "adforge_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        "{metrics}"
    );
}

#[actix_web::test]
async fn requests_without_a_valid_key_are_refused() {
    let app = TestApp::spawn(common::Db::Sqlite).await;
    let response = app
        .client
        .get(app.url("/v1/campaigns"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    for key in ["adf_000000000000_00", "nonsense", ""] {
        let (status, _) = app.call("GET", "/v1/campaigns", key, None).await;
        assert_eq!(status, 401, "key {key:?}");
    }
}
