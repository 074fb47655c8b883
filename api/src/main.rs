//! The `adforge` command line: the server, migrations, advertisers, and the generators.

use std::path::PathBuf;

use adforge_api::cli;
use adforge_api::config::Settings;
use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Text(cli::text::TextArgs),
    /// Generates an image with a diffusion checkpoint.
    Image(cli::image::ImageArgs),
    /// Renders finished creatives at ad sizes.
    Compose(cli::compose::ComposeArgs),
    /// Generates one creative group per row of a CSV file.
    Batch(cli::batch::BatchArgs),
    /// Measures what the generators write (`eval copy`: copy quality over a brief set).
    Eval {
        #[command(subcommand)]
        command: cli::eval::EvalCommand,
    },
    /// Pulls, lists and removes models of the Hugging Face Hub (and the catalogue's short names).
    Models {
        #[command(subcommand)]
        command: cli::models::ModelsCommand,
    },
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
    /// Manages an advertiser's API keys (rotation: create, switch clients, revoke the old).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Adds an API key and prints it, once.
    Create {
        /// The advertiser's id.
        advertiser_id: String,
    },
    /// Lists the advertiser's keys (never their secrets).
    List {
        /// The advertiser's id.
        advertiser_id: String,
    },
    /// Revokes a key: it is refused from the next request on.
    Revoke {
        /// The advertiser's id.
        advertiser_id: String,
        /// The key's id, as `keys list` shows it.
        key_id: String,
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
        Command::Serve { bind } => cli::server::serve(settings, bind),
        Command::Worker { threads } => cli::server::worker(&settings, threads),
        Command::Migrate => cli::server::migrate(&settings),
        Command::Advertiser {
            command: AdvertiserCommand::Create { name },
        } => cli::server::create_advertiser(&settings, &name),
        Command::Advertiser {
            command: AdvertiserCommand::Keys { command },
        } => {
            use cli::server::KeysAction;
            let (advertiser_id, action) = match command {
                KeysCommand::Create { advertiser_id } => (advertiser_id, KeysAction::Create),
                KeysCommand::List { advertiser_id } => (advertiser_id, KeysAction::List),
                KeysCommand::Revoke {
                    advertiser_id,
                    key_id,
                } => (advertiser_id, KeysAction::Revoke(key_id)),
            };
            cli::server::advertiser_keys(&settings, &advertiser_id, action)
        }
        Command::Text(args) => cli::text::run(args),
        Command::Image(args) => cli::image::run(args),
        Command::Compose(args) => cli::compose::run(args),
        Command::Batch(args) => cli::batch::run(args, &settings),
        Command::Eval { command } => cli::eval::run(command, &settings),
        Command::Models { command } => cli::models::run(command),
    }
}
