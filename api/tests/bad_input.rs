//! Malformed, mistyped, oversized and unknown input gets a problem+json 4xx, and nothing that
//! was stored changes.

mod common;

use common::{databases, TestApp};
use serde_json::json;

async fn send_raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, serde_json::Value) {
    let response = app
        .client
        .request(method, app.url(path))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, content_type, body)
}

/// Method, path, content type, body, expected status, expected `field`.
type Case<'a> = (
    reqwest::Method,
    &'a str,
    &'a str,
    Vec<u8>,
    u16,
    Option<&'a str>,
);

#[actix_web::test]
async fn bad_bodies_get_problems_and_change_nothing() {
    for db in databases() {
        let app = TestApp::spawn_with(db, |s| s.max_json_bytes = 64 * 1024).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let path = format!("/v1/campaigns/{}", seed.campaign);
        let (_, before) = app.call("GET", &path, &key, None).await;
        let (_, list_before) = app.call("GET", "/v1/campaigns", &key, None).await;

        let oversized = serde_json::to_vec(&json!({"name": "x".repeat(100_000)})).unwrap();
        let cases: Vec<Case> = vec![
            (reqwest::Method::PATCH, &path, "application/json", b"{\"name\": ".to_vec(), 400, None),
            (reqwest::Method::PATCH, &path, "application/json", b"[1,2]".to_vec(), 400, None),
            (reqwest::Method::PATCH, &path, "application/json", br#"{"allow_claims": "yes"}"#.to_vec(), 422, Some("allow_claims")),
            (reqwest::Method::PATCH, &path, "application/json", br#"{"languages": ["en", 7]}"#.to_vec(), 422, Some("languages[1]")),
            (reqwest::Method::PATCH, &path, "application/json", br#"{"colour": "red"}"#.to_vec(), 422, None),
            (reqwest::Method::PATCH, &path, "application/json", br#"{"landing_url": "javascript:alert(1)"}"#.to_vec(), 422, Some("landing_url")),
            (reqwest::Method::PATCH, &path, "application/json", br#"{"status": "exploded"}"#.to_vec(), 422, Some("status")),
            (reqwest::Method::PATCH, &path, "application/json", oversized.clone(), 413, None),
            (reqwest::Method::PATCH, &path, "text/plain", br#"{"name": "x"}"#.to_vec(), 415, None),
            (reqwest::Method::POST, "/v1/campaigns", "application/json", br#"{"name": "x"}"#.to_vec(), 422, None),
            (reqwest::Method::POST, "/v1/campaigns", "application/json", oversized, 413, None),
            (reqwest::Method::POST, "/v1/campaigns", "application/json", br#"{"name":"a","brand":"b","product":"c","landing_url":"https://x.example","extra":1}"#.to_vec(), 422, None),
            (reqwest::Method::POST, "/v1/campaigns", "application/json", br#"{"name":"a","brand":"b","product":"c","landing_url":"https://x.example","languages":["EN-"]}"#.to_vec(), 422, Some("languages[0]")),
            (reqwest::Method::POST, "/v1/brand-kits", "application/json", br##"{"name":"k","colors":["#12345"]}"##.to_vec(), 422, Some("colors[0]")),
            (reqwest::Method::POST, "/v1/segments", "application/json", json!({"campaign_id": seed.campaign, "name": "s", "rules": {"shoe_size": 42}}).to_string().into_bytes(), 422, None),
        ];
        for (method, route, content_type, body, want, field) in cases {
            let (status, problem_type, problem) =
                send_raw(&app, method.clone(), route, &key, content_type, body).await;
            let case = format!("{db:?} {method} {route} -> {problem}");
            assert_eq!(status, want, "{case}");
            assert_eq!(problem_type, "application/problem+json", "{case}");
            assert_eq!(problem["status"], want, "{case}");
            assert!(
                problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{case}"
            );
            if let Some(field) = field {
                assert_eq!(problem["field"], field, "{case}");
            }
        }
        let (status, problem) = app
            .call("GET", "/v1/campaigns?limit=1000", &key, None)
            .await;
        assert_eq!((status, problem["field"].as_str()), (422, Some("limit")));
        let (status, _) = app
            .call("GET", "/v1/campaigns?status=nope", &key, None)
            .await;
        assert_eq!(status, 400);

        let (_, after) = app.call("GET", &path, &key, None).await;
        assert_eq!(
            before, after,
            "{db:?}: a rejected update changed the campaign"
        );
        let (_, list_after) = app.call("GET", "/v1/campaigns", &key, None).await;
        assert_eq!(
            list_before, list_after,
            "{db:?}: a rejected create stored something"
        );
    }
}
