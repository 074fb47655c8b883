//! The event-signing key at startup: a fresh data folder gets a private 64-hex-character key
//! written whole; an empty or short key (a crash or a full disk during the first start), or a
//! short `signing_secret`, stops the server from starting with a message that says why.

use std::os::unix::fs::PermissionsExt;

use adforge_api::app::AppState;
use adforge_api::config::Settings;

fn settings(data_dir: &std::path::Path) -> Settings {
    Settings {
        data_dir: data_dir.to_path_buf(),
        workers: 0,
        ..Settings::default()
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn start_error(settings: Settings) -> String {
    match AppState::open(settings).await {
        Ok(_) => panic!("the server started"),
        Err(error) => format!("{error:#}"),
    }
}

#[actix_web::test]
async fn a_fresh_start_writes_a_private_64_hex_character_key_and_reuses_it() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let state = AppState::open(settings(&data_dir)).await.expect("starts");
    drop(state);
    let key_file = data_dir.join("signing.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.len(), 64, "{key:?}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key:?}");
    assert_eq!(mode(&key_file), 0o600, "key file mode");
    assert_eq!(mode(&data_dir), 0o700, "data_dir mode");
    // Nothing half-written is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("signing") && n != "signing.key")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A restart keeps the key (event URLs already handed out stay valid).
    AppState::open(settings(&data_dir)).await.expect("restarts");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
}

#[actix_web::test]
async fn an_empty_or_short_key_file_stops_the_start() {
    for content in ["", "\n", "00112233", &"ab".repeat(31)] {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("signing.key"), content).unwrap();
        let error = start_error(settings(root.path())).await;
        assert!(
            error.contains("signing.key") && error.contains("at least 32 bytes"),
            "{content:?}: {error}"
        );
        // The bad file is left for the operator to look at, not silently replaced.
        assert_eq!(
            std::fs::read_to_string(root.path().join("signing.key")).unwrap(),
            content
        );
    }
}

#[actix_web::test]
async fn a_short_configured_secret_stops_the_start() {
    let root = tempfile::tempdir().unwrap();
    let mut short = settings(root.path());
    short.signing_secret = Some("x".repeat(31));
    let error = start_error(short).await;
    assert!(
        error.contains("signing_secret") && error.contains("at least 32"),
        "{error}"
    );
    let mut long = settings(root.path());
    long.signing_secret = Some("y".repeat(32));
    AppState::open(long)
        .await
        .expect("a 32-byte secret is accepted");
}
