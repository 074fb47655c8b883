//! An advertiser's own API keys: through `/v1/keys` (create shown once, list without secrets,
//! revoke; another tenant's keys are invisible) and through `adforge advertiser keys`. A revoked
//! key is refused at once.

mod common;

use std::process::Command;

use common::{databases, TestApp};
use serde_json::Value;

async fn status_with(app: &TestApp, key: &str) -> u16 {
    app.call("GET", "/v1/campaigns", key, None).await.0
}

#[actix_web::test]
async fn keys_rotate_through_the_api() {
    for db in databases() {
        let app = TestApp::spawn(db).await;
        let first = app.new_tenant("Acme");
        let other = app.new_tenant("Rival");

        let (status, keys) = app.call("GET", "/v1/keys", &first, None).await;
        assert_eq!(status, 200, "{db:?}: {keys}");
        let keys = keys.as_array().unwrap().clone();
        assert_eq!(keys.len(), 1);
        let first_id = keys[0]["id"].as_str().unwrap().to_string();
        assert!(first.starts_with(&format!("adf_{}_", keys[0]["prefix"].as_str().unwrap())));

        // A new key is shown once, in full; it works at once.
        let (status, created) = app.call("POST", "/v1/keys", &first, None).await;
        assert_eq!(status, 201, "{created}");
        let second = created["key"].as_str().unwrap().to_string();
        let second_id = created["id"].as_str().unwrap().to_string();
        assert_eq!(status_with(&app, &second).await, 200);

        // Listings never hold a secret or its hash.
        let (_, listed) = app.call("GET", "/v1/keys", &second, None).await;
        let text = listed.to_string();
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        for (field, secret) in [("first", &first), ("second", &second)] {
            let clear = secret.rsplit('_').next().unwrap();
            assert!(!text.contains(clear), "{field} key's secret listed: {text}");
            let hash = adforge_api::store::advertisers::sha256_hex(clear);
            assert!(!text.contains(&hash), "{field} key's hash listed: {text}");
        }
        for item in listed.as_array().unwrap() {
            let mut names: Vec<&String> = item.as_object().unwrap().keys().collect();
            names.sort();
            assert_eq!(
                names,
                ["created_at", "id", "prefix", "revoked_at"],
                "{item}"
            );
        }

        // Another tenant sees none of these keys and cannot revoke them.
        let (_, theirs) = app.call("GET", "/v1/keys", &other, None).await;
        assert_eq!(theirs.as_array().unwrap().len(), 1, "{theirs}");
        assert!(!theirs.to_string().contains(&first_id));
        let (status, _) = app
            .call("DELETE", &format!("/v1/keys/{first_id}"), &other, None)
            .await;
        assert_eq!(status, 404);
        assert_eq!(status_with(&app, &first).await, 200);

        // Revoking the old key with the new one: the old key is refused from the next request.
        let (status, _) = app
            .call("DELETE", &format!("/v1/keys/{first_id}"), &second, None)
            .await;
        assert_eq!(status, 204);
        assert_eq!(status_with(&app, &first).await, 401);
        assert_eq!(status_with(&app, &second).await, 200);
        let (_, listed) = app.call("GET", "/v1/keys", &second, None).await;
        let revoked: Vec<&Value> = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| !k["revoked_at"].is_null())
            .collect();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0]["id"], first_id.as_str());

        // The last active key cannot be revoked through the API (that would lock the
        // advertiser out); the operator's CLI can.
        let (status, problem) = app
            .call("DELETE", &format!("/v1/keys/{second_id}"), &second, None)
            .await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(status_with(&app, &second).await, 200);
    }
}

fn adforge(dir: &std::path::Path, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_adforge"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL");
    for (name, _) in std::env::vars() {
        if name.starts_with("ADFORGE_") {
            command.env_remove(name);
        }
    }
    let output = command.args(args).output().expect("run adforge");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "adforge {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The text after `marker` on the line holding it.
fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let line = text.lines().find(|l| l.contains(marker)).expect(marker);
    line[line.find(marker).unwrap() + marker.len()..].trim()
}

#[test]
fn keys_rotate_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = adforge(dir.path(), &["advertiser", "create", "Acme"]);
    let advertiser = after(&out, "advertiser ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let first = after(&out, "store it now): ").to_string();

    let out = adforge(dir.path(), &["advertiser", "keys", "create", &advertiser]);
    let second = after(&out, "store it now): ").to_string();
    let second_id = after(&out, "key ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let listing = adforge(dir.path(), &["advertiser", "keys", "list", &advertiser]);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    for key in [&first, &second] {
        assert!(
            !listing.contains(key.rsplit('_').next().unwrap()),
            "{listing}"
        );
    }
    let first_id = listing
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .find(|id| *id != second_id)
        .unwrap()
        .to_string();

    let out = adforge(
        dir.path(),
        &["advertiser", "keys", "revoke", &advertiser, &first_id],
    );
    assert!(out.contains("revoked"), "{out}");
    let listing = adforge(dir.path(), &["advertiser", "keys", "list", &advertiser]);
    let revoked_line = listing.lines().find(|l| l.starts_with(&first_id)).unwrap();
    assert!(!revoked_line.trim_end().ends_with('-'), "{listing}");

    let store =
        adforge_api::store::Store::open(None, &dir.path().join("data")).expect("open store");
    let mut conn = store.conn().unwrap();
    use adforge_api::store::advertisers::advertiser_for_key;
    assert_eq!(advertiser_for_key(&mut conn, &first).unwrap(), None);
    assert_eq!(
        advertiser_for_key(&mut conn, &second).unwrap().as_deref(),
        Some(advertiser.as_str())
    );

    // Another advertiser's key id is not this advertiser's.
    let out = adforge(dir.path(), &["advertiser", "create", "Rival"]);
    let rival = after(&out, "advertiser ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let status = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args(["advertiser", "keys", "revoke", &rival, &second_id])
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert!(advertiser_for_key(&mut conn, &second).unwrap().is_some());
}
