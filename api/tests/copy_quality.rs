//! Copy a marketer would publish (issue #13), through the API with the default text model:
//! a segment in a language the model does not write gets no creatives and an error that says
//! how to configure a model that writes it; an English job over-generates candidates, records
//! every candidate's scores in provenance and delivers at most the variants asked, none with
//! rule violations or markup.

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp};
use serde_json::{json, Value};

async fn wait_for_job(app: &TestApp, key: &str, job: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let (_, job) = app.call("GET", &format!("/v1/jobs/{job}"), key, None).await;
        if matches!(
            job["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return job;
        }
        assert!(Instant::now() < deadline, "job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A campaign with one segment in `language` and one medium-rectangle placement.
async fn campaign(app: &TestApp, key: &str, language: &str) -> String {
    let campaign = app
        .create(
            "/v1/campaigns",
            key,
            json!({"name": "Cold brew", "brand": "Northwind Coffee", "product": "single-origin cold brew",
                "description": "Cold brew coffee steeped for 18 hours from single-origin Colombian beans, sold in 1-litre bottles.",
                "offer": "Free delivery on your first order",
                "landing_url": "https://northwind.example/cold-brew", "status": "live"}),
        )
        .await;
    let c = campaign["id"].as_str().unwrap().to_string();
    app.create(
        "/v1/segments",
        key,
        json!({"campaign_id": c, "name": "Office", "language": language,
            "persona": "Office workers who drink coffee every morning", "rules": {"country": ["US", "FR"]}}),
    )
    .await;
    app.create(
        "/v1/placements",
        key,
        json!({"campaign_id": c, "name": "MPU", "preset": "iab_medium_rectangle"}),
    )
    .await;
    c
}

#[actix_web::test]
async fn a_language_the_model_does_not_write_gets_an_error_not_copy() {
    if !common::models_available() {
        return;
    }
    let app = TestApp::spawn(Db::Sqlite).await;
    let key = app.new_tenant("Northwind");
    let (status, model) = app.call("GET", "/v1/models/text", &key, None).await;
    assert_eq!(status, 200, "{model}");
    assert_eq!(model["name"], "default");
    assert_eq!(model["languages"], json!(["en"]));
    let (status, _) = app.call("GET", "/v1/models/text", "", None).await;
    assert_eq!(status, 401);

    let stop = common::start_worker(&app);
    let c = campaign(&app, &key, "fr").await;
    let (status, job) = app
        .call(
            "POST",
            &format!("/v1/campaigns/{c}/generate"),
            &key,
            Some(json!({"variants": 2})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job = wait_for_job(&app, &key, job["id"].as_str().unwrap()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(job["items_failed"], 2, "{job}");
    let error = job["item_errors"][0]["error"].as_str().unwrap();
    for needed in [
        "'fr'",
        "'default' (SmolLM2-135M)",
        "writes only en",
        "text_model_languages = [\"en\",\"fr\"]",
    ] {
        assert!(error.contains(needed), "{needed:?} missing from {error}");
    }
    let (_, creatives) = app
        .call("GET", &format!("/v1/creatives?campaign_id={c}"), &key, None)
        .await;
    assert_eq!(creatives["items"], json!([]), "no gibberish is delivered");
}

#[actix_web::test]
async fn english_copy_is_selected_from_scored_candidates() {
    if !common::models_available() {
        return;
    }
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.copy_candidates_per_variant = 3).await;
    let key = app.new_tenant("Northwind");
    let stop = common::start_worker(&app);
    let c = campaign(&app, &key, "en").await;
    let (status, job) = app
        .call(
            "POST",
            &format!("/v1/campaigns/{c}/generate"),
            &key,
            Some(json!({"variants": 2})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job = wait_for_job(&app, &key, job["id"].as_str().unwrap()).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["items_done"], 2, "{job}");

    let (_, creatives) = app
        .call("GET", &format!("/v1/creatives?campaign_id={c}"), &key, None)
        .await;
    let creatives = creatives["items"].as_array().unwrap().clone();
    assert!(creatives.len() <= 2, "{creatives:?}");
    // Whatever was not delivered is said in the job, never padded.
    assert_eq!(
        creatives.len() as i64 + job["items_undelivered"].as_i64().unwrap(),
        2,
        "{job}"
    );
    let mut headlines = Vec::new();
    for creative in &creatives {
        let (headline, body, cta) = (
            creative["headline"].as_str().unwrap(),
            creative["body"].as_str().unwrap(),
            creative["cta"].as_str().unwrap(),
        );
        eprintln!("{headline} | {body} | {cta}");
        assert!(
            creative["violations"].as_array().unwrap().is_empty(),
            "{creative}"
        );
        let text = format!("{headline}\n{body}\n{cta}");
        assert!(
            adforge_targeting::copy::artefacts(&text).is_empty(),
            "{text}"
        );
        assert!(
            adforge_targeting::copy::cta_labels(adforge_targeting::Language::En, 15)
                .contains(&cta.to_string()),
            "the CTA is a standard one: {cta}"
        );
        assert!(
            !headlines.contains(&headline.to_lowercase()),
            "duplicate headline"
        );
        headlines.push(headline.to_lowercase());
        let selection = &creative["provenance"]["selection"];
        assert_eq!(selection["asked"], 2);
        // The first round decodes K x N = 3 x 2 candidates; while fewer than 2 pass, up to five
        // more rounds (MAX_ROUNDS = 6) decode 3 per missing variant.
        let candidates = selection["candidates"].as_u64().unwrap();
        assert!(
            (6..=36).contains(&candidates) && candidates % 3 == 0,
            "{selection}"
        );
        let reports = selection["reports"].as_array().unwrap();
        assert_eq!(reports.len() as u64, candidates);
        for report in reports {
            assert!(report["relevance"].is_number(), "{report}");
            assert!(report["mean_logprob"].is_number(), "{report}");
            assert!(report["language"]["passes"].is_boolean(), "{report}");
            assert!(report["rejections"].is_array(), "{report}");
        }
        let rejected: usize = reports
            .iter()
            .filter(|r| !r["rejections"].as_array().unwrap().is_empty())
            .count();
        assert_eq!(selection["rejected_total"], rejected);
        let index = creative["provenance"]["candidate"].as_u64().unwrap() as usize;
        assert_eq!(reports[index]["selected"], true);
        assert_eq!(reports[index]["copy"]["headline"], headline);
    }
}
