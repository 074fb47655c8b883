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
        Command::Serve { bind } => cli::server::serve(settings, bind),
        Command::Worker { threads } => cli::server::worker(&settings, threads),
        Command::Migrate => cli::server::migrate(&settings),
        Command::Advertiser {
            command: AdvertiserCommand::Create { name },
        } => cli::server::create_advertiser(&settings, &name),
        Command::Text(args) => cli::text::run(args),
        Command::Image(args) => cli::image::run(args),
        Command::Compose(args) => cli::compose::run(args),
        Command::Batch(args) => cli::batch::run(args, &settings),
    }
}
