//! Two `adforge serve` replicas sharing PostgreSQL and Redis: serving payloads are
//! precomputed into Redis on every change, a replica serves from them (not from its own copy of
//! the database rows), changes made through one replica reach the other at once, and a Redis
//! flush or a restart rebuilds them from the database.

mod common;

use common::{Db, TestApp};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

/// PostgreSQL and Redis URLs, or `None` (skipped; an error under CI=true).
fn shared_services() -> Option<(String, String)> {
    match (
        std::env::var("ADFORGE_TEST_DATABASE_URL"),
        std::env::var("ADFORGE_TEST_REDIS_URL"),
    ) {
        (Ok(_), Ok(redis)) => Some((String::new(), redis)),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI=true needs ADFORGE_TEST_DATABASE_URL and ADFORGE_TEST_REDIS_URL"
            );
            eprintln!("PostgreSQL or Redis not configured: replica test skipped");
            None
        }
    }
}

async fn serve(app: &TestApp, key: &str) -> (u16, Value) {
    app.call(
        "POST",
        "/v1/serve",
        "",
        Some(json!({"placement_key": key, "request": {"country": "FR"}})),
    )
    .await
}

/// The payload stored for `serve_key`, if any.
async fn stored_payload(redis: &redis::Client, serve_key: &str) -> Option<Value> {
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let text: Option<String> = redis::cmd("GET")
        .arg(format!("adforge:serving:placement:{serve_key}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    text.map(|t| serde_json::from_str(&t).unwrap())
}

fn headlines(payload: &Value) -> Vec<String> {
    payload["creatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["headline"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn replicas_share_precomputed_payloads_through_redis() {
    let Some((_, redis_url)) = shared_services() else {
        return;
    };
    let redis = redis::Client::open(redis_url.as_str()).unwrap();
    let a = TestApp::spawn_with(Db::Postgres, |s| s.redis_url = Some(redis_url.clone())).await;
    let database_url = a.state.settings.database_url.clone();
    let spawn_replica = || {
        let (database_url, redis_url) = (database_url.clone(), redis_url.clone());
        TestApp::spawn_with(Db::Postgres, move |s| {
            s.database_url = database_url;
            s.redis_url = Some(redis_url);
        })
    };
    let b = spawn_replica().await;

    let key = a.new_tenant("Acme");
    let kit = a
        .create(
            "/v1/brand-kits",
            &key,
            json!({"name": "Velo", "disclaimer": "Terms apply."}),
        )
        .await;
    let campaign = a
        .create(
            "/v1/campaigns",
            &key,
            json!({"name": "Bikes", "brand": "Velo", "product": "bike", "brand_kit_id": kit["id"],
                   "landing_url": "https://velo.example", "status": "live"}),
        )
        .await;
    let c = campaign["id"].as_str().unwrap();
    let segment = a
        .create(
            "/v1/segments",
            &key,
            json!({"campaign_id": c, "name": "France", "rules": {"country": ["FR"]}}),
        )
        .await;
    let placement = a
        .create(
            "/v1/placements",
            &key,
            json!({"campaign_id": c, "name": "MPU", "preset": "iab_medium_rectangle"}),
        )
        .await;
    let p = placement["id"].as_str().unwrap();
    let (status, body) = a
        .call("POST", &format!("/v1/placements/{p}/serve-key"), &key, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let serve_key = body["serve_key"].as_str().unwrap().to_string();
    let creative = |headline: &str, status: &str| {
        json!({"campaign_id": c, "segment_id": segment["id"], "placement_id": p,
               "headline": headline, "status": status})
    };
    let first = a
        .create("/v1/creatives", &key, creative("First", "approved"))
        .await;
    let second = a
        .create("/v1/creatives", &key, creative("Second", "draft"))
        .await;

    // The change through replica A precomputed the placement's payload in Redis.
    let payload = stored_payload(&redis, &serve_key)
        .await
        .expect("payload precomputed on change");
    assert_eq!(headlines(&payload), ["First"]);
    let (status, served) = serve(&b, &serve_key).await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served["headline"], "First");
    // The brand's disclaimer goes with every answer, in the native markup too.
    assert_eq!(served["disclaimer"], "Terms apply.");
    let (_, native) = b
        .call(
            "POST",
            "/v1/serve",
            "",
            Some(json!({"placement_key": serve_key, "request": {"country": "FR"}, "format": "openrtb"})),
        )
        .await;
    let adm: Value = serde_json::from_str(native["adm"].as_str().unwrap()).unwrap();
    assert!(
        adm["native"]["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["data"]["type"] == 10 && a["data"]["value"] == "Terms apply."),
        "{adm}"
    );

    // A replica whose database lacks this placement entirely still serves it from the
    // precomputed payload: serving reads Redis, not the database.
    let detached =
        TestApp::spawn_with(Db::Postgres, |s| s.redis_url = Some(redis_url.clone())).await;
    let (status, served) = serve(&detached, &serve_key).await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(
        served["headline"], "First",
        "served from the precomputed payload"
    );

    // A row changed behind the API's back (no change signal) is not served yet.
    let mut conn = diesel::PgConnection::establish(database_url.as_deref().unwrap()).unwrap();
    diesel::sql_query(format!(
        "UPDATE creatives SET headline = 'Edited in SQL' WHERE id = '{}'",
        first["id"].as_str().unwrap()
    ))
    .execute(&mut conn)
    .unwrap();
    let (_, served) = serve(&b, &serve_key).await;
    assert_eq!(served["headline"], "First");

    // Approve and reject through replica A: replica B serves the change at once.
    let s = second["id"].as_str().unwrap();
    let f = first["id"].as_str().unwrap();
    assert_eq!(
        a.call("POST", &format!("/v1/creatives/{s}/approve"), &key, None)
            .await
            .0,
        200
    );
    assert_eq!(
        a.call("POST", &format!("/v1/creatives/{f}/reject"), &key, None)
            .await
            .0,
        200
    );
    for _ in 0..5 {
        let (_, served) = serve(&b, &serve_key).await;
        assert_eq!(served["headline"], "Second");
    }
    // Pausing the campaign stops serving everywhere.
    let (status, _) = a
        .call(
            "PATCH",
            &format!("/v1/campaigns/{c}"),
            &key,
            Some(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(serve(&b, &serve_key).await.0, 204);
    assert_eq!(
        headlines(&stored_payload(&redis, &serve_key).await.unwrap()),
        Vec::<String>::new()
    );
    a.call(
        "PATCH",
        &format!("/v1/campaigns/{c}"),
        &key,
        Some(json!({"status": "live"})),
    )
    .await;

    // Redis loses everything: serving goes on, rebuilt from the database, and a replica
    // starting afterwards precomputes every payload before its first request.
    let mut redis_conn = redis.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    let (status, served) = serve(&b, &serve_key).await;
    assert_eq!((status, served["headline"].as_str()), (200, Some("Second")));
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    assert!(stored_payload(&redis, &serve_key).await.is_none());
    let _restarted = spawn_replica().await;
    assert_eq!(
        headlines(&stored_payload(&redis, &serve_key).await.unwrap()),
        ["Second"]
    );

    // A worker process's change signal (auto-approved creatives) reaches the replicas.
    diesel::sql_query(format!(
        "UPDATE creatives SET status = 'approved' WHERE id = '{f}'"
    ))
    .execute(&mut conn)
    .unwrap();
    adforge_api::infra::changes::ChangeSignal::for_worker_process(Some(&redis_url))
        .unwrap()
        .send();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let (_, served) = serve(&b, &serve_key).await;
        seen.insert(served["headline"].as_str().unwrap().to_string());
    }
    assert!(seen.contains("Edited in SQL"), "{seen:?}");
}
