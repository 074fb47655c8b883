//! The HTTP server: routes, shared state, health, metrics and the OpenAPI document.

pub mod json;
pub mod metrics;
pub mod pagination;
pub mod problem;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use utoipa::OpenApi;

use crate::assets::AssetStore;
use crate::config::Settings;
use crate::resources;
use crate::store::Store;
use json::JsonLimit;
use metrics::Metrics;

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
    /// The settings the server started with.
    pub settings: Settings,
}

impl AppState {
    /// Opens the database and asset store named by `settings`.
    pub fn open(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
        let assets = AssetStore::new(settings.data_dir.join("assets"));
        Ok(AppState { store, assets, metrics: Metrics::new()?, settings })
    }
}

/// The OpenAPI 3 document of `/v1`, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "adforge API", description = "Generative ad creatives: campaigns, segments, placements, creatives."),
    nest(
        (path = "/", api = resources::campaigns::Api),
        (path = "/", api = resources::brand_kits::Api),
        (path = "/", api = resources::segments::Api),
        (path = "/", api = resources::placements::Api),
        (path = "/", api = resources::creatives::Api),
    ),
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
            .app_data(web::Data::new(JsonLimit(state.settings.max_json_bytes)))
            .app_data(web::Data::new(UploadLimit(state.settings.max_upload_bytes)))
            .app_data(web::QueryConfig::default().error_handler(json::query_error))
            .app_data(web::PathConfig::default().error_handler(json::path_error))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics::render))
            .service(
                web::scope("/v1")
                    .route("/openapi.json", web::get().to(openapi))
                    .configure(resources::routes)
                    .default_service(web::to(not_found)),
            );
    }
}

/// Starts the server on an already-bound listener (tests bind port 0).
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let metrics = state.metrics.clone();
    let configure = configure(state);
    let server = HttpServer::new(move || {
        App::new()
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

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

async fn not_found() -> Result<HttpResponse, problem::ApiError> {
    Err(problem::ApiError::NotFound("route"))
}
