//! 100,000 small statements on one session do not grow memory.

mod support;

use pglite_runtime::{initdb, BackendSession, InitOptions, SessionOptions};
use support::{query, scalar};

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Growth allowed over the 90,000 statements after a warm-up of 10,000. The
/// table grows to 25,000 rows meanwhile, so pages of the 16 MB of shared
/// buffers are touched for the first time; a leak of 200 bytes a statement
/// would add 18 MB on top.
const MAX_GROWTH: u64 = 12 * 1024 * 1024;
const WARM_UP: i32 = 10_000;

#[test]
fn a_hundred_thousand_statements_keep_memory_flat() {
    let artifacts = support::artifacts();
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    initdb(&artifacts, &data, &InitOptions::default()).unwrap();
    // Commits need not wait for the disk here: this test is about memory.
    let options = SessionOptions {
        relaxed_durability: true,
        ..SessionOptions::default()
    };
    let (mut session, _) = BackendSession::start(&artifacts, &data, &options).unwrap();
    query(&mut session, "CREATE TABLE kv (k int PRIMARY KEY, v text)");
    let statement = |i: i32| match i % 4 {
        0 => format!("INSERT INTO kv VALUES ({i}, 'v{i}')"),
        1 => format!("SELECT v FROM kv WHERE k = {}", i - 1),
        2 => format!("UPDATE kv SET v = 'w{i}' WHERE k = {}", i - 2),
        _ => "SELECT 1".to_string(),
    };
    for i in 0..WARM_UP {
        assert_eq!(query(&mut session, &statement(i)).error, None);
    }
    let before = rss_bytes();
    let started = std::time::Instant::now();
    for i in WARM_UP..100_000 {
        assert_eq!(query(&mut session, &statement(i)).error, None);
    }
    let elapsed = started.elapsed();
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    eprintln!(
        "{} statements in {:.2} s ({:.1} us each); RSS {} MB -> {} MB (+{} KB)",
        100_000 - WARM_UP,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(100_000 - WARM_UP),
        before >> 20,
        after >> 20,
        growth >> 10
    );
    assert_eq!(
        scalar(&query(&mut session, "SELECT count(*) FROM kv")),
        "25000"
    );
    assert!(growth <= MAX_GROWTH, "RSS grew by {growth} bytes");
    session.shutdown().unwrap();
}
