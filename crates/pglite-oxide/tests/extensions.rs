//! Extensions through the public API (decisions 0011 and 0013): installed
//! into one database when asked for, used through the direct API and
//! through the server, still there after a restart. Every extension of the
//! catalog also has its smoke test (`extension_smoke.rs`).

use pglite_oxide::{extensions, Error, Pglite};
use tokio_postgres::NoTls;

#[test]
fn pg_trgm_through_the_direct_api_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let mut db = Pglite::open(&path).unwrap();
        db.enable_extension(extensions::PG_TRGM).unwrap();
        let similarity: f32 = db
            .query_one("SELECT similarity('word', 'words')", &[])
            .unwrap()
            .get(0);
        assert!((similarity - 0.571_428_6).abs() < 1e-6, "{similarity}");
        // An error raised inside the module's call is an ordinary error.
        let err = db.execute("SELECT set_limit(2)", &[]).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("22023"), "{err}");
        db.batch_execute(
            "CREATE TABLE names (n text);
             INSERT INTO names VALUES ('postgres'), ('postgis'), ('sqlite');
             CREATE INDEX names_trgm ON names USING gist (n gist_trgm_ops)",
        )
        .unwrap();
        db.close().unwrap();
    }
    let mut db = Pglite::open(&path).unwrap();
    let nearest: String = db
        .query_one("SELECT n FROM names ORDER BY n <-> 'postgre' LIMIT 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(nearest, "postgres");
    db.close().unwrap();

    // Another database has not got it.
    let mut other = Pglite::temporary().unwrap();
    let err = other.batch_execute("CREATE EXTENSION pg_trgm").unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("0A000"), "{err}");
}

/// pgTAP is only SQL (Debian's package): its TAP output, for passing and
/// failing assertions, through the direct API.
#[test]
fn pgtap_reports_passing_and_failing_assertions() {
    // pgTAP keeps a test run's state in the session: one database each.
    let open = || {
        Pglite::builder()
            .temporary()
            .extension("pgtap")
            .open()
            .unwrap()
    };
    let mut db = open();
    let tap = |db: &mut Pglite, sql: &str| -> Vec<String> {
        db.query(sql, &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    assert_eq!(tap(&mut db, "SELECT plan(2)"), ["1..2"]);
    assert_eq!(tap(&mut db, "SELECT ok(true)"), ["ok 1"]);
    assert_eq!(tap(&mut db, "SELECT is(1, 1)"), ["ok 2"]);
    assert!(tap(&mut db, "SELECT * FROM finish()").is_empty());

    // A failing assertion says what it had and wanted; finish() counts it.
    let mut db = open();
    assert_eq!(tap(&mut db, "SELECT plan(1)"), ["1..1"]);
    assert_eq!(
        tap(&mut db, "SELECT is(1, 2, 'one is two')"),
        ["not ok 1 - one is two\n# Failed test 1: \"one is two\"\n#         have: 1\n#         want: 2"]
    );
    assert_eq!(
        tap(&mut db, "SELECT * FROM finish()"),
        ["# Looks like you failed 1 test of 1"]
    );
}

#[test]
fn a_required_extension_comes_with_it() {
    let mut db = Pglite::temporary().unwrap();
    db.enable_extension("earthdistance").unwrap();
    let cube: bool = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'cube')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        cube,
        "earthdistance's CREATE EXTENSION ... CASCADE created cube"
    );
    assert_eq!(
        extensions::Extension::by_name("earthdistance"),
        Some(extensions::EARTHDISTANCE)
    );
}

#[test]
fn an_unknown_extension_is_a_typed_error() {
    let mut db = Pglite::temporary().unwrap();
    let err = db.enable_extension("no_such_extension").unwrap_err();
    assert!(matches!(err, Error::Runtime(_)), "{err}");
    let err = db.enable_extension("../escape").unwrap_err();
    assert!(matches!(err, Error::Runtime(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_trgm_through_the_server() {
    let server = Pglite::builder()
        .extension("pg_trgm")
        .server()
        .tcp("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .start()
        .unwrap();
    let (client, connection) = tokio_postgres::connect(server.database_url(), NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let row = client
        .query_one("SELECT word_similarity($1, $2)", &[&"word", &"two words"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, f32>(0), 0.8);
    let err = client
        .query_one("SELECT set_limit(-1)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("22023"));
    let row = client.query_one("SELECT show_limit()", &[]).await.unwrap();
    assert_eq!(row.get::<_, f32>(0), 0.3);
    drop(client);
    server.shutdown().unwrap();
}
