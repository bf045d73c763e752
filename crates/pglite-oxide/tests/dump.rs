//! Logical dumps with the wasm pg_dump and pg_restore: round trips through
//! fresh embedded databases and through native PostgreSQL 15, the options,
//! the errors, and the `pglite-dump` command.
//!
//! The native tests need Debian's `postgresql-15` (server and clients).

#[path = "support/native.rs"]
mod native;

use std::process::Command;

use pglite_oxide::{DumpOptions, Error, Pglite, PgliteServer, RestoreOptions};

/// Schema objects of most kinds, and data with the awkward cases of COPY's
/// text format (tabs, newlines, backslashes, NULLs, empty arrays, bytea).
const SCHEMA: &str = r#"
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.positive AS integer CHECK (VALUE > 0);
CREATE TABLE app.people (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    mood app.mood DEFAULT 'ok',
    age app.positive,
    tags text[],
    doc jsonb,
    photo bytea,
    born date,
    created timestamptz DEFAULT '2024-01-01 00:00:00+00'
);
COMMENT ON TABLE app.people IS 'who''s who';
CREATE TABLE app.posts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author integer REFERENCES app.people (id) ON DELETE CASCADE,
    body text CHECK (length(body) > 0),
    score numeric(10, 2)
);
CREATE INDEX posts_author ON app.posts (author);
CREATE INDEX people_adult_names ON app.people (lower(name)) WHERE age > 18;
CREATE SEQUENCE app.tickets START 100 INCREMENT 5;
SELECT setval('app.tickets', 135);
CREATE VIEW app.adults AS SELECT id, name FROM app.people WHERE age >= 18;
CREATE MATERIALIZED VIEW app.post_counts AS
    SELECT author, count(*) AS n FROM app.posts GROUP BY author;
