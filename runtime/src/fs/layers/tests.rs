//! Copy-on-write semantics over a lower layer, on real directories.

use std::fs;
use std::path::Path;

use super::*;
use crate::fs::sync::{Durability, Syncs};

struct Fixture {
    _temp: tempfile::TempDir,
    layers: Layers,
    upper: PathBuf,
    lower: PathBuf,
    syncs: Syncs,
}

/// A lower layer holding `base/5/{1259,1249}`, `global/pg_control` and
/// `pg_wal/000000010000000000000001`; an empty upper one.
fn fixture() -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let lower = temp.path().join("lower");
    let upper = temp.path().join("upper");
    for dir in ["base/5", "global", "pg_wal"] {
        fs::create_dir_all(lower.join(dir)).unwrap();
    }
    fs::write(lower.join("base/5/1259"), b"pg_class").unwrap();
    fs::write(lower.join("base/5/1249"), b"pg_attribute").unwrap();
    fs::write(lower.join("global/pg_control"), b"control").unwrap();
    fs::write(lower.join("pg_wal/000000010000000000000001"), b"wal").unwrap();
    fs::create_dir(&upper).unwrap();
    Fixture {
        layers: Layers::new(upper.clone(), Some(lower.clone())),
        upper,
        lower,
        syncs: Syncs::new(Durability::Full),
        _temp: temp,
    }
}

fn p(path: &str) -> TreePath {
    TreePath::parse(Path::new(path)).unwrap()
}

