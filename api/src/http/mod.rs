//! The HTTP server: routes, shared state, health, metrics and the OpenAPI document.

pub mod json;
pub mod metrics;
pub mod pagination;
pub mod problem;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use utoipa::OpenApi;

use crate::assets::AssetStore;
use crate::config::Settings;
use crate::resources;
use crate::serving::cache::Cache;
use crate::serving::Serving;
use crate::store::Store;
use json::JsonLimit;
use metrics::Metrics;
use std::sync::Arc;

/// The limit on upload bodies (logos, CSV files), registered as app data.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimit(pub usize);

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Binary assets.
    pub assets: AssetStore,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Ad serving and its cache.
    pub serving: Arc<Serving>,
    /// The settings the server started with.
    pub settings: Settings,
    /// Runs uploaded CSV batches.
    pub batches: Arc<crate::batch::queue::BatchService>,
}

impl AppState {
    /// Opens the database and asset store named by `settings`.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
        let assets = AssetStore::new(settings.data_dir.join("assets"));
        let cache = Cache::connect(settings.redis_url.as_deref()).await?;
        let secret = signing_secret(&settings)?;
        let serving = Serving::new(
            cache,
            &secret,
            settings.public_base_url(),
            (
                settings.frequency_cap_creative,
                settings.frequency_cap_campaign,
            ),
        );
        // Whatever the cache held may be gone or stale (Redis restarted, data changed while
        // no server ran): precompute every placement's payload from the database.
        serving.rebuild_all(&store).await;
        let batches = crate::batch::queue::BatchService::start(store.clone(), settings.clone());
        Ok(AppState {
            batches,
            store,
            assets,
            metrics: Metrics::new()?,
            serving: Arc::new(serving),
            settings,
        })
    }
}

/// The event-signing secret: from the settings, else from `<data_dir>/signing.key`, created
/// with 32 random bytes on first start.
fn signing_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    if let Some(secret) = &settings.signing_secret {
        anyhow::ensure!(
            secret.len() >= 16,
            "signing_secret must be at least 16 characters"
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("signing.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Ok(hex::decode(text.trim())
                .with_context(|| format!("{} is not hex", path.display()))?)
        }
        Err(_) => {
            use rand::RngCore;
            let mut secret = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut secret);
            std::fs::create_dir_all(&settings.data_dir)?;
            std::fs::write(&path, hex::encode(secret))
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(secret.to_vec())
        }
    }
}

/// The OpenAPI 3 document of `/v1`, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "adforge API", description = "Generative ad creatives: campaigns, segments, placements, creatives."),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Registers every route and the shared state on an actix `App`.
pub fn configure(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        let state = state.clone();
        cfg.app_data(web::Data::new(state.store.clone()))
            .app_data(web::Data::new(state.assets.clone()))
            .app_data(web::Data::new(state.metrics.clone()))
            .app_data(web::Data::from(state.serving.clone()))
            .app_data(web::Data::new(JsonLimit(state.settings.max_json_bytes)))
            .app_data(web::Data::new(UploadLimit(state.settings.max_upload_bytes)))
            .app_data(web::QueryConfig::default().error_handler(json::query_error))
            .app_data(web::PathConfig::default().error_handler(json::path_error))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics::render))
            .route("/assets/{name}", web::get().to(public_asset))
            .configure(crate::dashboard::routes)
            .configure(crate::serving::event_routes)
            .service(
                web::scope("/v1")
                    .route("/openapi.json", web::get().to(openapi))
                    .configure(resources::routes)
                    .configure(crate::generation::routes)
                    .configure(crate::serving::routes)
                    .configure(crate::batch::routes(
                        state.settings.clone(),
                        state.batches.clone(),
                    ))
                    .default_service(web::to(not_found)),
            );
    }
}

/// Starts the server on an already-bound listener (tests bind port 0).
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let metrics = state.metrics.clone();
    let serving = state.serving.clone();
    let store = state.store.clone();
    let configure = configure(state);
    let server = HttpServer::new(move || {
        let (serving, store) = (serving.clone(), store.clone());
        App::new()
            // Any successful change through the API may change what is served.
            .wrap_fn(move |req, service| {
                use actix_web::dev::Service;
                use actix_web::HttpMessage;
                let mutating = req.method() != actix_web::http::Method::GET
                    && req.path().starts_with("/v1/")
                    && req.path() != "/v1/serve";
                let (serving, store) = (serving.clone(), store.clone());
                let response = service.call(req);
                async move {
                    let response = response.await?;
                    if mutating && response.status().is_success() {
                        let advertiser = response
                            .request()
                            .extensions()
                            .get::<crate::auth::Tenant>()
                            .map(|t| t.advertiser_id.clone());
                        serving.changed(&store, advertiser).await;
                    }
                    Ok(response)
                }
            })
            .wrap(metrics::Middleware(metrics.clone()))
            .wrap(actix_web::middleware::NormalizePath::trim())
            .configure(configure.clone())
    })
    .listen(listener)?
    .run();
    Ok(server)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(store: web::Data<Store>) -> HttpResponse {
    match store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

/// Images of creatives and logos, public so that ad slots can load them. Names are SHA-256
/// digests of the content, so they cannot be guessed.
async fn public_asset(assets: web::Data<AssetStore>, name: web::Path<String>) -> HttpResponse {
    match assets.read(&name) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(crate::assets::mime_for(&name))
            .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
            .body(bytes),
        Err(_) => problem::ApiError::NotFound("asset").error_response(),
    }
}

/// The whole `/v1` OpenAPI document: every resource's paths merged into [`ApiDoc`].
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in [
        resources::campaigns::Api::openapi(),
        resources::brand_kits::Api::openapi(),
        resources::segments::Api::openapi(),
        resources::placements::Api::openapi(),
        resources::creatives::Api::openapi(),
        crate::generation::Api::openapi(),
        crate::serving::Api::openapi(),
        crate::batch::Api::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

async fn not_found() -> Result<HttpResponse, problem::ApiError> {
    Err(problem::ApiError::NotFound("route"))
}
