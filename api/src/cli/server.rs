//! The server-side subcommands of `adforge`: `serve`, `worker`, `migrate` and
//! `advertiser create` / `advertiser keys`.

use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;

use crate::app::{self, AppState};
use crate::config::Settings;
use crate::infra::assets::AssetStore;
use crate::infra::changes::ChangeSignal;
use crate::jobs::generation::{pipeline::SharedPipeline, worker};
use crate::store::{advertisers, Store};

/// `adforge serve`: the HTTP server (API and dashboard) with `settings.workers` in-process
/// generation workers; `bind` overrides the `bind` setting.
pub fn serve(mut settings: Settings, bind: Option<String>) -> anyhow::Result<()> {
    if let Some(bind) = bind {
        settings.bind = bind;
    }
    if settings.workers > 0 {
        crate::jobs::generation::models::check_configured_models(&settings)?;
    }
    let listener =
        TcpListener::bind(&settings.bind).with_context(|| format!("binding {}", settings.bind))?;
    actix_web::rt::System::new().block_on(async move {
        let state = AppState::open(settings.clone()).await?;
        let signal = ChangeSignal::Cache(state.serving.cache().clone());
        spawn_workers(
            &state.store,
            &state.assets,
            signal,
            &settings,
            settings.workers,
        );
        tracing::info!(address = %settings.bind, backend = ?state.store.backend(), "adforge listening");
        app::run(listener, state)?.await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// `adforge worker`: `threads` generation workers against the configured (shared) database,
/// until the process is stopped.
pub fn worker(settings: &Settings, threads: usize) -> anyhow::Result<()> {
    crate::jobs::generation::models::check_configured_models(settings)?;
    let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
    let assets = AssetStore::new(settings.data_dir.join("assets"));
    let signal = ChangeSignal::for_worker_process(settings.redis_url.as_deref())?;
    for handle in spawn_workers(&store, &assets, signal, settings, threads.max(1)) {
        handle.join().ok();
    }
    Ok(())
}

/// `adforge migrate`: opens the database (which applies pending migrations) and reports.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
    // Store::open already applied them; report the state.
    let pending = store.migrate()?;
    println!("migrations applied ({pending} pending left)");
    Ok(())
}

/// `adforge advertiser create NAME`: creates an advertiser and prints its API key, once.
pub fn create_advertiser(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "the advertiser name must not be empty");
    let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
    let created = advertisers::create_advertiser(&mut store.conn()?, name)?;
    println!("advertiser {} created", created.id);
    println!("API key (shown once, store it now): {}", created.api_key);
    Ok(())
}

/// What `adforge advertiser keys` does.
#[derive(Debug, Clone)]
pub enum KeysAction {
    /// Adds a key and prints it, once.
    Create,
    /// Lists the keys (id, prefix, created, revoked), never a secret.
    List,
    /// Revokes the key with this id; it is refused from the next request on.
    Revoke(String),
}

/// `adforge advertiser keys create|list|revoke ADVERTISER_ID [KEY_ID]`: manages an
/// advertiser's API keys. The operator may revoke an advertiser's last key (locking it out);
/// the API does not let an advertiser do that to itself.
pub fn advertiser_keys(
    settings: &Settings,
    advertiser_id: &str,
    action: KeysAction,
) -> anyhow::Result<()> {
    let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
    let mut conn = store.conn()?;
    anyhow::ensure!(
        advertisers::advertiser_exists(&mut conn, advertiser_id)?,
        "no advertiser {advertiser_id}"
    );
    match action {
        KeysAction::Create => {
            let created = advertisers::add_api_key(&mut conn, advertiser_id)?;
            println!("key {} created", created.key_info.id);
            println!("API key (shown once, store it now): {}", created.key);
        }
        KeysAction::List => {
            println!("{:<36}  {:<12}  {:<24}  revoked", "id", "prefix", "created");
            for key in advertisers::list_api_keys(&mut conn, advertiser_id)? {
                println!(
                    "{:<36}  {:<12}  {:<24}  {}",
                    key.id,
                    key.prefix,
                    key.created_at,
                    key.revoked_at.as_deref().unwrap_or("-")
                );
            }
        }
        KeysAction::Revoke(id) => {
            let key = advertisers::revoke_api_key(&mut conn, advertiser_id, &id, false)?;
            println!(
                "key {} revoked at {}",
                key.id,
                key.revoked_at.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

/// Starts `count` generation workers on their own threads.
fn spawn_workers(
    store: &Store,
    assets: &AssetStore,
    serving: ChangeSignal,
    settings: &Settings,
    count: usize,
) -> Vec<JoinHandle<()>> {
    let stop = Arc::new(AtomicBool::new(false));
    // One copy of the models per process; the threads' model calls share its batches.
    let context = worker::WorkerContext {
        store: store.clone(),
        assets: assets.clone(),
        pipeline: SharedPipeline::new(settings, assets.clone()),
        serving,
    };
    (0..count)
        .map(|_| {
            let context = context.clone();
            let options = worker::WorkerOptions::from_settings(settings);
            let stop = stop.clone();
            std::thread::spawn(move || worker::run(context, options, stop))
        })
        .collect()
}
