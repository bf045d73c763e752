//! New data directories from the template data directory that
//! `cargo xtask template` makes at build time: unpacking an archive takes a
//! fraction of the time a fresh initdb takes.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{Error, Result};

/// The template's file name among the artifacts.
pub const TEMPLATE_FILE: &str = "template.tar.zst";

/// Unpacks the template `archive` into `dest`, which must not exist. On any
/// failure nothing is left at `dest`.
pub fn create_data_dir_from_template(archive: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(Error::io(
            "creating data directory",
            dest,
            std::io::ErrorKind::AlreadyExists.into(),
        ));
    }
    let result = unpack(archive, dest);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}

fn unpack(archive: &Path, dest: &Path) -> Result<()> {
    let corrupt = |e: std::io::Error| Error::Template {
        archive: archive.to_path_buf(),
        problem: e.to_string(),
    };
    let file = File::open(archive).map_err(|e| Error::io("opening", archive, e))?;
    let decoder = zstd::Decoder::new(file).map_err(corrupt)?;
    std::fs::create_dir_all(dest).map_err(|e| Error::io("creating", dest, e))?;
    // tar refuses entries that would land outside `dest`.
    tar::Archive::new(decoder).unpack(dest).map_err(corrupt)?;
    if !dest.join("PG_VERSION").is_file() || !dest.join("global/pg_control").is_file() {
        return Err(Error::Template {
            archive: archive.to_path_buf(),
            problem: "it does not hold a PostgreSQL data directory".into(),
        });
    }
    restrict_permissions(dest)
}

/// PostgreSQL's own modes for a data directory: 0700 directories, 0600 files.
fn restrict_permissions(dir: &Path) -> Result<()> {
    set_mode(dir, 0o700)?;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))? {
        let entry = entry.map_err(|e| Error::io("reading", dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io("stat", &path, e))?;
        if kind.is_dir() {
            restrict_permissions(&path)?;
        } else if kind.is_file() {
            set_mode(&path, 0o600)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("setting permissions of", path, e))
}
