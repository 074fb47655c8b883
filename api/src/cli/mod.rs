//! The subcommands of `adforge`, one file each: the server side (`serve`, `worker`,
//! `migrate`, `advertiser`), the generators (`text`, `image`, `compose`), `batch`, `eval` and
//! `models` (the Hugging Face Hub and the model catalogue).

pub mod batch;
pub mod compose;
pub mod eval;
pub mod image;
pub mod models;
pub mod server;
pub mod text;
