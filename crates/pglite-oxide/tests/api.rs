//! The direct API against the real backend: opening, queries, errors,
//! transactions, COPY, notices and notifications.

use std::io::{Cursor, Read};

use pglite_oxide::{Error, Pglite, SqlState};

#[test]
fn execute_counts_rows_and_prepared_statements_are_reused() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX ON t (v);")
        .unwrap();
    let insert = db.prepare("INSERT INTO t VALUES ($1, $2)").unwrap();
    assert_eq!(insert.params().len(), 2);
    for i in 0..100 {
        assert_eq!(db.execute(&insert, &[&i, &format!("v{i}")]).unwrap(), 1);
    }
    assert_eq!(
        db.execute("UPDATE t SET v = v || '!' WHERE id < $1", &[&10])
            .unwrap(),
        10
    );
    assert_eq!(
        db.execute("DELETE FROM t WHERE id >= $1", &[&90]).unwrap(),
        10
    );
    let rows = db.query("SELECT id FROM t ORDER BY id", &[]).unwrap();
    assert_eq!(rows.len(), 90);
    assert!(db.query_opt("SELECT 1 WHERE false", &[]).unwrap().is_none());
    assert!(matches!(
        db.query_one("SELECT 1 WHERE false", &[]),
        Err(Error::RowCount(0))
    ));
    assert!(matches!(
        db.query_one("SELECT generate_series(1, 2)", &[]),
        Err(Error::RowCount(2))
    ));
    // Wrong parameter count: a typed error, nothing sent.
    assert!(matches!(
        db.execute(&insert, &[&1]),
        Err(Error::ParameterCount {
            expected: 2,
            given: 1
        })
    ));
    // More statements than the cache holds: old ones are closed, all work.
    for i in 0..600 {
        let n: i32 = db
            .query_one(&format!("SELECT {i} + $1"), &[&1])
            .unwrap()
            .get(0);
        assert_eq!(n, i + 1);
    }
}

#[test]
fn database_errors_carry_postgres_fields() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE TABLE u (id int PRIMARY KEY)")
        .unwrap();
    db.execute("INSERT INTO u VALUES (1)", &[]).unwrap();
    let err = db.execute("INSERT INTO u VALUES (1)", &[]).unwrap_err();
    let db_err = err.as_db_error().expect("a database error");
    assert_eq!(db_err.code(), &SqlState::UNIQUE_VIOLATION);
    assert_eq!(db_err.severity(), "ERROR");
    assert!(db_err.message().contains("duplicate key"), "{db_err}");
    assert_eq!(db_err.detail(), Some("Key (id)=(1) already exists."));
    assert_eq!(db_err.table(), Some("u"));
    assert_eq!(db_err.constraint(), Some("u_pkey"));

    let err = db.query("SELECT nope FROM u", &[]).unwrap_err();
    let db_err = err.as_db_error().unwrap();
    assert_eq!(db_err.code(), &SqlState::UNDEFINED_COLUMN);
    assert!(matches!(
        db_err.position(),
        Some(pglite_oxide::ErrorPosition::Original(8))
    ));
    let err = db.batch_execute("SELEC 1").unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
    let err = db
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'custom' USING HINT = 'try again'; END $$")
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().hint(), Some("try again"));
    // The session goes on.
    let one: i32 = db.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn transactions_commit_roll_back_and_nest() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE TABLE t (n int)").unwrap();
    {
        let mut tx = db.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        {
            let mut inner = tx.transaction().unwrap();
            inner.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
            // Dropped: rolled back to the savepoint.
        }
        {
            let mut inner = tx.transaction().unwrap();
            inner.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
            inner.commit().unwrap();
        }
        tx.commit().unwrap();
    }
    {
        let mut tx = db.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (4)", &[]).unwrap();
        // Dropped without commit: rolled back.
    }
    {
        let mut tx = db.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (5)", &[]).unwrap();
        tx.rollback().unwrap();
    }
    let rows: Vec<i32> = db
        .query("SELECT n FROM t ORDER BY n", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, [1, 3]);

    // A failed statement aborts the transaction; commit reports it.
    let mut tx = db.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES (6)", &[]).unwrap();
    assert!(tx.execute("SELECT 1/0", &[]).is_err());
    let err = tx.commit().unwrap_err();
    assert!(matches!(err, Error::RolledBack), "{err}");
    let count: i64 = db.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
    assert_eq!(count, 2);
}

/// A reader that yields its data in small pieces, as a file or socket
/// might, and counts how much was read.
struct Trickle {
    data: Cursor<Vec<u8>>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(1000);
        self.data.read(&mut buf[..n])
    }
}

