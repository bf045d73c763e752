//! Getting a data directory ready to open: reused when it holds a
//! database, created (from the template, else by initdb) when absent or
//! empty, refused otherwise.
//!
//! A new data directory is made beside its final place, under a hidden
//! name, and renamed into place once complete and synced: a process killed
//! while making one leaves no half-made database where the next open would
//! take it for a whole one (its `PG_VERSION` is written long before its
//! catalogs). What such a process leaves beside it is removed by the next
//! creation in the same place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use pglite_runtime::{
    create_data_dir_from_template, initdb, lower_layer, unpack_root, Artifacts, DataDirLock,
    InitOptions, TemplateCache,
};

use crate::error::{Error, Result};

/// Marks the hidden sibling a data directory is made in.
const STAGING_MARK: &str = ".pglite-creating-";

pub(crate) fn prepare(artifacts: &Artifacts, dir: &Path) -> Result<()> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(name) = dir.file_name() else {
        return Err(Error::Config(format!(
            "{}: a data directory needs a name of its own",
            dir.display()
        )));
    };
    let mut prefix = OsString::from(STAGING_MARK);
    prefix.push(name);
    prefix.push(".");
    // A copy-on-write root (a fork's, a temporary database's) holds only
    // what it changed, with its lower layer recorded.
    if dir.join("PG_VERSION").is_file() || (dir.is_dir() && lower_layer(dir)?.is_some()) {
        // A process killed just after its rename leaves its staging.
        remove_abandoned(parent, &prefix);
        return Ok(());
    }
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Error::Config(format!("reading {}: {e}", dir.display())))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::Config(format!(
                "{} is neither empty nor a PostgreSQL data directory (no PG_VERSION)",
                dir.display()
            )));
        }
        std::fs::remove_dir(dir)
            .map_err(|e| Error::Config(format!("preparing {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Config(format!("creating {}: {e}", parent.display())))?;
    remove_abandoned(parent, &prefix);

    let staging = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(parent)
        .map_err(|e| Error::Config(format!("creating a directory in {}: {e}", parent.display())))?;
    // Held while the directory is made: tells this creation, still under
    // way, from an abandoned one.
    let _creating = DataDirLock::acquire(staging.path())?;
    let made = staging.path().join("data");
    match artifacts.template() {
        Some(template) => create_data_dir_from_template(&template, &made)?,
        None => initdb(artifacts, &made, &InitOptions::default())?,
    }
    match std::fs::rename(&made, dir) {
        Ok(()) => {}
        // Another process made it first: use theirs.
        Err(_) if dir.join("PG_VERSION").is_file() => return Ok(()),
        Err(e) => {
            return Err(Error::Config(format!(
                "moving the new data directory into {}: {e}",
                dir.display()
            )))
        }
    }
    // The rename itself must outlast a crash of the machine.
    std::fs::File::open(parent)
        .and_then(|parent| parent.sync_all())
        .map_err(|e| Error::Config(format!("syncing {}: {e}", parent.display())))
}

/// Removes what creations killed before they finished left in `parent`
/// (directories named with `prefix` that nobody holds).
fn remove_abandoned(parent: &Path, prefix: &OsString) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefix = prefix.as_encoded_bytes();
    let abandoned: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.file_name().as_encoded_bytes().starts_with(prefix))
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    for path in abandoned {
        // Held: another process is making its data directory right now.
        let Ok(lock) = DataDirLock::acquire(&path) else {
            continue;
        };
        if let Err(err) = std::fs::remove_dir_all(&path) {
            tracing::warn!(path = %path.display(), %err, "could not remove an abandoned data directory");
        }
        drop(lock);
    }
}

/// Creates the database in `dir` (absent, or an empty directory) from the
/// data directory archive `archive`, checked against this build's
/// template. Unpacked aside and renamed into place: a refused archive
/// leaves `dir` as it was.
pub(crate) fn load(artifacts: &Artifacts, archive: &Path, dir: &Path) -> Result<()> {
    if dir.join("PG_VERSION").is_file() {
        return Err(Error::Config(format!(
            "{} holds a database already; an archive is loaded only into an absent or empty \
             directory",
            dir.display()
        )));
    }
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(Error::Config(format!("reading {}: {e}", dir.display()))),
    };
    if !empty {
        return Err(Error::Config(format!(
            "{} is not empty; an archive is loaded only into an absent or empty directory",
            dir.display()
        )));
    }
    if artifacts.template().is_none() {
        return Err(Error::Config(
            "checking an archive needs the build's template data directory, and these \
             artifacts have none"
                .into(),
        ));
    }
    let ours = TemplateCache::open(artifacts)?;
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Config(format!("creating {}: {e}", parent.display())))?;
    let aside = tempfile::Builder::new()
        .prefix(".pglite-load-")
        .tempdir_in(parent)
        .map_err(|e| Error::Config(format!("creating a directory in {}: {e}", parent.display())))?;
    let unpacked = aside.path().join("data");
    std::fs::create_dir(&unpacked)
        .map_err(|e| Error::Config(format!("creating {}: {e}", unpacked.display())))?;
    unpack_root(archive, &unpacked, ours.dir())?;
    if dir.exists() {
        std::fs::remove_dir(dir)
            .map_err(|e| Error::Config(format!("preparing {}: {e}", dir.display())))?;
    }
    std::fs::rename(&unpacked, dir)
        .map_err(|e| Error::Config(format!("moving the database into {}: {e}", dir.display())))
}
