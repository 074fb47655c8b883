//! adforge's server side: configuration, storage, the `/v1` JSON API, and the pieces the
//! `adforge` binary's subcommands are made of.
//!
//! - [`config`]: every setting, from defaults, a TOML file and `ADFORGE_*` variables.
//! - [`store`]: diesel over SQLite (default) or PostgreSQL, with embedded migrations.
//! - [`auth`]: advertisers (tenants) and their hashed API keys.
//! - [`resources`]: campaigns, brand kits, segments, placements and creatives.
//! - [`http`]: the actix-web app, problem+json errors, metrics and the OpenAPI document.
//! - [`generation`]: generation jobs, the pipeline from prompts to stored creatives, workers.
//! - [`serving`]: `/v1/serve`, signed event URLs, stats, and the Redis or in-process cache.
//! - [`dashboard`]: the advertiser web UI served at `/`.
//! - [`assets`]: content-addressed storage for logos and images.

pub mod assets;
pub mod auth;
pub mod batch;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod generation;
pub mod http;
pub mod resources;
pub mod serving;
pub mod store;
