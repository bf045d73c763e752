//! Real PostgreSQL, embedded in a Rust process.
//!
//! ```no_run
//! use pglite_oxide::Pglite;
//!
//! let mut db = Pglite::temporary()?;
//! db.batch_execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")?;
//! db.execute("INSERT INTO notes (body) VALUES ($1)", &[&"hello"])?;
//! for row in db.query("SELECT id, body FROM notes", &[])? {
//!     let id: i32 = row.get("id");
//!     let body: &str = row.get("body");
//!     println!("{id}: {body}");
//! }
//! # Ok::<(), pglite_oxide::Error>(())
//! ```
//!
//! PostgreSQL 15 is compiled to WebAssembly and runs in-process: one
//! backend per database, on the calling thread. Values convert through
//! `postgres-types` ([`ToSql`], [`FromSql`]), the same types tokio-postgres
//! and the `postgres` crate use; [`Pglite::connect`] gives a real
//! `tokio_postgres::Client` on the same backend.
//!
//! # Threads and clients
//! A [`Pglite`] is `Send`. Its backend serves one client at a time; each
//! client (the `Pglite` itself, [`Pglite::session`]s, [`Pglite::connect`]ed
//! async clients) holds it for one exchange, or for a whole transaction,
//! while the others wait (up to [`Builder::busy_timeout`]).

mod auth;
mod backend;
mod connect;
mod copy;
mod data_dir;
mod database;
mod dump;
mod error;
mod frontend;
mod notify;
mod program_client;
mod row;
mod server;
mod session;
mod settings;
mod sql_prepare;
mod statement;
pub mod testing;
mod transaction;
mod types;

pub use database::{Builder, Pglite};
pub use dump::{DumpOptions, RestoreOptions};
pub use error::{DbError, Error, ErrorPosition, Result, SqlState};
pub use notify::Notification;
pub use row::{Column, Row, RowIndex};
pub use server::{PgliteServer, ServerBuilder};
pub use session::{CancelToken, Session};
pub use statement::{Statement, ToStatement};
pub use transaction::Transaction;
pub use types::Numeric;

pub use pglite_runtime::{extensions, Artifacts};
pub use postgres_types::{FromSql, IsNull, ToSql, Type};
/// The async client crate [`Pglite::connect`] returns clients of.
pub use tokio_postgres;
