//! Runs the PostgreSQL WebAssembly backend of pglite-oxide inside Wasmer.
//!
//! The layers, bottom up:
//! - [`Artifacts`]: the backend module, its `share/` and `lib/` trees, the
//!   template data directory and native code made ahead of time; embedded
//!   in this crate (and the AOT crate of the target) or a build output.
//! - [`engine`]: one process-wide Wasmer engine; the module from AOT code,
//!   or compiled once and cached on disk (feature `cranelift`).
//! - [`initdb`]: creates a data directory, as PostgreSQL's initdb does.
//! - [`TemplateCache`]: new data directories from the build-time template,
//!   copy-on-write ([`TemporaryRoot`]) or copied.
//! - [`BackendSession`]: one backend for one data directory; frontend
//!   protocol bytes in, backend protocol bytes out.
//! - [`run_program`]: pg_dump and pg_restore, run to completion, their
//!   connections served by the host ([`ClientConnector`]).

mod archive;
mod artifacts;
mod cancel;
mod client_io;
mod control;
mod datadir_lock;
mod dylink;
#[cfg_attr(not(feature = "embedded"), allow(dead_code))]
mod embedded;
pub mod engine;
mod error;
mod extension;
#[rustfmt::skip]
pub mod extensions;
mod fs;
#[rustfmt::skip]
mod generated;
mod host_io;
mod initdb;
mod instance;
mod mapped_pages;
#[cfg(feature = "cranelift")]
mod module_cache;
mod program;
mod receipt;
mod reproducible;
mod roots;
mod session;
mod snapshot;
mod started_image;
mod stdio;

#[cfg(feature = "stock-fs-bench")]
#[doc(hidden)]
pub mod bench;

pub use archive::{pack_root, unpack_root};
pub use artifacts::{Artifacts, ARTIFACTS_ENV};
pub use cancel::CancelHandle;
pub use client_io::{ClientConnector, ClientStream};
pub use datadir_lock::{DataDirLock, LOCK_FILE};
pub use embedded::CACHE_DIR_ENV;
pub use error::{Error, PG_MAJOR};
pub use extension::{install_extension, Extension, ExtensionFiles};
pub use fs::SyncCounts;
pub use initdb::{initdb, InitOptions};
pub use program::{run_program, Program, ProgramIo};
pub use receipt::Verification;
pub use roots::{
    cache_dir, create_data_dir_from_template, lower_layer, TemplateCache, TemporaryRoot,
    TEMPLATE_FILE,
};
pub use session::{BackendSession, Peer, SessionOptions};
pub use snapshot::{copy_root, freeze_root};
pub use started_image::IMAGES_ENV;

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
