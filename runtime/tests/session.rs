//! A backend session against the real wasm PostgreSQL: SQL, error recovery
//! and persistence, over the frontend/backend protocol.

mod support;

use pglite_runtime::{initdb, BackendSession, InitOptions, SessionOptions};
use support::{artifacts, parse, query, scalar};

fn new_database() -> (tempfile::TempDir, std::path::PathBuf) {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    initdb(&artifacts(), &data, &InitOptions::default()).expect("initdb");
    (temp, data)
}

fn start(data: &std::path::Path) -> BackendSession {
    let (session, greeting) =
        BackendSession::start(&artifacts(), data, &SessionOptions::default()).expect("start");
    assert_eq!(parse(&greeting).status, b'I', "greeting ends idle");
    session
}

#[test]
fn answers_sql_over_the_protocol() {
    let (_temp, data) = new_database();
    let mut session = start(&data);

    let version = scalar(&query(&mut session, "SELECT version()"));
    assert!(version.starts_with("PostgreSQL 15.18"), "{version}");

    let script = "
        CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, team int);
        CREATE TABLE teams (id int PRIMARY KEY, title text);
        INSERT INTO teams VALUES (1, 'red'), (2, 'blue');
        INSERT INTO people SELECT g, 'p' || g, 1 + g % 2 FROM generate_series(1, 10) g;
        UPDATE people SET name = upper(name) WHERE id <= 2;
        DELETE FROM people WHERE id = 10;";
    let reply = query(&mut session, script);
    assert_eq!(reply.error, None);
    assert_eq!(
        reply.tags,
        [
            "CREATE TABLE",
            "CREATE TABLE",
            "INSERT 0 2",
            "INSERT 0 10",
            "UPDATE 2",
            "DELETE 1"
        ]
    );

    let joined = query(
        &mut session,
        "SELECT t.title, count(*), sum(p.id) FROM people p JOIN teams t ON t.id = p.team
         GROUP BY t.title ORDER BY t.title",
    );
    assert_eq!(
        joined.rows,
        [
            [Some("blue".into()), Some("5".into()), Some("25".into())],
            [Some("red".into()), Some("4".into()), Some("20".into())],
        ]
    );

    let cte = scalar(&query(
        &mut session,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
         SELECT sum(i) FROM n",
    ));
    assert_eq!(cte, "5050");

    let window = query(
        &mut session,
        "SELECT name, rank() OVER (ORDER BY id DESC) FROM people WHERE id <= 3 ORDER BY id",
    );
    assert_eq!(
        window.rows,
        [
            [Some("P1".into()), Some("3".into())],
            [Some("P2".into()), Some("2".into())],
            [Some("p3".into()), Some("1".into())],
        ]
    );
    session.shutdown().expect("clean shutdown");
}

#[test]
fn errors_recover_on_the_same_session() {
    let (_temp, data) = new_database();
    let mut session = start(&data);

    let syntax = query(&mut session, "SELEC 1");
    assert_eq!(syntax.error.as_deref(), Some("42601"));
    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");

    let division = query(&mut session, "SELECT 1 / 0");
    assert_eq!(division.error.as_deref(), Some("22012"));
    assert_eq!(scalar(&query(&mut session, "SELECT 2")), "2");

    query(&mut session, "CREATE TABLE u (k int PRIMARY KEY)");
    let reply = query(
        &mut session,
        "BEGIN; INSERT INTO u VALUES (1); INSERT INTO u VALUES (1)",
    );
    assert_eq!(reply.error.as_deref(), Some("23505"));
    assert_eq!(reply.status, b'E', "transaction failed");
    let aborted = query(&mut session, "SELECT 3");
    assert_eq!(aborted.error.as_deref(), Some("25P02"));
    query(&mut session, "ROLLBACK");
    assert_eq!(scalar(&query(&mut session, "SELECT count(*) FROM u")), "0");
    session.shutdown().expect("clean shutdown");
}

