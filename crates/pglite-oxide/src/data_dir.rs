//! Getting a data directory ready to open: reused when it holds a
//! database, created (from the template, else by initdb) when absent or
//! empty, refused otherwise.

use std::path::Path;

use pglite_runtime::{create_data_dir_from_template, initdb, Artifacts, InitOptions};

use crate::error::{Error, Result};

pub(crate) fn prepare(artifacts: &Artifacts, dir: &Path) -> Result<()> {
    if dir.join("PG_VERSION").is_file() {
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
