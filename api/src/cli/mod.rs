//! The subcommands of `adforge`, one file each: the server side (`serve`, `worker`,
//! `migrate`, `advertiser`), the generators (`text`, `image`, `compose`) and `batch`.

pub mod batch;
pub mod compose;
pub mod eval;
pub mod image;
pub mod server;
pub mod text;
