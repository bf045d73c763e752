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

use pglite_runtime::{create_data_dir_from_template, initdb, Artifacts, DataDirLock, InitOptions};

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
    if dir.join("PG_VERSION").is_file() {
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
