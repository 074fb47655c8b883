//! Test harness: spawns the real app on a random port against SQLite or PostgreSQL.
#![allow(dead_code)]

use std::net::TcpListener;

use adforge_api::app::{self, AppState};
use adforge_api::config::Settings;
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;

/// Which database a test app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The databases to run every API test against: SQLite always, PostgreSQL when
/// `ADFORGE_TEST_DATABASE_URL` is set (scripts/test.sh sets it; under CI=true it must be).
pub fn databases() -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite];
    if std::env::var("ADFORGE_TEST_DATABASE_URL").is_ok() {
        dbs.push(Db::Postgres);
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but ADFORGE_TEST_DATABASE_URL is not set: PostgreSQL tests cannot be skipped"
        );
    } else {
        eprintln!("note: ADFORGE_TEST_DATABASE_URL unset, PostgreSQL variants skipped");
    }
    dbs
}

/// A running app and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db: Db,
    _data_dir: tempfile::TempDir,
}

/// A fresh PostgreSQL database for one test, so tests never see each other's rows.
fn fresh_postgres_database() -> String {
    let base = std::env::var("ADFORGE_TEST_DATABASE_URL").expect("ADFORGE_TEST_DATABASE_URL");
    let name = format!("adforge_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::PgConnection::establish(&base).expect("connect to PostgreSQL");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create database");
    let mut url = url::Url::parse(&base).expect("database URL");
    url.set_path(&name);
    url.to_string()
}

impl TestApp {
    /// Starts the app on `db` with default settings plus `tweak`.
    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            data_dir: data_dir.path().to_path_buf(),
            workers: 0,
            ..Settings::default()
        };
        if db == Db::Postgres {
            settings.database_url = Some(fresh_postgres_database());
        }
        tweak(&mut settings);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        settings.bind = format!("127.0.0.1:{port}");
        let state = AppState::open(settings).await.expect("open app state");
        let server = app::run(listener, state.clone()).expect("start server");
        actix_web::rt::spawn(server);
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            state,
            db,
            _data_dir: data_dir,
        }
    }

    /// Starts the app on `db` with default settings.
    pub async fn spawn(db: Db) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// Creates an advertiser and returns its API key.
    pub fn new_tenant(&self, name: &str) -> String {
        let mut conn = self.state.store.conn().expect("connection");
        adforge_api::store::advertisers::create_advertiser(&mut conn, name)
            .expect("advertiser")
            .api_key
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends `method path` with a JSON body (or none) and the key; returns status and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// POSTs `body` and returns the created resource, asserting a 201.
    pub async fn create(&self, path: &str, key: &str, body: Value) -> Value {
        let (status, value) = self.call("POST", path, key, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {value}");
        value
    }

    /// A campaign, a segment and a placement for `key`; returns their ids.
    pub async fn seed(&self, key: &str) -> Seed {
        let kit = self
            .create(
                "/v1/brand-kits",
                key,
                serde_json::json!({"name": "Acme", "colors": ["#112233"]}),
            )
            .await;
        let campaign = self
            .create(
                "/v1/campaigns",
                key,
                serde_json::json!({
                    "name": "Spring", "brand": "Acme", "product": "Bikes",
                    "landing_url": "https://acme.example/bikes", "brand_kit_id": kit["id"],
                }),
            )
            .await;
        let segment = self
            .create(
                "/v1/segments",
                key,
                serde_json::json!({"campaign_id": campaign["id"], "name": "Cyclists", "persona": "urban commuters"}),
            )
            .await;
        let placement = self
            .create(
                "/v1/placements",
                key,
                serde_json::json!({"campaign_id": campaign["id"], "name": "Feed", "preset": "meta_feed"}),
            )
            .await;
        let creative = self
            .create(
                "/v1/creatives",
                key,
                serde_json::json!({
                    "campaign_id": campaign["id"], "segment_id": segment["id"],
                    "placement_id": placement["id"], "headline": "Ride on", "body": "Light bikes.", "cta": "Shop"
                }),
            )
            .await;
        let id = |v: &Value| v["id"].as_str().expect("id").to_string();
        Seed {
            brand_kit: id(&kit),
            campaign: id(&campaign),
            segment: id(&segment),
            placement: id(&placement),
            creative: id(&creative),
        }
    }
}

/// Ids of one tenant's seeded resources.
pub struct Seed {
    pub brand_kit: String,
    pub campaign: String,
    pub segment: String,
    pub placement: String,
    pub creative: String,
}

/// Whether the default models fetched by scripts/setup.sh are there; under CI=true they must be.
pub fn models_available() -> bool {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models");
    let present = dir
        .join(adforge_generator::text::DEFAULT_MODEL_FILE)
        .exists()
        && dir.join("all-minilm-l6-v2/model.safetensors").exists();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the default models are missing; run scripts/setup.sh"
        );
        eprintln!("default models missing: run scripts/setup.sh; test skipped");
    }
    present
}

/// Starts an in-process generation worker for the app's database; set the flag to stop it.
pub fn start_worker(app: &TestApp) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use adforge_api::infra::changes::ChangeSignal;
    use adforge_api::jobs::generation::{pipeline::SharedPipeline, worker};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let context = worker::WorkerContext {
        store: app.state.store.clone(),
        assets: app.state.assets.clone(),
        pipeline: SharedPipeline::new(&app.state.settings, app.state.assets.clone()),
        serving: ChangeSignal::Cache(app.state.serving.cache().clone()),
    };
    let options = worker::WorkerOptions::from_settings(&app.state.settings);
    let flag = stop.clone();
    std::thread::spawn(move || worker::run(context, options, flag));
    stop
}
