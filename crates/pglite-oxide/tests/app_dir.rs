//! `Builder::app` puts the database in the platform's data directory. Its
//! own test binary: it sets XDG_DATA_HOME for the whole process.

use pglite_oxide::Pglite;

#[test]
fn app_databases_live_in_the_platform_data_directory() {
    let home = tempfile::tempdir().unwrap();
    // SAFETY: this binary's only test; no other thread reads the environment.
    unsafe { std::env::set_var("XDG_DATA_HOME", home.path()) };
    {
        let mut db = Pglite::builder()
            .app("org", "Example", "Notes")
            .open()
            .unwrap();
        assert!(
            db.data_dir().starts_with(home.path()),
            "{}",
            db.data_dir().display()
        );
        db.batch_execute("CREATE TABLE note (body text); INSERT INTO note VALUES ('kept')")
            .unwrap();
    }
    let mut db = Pglite::builder()
        .app("org", "Example", "Notes")
        .open()
        .unwrap();
    let body: String = db.query_one("SELECT body FROM note", &[]).unwrap().get(0);
    assert_eq!(body, "kept");
}
