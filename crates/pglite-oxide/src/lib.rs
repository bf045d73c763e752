//! Real PostgreSQL, embedded in a Rust process.
