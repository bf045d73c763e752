//! Getting a data directory ready to open: reused when it holds a
//! database, created (from the template, else by initdb) when absent or
//! empty, refused otherwise.

use std::path::Path;

use pglite_runtime::{
    create_data_dir_from_template, initdb, lower_layer, unpack_root, Artifacts, InitOptions,
    TemplateCache,
};

use crate::error::{Error, Result};

pub(crate) fn prepare(artifacts: &Artifacts, dir: &Path) -> Result<()> {
    // A copy-on-write root (a fork's, a temporary database's) holds only
    // what it changed, with its lower layer recorded.
    if dir.join("PG_VERSION").is_file() || (dir.is_dir() && lower_layer(dir)?.is_some()) {
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
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Config(format!("creating {}: {e}", parent.display())))?;
    }
    match artifacts.template() {
        Some(template) => create_data_dir_from_template(&template, dir)?,
        None => initdb(artifacts, dir, &InitOptions::default())?,
    }
    Ok(())
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