CREATE FUNCTION app.greet(who text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'hello, ' || who $$;
CREATE FUNCTION app.trim_body() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.body := trim(NEW.body);
    RETURN NEW;
END
$$;
CREATE TRIGGER posts_trim BEFORE INSERT ON app.posts
    FOR EACH ROW EXECUTE FUNCTION app.trim_body();
CREATE TABLE public.plain (k int, v text);
INSERT INTO app.people (name, mood, age, tags, doc, photo, born) VALUES
    ('Ada', 'happy', 36, '{math,"engines"}', '{"a": [1, 2]}', '\xdeadbeef', '1815-12-10'),
    ('Bob', NULL, 17, NULL, NULL, NULL, NULL),
    (E'Tab\tand "quote"', 'sad', 40, '{}', 'null', '\x', '2000-02-29');
INSERT INTO app.posts (author, body, score) VALUES
    (1, '  first  ', 1.5), (1, E'line\nbreak \\ backslash', NULL), (3, 'x', -2);
INSERT INTO public.plain SELECT i, repeat('v', i % 7) FROM generate_series(1, 2000) i;
REFRESH MATERIALIZED VIEW app.post_counts;
"#;

/// A fixed key for the `\restrict` lines (random by default), so that
/// dumps of the same contents are the same text.
const RESTRICT_KEY: &str = "PgliteOxideDumpTest";

fn options() -> DumpOptions {
    DumpOptions::new().restrict_key(RESTRICT_KEY)
}

fn seeded() -> Pglite {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute(SCHEMA).unwrap();
    db
}

fn count(db: &mut Pglite, sql: &str) -> i64 {
    db.query_one(sql, &[]).unwrap().get(0)
}

/// The dump without its two version comments ("Dumped from database
/// version", "Dumped by pg_dump version"): Debian's native build names
/// itself "15.18 (Debian 15.18-0+deb12u1)", ours "15.18".
fn without_versions(dump: &str) -> String {
    dump.lines()
        .filter(|line| !line.starts_with("-- Dumped from database version"))
        .filter(|line| !line.starts_with("-- Dumped by pg_dump version"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Equal texts, or a panic showing where they part.
fn assert_same(left: &str, right: &str) {
    if left == right {
        return;
    }
    let (l, r): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
    let at = l
        .iter()
        .zip(&r)
        .position(|(a, b)| a != b)
        .unwrap_or(l.len().min(r.len()));
    let context =
        |lines: &[&str]| lines[at.saturating_sub(3)..(at + 3).min(lines.len())].join("\n");
    panic!(
        "the dumps differ at line {}:\n--- left\n{}\n--- right\n{}",
        at + 1,
        context(&l),
        context(&r)
    );
}

#[test]
fn a_custom_archive_restores_into_a_fresh_database_identically() {
    let mut db = seeded();
    let dump = db.dump_sql(&options()).unwrap();
    assert!(dump.contains("CREATE TABLE app.people"), "{dump}");
    assert!(
        dump.contains("COPY public.plain (k, v) FROM stdin;"),
        "{dump}"
    );
    assert!(dump.contains("SELECT pg_catalog.setval('app.tickets', 135, true);"));

    let mut archive = Vec::new();
    db.dump_archive(&options(), &mut archive).unwrap();
    assert!(archive.starts_with(b"PGDMP"), "a custom-format archive");

    let mut fresh = Pglite::temporary().unwrap();
    fresh
        .restore_archive(archive.as_slice(), &RestoreOptions::default())
        .unwrap();
    assert_same(&fresh.dump_sql(&options()).unwrap(), &dump);

    // The restored database works: sequences go on where they were,
    // triggers fire, identity columns count on.
    for db in [&mut db, &mut fresh] {
        let next: i64 = db
            .query_one("SELECT nextval('app.tickets')", &[])
            .unwrap()
            .get(0);
        assert_eq!(next, 140);
        db.execute(
            "INSERT INTO app.posts (author, body) VALUES (2, '  b  ')",
            &[],
        )
        .unwrap();
        let row = db
            .query_one(
                "SELECT id, body FROM app.posts ORDER BY id DESC LIMIT 1",
                &[],
            )
            .unwrap();
        assert_eq!((row.get::<_, i64>(0), row.get::<_, &str>(1)), (4, "b"));
        assert_eq!(count(db, "SELECT sum(k) FROM public.plain"), 2001000);
    }
}

#[test]
fn a_plain_dump_loads_with_psql_into_a_fresh_server_identically() {
    let db = seeded();
    let dump = db.dump_sql(&options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.sql");
    std::fs::write(&file, &dump).unwrap();

    let server = PgliteServer::builder()
        .temporary()
        .tcp(([127, 0, 0, 1], 0))
        .start()
        .unwrap();
    let addr = server.local_addr().unwrap();
    let mut psql = native::client("psql");
    psql.args(["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"])
        .args([
            "--host",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
        ])
        .args(["--username", "postgres", "--dbname", "postgres", "--file"])
        .arg(&file);
    native::run_ok(psql);
    // The server's dump, made in-process as well.
    assert_same(&server.dump_sql(&options()).unwrap(), &dump);
    server.shutdown().unwrap();
}

#[test]
fn a_plain_dump_loads_into_native_postgresql_and_dumps_the_same_there() {
    let db = seeded();
    let dump = db.dump_sql(&options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.sql");
    std::fs::write(&file, &dump).unwrap();

    let native = native::server();
    let mut psql = native.client("psql").unwrap();
    psql.args(["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"])
        .args(["--dbname", "postgres", "--file"])
        .arg(&file);
    native::run_ok(psql);
    let mut pg_dump = native.client("pg_dump").unwrap();
    pg_dump.args(["--dbname", "postgres", "--restrict-key", RESTRICT_KEY]);
    let native_dump = native::run_ok(pg_dump);
    assert_same(&without_versions(&native_dump), &without_versions(&dump));
    assert_ne!(
        without_versions(&dump),
        dump,
        "the version comments are there"
    );
}

#[test]
fn options_choose_what_is_dumped() {
    let db = seeded();
    let schema = db.dump_sql(&DumpOptions::new().schema_only()).unwrap();
    assert!(schema.contains("CREATE TABLE app.posts"));
    assert!(!schema.contains("COPY "), "no data in a schema-only dump");

    let data = db.dump_sql(&DumpOptions::new().data_only()).unwrap();
    assert!(data.contains("COPY app.people"));
    assert!(!data.contains("CREATE TABLE"));

    let one = db
        .dump_sql(
            &DumpOptions::new()
                .table("app.posts")
                .no_owner()
                .no_privileges(),
        )
        .unwrap();
    assert!(one.contains("CREATE TABLE app.posts"));
    assert!(!one.contains("CREATE TABLE app.people"));
    assert!(!one.contains("OWNER TO"));

    let without = db
        .dump_sql(&DumpOptions::new().exclude_schema("app").clean(true))
        .unwrap();
    assert!(without.contains("DROP TABLE IF EXISTS public.plain;"));
    assert!(!without.contains("app.people"));

    // pg_dump's SQL-level prepared statements went with its connection:
    // the dumps above did not trip over each other's.
    let mut db = db;
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM pg_prepared_statements WHERE from_sql"
        ),
        0
    );

    // A pattern is a pattern, never an option.
    let none = db
        .dump_sql(&DumpOptions::new().table("--schema-only"))
        .unwrap_err();
    let message = none.to_string();
    assert!(message.contains("pg_dump exited with code 1"), "{message}");
    assert!(
        message.contains("no matching tables were found"),
        "{message}"
    );
}

#[test]
fn failures_are_reported_and_leave_the_databases_usable() {
    let mut db = seeded();

    // Inside this client's transaction: refused at once.
    db.batch_execute("BEGIN").unwrap();
    let err = db.dump_sql(&DumpOptions::new()).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    db.batch_execute("ROLLBACK").unwrap();

    // A plain dump is not an archive: pg_restore says so.
    let dump = db.dump_sql(&DumpOptions::new()).unwrap();
    let err = db
        .restore_archive(dump.as_bytes(), &RestoreOptions::default())
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("pg_restore exited with code 1"),
        "{message}"
    );
    assert!(message.contains("text format dump"), "{message}");

    // A restore that fails half way is rolled back whole: public.plain
    // exists already, and schema app, restored before it, is gone again.
    let mut full = Vec::new();
    db.dump_archive(&DumpOptions::new(), &mut full).unwrap();
    let mut other = Pglite::temporary().unwrap();
    other
        .batch_execute("CREATE TABLE public.plain (k int)")
        .unwrap();
    let err = other
        .restore_archive(full.as_slice(), &RestoreOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(
        count(
            &mut other,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'"
        ),
        0
    );

    // A truncated archive.
    let mut third = Pglite::temporary().unwrap();
    let err = third
        .restore_archive(&full[..full.len() / 2], &RestoreOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("pg_restore exited"), "{err}");
    assert_eq!(
        count(
            &mut third,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'"
        ),
        0
    );

    // Both databases go on.
    assert_eq!(count(&mut db, "SELECT count(*) FROM app.people"), 3);
    assert_eq!(count(&mut other, "SELECT count(*) FROM public.plain"), 0);
}

#[test]
fn pglite_dump_dumps_a_directory_and_restores_into_another() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    {
        let mut db = Pglite::open(&source).unwrap();
        db.batch_execute(SCHEMA).unwrap();
        db.close().unwrap();
    }
    let cli = || Command::new(env!("CARGO_BIN_EXE_pglite-dump"));
    let plain = native::run_ok({
        let mut c = cli();
        c.arg("--path")
            .arg(&source)
            .args(["--restrict-key", RESTRICT_KEY]);
        c
    });
    assert!(plain.contains("CREATE TABLE app.people"));

    let archive = dir.path().join("db.dump");
    native::run_ok({
        let mut c = cli();
        c.arg("--path")
            .arg(&source)
            .args(["-F", "custom", "-f"])
            .arg(&archive);
        c
    });
    let target = dir.path().join("target");
    native::run_ok({
        let mut c = cli();
        c.arg("--path").arg(&target).arg("--restore").arg(&archive);
        c
    });
    let again = native::run_ok({
        let mut c = cli();
        c.arg("--path")
            .arg(&target)
            .args(["--restrict-key", RESTRICT_KEY]);
        c
    });
    assert_same(&again, &plain);

    // Not a database directory: an error, nothing created.
    let missing = dir.path().join("missing");
    let output = cli().arg("--path").arg(&missing).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a database directory"));
    assert!(!missing.exists());
}

/// Extensions are part of a dump: their `CREATE EXTENSION`, and columns,
/// indexes and functions of their types. A database the dump goes into
/// needs the extensions installed (`Builder::extension`), not created.
#[test]
fn extensions_survive_a_dump_and_restore() {
    const EXTENSIONS: [&str; 3] = ["hstore", "citext", "pg_trgm"];
    let mut db = Pglite::temporary().unwrap();
    for name in EXTENSIONS {
        db.enable_extension(name).unwrap();
    }
    db.batch_execute(
        "CREATE TABLE notes (
             id int PRIMARY KEY,
             email citext UNIQUE,
             attrs hstore,
             body text
         );
         CREATE INDEX notes_body_trgm ON notes USING gin (body gin_trgm_ops);
         CREATE INDEX notes_attrs ON notes USING gist (attrs);
         INSERT INTO notes VALUES
             (1, 'Ada@Example.org', 'lang=>en, kind=>memo', 'engines of analysis'),
             (2, 'bob@example.org', NULL, 'a\tb\\c');",
    )
    .unwrap();
    let dump = db.dump_sql(&options()).unwrap();
    for name in EXTENSIONS {
        assert!(
            dump.contains(&format!("CREATE EXTENSION IF NOT EXISTS {name} ")),
            "{name}: {dump}"
        );
    }

    let mut archive = Vec::new();
    db.dump_archive(&options(), &mut archive).unwrap();
    let mut builder = Pglite::builder().temporary();
    for name in EXTENSIONS {
        builder = builder.extension(name);
    }
    let mut fresh = builder.open().unwrap();
    fresh
        .restore_archive(archive.as_slice(), &RestoreOptions::default())
        .unwrap();
    assert_same(&fresh.dump_sql(&options()).unwrap(), &dump);

    // The restored types and indexes work.
    let err = fresh
        .execute(
            "INSERT INTO notes VALUES (3, 'ADA@example.ORG', NULL, 'x')",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
    let id: i32 = fresh
        .query_one(
            "SELECT id FROM notes WHERE attrs -> 'lang' = 'en' AND body % 'engine of analysis'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(id, 1);
}
