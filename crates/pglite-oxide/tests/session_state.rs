//! What a client of a native server can count on, kept by the embedded
//! backend although it starts the way single-user mode does: settings
//! stored with ALTER DATABASE/ROLE ... SET, RESET SESSION AUTHORIZATION
//! back to the login user (also between the clients that share the one
//! backend), event triggers, and normal OIDs for new objects. (All found
//! missing by `cargo xtask regress`: patches 0009 and 0010.)

use pglite_oxide::Pglite;

fn show(db: &mut Pglite, setting: &str) -> String {
    db.query_one(&format!("SHOW {setting}"), &[])
        .unwrap()
        .get(0)
}

fn session_user(db: &mut Pglite) -> String {
    db.query_one("SELECT session_user::text", &[])
        .unwrap()
        .get(0)
}

#[test]
fn database_and_role_settings_hold_in_the_next_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut db = Pglite::open(&path).unwrap();
    db.batch_execute(
        "ALTER DATABASE postgres SET datestyle = 'SQL, DMY';
         ALTER ROLE postgres SET search_path = app, public",
    )
    .unwrap();
    db.close().unwrap();

    let mut db = Pglite::open(&path).unwrap();
    assert_eq!(show(&mut db, "datestyle"), "SQL, DMY");
    assert_eq!(show(&mut db, "search_path"), "app, public");
    // RESET returns to the stored value, not the server's default.
    db.batch_execute("SET datestyle = 'ISO, MDY'; RESET datestyle")
        .unwrap();
    assert_eq!(show(&mut db, "datestyle"), "SQL, DMY");
    db.close().unwrap();
}

#[test]
fn reset_session_authorization_returns_to_the_login_user() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE ROLE regress_someone").unwrap();
    for reset in [
        "RESET SESSION AUTHORIZATION",
        "SET SESSION AUTHORIZATION DEFAULT",
    ] {
        db.batch_execute("SET SESSION AUTHORIZATION regress_someone")
            .unwrap();
        assert_eq!(session_user(&mut db), "regress_someone");
        db.batch_execute(reset).unwrap();
        assert_eq!(session_user(&mut db), "postgres", "after {reset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_session_authorization_stays_its_own() {
    let db = Pglite::temporary().unwrap();
    let a = db.connect().await.unwrap();
    let b = db.connect().await.unwrap();
    a.batch_execute("CREATE ROLE regress_someone; SET SESSION AUTHORIZATION regress_someone")
        .await
        .unwrap();
    let user = |row: tokio_postgres::Row| row.get::<_, String>(0);
    let who = "SELECT session_user::text";
    assert_eq!(user(b.query_one(who, &[]).await.unwrap()), "postgres");
    assert_eq!(
        user(a.query_one(who, &[]).await.unwrap()),
        "regress_someone"
    );
    // The unprivileged role cannot do what b, the superuser, may.
    assert!(a.batch_execute("CREATE ROLE regress_other").await.is_err());
    b.batch_execute("CREATE ROLE regress_other").await.unwrap();
    a.batch_execute("RESET SESSION AUTHORIZATION")
        .await
        .unwrap();
    assert_eq!(user(a.query_one(who, &[]).await.unwrap()), "postgres");
}

#[test]
fn event_triggers_fire_and_new_objects_get_normal_oids() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute(
        "CREATE TABLE ddl_log (tag text);
         CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql
             AS $$ BEGIN INSERT INTO ddl_log VALUES (tg_tag); END $$;
         CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();
         CREATE TABLE later (x int)",
    )
    .unwrap();
    let tags: Vec<String> = db
        .query("SELECT tag FROM ddl_log", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tags, ["CREATE TABLE"]);
    // 16384: FirstNormalObjectId, below which objects count as built-in.
    let oid: i64 = db
        .query_one("SELECT 'later'::regclass::oid::int8", &[])
        .unwrap()
        .get(0);
    assert!(oid >= 16384, "user table got OID {oid}");
}
