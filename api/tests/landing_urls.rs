//! Landing URLs are stored in their normalised form, http(s) only, and a URL holding a CR, LF or
//! other control character is refused with a 422 naming `landing_url`. Clicks redirect to the
//! stored, normalised URL.

mod common;

use common::{databases, TestApp};
use serde_json::{json, Value};

fn campaign(landing_url: &str) -> Value {
    json!({"name": "Spring", "brand": "Velo", "product": "Bikes", "landing_url": landing_url,
           "status": "live"})
}

#[actix_web::test]
async fn landing_urls_are_checked_and_normalised() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let key = app.new_tenant("Acme");
        for bad in [
            "https://velo.example/bikes\r\nSet-Cookie: session=stolen",
            "https://velo.example/\nbikes",
            "https://velo.example/bi\tkes",
            "https://velo.example/\u{7f}",
            "javascript:alert(1)",
            "ftp://velo.example/bikes",
            "data:text/html,<h1>hi</h1>",
            "/relative/path",
            "https://user:secret@velo.example/",
        ] {
            let (status, problem) = app
                .call("POST", "/v1/campaigns", &key, Some(campaign(bad)))
                .await;
            assert_eq!(status, 422, "{db:?} {bad:?}: {problem}");
            assert_eq!(problem["field"], "landing_url", "{bad:?}: {problem}");
        }
        let (_, page) = app.call("GET", "/v1/campaigns", &key, None).await;
        assert_eq!(page["total"], 0, "nothing stored: {page}");

        // Stored as the URL parser writes it: scheme and host in lower case, default port and
        // dot segments gone, spaces in the query encoded.
        let created = app
            .create(
                "/v1/campaigns",
                &key,
                campaign("HTTPS://Velo.EXAMPLE:443/a/../bikes?utm_source=ad&q=%20x"),
            )
            .await;
        let expected = "https://velo.example/bikes?utm_source=ad&q=%20x";
        assert_eq!(created["landing_url"], expected, "{created}");
        let id = created["id"].as_str().unwrap();

        // A patch with a CR/LF is refused and leaves the stored URL as it was.
        let (status, problem) = app
            .call(
                "PATCH",
                &format!("/v1/campaigns/{id}"),
                &key,
                Some(json!({"landing_url": "https://velo.example/\r\nLocation: https://evil.example"})),
            )
            .await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some("landing_url")),
            "{problem}"
        );
        let (_, stored) = app
            .call("GET", &format!("/v1/campaigns/{id}"), &key, None)
            .await;
        assert_eq!(stored["landing_url"], expected);

        // A click redirects to the normalised URL.
        let placement = app
            .create(
                "/v1/placements",
                &key,
                json!({"campaign_id": id, "name": "MPU", "preset": "iab_medium_rectangle"}),
            )
            .await;
        let p = placement["id"].as_str().unwrap();
        let (status, body) = app
            .call("POST", &format!("/v1/placements/{p}/serve-key"), &key, None)
            .await;
        assert_eq!(status, 200, "{body}");
        let serve_key = body["serve_key"].as_str().unwrap().to_string();
        app.create(
            "/v1/creatives",
            &key,
            json!({"campaign_id": id, "placement_id": p, "headline": "Ride on",
                   "status": "approved"}),
        )
        .await;
        let (status, served) = app
            .call(
                "POST",
                "/v1/serve",
                "",
                Some(json!({"placement_key": serve_key, "request": {"country": "FR"}})),
            )
            .await;
        assert_eq!(status, 200, "{served}");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let impression = client
            .get(served["impression_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert!(impression.status().is_success(), "{}", impression.status());
        let click = client
            .get(served["click_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(click.status(), 302);
        assert_eq!(click.headers()["location"], expected);
    }
}
