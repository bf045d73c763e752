//! New data directories from the build-time template.

mod support;

use pglite_runtime::{
    create_data_dir_from_template, Artifacts, BackendSession, Error, SessionOptions,
};
use support::{query, scalar};

fn template() -> std::path::PathBuf {
    let artifacts = Artifacts::from_build_output().expect("run `cargo xtask build`");
    artifacts
        .template()
        .expect("no template.tar.zst: run `cargo xtask template`")
}

#[test]
fn a_database_from_the_template_answers_queries() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    create_data_dir_from_template(&template(), &data).unwrap();
    let artifacts = Artifacts::from_build_output().unwrap();
    let (mut session, _) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).unwrap();
    assert_eq!(
        scalar(&query(&mut session, "SELECT count(*) FROM pg_database")),
        "3"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT lanname FROM pg_language WHERE lanname = 'plpgsql'"
        )),
        "plpgsql"
    );
    session.shutdown().unwrap();
}

#[test]
fn a_corrupt_template_is_refused_and_leaves_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(template()).unwrap();
    let broken = temp.path().join("broken.tar.zst");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let data = temp.path().join("data");
    let err = create_data_dir_from_template(&broken, &data).unwrap_err();
    assert!(matches!(err, Error::Template { .. }), "{err}");
    assert!(!data.exists());

    let existing = temp.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    assert!(create_data_dir_from_template(&template(), &existing).is_err());
}
