//! adforge's server side: configuration, storage, the `/v1` JSON API, the background jobs and
//! the pieces the `adforge` binary's subcommands are made of.
//!
//! Modules depend in one direction only (ARCHITECTURE.md; `tests/layers.rs` checks it):
//! `app -> routes -> {jobs, serving} -> {store, infra} -> domain`, with [`http`] a kit used
//! only by routes and app, and [`config`] usable everywhere.
//!
//! - [`domain`]: the resource types and their validation; no HTTP, no database.
//! - [`config`]: every setting, from defaults, a TOML file and `ADFORGE_*` variables.
//! - [`store`]: diesel over SQLite (default) or PostgreSQL: the generic tenant CRUD, the lease
//!   queue, advertisers and keys, embedded migrations.
//! - [`infra`]: the serving cache, event signing, the asset store and change signals.
//! - [`serving`]: the serving engine: payloads, choice, OpenRTB, events, stats.
//! - [`jobs`]: generation jobs and CSV batches, and the workers that run them.
//! - [`http`]: problem+json errors, JSON bodies, pagination, limits, metrics, the tenant
//!   extractor.
//! - [`routes`]: the HTTP handlers, one file per resource.
//! - [`app`]: the composition root: shared state, route mounting, server start, OpenAPI.
//! - [`cli`]: the `adforge` subcommands.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod infra;
pub mod jobs;
pub mod routes;
pub mod serving;
pub mod store;
