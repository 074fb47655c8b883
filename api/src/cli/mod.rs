//! The generator subcommands of `adforge`: `text`, `image` and `compose`.

pub mod batch;
pub mod compose;
pub mod image;
pub mod text;
