//! initdb end to end: creates data directories with the built backend and
//! queries them through a [`BackendSession`].
//!
//! Needs the output of `cargo xtask build`; without it these tests fail
//! (they never skip).

mod support;

use std::path::{Path, PathBuf};

use pglite_runtime::{initdb, Artifacts, BackendSession, Error, InitOptions, SessionOptions};
use support::{artifacts, parse, query};

fn connect(artifacts: &Artifacts, data: &Path, database: &str) -> BackendSession {
    let options = SessionOptions {
        database: database.into(),
        ..Default::default()
    };
    let (session, greeting) = BackendSession::start(artifacts, data, &options)
        .unwrap_or_else(|err| panic!("starting a session on {database}: {err}"));
    assert_eq!(parse(&greeting).status, b'I', "greeting ends idle");
    session
}

/// The single value `sql` returns.
fn one(session: &mut BackendSession, sql: &str) -> String {
    let reply = query(session, sql);
    assert_eq!(reply.error, None, "{sql}");
    assert_eq!(reply.rows.len(), 1, "{sql}: {:?}", reply.rows);
    assert_eq!(reply.rows[0].len(), 1, "{sql}: {:?}", reply.rows);
    reply.rows[0][0]
        .clone()
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

#[test]
fn initdb_creates_a_usable_cluster() {
    let artifacts = artifacts();
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    initdb(&artifacts, &data, &InitOptions::default())
        .unwrap_or_else(|err| panic!("initdb: {err}"));

    for file in [
        "PG_VERSION",
        "base/1/PG_VERSION",
        "global/pg_control",
        "postgresql.conf",
        "postgresql.auto.conf",
        "pg_hba.conf",
        "pg_ident.conf",
    ] {
        assert!(data.join(file).is_file(), "{file} is missing");
    }
    assert_eq!(
        std::fs::read_to_string(data.join("PG_VERSION")).unwrap(),
        "15\n"
    );
    // initdb's own WAL is gone: one segment, holding the shutdown
    // checkpoint after the final switch.
    let segments: Vec<String> = std::fs::read_dir(data.join("pg_wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "archive_status")
        .collect();
    assert_eq!(segments, ["000000010000000000000002"]);

    let mut db = connect(&artifacts, &data, "postgres");
    assert_eq!(one(&mut db, "SELECT count(*) FROM pg_database"), "3");
    assert_eq!(
        one(
            &mut db,
            "SELECT string_agg(datname || ':' || oid, ',' ORDER BY oid) FROM pg_database"
        ),
        "template1:1,template0:4,postgres:5"
    );
    assert_eq!(
        one(
            &mut db,
            "SELECT datallowconn::text FROM pg_database WHERE datname = 'template0'"
        ),
        "false"
    );
    assert_eq!(
        one(&mut db, "SELECT rolname FROM pg_authid WHERE oid = 10"),
        "postgres"
    );
    assert_eq!(one(&mut db, "SHOW server_encoding"), "UTF8");
    assert_eq!(one(&mut db, "SHOW lc_collate"), "C");
    assert_eq!(one(&mut db, "SHOW timezone"), "UTC");

    // information_schema, with its version and the features list from the
    // share tree.
    assert_ne!(
        one(
            &mut db,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'pg_catalog'"
        ),
        "0"
    );
    assert_ne!(
        one(
            &mut db,
            "SELECT count(*) FROM information_schema.sql_features"
        ),
        "0"
    );
    assert_eq!(
        one(
            &mut db,
            "SELECT character_value FROM information_schema.sql_implementation_info \
             WHERE implementation_info_name = 'DBMS VERSION'"
        ),
        "15.18.0000"
    );

    // Collations, descriptions, privileges.
    assert_eq!(
        one(
            &mut db,
            "SELECT count(*) FROM pg_collation WHERE collname = 'ucs_basic'"
        ),
        "1"
    );
    assert_ne!(
        one(
            &mut db,
            "SELECT count(*) FROM pg_description WHERE description LIKE 'implementation of %'"
        ),
        "0"
    );
    assert_eq!(
        one(
            &mut db,
            "SELECT relacl::text FROM pg_class WHERE relname = 'pg_class'"
        ),
        "{postgres=arwdDxt/postgres,=r/postgres}"
    );
    assert_ne!(one(&mut db, "SELECT count(*) FROM pg_init_privs"), "0");

    let share = artifacts.share();
    if share.join("extension/plpgsql.control").is_file() {
        let reply = query(
            &mut db,
            "DO $$ BEGIN CREATE TABLE from_plpgsql AS SELECT 6 * 7 AS answer; END $$",
        );
        assert_eq!(reply.error, None, "DO block");
        assert_eq!(one(&mut db, "SELECT answer FROM from_plpgsql"), "42");
    } else {
        eprintln!("NOTE: this build has no plpgsql; checking that initdb left it out");
        assert_eq!(
            one(
                &mut db,
                "SELECT count(*) FROM pg_language WHERE lanname = 'plpgsql'"
            ),
            "0"
        );
    }
    if share.join("snowball_create.sql").is_file() {
        assert_eq!(
            one(&mut db, "SHOW default_text_search_config"),
            "pg_catalog.english"
        );
        assert_eq!(
            one(
                &mut db,
                "SELECT to_tsvector('The runners were running')::text"
            ),
            "'run':4 'runner':2"
        );
    } else {
        eprintln!(
            "NOTE: this build has no snowball dictionaries; checking the simple configuration"
        );
        assert_eq!(
            one(&mut db, "SHOW default_text_search_config"),
            "pg_catalog.simple"
        );
    }
    db.shutdown().unwrap();

    let mut db = connect(&artifacts, &data, "template1");
    assert_eq!(one(&mut db, "SELECT current_database()"), "template1");
    db.shutdown().unwrap();
}

#[test]
fn initdb_names_the_superuser() {
    let artifacts = artifacts();
    // An existing, empty directory is accepted.
    let temp = tempfile::tempdir().unwrap();
    let options = InitOptions {
        superuser: "Data Owner".into(),
        ..InitOptions::default()
    };
    initdb(&artifacts, temp.path(), &options).unwrap_or_else(|err| panic!("initdb: {err}"));

    let mut db = connect(&artifacts, temp.path(), "postgres");
    assert_eq!(
        one(&mut db, "SELECT rolname FROM pg_authid WHERE oid = 10"),
        "Data Owner"
    );
    assert_eq!(
        one(
            &mut db,
            "SELECT array_to_string(relacl, ' ') FROM pg_class WHERE relname = 'pg_class'"
        ),
        r#""Data Owner"=arwdDxt/"Data Owner" =r/"Data Owner""#
    );
    db.shutdown().unwrap();
}

/// Every file under `dir` with its contents, by relative path.
fn tree_contents(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn reproducible_initdb_makes_the_same_bytes_twice() {
    let artifacts = artifacts();
    let temp = tempfile::tempdir().unwrap();
    let options = InitOptions {
        reproducible: true,
        ..InitOptions::default()
    };
    let (first, second) = (temp.path().join("first"), temp.path().join("second"));
    initdb(&artifacts, &first, &options).unwrap();
    initdb(&artifacts, &second, &options).unwrap();
    let (first, second) = (tree_contents(&first), tree_contents(&second));
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    let differing: Vec<_> = first
        .iter()
        .filter(|(path, bytes)| second[*path] != **bytes)
        .map(|(path, _)| path)
        .collect();
    assert!(differing.is_empty(), "files differ: {differing:?}");
}

#[test]
fn initdb_refuses_what_it_cannot_use() {
    let artifacts = artifacts();
    let temp = tempfile::tempdir().unwrap();

    let full = temp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep-me"), "x").unwrap();
    let err = initdb(&artifacts, &full, &InitOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(
        full.join("keep-me").is_file(),
        "a non-empty directory was touched"
    );

    // Reserved for system roles, and not allowed to own an extension.
    let fresh = temp.path().join("fresh");
    for superuser in ["pg_me", "O'Brien"] {
        let options = InitOptions {
            superuser: superuser.into(),
            ..InitOptions::default()
        };
        let err = initdb(&artifacts, &fresh, &options).unwrap_err();
        assert!(matches!(err, Error::Initdb { code: None, .. }), "{err}");
        assert!(!fresh.exists(), "a data directory was left after a refusal");
    }
}

#[test]
fn a_failed_step_reports_the_backend_log_and_cleans_up() {
    let artifacts = artifacts();
    let temp = tempfile::tempdir().unwrap();
    // The same backend with a share tree whose system_views.sql ends in an
    // error.
    let broken = temp.path().join("artifacts");
    std::fs::create_dir(&broken).unwrap();
    std::os::unix::fs::symlink(artifacts.wasm(), broken.join("postgres.wasm")).unwrap();
    std::os::unix::fs::symlink(artifacts.lib(), broken.join("lib")).unwrap();
    copy_tree(&artifacts.share(), &broken.join("share"));
    let views = broken.join("share/system_views.sql");
    let mut text = std::fs::read_to_string(&views).unwrap();
    text.push_str("\n\nSELECT no_such_function();\n\n");
    std::fs::write(&views, text).unwrap();
    // The same native code: the module did not change.
    let broken = Artifacts::from_dir(broken)
        .unwrap()
        .with_aot(artifacts.aot().map(Into::into));

    let data = temp.path().join("data");
    let err = initdb(&broken, &data, &InitOptions::default()).unwrap_err();
    match &err {
        Error::Initdb {
            step,
            code: Some(code),
            log,
        } => {
            assert_eq!(*step, "post-bootstrap initialization");
            assert_ne!(*code, 0);
            assert!(log.contains("no_such_function"), "{log}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(
        err.to_string()
            .contains("function no_such_function() does not exist"),
        "{err}"
    );
    assert!(!data.exists(), "the failed data directory was left behind");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
