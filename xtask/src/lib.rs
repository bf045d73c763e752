//! The pglite-oxide build pipeline behind `cargo xtask`.
//!
//! Each module is one concern; `main.rs` only parses the command line and
//! dispatches here. Recipes (`recipes/*.toml`) say *what* to build, these
//! modules say *how*.

pub mod aot;
pub mod apt_sources;
pub mod assets;
pub mod bench;
pub mod build;
pub mod catalog;
pub mod check;
pub mod codegen;
pub mod eh_frame;
pub mod fetch;
pub mod fingerprint;
pub mod hashing;
pub mod layout;
pub mod libraries;
pub mod manifest;
pub mod outputs;
pub mod pack;
pub mod package;
pub mod placeholders;
pub mod recipes;
pub mod regress;
pub mod release;
pub mod steps;
pub mod template;
pub mod test;
pub mod toolchain;
pub mod tree;
pub mod workspace_build;
