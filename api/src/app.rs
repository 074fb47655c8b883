//! The composition root: opens what the server shares ([`AppState`]), mounts every route
//! ([`configure`]), starts the server ([`run`]) and merges the OpenAPI document
//! ([`openapi_document`]).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use utoipa::OpenApi;

use crate::config::Settings;
use crate::http::json::{path_error, query_error};
use crate::http::limits::{JsonLimit, UploadLimit};
use crate::http::metrics::{self, Metrics};
use crate::http::problem::ApiError;
use crate::infra::assets::AssetStore;
use crate::infra::cache::Cache;
use crate::infra::changes::{ChangeListener, ChangeNotifier};
use crate::jobs::batch::service::BatchService;
use crate::routes;
use crate::serving::{FrequencyCaps, Serving};
use crate::store::Store;

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
    /// Where handlers report committed changes (serving listens).
    pub changes: ChangeNotifier,
    /// The settings the server started with.
    pub settings: Settings,
    /// Runs uploaded CSV batches.
    pub batches: Arc<BatchService>,
    /// The open job event streams, per tenant.
    pub job_streams: Arc<routes::generation::JobStreams>,
}

impl AppState {
    /// Opens the database, asset store, cache and serving named by `settings`, and starts the
    /// batch runner.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        // Everything the server writes (signing key, database, uploads, batch outputs) is for
        // its own user only: new files get 0600 and new folders 0700.
        #[cfg(unix)]
        // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
        unsafe {
            libc::umask(0o077);
        }
        // The data folder holds the signing key, the SQLite file and uploads: owner only.
        crate::infra::files::create_private_dir(&settings.data_dir).map_err(|error| {
            anyhow::anyhow!("creating {}: {error}", settings.data_dir.display())
        })?;
        let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
        let assets = AssetStore::new(settings.data_dir.join("assets"));
        let cache = Cache::connect(settings.redis_url.as_deref()).await?;
        let secret = crate::infra::signing::load_secret(&settings)?;
        let serving = Serving::new(
            store.clone(),
            cache,
            &secret,
            settings.public_base_url(),
            FrequencyCaps {
                per_creative: settings.frequency_cap_creative,
                per_campaign: settings.frequency_cap_campaign,
                window: std::time::Duration::from_secs(settings.frequency_cap_window_seconds),
            },
        );
        // Whatever the cache held may be gone or stale (Redis restarted, data changed while
        // no server ran): precompute every placement's payload from the database.
        serving.rebuild_all().await;
        let serving = Arc::new(serving);
        let changes = ChangeNotifier::new(vec![serving.clone() as Arc<dyn ChangeListener>]);
        let batches = BatchService::start(store.clone(), settings.clone());
        let metrics = Metrics::new()?;
        serving.metrics().register(metrics.registry())?;
        let job_streams = Arc::new(routes::generation::JobStreams::new(metrics.registry())?);
        Ok(AppState {
            job_streams,
            batches,
            store,
            assets,
            metrics,
            serving,
            changes,
            settings,
        })
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
            .app_data(web::Data::new(state.changes.clone()))
            .app_data(web::Data::new(JsonLimit(state.settings.max_json_bytes)))
            .app_data(web::Data::new(UploadLimit(state.settings.max_upload_bytes)))
            .app_data(web::Data::new(state.settings.text_model_info()))
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .configure(routes::health::routes)
            .route("/metrics", web::get().to(metrics::render))
            .configure(routes::dashboard::routes)
            .configure(routes::serving::event_routes)
            .service(
                web::scope("/v1")
                    .route("/openapi.json", web::get().to(openapi))
                    .configure(routes::resources)
                    .configure(routes::generation::routes(state.job_streams.clone()))
                    .configure(routes::models::routes)
                    .configure(routes::serving::routes)
                    .configure(routes::batches::routes(
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

/// The whole `/v1` OpenAPI document: every resource's paths merged into [`ApiDoc`].
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in [
        routes::campaigns::Api::openapi(),
        routes::brand_kits::Api::openapi(),
        routes::product_images::Api::openapi(),
        routes::segments::Api::openapi(),
        routes::placements::Api::openapi(),
        routes::creatives::Api::openapi(),
        routes::keys::Api::openapi(),
        routes::generation::Api::openapi(),
        routes::models::Api::openapi(),
        routes::serving::Api::openapi(),
        routes::batches::Api::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}
