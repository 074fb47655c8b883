//! The decoder architectures, one file each: configuration (mirroring `config.json`), layers,
//! loading and forward pass.

pub mod gemma;
pub mod gpt2;
pub mod llama;
pub mod llama_cpu;
