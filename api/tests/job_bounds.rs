//! A tenant asking for more work than the shared workers should give one request: placements
//! with too many or impossible image sizes, copy limits past every ad format, and a generation
//! job too large as a whole are refused with a 422 naming the field and the limit, and nothing
//! stored is lost.

mod common;

use common::{databases, TestApp};
use serde_json::json;

#[actix_web::test]
async fn oversized_placements_and_jobs_are_refused() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let custom = |sizes: Vec<String>, limits: serde_json::Value| {
            json!({"campaign_id": seed.campaign, "name": "Big", "preset": "custom",
                   "platform": "web", "format": "banner", "text_limits": limits,
                   "image_sizes": sizes})
        };
        let ok_limits = json!({"headline": 40, "body": 125, "cta": 20});

        // 80,000 sizes of 4096x4096, as in the review.
        let flood = vec!["4096x4096".to_string(); 80_000];
        let (status, problem) = app
            .call(
                "POST",
                "/v1/placements",
                &key,
                Some(custom(flood, ok_limits.clone())),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "image_sizes", "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("16"),
            "{problem}"
        );

        // Sides the compositor cannot draw.
        let (status, problem) = app
            .call(
                "POST",
                "/v1/placements",
                &key,
                Some(custom(vec!["8x8".into()], ok_limits.clone())),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "image_sizes[0]");

        // Copy limits no ad format uses.
        for (limits, field) in [
            (
                json!({"headline": 5000, "body": 125, "cta": 20}),
                "text_limits.headline",
            ),
            (
                json!({"headline": 40, "body": 5000, "cta": 20}),
                "text_limits.body",
            ),
            (
                json!({"headline": 40, "body": 125, "cta": 41}),
                "text_limits.cta",
            ),
        ] {
            let (status, problem) = app
                .call(
                    "POST",
                    "/v1/placements",
                    &key,
                    Some(custom(vec!["300x250".into()], limits)),
                )
                .await;
            assert_eq!(status, 422, "{problem}");
            assert_eq!(problem["field"], field, "{problem}");
        }

        // Each placement within bounds, but the job as a whole too large: 16 sizes of
        // 4096x4096 on 2 placements, 4 variants.
        let big = vec!["4096x4096".to_string(); 16];
        for name in ["Poster A", "Poster B"] {
            let mut body = custom(big.clone(), ok_limits.clone());
            body["name"] = json!(name);
            app.create("/v1/placements", &key, body).await;
        }
        let (status, problem) = app
            .call(
                "POST",
                &format!("/v1/campaigns/{}/generate", seed.campaign),
                &key,
                Some(json!({"variants": 4})),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("max_job_pixels"), "{problem}");
        assert_eq!(problem["field"], "segment_ids", "{problem}");
        let (_, jobs) = app.call("GET", "/v1/jobs", &key, None).await;
        assert_eq!(jobs["total"], 0, "nothing was queued: {jobs}");

        // The same campaign's regular placement still generates.
        let (status, job) = app
            .call(
                "POST",
                &format!("/v1/campaigns/{}/generate", seed.campaign),
                &key,
                Some(json!({"variants": 4, "placement_ids": [seed.placement]})),
            )
            .await;
        assert_eq!(status, 202, "{job}");
    }
}