#[test]
fn data_persists_across_sessions() {
    let (_temp, data) = new_database();
    let mut session = start(&data);
    query(&mut session, "CREATE TABLE kept (v text)");
    query(&mut session, "INSERT INTO kept VALUES ('still here')");
    session.shutdown().expect("clean shutdown");

    let mut session = start(&data);
    assert_eq!(
        scalar(&query(&mut session, "SELECT v FROM kept")),
        "still here"
    );
    session.shutdown().expect("clean shutdown");
}

#[test]
fn plpgsql_functions_and_triggers_run() {
    let (_temp, data) = new_database();
    let mut session = start(&data);
    let setup = query(
        &mut session,
        "CREATE TABLE account (id int PRIMARY KEY, balance numeric NOT NULL);
         CREATE TABLE audit (account int, old numeric, new numeric);
         CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.balance < 0 THEN
                 RAISE EXCEPTION 'balance of % would be negative', NEW.id
                     USING ERRCODE = 'check_violation';
             END IF;
             INSERT INTO audit VALUES (NEW.id, OLD.balance, NEW.balance);
             RETURN NEW;
         END $$;
         CREATE TRIGGER account_audit BEFORE UPDATE ON account
             FOR EACH ROW EXECUTE FUNCTION log_change();
         CREATE FUNCTION transfer(a int, b int, amount numeric) RETURNS int
         LANGUAGE plpgsql AS $$
         BEGIN
             UPDATE account SET balance = balance - amount WHERE id = a;
             UPDATE account SET balance = balance + amount WHERE id = b;
             RETURN (SELECT count(*) FROM audit);
         EXCEPTION WHEN check_violation THEN
             RETURN -1;
         END $$;
         INSERT INTO account VALUES (1, 100), (2, 0);",
    );
    assert_eq!(setup.error, None);
    assert_eq!(
        scalar(&query(&mut session, "SELECT transfer(1, 2, 30)")),
        "2"
    );
    // The trigger raises; the function's handler rolls back its subtransaction.
    assert_eq!(
        scalar(&query(&mut session, "SELECT transfer(1, 2, 500)")),
        "-1"
    );
    assert_eq!(
        query(&mut session, "SELECT id, balance FROM account ORDER BY id").rows,
        [
            [Some("1".into()), Some("70".into())],
            [Some("2".into()), Some("30".into())],
        ]
    );
    assert_eq!(
        scalar(&query(&mut session, "SELECT count(*) FROM audit")),
        "2"
    );
    session.shutdown().expect("clean shutdown");
}

#[test]
fn statement_timeout_cancels_sleeps_and_computations() {
    let (_temp, data) = new_database();
    let mut session = start(&data);
    query(&mut session, "SET statement_timeout = '300ms'");

    let started = std::time::Instant::now();
    let sleep = query(&mut session, "SELECT pg_sleep(30)");
    assert_eq!(sleep.error.as_deref(), Some("57014"), "query_canceled");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    let started = std::time::Instant::now();
    let busy = query(
        &mut session,
        "SELECT count(*) FROM generate_series(1, 2000000000)",
    );
    assert_eq!(busy.error.as_deref(), Some("57014"), "query_canceled");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    query(&mut session, "SET statement_timeout = 0");
    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");
    session.shutdown().expect("clean shutdown");
}

#[test]
fn a_cancel_from_another_thread_ends_the_running_statement() {
    let (_temp, data) = new_database();
    let mut session = start(&data);
    let cancel = session.cancel_handle();
    let canceller = |cancel: pglite_runtime::CancelHandle| {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(cancel.cancel(), "the session is alive");
        })
    };
    // Asleep in a wait, then busy in a loop of interrupt checks.
    for sql in [
        "SELECT pg_sleep(30)",
        "SELECT count(*) FROM generate_series(1, 2000000000)",
    ] {
        let thread = canceller(cancel.clone());
        let started = std::time::Instant::now();
        let reply = query(&mut session, sql);
        assert_eq!(reply.error.as_deref(), Some("57014"), "{sql}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{sql}"
        );
        thread.join().unwrap();
    }
    // A request withdrawn before the next statement does not touch it.
    cancel.cancel();
    cancel.clear();
    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");
    session.shutdown().expect("clean shutdown");
    assert!(!cancel.cancel(), "nothing to cancel once the session ended");
}

