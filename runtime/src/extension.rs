//! Extensions installed into one data directory, only when asked for
//! (decision 0011).
//!
//! An extension is built as a tree of its own (`cargo xtask build`,
//! recipes/extensions.toml): `share/extension/<name>.control`, its SQL
//! scripts and data files under `share/`, and its module under `lib/` (a
//! WebAssembly side module `<module>.so`, with `<module>.wasmu`, its native
//! code for this host, where there is some). Installing copies that tree
//! into the data directory's `.pglite-extensions/`, which the guest never
//! sees as such: its `share/` and `lib/` are layered over the backend's own
//! `share/` and `lib/` trees, so PostgreSQL finds the control file and the
//! module where it always looks, and plain `CREATE EXTENSION` works. A data
//! directory carries what it had installed across restarts; other data
//! directories see nothing of it.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::artifacts::Artifacts;
use crate::{Error, Result};

/// In a data directory: the installed extensions' `share/` and `lib/`.
/// The reserved prefix keeps it out of the guest's sight.
pub(crate) const INSTALLED_DIR: &str = ".pglite-extensions";

/// Where the build puts each extension's tree among the artifacts.
const ARTIFACTS_SUBDIR: &str = "extensions";

/// The files of one extension, as built.
#[derive(Debug, Clone)]
pub struct Extension {
    name: String,
    dir: PathBuf,
    /// Native code of its side modules for this host (`<module>.wasmu`),
    /// installed beside them.
    native: Option<PathBuf>,
}

impl Extension {
    /// The extension `name` among `artifacts` (`extensions/<name>/`), with
    /// the native code `cargo xtask aot` made for it beside the backend's
    /// (`aot/<triple>/extensions/<name>/`), if any.
    pub fn from_artifacts(artifacts: &Artifacts, name: &str) -> Result<Self> {
        let mut extension =
            Self::from_dir(name, artifacts.dir().join(ARTIFACTS_SUBDIR).join(name))?;
        extension.native = artifacts
            .aot()
            .and_then(Path::parent)
            .map(|dir| dir.join(ARTIFACTS_SUBDIR).join(name))
            .filter(|dir| dir.is_dir());
        Ok(extension)
    }

    /// The extension `name` built into `dir` (`share/extension/<name>.control`
    /// and the rest of its tree).
    pub fn from_dir(name: &str, dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(Error::Extension {
                name: name.to_string(),
                problem: "not a valid extension name".into(),
            });
        }
        let control = dir.join("share/extension").join(format!("{name}.control"));
        if !control.is_file() {
            return Err(Error::Extension {
                name: name.to_string(),
                problem: format!("{} is missing", control.display()),
            });
        }
        Ok(Self {
            name: name.to_string(),
            dir,
            native: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Copies the extension's files into `data_dir`, replacing an earlier
    /// copy of the same files. Each file is written aside and renamed into
    /// place, so a backend never reads half a file; a backend already
    /// running sees them at once.
    pub fn install(&self, data_dir: &Path) -> Result<()> {
        let target = installed_dir(data_dir);
        let copied = copy_tree(&self.dir, &target).and_then(|()| match &self.native {
            Some(native) => copy_tree(native, &target.join("lib")),
            None => Ok(()),
        });
        copied.map_err(|e| Error::Extension {
            name: self.name.clone(),
            problem: format!("installing into {}: {e}", target.display()),
        })
    }
}

/// The installed extensions of `data_dir`.
pub(crate) fn installed_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(INSTALLED_DIR)
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            // A reserved name: the guest never sees the partial file.
            let partial = tempfile::Builder::new()
                .prefix(".pglite-copying.")
                .tempfile_in(to)?;
            fs::copy(entry.path(), partial.path())?;
            partial.as_file().sync_all()?;
            partial.persist(&target).map_err(|e| e.error)?;
        }
    }
    fs::File::open(to)?.sync_all()
}
