//! Runs the PostgreSQL WebAssembly backend of pglite-oxide inside Wasmer.
//!
//! The layers, bottom up:
//! - [`Artifacts`]: the built backend module and its `share/` and `lib/`
//!   trees (the output of `cargo xtask build`).
//! - [`engine`]: one process-wide Wasmer engine and a compiled-module cache.
//! - [`initdb`]: creates a data directory, as PostgreSQL's initdb does.
//! - [`BackendSession`]: one backend for one data directory; frontend
//!   protocol bytes in, backend protocol bytes out.

mod artifacts;
mod datadir_lock;
pub mod engine;
mod error;
mod host_io;
mod initdb;
mod instance;
mod session;
mod template;

pub use artifacts::Artifacts;
pub use datadir_lock::{DataDirLock, LOCK_FILE};
pub use error::Error;
pub use initdb::{initdb, InitOptions};
pub use session::{BackendSession, Peer, SessionOptions};
pub use template::{create_data_dir_from_template, TEMPLATE_FILE};

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
