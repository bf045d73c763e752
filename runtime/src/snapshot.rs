//! Copies of a data directory taken while its backend is held still (after
//! a checkpoint, with no statement running): forks and frozen snapshots.
//!
//! The copy is what a crash at that instant would leave, and the backend
//! started on it recovers from the checkpoint just written, replaying
//! nothing but that record. Unlogged tables come back empty, as after a
//! crash.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::fs::sparse::{copy_keeping_holes, copy_punching_zeros};
use crate::fs::view::{self, Kind, INSTANCE_FILES};
use crate::fs::RESERVED_PREFIX;
use crate::roots::{lower_layer, set_modes};
use crate::{Error, Result};

/// Copies the root `src` into the empty directory `dest`, layers and all:
/// a copy-on-write root stays one over the same lower layer (only what it
/// copied up is copied again), a full data directory is copied whole.
/// Files are copied with `copy_file_range` (a reflink where the filesystem
/// has them).
pub fn copy_root(src: &Path, dest: &Path) -> Result<()> {
    copy_upper(src, dest, true).map_err(|e| Error::io("copying the data directory to", dest, e))
}

fn copy_upper(from: &Path, to: &Path, top: bool) -> io::Result<()> {
    let copying = format!("{RESERVED_PREFIX}copying.");
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if top && INSTANCE_FILES.iter().any(|f| name == *f) {
            continue;
        }
        // A copy-up cut short by a crash: not part of the database.
        if name.as_encoded_bytes().starts_with(copying.as_bytes()) {
            continue;
        }
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            fs::DirBuilder::new().mode(0o700).create(&target)?;
            copy_upper(&entry.path(), &target, false)?;
        } else if kind.is_file() {
            copy_keeping_holes(&entry.path(), &target, 0o600)?;
        } else if kind.is_symlink() {
            symlink(fs::read_link(entry.path())?, &target)?;
        }
    }
    Ok(())
}

/// Makes `dest` (which must not exist) a read-only, self-contained copy of
/// the root `src`, fit to be the lower layer of new copy-on-write roots.
/// Files of `src`'s own lower layer are hard-linked where they can be (they
/// are read-only too), the rest copied. Built aside and renamed into
/// place: `dest` is complete or absent, also to another process.
pub fn freeze_root(src: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().ok_or_else(|| {
        Error::io(
            "freezing into",
            dest,
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })?;
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(parent)
        .map_err(|e| Error::io("creating a directory in", parent, e))?;
    let built = partial.path().join("data");
    let lower = lower_layer(src)?;
    flatten(src, lower.as_deref(), &built).map_err(|e| Error::io("copying", src, e))?;
    crate::initdb::sync_tree(&built)?;
    set_modes(&built, 0o500, 0o400)?;
    match fs::rename(&built, dest) {
        Ok(()) => Ok(()),
        // Another process froze the same thing first: theirs serves.
        Err(_) if dest.join("PG_VERSION").is_file() => {
            open_dirs(&built).map_err(|e| Error::io("removing", &built, e))
        }
        Err(e) => {
            open_dirs(&built).map_err(|e| Error::io("removing", &built, e))?;
            Err(Error::io("renaming into place", dest, e))
        }
    }
}

/// Makes the directories of a frozen tree writable again, so that it can be
/// removed; files keep their modes (some are the template's, hard-linked).
fn open_dirs(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            open_dirs(&entry.path())?;
        }
    }
    Ok(())
}

fn flatten(upper: &Path, lower: Option<&Path>, dest: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(dest)?;
    view::walk(upper, lower, &mut |entry| {
        let target = dest.join(entry.relative);
        match entry.kind {
            Kind::Dir => fs::DirBuilder::new().mode(0o700).create(&target),
            Kind::File if entry.from_lower => fs::hard_link(&entry.host, &target)
                .or_else(|_| copy_punching_zeros(&entry.host, &target, 0o600)),
            // Zeros become holes: a WAL segment's unwritten tail then costs
            // nothing to copy up into each fork.
            Kind::File => copy_punching_zeros(&entry.host, &target, 0o600),
            Kind::Symlink(link) => symlink(link, &target),
        }
    })
}
