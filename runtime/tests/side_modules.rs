//! Extension modules linked into a running backend as WebAssembly side
//! modules (docs/decisions/0011-extension-side-modules.md): pg_trgm,
//! installed into one data directory only, works through plain CREATE
//! EXTENSION, its errors unwind through its code to the backend's error
//! handling, and it loads again after a restart.

mod support;

use pglite_runtime::{initdb, BackendSession, ExtensionFiles, InitOptions, SessionOptions};
use support::{artifacts, parse, query, scalar};

#[test]
fn pg_trgm_loads_as_a_side_module() {
    let artifacts = artifacts();
    let pg_trgm = ExtensionFiles::from_artifacts(&artifacts, "pg_trgm").expect("pg_trgm is built");
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let other = temp.path().join("other");
    initdb(&artifacts, &data, &InitOptions::default()).expect("initdb");
    initdb(&artifacts, &other, &InitOptions::default()).expect("initdb");
    pg_trgm.install(&data).expect("install");

    let (mut session, greeting) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).expect("start");
    assert_eq!(parse(&greeting).status, b'I');
    let create = query(&mut session, "CREATE EXTENSION pg_trgm");
    assert_eq!(create.message, None);
    assert_eq!(
        scalar(&query(&mut session, "SELECT similarity('word', 'words')")),
        "0.5714286"
    );
    assert_eq!(
        scalar(&query(&mut session, "SELECT show_trgm('cat')::text")),
        r#"{"  c"," ca","at ",cat}"#
    );
    // _PG_init defined the module's settings: their variables are the
    // module's data, relocated into the backend's memory.
    assert_eq!(
        scalar(&query(&mut session, "SHOW pg_trgm.similarity_threshold")),
        "0.3"
    );
    assert_eq!(scalar(&query(&mut session, "SELECT set_limit(0.5)")), "0.5");
    assert_eq!(scalar(&query(&mut session, "SELECT show_limit()")), "0.5");

    // An index of the module's operator class, used by the planner.
    let setup = query(
        &mut session,
        "CREATE TABLE words (w text);
         INSERT INTO words SELECT 'word' || i FROM generate_series(1, 2000) i;
         CREATE INDEX words_trgm ON words USING gin (w gin_trgm_ops);
         ANALYZE words",
    );
    assert_eq!(setup.message, None);
    let plan = query(
        &mut session,
        "EXPLAIN (COSTS OFF) SELECT count(*) FROM words WHERE w LIKE '%d1999%'",
    );
    let plan: Vec<String> = plan.rows.iter().filter_map(|r| r[0].clone()).collect();
    assert!(
        plan.iter().any(|line| line.contains("words_trgm")),
        "the trigram index is used: {plan:?}"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT count(*) FROM words WHERE w LIKE '%d1999%'"
        )),
        "1"
    );

    // Errors raised while the module's code is on the stack (set_limit
    // sets a setting out of range; a bad regular expression fails inside
    // the module's regex analysis) unwind to the backend, and the session
    // goes on, also inside a transaction rolled back to a savepoint.
    let limit = query(&mut session, "SELECT set_limit(2)");
    assert_eq!(limit.error.as_deref(), Some("22023"), "{:?}", limit.message);
    let regex = query(&mut session, "SELECT count(*) FROM words WHERE w ~ '('");
    assert_eq!(regex.error.as_deref(), Some("2201B"), "{:?}", regex.message);
    let savepoint = query(&mut session, "BEGIN; SAVEPOINT s; SELECT set_limit(-1)");
    assert!(savepoint.error.is_some());
    let rollback = query(
        &mut session,
        "ROLLBACK TO SAVEPOINT s; SELECT similarity('abc', 'abd'); COMMIT",
    );
    assert_eq!(rollback.message, None);
    assert_eq!(scalar(&query(&mut session, "SELECT show_limit()")), "0.5");
    session.shutdown().expect("clean shutdown");

    // After a restart the catalog names the library, which loads again on
    // first use.
    let (mut session, _) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).expect("restart");
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT count(*) FROM words WHERE w LIKE '%d1999%'"
        )),
        "1"
    );
    assert_eq!(
        scalar(&query(&mut session, "SELECT similarity('word', 'words')")),
        "0.5714286"
    );
    session.shutdown().expect("clean shutdown");

    // Another data directory has nothing installed.
    let (mut session, _) =
        BackendSession::start(&artifacts, &other, &SessionOptions::default()).expect("start");
    let missing = query(&mut session, "CREATE EXTENSION pg_trgm");
    assert_eq!(
        missing.error.as_deref(),
        Some("0A000"),
        "{:?}",
        missing.message
    );
    session.shutdown().expect("clean shutdown");
}

#[test]
fn citext_loads_as_a_side_module() {
    let artifacts = artifacts();
    let citext = ExtensionFiles::from_artifacts(&artifacts, "citext").expect("citext is built");
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    initdb(&artifacts, &data, &InitOptions::default()).expect("initdb");
    citext.install(&data).expect("install");
    let (mut session, _) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).expect("start");
    let setup = query(
        &mut session,
        "CREATE EXTENSION citext;
         CREATE TABLE users (email citext PRIMARY KEY);
         INSERT INTO users VALUES ('Alice@Example.com')",
    );
    assert_eq!(setup.message, None);
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT count(*) FROM users WHERE email = 'alice@example.COM'"
        )),
        "1"
    );
    // The unique index compares with the module's functions.
    let duplicate = query(
        &mut session,
        "INSERT INTO users VALUES ('ALICE@example.com')",
    );
    assert_eq!(
        duplicate.error.as_deref(),
        Some("23505"),
        "{:?}",
        duplicate.message
    );
    assert_eq!(
        scalar(&query(&mut session, "SELECT 'ABC'::citext = 'abc'::citext")),
        "t"
    );
    session.shutdown().expect("clean shutdown");
}
