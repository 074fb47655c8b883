//! adforge's server side: configuration, storage, the `/v1` JSON API, and the pieces the
//! `adforge` binary's subcommands are made of.
//!
//! - [`config`]: every setting, from defaults, a TOML file and `ADFORGE_*` variables.
//! - [`store`]: diesel over SQLite (default) or PostgreSQL, with embedded migrations.
//! - [`auth`]: advertisers (tenants) and their hashed API keys.
//! - [`resources`]: campaigns, brand kits, segments, placements and creatives.
//! - [`http`]: the actix-web app, problem+json errors, metrics and the OpenAPI document.
//! - [`assets`]: content-addressed storage for logos and images.

pub mod assets;
pub mod auth;
pub mod config;
pub mod http;
pub mod resources;
pub mod store;
