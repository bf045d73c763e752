//! What `cargo xtask bench cold` runs as a fresh process: new temporary
//! databases from the template, each answering `SELECT 1`, timed stage by
//! stage. Prints one line per database:
//!
//! `db=N result_unix_ns=... from_image=true|false artifacts_ms=...
//! module_ms=... root_ms=... start_ms=... query_ms=... total_ms=...`
//!
//! `result_unix_ns` is the wall clock when the first result arrived, so the
//! parent can measure from the moment it spawned this process. `total_ms`
//! is from the start of `main` (first database) or from the start of that
//! database's own work (later ones).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use pglite_runtime::{Artifacts, BackendSession, Error, SessionOptions, TemplateCache};
use postgres_protocol::message::{backend, frontend};

fn main() -> Result<(), Error> {
    let databases: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    for db in 1..=databases {
        let started = Instant::now();
        let artifacts = Artifacts::new()?;
        let artifacts_time = started.elapsed();

        // As `Pglite::temporary()` does: the module loads on another thread
        // while the data directory is made and a started image is read; the
        // start waits for it (its time is in `start_ms`).
        let module = Instant::now();
        pglite_runtime::engine::preload(&artifacts);
        let module = module.elapsed();

        // What `Pglite::temporary()` does: a copy-on-write root over the
        // unpacked template (unpacked once per machine), relaxed durability.
        let root = Instant::now();
        let data = TemplateCache::open(&artifacts)?.temporary_root()?;
        let root = root.elapsed();

        let start = Instant::now();
        let options = SessionOptions {
            relaxed_durability: true,
            ..SessionOptions::default()
        };
        let (mut session, _) = BackendSession::start(&artifacts, data.path(), &options)?;
        let start = start.elapsed();

        let query = Instant::now();
        let mut message = BytesMut::new();
        frontend::query("SELECT 1", &mut message).expect("query message");
        let reply = session.send(&message)?;
        let query = query.elapsed();
        let result_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let total = started.elapsed();
        if !answered(&reply) {
            return Err(Error::Crashed {
                trap: "SELECT 1 returned no row".into(),
                stderr: session.log(),
            });
        }
        println!(
            "db={db} result_unix_ns={result_unix_ns} from_image={} artifacts_ms={:.2} \
             module_ms={:.2} root_ms={:.2} start_ms={:.2} query_ms={:.2} total_ms={:.2}",
            session.started_from_image(),
            ms(artifacts_time),
            ms(module),
            ms(root),
            ms(start),
            ms(query),
            ms(total)
        );
        // Not part of the figures: the shutdown checkpoint.
        session.shutdown()?;
    }
    Ok(())
}

fn answered(reply: &[u8]) -> bool {
    let mut buf = BytesMut::from(reply);
    let mut row = false;
    while let Ok(Some(message)) = backend::Message::parse(&mut buf) {
        row |= matches!(message, backend::Message::DataRow(_));
    }
    row
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
