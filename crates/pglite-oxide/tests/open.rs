//! Opening databases: temporary, by path (created, then reused), builder
//! options, closing.

use pglite_oxide::{Error, Pglite};

#[test]
fn a_path_database_keeps_its_data_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let mut db = Pglite::open(&path).unwrap();
        db.batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
            .unwrap();
        db.close().unwrap();
    }
    let mut db = Pglite::open(&path).unwrap();
    let v: String = db.query_one("SELECT v FROM kept", &[]).unwrap().get(0);
    assert_eq!(v, "still here");
    // A second open of the same directory is refused while the first lives.
    let err = Pglite::open(&path).map(drop).unwrap_err();
    assert!(
        matches!(err, Error::Runtime(pglite_runtime::Error::Locked { .. })),
        "{err}"
    );
}

#[test]
fn temporary_databases_vanish_on_drop() {
    let db = Pglite::temporary().unwrap();
    let dir = db.data_dir().to_path_buf();
    // Copy-on-write over the template: the directory holds only what the
    // database changed, not necessarily PG_VERSION.
    assert!(dir.is_dir());
    drop(db);
    assert!(!dir.exists());
}

#[test]
fn builder_options_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Pglite::builder()
        .path(dir.path().join("db"))
        .database("app")
        .username("alice")
        .postgres_config("work_mem", "12MB")
        .postgres_config("application_name", "builder-test")
        .relaxed_durability(true)
        .open()
        .unwrap();
    let row = db
        .query_one(
            "SELECT current_database()::text, current_user::text, current_setting('work_mem'), \
                    current_setting('application_name')",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "app");
    assert_eq!(row.get::<_, String>(1), "alice");
    assert_eq!(row.get::<_, String>(2), "12MB");
    assert_eq!(row.get::<_, String>(3), "builder-test");
    // Relaxed durability lives in the runtime's filesystem layer (its syncs
    // do nothing), not in PostgreSQL's settings; the runtime's tests count
    // the syncs.
    db.close().unwrap();
    // Reopened: the database and role exist now.
    let mut db = Pglite::builder()
        .path(dir.path().join("db"))
        .database("app")
        .username("alice")
        .open()
        .unwrap();
    let user: String = db
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, "alice");
}

#[test]
fn unusable_locations_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(Pglite::open(&file), Err(Error::Config(_))));
    let junk = dir.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("notes.txt"), "mine").unwrap();
    assert!(matches!(Pglite::open(&junk), Err(Error::Config(_))));
    assert_eq!(
        std::fs::read_to_string(junk.join("notes.txt")).unwrap(),
        "mine"
    );
    // A bad setting: the backend refuses to start, with its reason.
    let err = Pglite::builder()
        .postgres_config("no_such_setting", "1")
        .open()
        .map(drop)
        .unwrap_err();
    assert!(err.to_string().contains("no_such_setting"), "{err}");
}

#[test]
fn data_directories_of_another_version_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    Pglite::open(&path).unwrap().close().unwrap();
    let version = path.join("PG_VERSION");
    for (written, expected) in [
        ("14\n", "made by PostgreSQL 14"),
        (
            "\u{0}\u{1}garbage that is long",
            "PG_VERSION file is damaged",
        ),
    ] {
        std::fs::write(&version, written).unwrap();
        let err = Pglite::open(&path).map(drop).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Runtime(pglite_runtime::Error::NotADataDir { .. })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    }
    // Refused, not damaged: with its version back it opens.
    std::fs::write(&version, "15\n").unwrap();
    Pglite::open(&path).unwrap().close().unwrap();
}

#[test]
fn pglite_is_send_and_serves_other_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Pglite>();
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE TABLE hits (n int)").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let mut session = db.session();
            std::thread::spawn(move || {
                for i in 0..50 {
                    session
                        .execute("INSERT INTO hits VALUES ($1)", &[&(t * 100 + i)])
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let count: i64 = db
        .query_one("SELECT count(*) FROM hits", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 200);
    // Moved to another thread and used there.
    let count = std::thread::spawn(move || {
        let n: i64 = db
            .query_one("SELECT count(*) FROM hits", &[])
            .unwrap()
            .get(0);
        n
    })
    .join()
    .unwrap();
    assert_eq!(count, 200);
}