#[test]
fn commits_reach_the_disk_unless_durability_is_relaxed() {
    let (_temp, data) = new_database();
    let mut session = start(&data);
    query(&mut session, "CREATE TABLE d (v int)");
    let before = session.sync_counts();
    query(&mut session, "INSERT INTO d VALUES (1)");
    let after = session.sync_counts();
    assert!(
        after.files_data > before.files_data,
        "a commit fdatasyncs the WAL: {before:?} -> {after:?}"
    );
    query(&mut session, "CHECKPOINT");
    let checkpointed = session.sync_counts();
    assert!(
        checkpointed.files_all > after.files_all,
        "a checkpoint fsyncs the data files: {after:?} -> {checkpointed:?}"
    );
    // CREATE DATABASE copies a directory and syncs it, entries included.
    query(&mut session, "CREATE DATABASE another");
    assert!(
        session.sync_counts().directories > checkpointed.directories,
        "directories are synced: {:?}",
        session.sync_counts()
    );
    session.shutdown().expect("clean shutdown");

    let options = SessionOptions {
        relaxed_durability: true,
        ..SessionOptions::default()
    };
    let (mut session, _) = BackendSession::start(&artifacts(), &data, &options).expect("start");
    for v in 0..10 {
        query(&mut session, &format!("INSERT INTO d VALUES ({v})"));
    }
    query(&mut session, "CHECKPOINT");
    query(&mut session, "DROP DATABASE another");
    assert_eq!(session.host_syncs(), 0, "relaxed durability never syncs");
    assert_eq!(scalar(&query(&mut session, "SELECT count(*) FROM d")), "11");
    session.shutdown().expect("clean shutdown");
}

#[test]
fn file_errors_reach_the_backend_with_their_errno() {
    let (_temp, data) = new_database();
    let mut session = start(&data);
    query(&mut session, "CREATE TABLE e (v int)");

    // The runtime trees are read-only: EROFS, not EPERM or EIO.
    let readonly = query(&mut session, "COPY e TO '/pglite/share/postgresql/e.csv'");
    assert_eq!(readonly.error.as_deref(), Some("42501"));
    let message = readonly.message.unwrap_or_default();
    assert!(message.contains("Read-only file system"), "{message}");

    let missing = query(&mut session, "COPY e FROM '/data/no such file'");
    assert_eq!(missing.error.as_deref(), Some("58P01"));
    let message = missing.message.unwrap_or_default();
    assert!(message.contains("No such file or directory"), "{message}");

    // The layer's own bookkeeping names are out of the guest's reach.
    let reserved = query(&mut session, "COPY e TO '/data/.pglite-lower'");
    assert_eq!(reserved.error.as_deref(), Some("42501"));
    let message = reserved.message.unwrap_or_default();
    assert!(message.contains("Permission denied"), "{message}");

    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");
    session.shutdown().expect("clean shutdown");
}

#[test]
fn open_datasync_wal_writes_are_synced() {
    let (_temp, data) = new_database();
    // PostgreSQL then opens its WAL with O_DSYNC and never calls fdatasync:
    // the layer syncs after each write, which wasix would not.
    let options = SessionOptions {
        settings: vec![("wal_sync_method".into(), "open_datasync".into())],
        ..SessionOptions::default()
    };
    let (mut session, _) = BackendSession::start(&artifacts(), &data, &options).expect("start");
    assert_eq!(
        scalar(&query(&mut session, "SHOW wal_sync_method")),
        "open_datasync"
    );
    query(&mut session, "CREATE TABLE s (v int)");
    let before = session.sync_counts();
    query(&mut session, "INSERT INTO s VALUES (1)");
    let after = session.sync_counts();
    assert!(
        after.files_data > before.files_data,
        "an O_DSYNC WAL write is synced: {before:?} -> {after:?}"
    );
    session.shutdown().expect("clean shutdown");
}

#[test]
fn a_lock_file_left_empty_by_a_killed_start_does_not_stop_the_next() {
    // A process killed while the backend wrote postmaster.pid leaves it
    // empty; PostgreSQL alone would refuse to start on it.
    let (_temp, data) = new_database();
    std::fs::write(data.join("postmaster.pid"), b"").unwrap();
    let mut session = start(&data);
    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");
}
