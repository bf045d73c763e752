//! New data directories from the build-time template.

mod support;

use pglite_runtime::{
    create_data_dir_from_template, BackendSession, Error, SessionOptions, TemplateCache,
};
use support::{query, scalar};

fn template() -> std::path::PathBuf {
    support::artifacts()
        .template()
        .expect("no template.tar.zst: run `cargo xtask template`")
}

#[test]
fn a_database_from_the_template_answers_queries() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    create_data_dir_from_template(&template(), &data).unwrap();
    let artifacts = support::artifacts();
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

/// Files under `dir`, relative, sorted.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_temporary_root_copies_only_what_it_changes() {
    let artifacts = support::artifacts();
    let cache = TemplateCache::open(&artifacts).unwrap();
    let template_files = files(cache.dir());
    let root = cache.temporary_root().unwrap();
    assert_eq!(files(root.path()), [".pglite-lower"]);

    let (mut session, _) =
        BackendSession::start(&artifacts, root.path(), &SessionOptions::default()).unwrap();
    for sql in [
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written')",
        "CREATE DATABASE copied",
        "DROP DATABASE copied",
        "VACUUM FULL pg_class",
        "CHECKPOINT",
    ] {
        assert_eq!(query(&mut session, sql).error, None, "{sql}");
    }
    session.shutdown().unwrap();

    // Opened again by its path: the lower layer is recorded in the root.
    let (mut session, _) =
        BackendSession::start(&artifacts, root.path(), &SessionOptions::default()).unwrap();
    assert_eq!(
        scalar(&query(&mut session, "SELECT v FROM kept")),
        "written"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT count(*) FROM pg_class WHERE relname = 'pg_class'"
        )),
        "1"
    );
    assert_eq!(
        scalar(&query(&mut session, "SELECT count(*) FROM pg_database")),
        "3"
    );
    session.shutdown().unwrap();

    let copied = files(root.path());
    assert!(
        copied.len() < template_files.len() / 2,
        "{} of the template's {} files were copied",
        copied.len(),
        template_files.len()
    );
    // VACUUM FULL rewrote pg_class: its old file is hidden, not deleted.
    assert!(copied.iter().any(|f| f.contains(".pglite-whiteout.")));
    assert_eq!(
        files(cache.dir()),
        template_files,
        "the template is untouched"
    );
    let path = root.path().to_path_buf();
    drop(root);
    assert!(!path.exists());
}

#[test]
fn a_persistent_root_is_a_full_copy() {
    let artifacts = support::artifacts();
    let cache = TemplateCache::open(&artifacts).unwrap();
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    cache.create_data_dir(&data).unwrap();
    assert_eq!(files(&data), files(cache.dir()));
    let (mut session, _) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).unwrap();
    assert_eq!(scalar(&query(&mut session, "SELECT 1")), "1");
    session.shutdown().unwrap();
}

#[test]
fn the_unpacked_template_stores_no_blocks_of_zeros() {
    use std::os::unix::fs::MetadataExt;
    let cache = TemplateCache::open(&support::artifacts()).unwrap();
    // A WAL segment is 16 MB, mostly zeros: a temporary database copies it
    // up on its first write, and copies holes for free.
    let wal = cache.dir().join("pg_wal");
    for entry in std::fs::read_dir(&wal).unwrap() {
        let meta = entry.unwrap().metadata().unwrap();
        if meta.is_file() {
            assert!(
                meta.blocks() * 512 < meta.len() / 2,
                "{} of {} bytes allocated",
                meta.blocks() * 512,
                meta.len()
            );
        }
    }
}
