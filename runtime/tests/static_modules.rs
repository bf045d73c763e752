//! PostgreSQL's own loadable modules, linked into the backend
//! (docs/decisions/0002-core-modules-static.md): initdb installs PL/pgSQL
//! and the snowball dictionaries, and SQL loads them and the encoding
//! conversions through the port layer's dlopen().

mod support;

use pglite_runtime::{initdb, BackendSession, InitOptions, SessionOptions};
use support::{artifacts, parse, query, scalar};

#[test]
fn core_modules_load_from_the_backend() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    initdb(&artifacts(), &data, &InitOptions::default()).expect("initdb");
    let (mut session, greeting) =
        BackendSession::start(&artifacts(), &data, &SessionOptions::default()).expect("start");
    assert_eq!(parse(&greeting).status, b'I');

    // initdb ran CREATE EXTENSION plpgsql and snowball_create.sql.
    let plpgsql = query(
        &mut session,
        "SELECT extversion FROM pg_extension WHERE extname = 'plpgsql'",
    );
    assert_eq!(scalar(&plpgsql), "1.0");

    // Each caught division_by_zero is a longjmp from the executor back into
    // plpgsql's exception block.
    let create = query(
        &mut session,
        "CREATE FUNCTION try_divide(n int) RETURNS text LANGUAGE plpgsql AS $$
         DECLARE
             total int := 0;
             caught int := 0;
         BEGIN
             FOR i IN 1..n LOOP
                 BEGIN
                     total := total + 12 / (i % 3);
                 EXCEPTION WHEN division_by_zero THEN
                     caught := caught + 1;
                 END;
             END LOOP;
             RETURN format('total=%s caught=%s', total, caught);
         END
         $$",
    );
    assert_eq!(create.error, None);
    assert_eq!(
        scalar(&query(&mut session, "SELECT try_divide(10)")),
        "total=66 caught=3"
    );
    let block = query(&mut session, "DO $$ BEGIN PERFORM try_divide(5); END $$");
    assert_eq!(block.error, None);

    let latin1 = query(
        &mut session,
        "SELECT convert('abc'::bytea, 'UTF8', 'LATIN1')",
    );
    assert_eq!(scalar(&latin1), "\\x616263");
    let win1252 = query(
        &mut session,
        "SELECT convert(convert_to('häll€', 'UTF8'), 'UTF8', 'WIN1252')",
    );
    assert_eq!(scalar(&win1252), "\\x68e46c6c80");

    let tsvector = query(
        &mut session,
        "SELECT to_tsvector('english', 'The quick brown foxes')",
    );
    assert_eq!(scalar(&tsvector), "'brown':3 'fox':4 'quick':2");
    let german = query(&mut session, "SELECT ts_lexize('german_stem', 'Häuser')");
    assert_eq!(scalar(&german), "{haus}");

    // A library file that exists but is not linked in fails to load (the
    // message says it is not available in this build); the session goes on.
    let dir = scalar(&query(&mut session, "SHOW data_directory"));
    let copy = query(
        &mut session,
        &format!("COPY (SELECT 'not a module') TO '{dir}/not_linked.so'"),
    );
    assert_eq!(copy.error, None);
    let load = query(&mut session, &format!("LOAD '{dir}/not_linked.so'"));
    assert!(
        load.error.is_some(),
        "loading a library that is not linked in must fail"
    );
    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");

    session.shutdown().expect("clean shutdown");
}
