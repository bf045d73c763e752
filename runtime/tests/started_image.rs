//! New temporary databases after the first start from an image of that
//! start (runtime/src/started_image.rs): they must be independent, fully
//! working backends that differ where backends differ.

mod support;

use pglite_runtime::{BackendSession, SessionOptions, TemplateCache, TemporaryRoot};
use support::{artifacts, query};

fn temporary(options: &SessionOptions) -> (TemporaryRoot, BackendSession) {
    let artifacts = artifacts();
    let root = TemplateCache::open(&artifacts)
        .and_then(|cache| cache.temporary_root())
        .unwrap();
    let (session, greeting) = BackendSession::start(&artifacts, root.path(), options).unwrap();
    assert_eq!(support::parse(&greeting).status, b'I', "greeting ends idle");
    (root, session)
}

fn one(session: &mut BackendSession, sql: &str) -> String {
    let reply = query(session, sql);
    assert_eq!(reply.error, None, "{sql}: {:?}", reply.message);
    reply.rows[0][0].clone().expect("a value")
}

/// One test function: images are process-wide, and the cache directory (an
/// environment variable) is this test's own, so that images stored by
/// earlier runs play no part.
#[test]
fn started_images() {
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var(pglite_runtime::CACHE_DIR_ENV, cache.path());
    later_temporary_databases_start_from_an_image_and_stay_independent();
    let stored = std::fs::read_dir(cache.path().join("images"))
        .unwrap()
        .count();
    assert_eq!(stored, 1, "the image is stored for the next process");
    images_are_per_arguments();
}

fn later_temporary_databases_start_from_an_image_and_stay_independent() {
    let options = SessionOptions {
        relaxed_durability: true,
        ..SessionOptions::default()
    };
    let (_first_root, mut first) = temporary(&options);
    let (second_root, mut second) = temporary(&options);
    let (_third_root, mut third) = temporary(&options);
    assert!(second.started_from_image() && third.started_from_image());

    // Each has its own data.
    query(&mut second, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    query(
        &mut second,
        "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g",
    );
    assert_eq!(one(&mut second, "SELECT count(*) FROM t"), "1000");
    let missing = query(&mut third, "SELECT count(*) FROM t");
    assert_eq!(missing.error.as_deref(), Some("42P01"));
    assert_eq!(
        one(
            &mut first,
            "SELECT count(*) FROM pg_class WHERE relname = 't'"
        ),
        "0"
    );

    // What must differ between backends does.
    let randoms: Vec<String> = [&mut first, &mut second, &mut third]
        .into_iter()
        .map(|s| one(s, "SELECT random()::text || ' ' || gen_random_uuid()::text"))
        .collect();
    assert_ne!(randoms[0], randoms[1]);
    assert_ne!(randoms[1], randoms[2]);
    let started = |s: &mut BackendSession| {
        one(
            s,
            "SELECT extract(epoch FROM pg_postmaster_start_time())::numeric(20,6)::text",
        )
    };
    let (a, b) = (started(&mut first), started(&mut third));
    assert!(b > a, "start times {a} then {b}");

    // The database made from the image survives a restart: its files are
    // consistent with what the backend had in memory.
    second.shutdown().unwrap();
    let artifacts = artifacts();
    let (mut again, _) = BackendSession::start(&artifacts, second_root.path(), &options).unwrap();
    assert!(!again.started_from_image(), "a used root starts normally");
    assert_eq!(
        one(&mut again, "SELECT count(*) FROM t WHERE v LIKE 'v%'"),
        "1000"
    );
    query(&mut again, "CHECKPOINT");
    assert_eq!(one(&mut again, "SELECT count(*) FROM t"), "1000");
}

fn images_are_per_arguments() {
    let tokyo = SessionOptions {
        relaxed_durability: true,
        settings: vec![("timezone".into(), "Asia/Tokyo".into())],
        ..SessionOptions::default()
    };
    let (_a, mut a) = temporary(&tokyo);
    let (_b, mut b) = temporary(&tokyo);
    assert!(b.started_from_image());
    assert_eq!(one(&mut a, "SHOW timezone"), "Asia/Tokyo");
    assert_eq!(one(&mut b, "SHOW timezone"), "Asia/Tokyo");
    let lima = SessionOptions {
        settings: vec![("timezone".into(), "America/Lima".into())],
        ..tokyo
    };
    let (_c, mut c) = temporary(&lima);
    assert!(!c.started_from_image(), "other settings: no image yet");
    assert_eq!(one(&mut c, "SHOW timezone"), "America/Lima");
}