#[test]
fn copy_streams_in_and_out() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE TABLE c (id int, name text)")
        .unwrap();
    let mut text = String::new();
    for i in 0..50_000 {
        text.push_str(&format!("{i}\tname {i}\n"));
    }
    let reader = Trickle {
        data: Cursor::new(text.clone().into_bytes()),
    };
    assert_eq!(db.copy_in("COPY c FROM STDIN", reader).unwrap(), 50_000);
    let mut out = Vec::new();
    assert_eq!(db.copy_out("COPY c TO STDOUT", &mut out).unwrap(), 50_000);
    assert_eq!(String::from_utf8(out).unwrap(), text);

    // Binary format round trip.
    let mut binary = Vec::new();
    db.copy_out("COPY c TO STDOUT (FORMAT binary)", &mut binary)
        .unwrap();
    db.batch_execute("CREATE TABLE d (id int, name text)")
        .unwrap();
    assert_eq!(
        db.copy_in("COPY d FROM STDIN (FORMAT binary)", &binary[..])
            .unwrap(),
        50_000
    );

    // Bad data: the COPY fails with PostgreSQL's error, nothing is kept.
    let err = db
        .copy_in("COPY c FROM STDIN", &b"1\tok\nnot a number\tx\n"[..])
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    // A failing reader aborts the COPY.
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    assert!(matches!(
        db.copy_in("COPY c FROM STDIN", Broken),
        Err(Error::Copy(_))
    ));
    let count: i64 = db.query_one("SELECT count(*) FROM c", &[]).unwrap().get(0);
    assert_eq!(count, 50_000);
}

#[test]
fn notices_and_notifications_reach_the_caller() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        .unwrap();
    let notices = db.take_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].message(), "hello 42");
    assert_eq!(notices[0].severity(), "NOTICE");

    db.batch_execute("LISTEN jobs").unwrap();
    db.execute("SELECT pg_notify('jobs', $1)", &[&"job 1"])
        .unwrap();
    db.batch_execute("NOTIFY jobs, 'job 2'; NOTIFY other, 'not for us'")
        .unwrap();
    let got: Vec<(String, String)> = db
        .notifications()
        .into_iter()
        .map(|n| (n.channel, n.payload))
        .collect();
    assert_eq!(
        got,
        [
            ("jobs".into(), "job 1".into()),
            ("jobs".into(), "job 2".into())
        ]
    );
}

#[test]
fn notice_callback_receives_warnings() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut db = Pglite::builder()
        .on_notice(move |n| sink.lock().unwrap().push(n.message().to_owned()))
        .open()
        .unwrap();
    db.batch_execute("DO $$ BEGIN RAISE WARNING 'careful'; END $$")
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["careful"]);
}

#[test]
fn a_cancel_token_ends_a_statement_running_on_another_thread() {
    let mut db = Pglite::temporary().unwrap();
    let token = db.cancel_token();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        token.cancel();
    });
    let started = std::time::Instant::now();
    let err = db
        .query("SELECT count(*) FROM generate_series(1, 2000000000)", &[])
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    canceller.join().unwrap();
    // Cancelling an idle session does nothing to its next statement.
    db.cancel_token().cancel();
    assert_eq!(db.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
}

#[test]
fn sessions_of_one_database_keep_their_own_settings() {
    let mut db = Pglite::temporary().unwrap();
    let mut other = db.session();
    db.batch_execute("SET search_path = pg_catalog; SET TimeZone = 'UTC'")
        .unwrap();
    other
        .batch_execute("SET TimeZone = 'Europe/Paris'")
        .unwrap();
    let setting = |session: &mut pglite_oxide::Session, name: &str| -> String {
        session
            .query_one("SELECT current_setting($1)", &[&name])
            .unwrap()
            .get(0)
    };
    for _ in 0..2 {
        assert_eq!(setting(&mut db, "search_path"), "pg_catalog");
        assert_eq!(setting(&mut db, "TimeZone"), "UTC");
        assert_eq!(setting(&mut other, "search_path"), "\"$user\", public");
        assert_eq!(setting(&mut other, "TimeZone"), "Europe/Paris");
    }
}

#[test]
fn a_set_stays_with_its_session_among_sessions_with_equal_settings() {
    let mut db = Pglite::temporary().unwrap();
    let mut other = db.session();
    let show = |session: &mut pglite_oxide::Session| -> String {
        // SHOW: nothing in this text mentions settings being changed.
        session.query_one("SHOW TimeZone", &[]).unwrap().get(0)
    };
    let default = show(&mut other);
    assert_ne!(default, "Asia/Tokyo");
    // The SET arrives while the other session has the backend.
    db.batch_execute("SET TimeZone = 'Asia/Tokyo'").unwrap();
    assert_eq!(show(&mut other), default);
    assert_eq!(show(&mut db), "Asia/Tokyo");
    assert_eq!(show(&mut other), default);
}
