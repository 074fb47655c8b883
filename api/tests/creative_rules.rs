//! Manually written creatives go through the same brand and policy rules as generated ones:
//! approved copy must break none, and new copy for an approved creative sends it back to review.

mod common;

use common::{databases, TestApp};
use serde_json::{json, Value};

const BAD_HEADLINE: &str = "Guaranteed best bikes, 100% cure!";

async fn count_creatives(app: &TestApp, key: &str, campaign: &str) -> u64 {
    let (status, page) = app
        .call(
            "GET",
            &format!("/v1/creatives?campaign_id={campaign}"),
            key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["total"].as_u64().expect("total")
}

fn rules(creative: &Value) -> Vec<String> {
    creative["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["rule"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[actix_web::test]
async fn approved_copy_must_pass_the_rules() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let creative = |headline: &str, status: &str| {
            json!({"campaign_id": seed.campaign, "segment_id": seed.segment,
                   "placement_id": seed.placement, "headline": headline,
                   "body": "Light bikes.", "cta": "Shop", "status": status})
        };
        let before = count_creatives(&app, &key, &seed.campaign).await;

        // Approved with a guarantee and a superlative: refused, naming the field and the rule.
        let (status, problem) = app
            .call(
                "POST",
                "/v1/creatives",
                &key,
                Some(creative(BAD_HEADLINE, "approved")),
            )
            .await;
        assert_eq!(status, 422, "{db:?}: {problem}");
        assert_eq!(problem["field"], "headline", "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("policy.en."), "{detail}");
        assert_eq!(count_creatives(&app, &key, &seed.campaign).await, before);

        // As a draft it is stored, with what it breaks.
        let draft = app
            .create("/v1/creatives", &key, creative(BAD_HEADLINE, "draft"))
            .await;
        let found = rules(&draft);
        assert!(
            found.iter().any(|r| r.starts_with("policy.en.guarantees")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|r| r.starts_with("policy.en.superlatives")),
            "{found:?}"
        );
        assert!(draft["violations"][0]["field"] == "headline", "{draft}");

        // Approving it is refused too, and it stays a draft.
        let id = draft["id"].as_str().unwrap();
        let (status, problem) = app
            .call("POST", &format!("/v1/creatives/{id}/approve"), &key, None)
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "headline");
        let (_, stored) = app
            .call("GET", &format!("/v1/creatives/{id}"), &key, None)
            .await;
        assert_eq!(stored["status"], "draft");

        // Fixing the copy clears the violations; then it may be approved.
        let (status, fixed) = app
            .call(
                "PATCH",
                &format!("/v1/creatives/{id}"),
                &key,
                Some(json!({"headline": "Light bikes for the city"})),
            )
            .await;
        assert_eq!(status, 200, "{fixed}");
        assert_eq!(fixed["violations"], json!([]), "{fixed}");
        let (status, approved) = app
            .call("POST", &format!("/v1/creatives/{id}/approve"), &key, None)
            .await;
        assert_eq!(
            (status, approved["status"].as_str()),
            (200, Some("approved"))
        );

        // The brand kit's own banned words apply as well.
        let (status, _) = app
            .call(
                "PATCH",
                &format!("/v1/brand-kits/{}", seed.brand_kit),
                &key,
                Some(json!({"banned_words": ["cheap"]})),
            )
            .await;
        assert_eq!(status, 200);
        let (status, problem) = app
            .call(
                "POST",
                "/v1/creatives",
                &key,
                Some(creative("Cheap city rides", "approved")),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("brand.banned_phrases[0]"),
            "{problem}"
        );
    }
}

#[actix_web::test]
async fn editing_approved_copy_sends_it_back_to_review() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        let seed = app.seed(&key).await;
        let path = format!("/v1/creatives/{}", seed.creative);
        let (status, approved) = app
            .call("POST", &format!("{path}/approve"), &key, None)
            .await;
        assert_eq!(
            (status, approved["status"].as_str()),
            (200, Some("approved")),
            "{approved}"
        );

        // A patch that leaves the copy as it is keeps the approval.
        let (status, same) = app
            .call("PATCH", &path, &key, Some(json!({"headline": "Ride on"})))
            .await;
        assert_eq!(
            (status, same["status"].as_str()),
            (200, Some("approved")),
            "{same}"
        );

        // New copy: back to draft, so out of serving until reviewed.
        let (status, edited) = app
            .call(
                "PATCH",
                &path,
                &key,
                Some(json!({"body": "Now lighter than ever."})),
            )
            .await;
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["status"], "draft", "{db:?}: {edited}");
        let (status, listed) = app
            .call("GET", "/v1/creatives?status=approved", &key, None)
            .await;
        assert_eq!(
            (status, listed["total"].as_u64()),
            (200, Some(0)),
            "{listed}"
        );

        // Rewriting approved copy into copy that breaks a rule, keeping it approved, is refused
        // and changes nothing.
        let (status, _) = app
            .call("POST", &format!("{path}/approve"), &key, None)
            .await;
        assert_eq!(status, 200);
        let (status, problem) = app
            .call(
                "PATCH",
                &path,
                &key,
                Some(json!({"headline": BAD_HEADLINE, "status": "approved"})),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "headline");
        let (_, stored) = app.call("GET", &path, &key, None).await;
        assert_eq!(stored["headline"], "Ride on");
        assert_eq!(stored["status"], "approved");
    }
}
