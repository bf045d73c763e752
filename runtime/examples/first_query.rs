//! Opens a new temporary database from the template and runs `SELECT 1`,
//! printing how long each stage took. `cargo xtask bench cold` runs it
//! repeatedly and measures from process start.

use std::time::Instant;

use bytes::BytesMut;
use pglite_runtime::{Artifacts, BackendSession, Error, SessionOptions, TemplateCache};
use postgres_protocol::message::{backend, frontend};

fn main() -> Result<(), Error> {
    let started = Instant::now();
    let artifacts = Artifacts::new()?;
    let module = Instant::now();
    pglite_runtime::engine::module(&artifacts)?;
    let module = module.elapsed();

    // Copy-on-write over the template, unpacked once per machine.
    let root = Instant::now();
    let data = TemplateCache::open(&artifacts)?.temporary_root()?;
    let root = root.elapsed();

    let start = Instant::now();
    let (mut session, _) =
        BackendSession::start(&artifacts, data.path(), &SessionOptions::default())?;
    let start = start.elapsed();

    let query = Instant::now();
    let mut message = BytesMut::new();
    frontend::query("SELECT 1", &mut message).expect("query message");
    let reply = session.send(&message)?;
    let query = query.elapsed();
    let mut buf = BytesMut::from(&reply[..]);
    let mut answered = false;
    while let Ok(Some(message)) = backend::Message::parse(&mut buf) {
        answered |= matches!(message, backend::Message::DataRow(_));
    }
    let total = started.elapsed();
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| (pages * 4096) >> 20);
    println!(
        "first_query answered={answered} total_ms={:.1} module_ms={:.1} root_ms={:.1} start_ms={:.1} query_ms={:.2} rss_mb={rss}",
        ms(total),
        ms(module),
        ms(root),
        ms(start),
        ms(query)
    );
    session.shutdown()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
