//! The `adforge` command line: the server, migrations, advertisers, and the generators.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use adforge_api::config::Settings;
use adforge_api::http::{self, AppState};
use adforge_api::serving::ChangeSignal;
use adforge_api::store::Store;

/// Rust allocations of the whole binary (the serving path makes many small ones on several
/// threads; libtorch keeps its own allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// adforge: a self-hosted generative ad-creative platform.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (default: $ADFORGE_CONFIG, else ./adforge.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP server (API and dashboard) with in-process workers.
    Serve {
        /// Address to bind, overriding the `bind` setting.
        #[arg(long)]
        bind: Option<String>,
    },
    /// Runs generation workers only, against the configured (shared) database.
    Worker {
        /// How many worker threads (they share one copy of the models and its batches).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Applies pending database migrations.
    Migrate,
    /// Generates text with the text engine.
    Text(adforge_api::cli::text::TextArgs),
    /// Generates an image with a diffusion checkpoint.
    Image(adforge_api::cli::image::ImageArgs),
    /// Renders finished creatives at ad sizes.
    Compose(adforge_api::cli::compose::ComposeArgs),
    /// Generates one creative group per row of a CSV file.
    Batch(adforge_api::cli::batch::BatchArgs),
    /// Manages advertisers (tenants).
    Advertiser {
        #[command(subcommand)]
        command: AdvertiserCommand,
    },
}

#[derive(Subcommand)]
enum AdvertiserCommand {
    /// Creates an advertiser and prints its API key, once.
    Create {
        /// The advertiser's name.
        name: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("reading configuration")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&settings.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve { bind } => serve(settings, bind),
        Command::Worker { threads } => {
            let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
            let assets = adforge_api::assets::AssetStore::new(settings.data_dir.join("assets"));
            let signal = ChangeSignal::for_worker_process(settings.redis_url.as_deref())?;
            let handles = spawn_workers(&store, &assets, signal, &settings, threads.max(1));
            for handle in handles {
                handle.join().ok();
            }
            Ok(())
        }
        Command::Text(args) => adforge_api::cli::text::run(args),
        Command::Image(args) => adforge_api::cli::image::run(args),
        Command::Compose(args) => adforge_api::cli::compose::run(args),
        Command::Batch(args) => adforge_api::cli::batch::run(args, &settings),
        Command::Migrate => {
            let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
            // Store::open already applied them; report the state.
            let pending = store.migrate()?;
            println!("migrations applied ({pending} pending left)");
            Ok(())
        }
        Command::Advertiser {
            command: AdvertiserCommand::Create { name },
        } => {
            let name = name.trim();
            anyhow::ensure!(!name.is_empty(), "the advertiser name must not be empty");
            let store = Store::open(settings.database_url.as_deref(), &settings.data_dir)?;
            let created = adforge_api::auth::create_advertiser(&mut store.conn()?, name)?;
            println!("advertiser {} created", created.id);
            println!("API key (shown once, store it now): {}", created.api_key);
            Ok(())
        }
    }
}

fn serve(mut settings: Settings, bind: Option<String>) -> anyhow::Result<()> {
    if let Some(bind) = bind {
        settings.bind = bind;
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
        http::run(listener, state)?.await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// Starts `count` generation workers on their own threads.
fn spawn_workers(
    store: &Store,
    assets: &adforge_api::assets::AssetStore,
    serving: ChangeSignal,
    settings: &Settings,
    count: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    use adforge_api::generation::{pipeline::SharedPipeline, worker};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
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