fn names(f: &Fixture, dir: &str) -> Vec<String> {
    f.layers
        .read_dir(&p(dir))
        .unwrap()
        .into_keys()
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

fn errno(err: io::Error) -> i32 {
    err.raw_os_error().unwrap()
}

#[test]
fn the_lower_layer_shows_through_until_copied_up() {
    let f = fixture();
    assert!(matches!(
        f.layers.find(&p("base/5/1259")).unwrap(),
        Some(Found::Lower(_))
    ));
    assert!(f.layers.find(&p("base/5/9999")).unwrap().is_none());
    assert_eq!(names(&f, ""), ["base", "global", "pg_wal"]);
    assert_eq!(names(&f, "base/5"), ["1249", "1259"]);

    f.layers.copy_up(&p("base/5/1259"), &f.syncs).unwrap();
    assert!(matches!(
        f.layers.find(&p("base/5/1259")).unwrap(),
        Some(Found::Upper(_))
    ));
    assert_eq!(fs::read(f.upper.join("base/5/1259")).unwrap(), b"pg_class");
    assert!(f.layers.was_copied(&p("base/5/1259")));
    // Copying up makes the directories, not their other files.
    assert!(!f.upper.join("base/5/1249").exists());
    assert_eq!(names(&f, "base/5"), ["1249", "1259"]);
    // The copy-up and its new directories were synced.
    assert!(f.syncs.counts().files_all >= 1 && f.syncs.counts().directories >= 3);
}

#[test]
fn removed_lower_files_stay_removed_and_can_come_back() {
    let f = fixture();
    f.layers.remove_file(&p("base/5/1259"), &f.syncs).unwrap();
    assert!(f.layers.find(&p("base/5/1259")).unwrap().is_none());
    assert_eq!(names(&f, "base/5"), ["1249"]);
    assert_eq!(fs::read(f.lower.join("base/5/1259")).unwrap(), b"pg_class");
    assert_eq!(
        errno(
            f.layers
                .remove_file(&p("base/5/1259"), &f.syncs)
                .unwrap_err()
        ),
        libc::ENOENT
    );
    // A new file of the same name is the new one.
    fs::write(f.upper.join("base/5/1259"), b"new").unwrap();
    assert!(matches!(
        f.layers.find(&p("base/5/1259")).unwrap(),
        Some(Found::Upper(_))
    ));
    assert_eq!(names(&f, "base/5"), ["1249", "1259"]);
    // Removing it again keeps the lower one hidden.
    f.layers.remove_file(&p("base/5/1259"), &f.syncs).unwrap();
    assert!(f.layers.find(&p("base/5/1259")).unwrap().is_none());
}

#[test]
fn a_directory_recreated_over_a_removed_one_starts_empty() {
    let f = fixture();
    assert_eq!(
        errno(f.layers.remove_dir(&p("base/5"), &f.syncs).unwrap_err()),
        libc::ENOTEMPTY
    );
    for file in ["base/5/1259", "base/5/1249"] {
        f.layers.remove_file(&p(file), &f.syncs).unwrap();
    }
    f.layers.remove_dir(&p("base/5"), &f.syncs).unwrap();
    assert!(f.layers.find(&p("base/5")).unwrap().is_none());
    assert_eq!(names(&f, "base"), Vec::<String>::new());
    f.layers.create_dir(&p("base/5"), &f.syncs).unwrap();
    assert_eq!(names(&f, "base/5"), Vec::<String>::new());
    assert!(f.layers.find(&p("base/5/1259")).unwrap().is_none());
    assert_eq!(
        errno(f.layers.create_dir(&p("base/5"), &f.syncs).unwrap_err()),
        libc::EEXIST
    );
}

#[test]
fn renames_move_lower_files_and_hide_the_old_name() {
    let f = fixture();
    // WAL recycling: a segment renamed to a future name.
    f.layers
        .rename(
            &p("pg_wal/000000010000000000000001"),
            &p("pg_wal/000000010000000000000002"),
            &f.syncs,
        )
        .unwrap();
    assert_eq!(names(&f, "pg_wal"), ["000000010000000000000002"]);
    assert_eq!(
        fs::read(f.upper.join("pg_wal/000000010000000000000002")).unwrap(),
        b"wal"
    );
    // A written file replaces a lower one (pg_control's temp-and-rename).
    f.layers.ensure_upper_dir(&p("global"), &f.syncs).unwrap();
    fs::write(f.upper.join("global/pg_control.tmp"), b"control 2").unwrap();
    f.layers
        .rename(
            &p("global/pg_control.tmp"),
            &p("global/pg_control"),
            &f.syncs,
        )
        .unwrap();
    assert_eq!(names(&f, "global"), ["pg_control"]);
    assert_eq!(
        fs::read(f.upper.join("global/pg_control")).unwrap(),
        b"control 2"
    );
    assert_eq!(
        errno(
            f.layers
                .rename(&p("global/pg_control"), &p("base"), &f.syncs)
                .unwrap_err()
        ),
        libc::EISDIR
    );
    assert_eq!(
        errno(
            f.layers
                .rename(&p("nothing"), &p("global/x"), &f.syncs)
                .unwrap_err()
        ),
        libc::ENOENT
    );
}

#[test]
fn a_renamed_directory_takes_its_lower_contents_along() {
    let f = fixture();
    f.layers.copy_up(&p("base/5/1259"), &f.syncs).unwrap();
    f.layers
        .rename(&p("base/5"), &p("base/6"), &f.syncs)
        .unwrap();
    assert_eq!(names(&f, "base"), ["6"]);
    assert_eq!(names(&f, "base/6"), ["1249", "1259"]);
    assert_eq!(
        fs::read(f.upper.join("base/6/1249")).unwrap(),
        b"pg_attribute"
    );
    assert!(f.layers.find(&p("base/5/1249")).unwrap().is_none());
    // A directory of the old name starts empty.
    f.layers.create_dir(&p("base/5"), &f.syncs).unwrap();
    assert_eq!(names(&f, "base/5"), Vec::<String>::new());
    assert_eq!(
        errno(
            f.layers
                .rename(&p("base"), &p("base/6/x"), &f.syncs)
                .unwrap_err()
        ),
        libc::EINVAL
    );
}

#[test]
fn markers_and_reserved_names_stay_out_of_sight() {
    let f = fixture();
    f.layers
        .remove_file(&p("global/pg_control"), &f.syncs)
        .unwrap();
    assert!(f.upper.join("global/.pglite-whiteout.pg_control").is_file());
    assert_eq!(names(&f, "global"), Vec::<String>::new());
    assert!(TreePath::parse(Path::new("global/.pglite-whiteout.pg_control")).is_err());
}

#[test]
fn without_a_lower_layer_everything_is_plain() {
    let temp = tempfile::tempdir().unwrap();
    let layers = Layers::new(temp.path().to_path_buf(), None);
    let syncs = Syncs::new(Durability::Relaxed);
    layers.create_dir(&p("a"), &syncs).unwrap();
    fs::write(temp.path().join("a/f"), b"x").unwrap();
    layers.rename(&p("a/f"), &p("a/g"), &syncs).unwrap();
    assert_eq!(
        layers
            .read_dir(&p("a"))
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>(),
        ["g"]
    );
    layers.remove_file(&p("a/g"), &syncs).unwrap();
    layers.remove_dir(&p("a"), &syncs).unwrap();
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
    assert_eq!(
        errno(layers.create_dir(&p("x/y"), &syncs).unwrap_err()),
        libc::ENOENT
    );
}
