//! Runs the PostgreSQL WebAssembly backend of pglite-oxide inside Wasmer.
//!
//! The layers, bottom up:
//! - [`Artifacts`]: the built backend module and its `share/` and `lib/`
//!   trees (the output of `cargo xtask build`).
//! - [`engine`]: one process-wide Wasmer engine and a compiled-module cache.
//! - [`initdb`]: creates a data directory, as PostgreSQL's initdb does.
//! - [`TemplateCache`]: new data directories from the build-time template,
//!   copy-on-write ([`TemporaryRoot`]) or copied.
//! - [`BackendSession`]: one backend for one data directory; frontend
//!   protocol bytes in, backend protocol bytes out.

mod artifacts;
mod datadir_lock;
pub mod engine;
mod error;
mod fs;
mod host_io;
mod initdb;
mod instance;
mod roots;
mod session;

#[cfg(feature = "stock-fs-bench")]
#[doc(hidden)]
pub mod bench;

pub use artifacts::Artifacts;
pub use datadir_lock::{DataDirLock, LOCK_FILE};
pub use error::Error;
pub use fs::SyncCounts;
pub use initdb::{initdb, InitOptions};
pub use roots::{create_data_dir_from_template, TemplateCache, TemporaryRoot, TEMPLATE_FILE};
pub use session::{BackendSession, Peer, SessionOptions};

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
