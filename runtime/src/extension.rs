//! Extensions installed into one data directory, only when asked for
//! (decisions 0011 and 0013).
//!
//! An extension is built as a tree of its own (`cargo xtask build`,
//! recipes/extensions.toml): `share/extension/<name>.control`, its SQL
//! scripts and data files under `share/`, and its module under `lib/` (a
//! WebAssembly side module `<module>.so`, with `<module>.wasmu`, its native
//! code for this host, where there is some). A module loaded with `LOAD`
//! (auto_explain) has no control file, only `lib/<name>.so`. Installing
//! copies that tree into the data directory's `.pglite-extensions/`, which
//! the guest never sees as such: its `share/` and `lib/` are layered over
//! the backend's own `share/` and `lib/` trees, so PostgreSQL finds the
//! control file and the module where it always looks, and plain
//! `CREATE EXTENSION` works. A data directory carries what it had installed
//! across restarts; other data directories see nothing of it.

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

/// An extension of the catalog: one packaged with these artifacts whose
/// smoke test passed (`cargo xtask catalog`). The constants are in
/// [`crate::extensions`]; anywhere an extension is named, its name as a
/// string works too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extension {
    name: &'static str,
}

impl Extension {
    pub(crate) const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// Its name: the control file's, or the library's for a module loaded
    /// with `LOAD`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The catalog's extension called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<Self> {
        crate::extensions::ALL
            .iter()
            .copied()
            .find(|e| e.name == name)
    }
}

impl AsRef<str> for Extension {
    fn as_ref(&self) -> &str {
        self.name
    }
}

impl std::fmt::Display for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The files of one extension, as built.
#[derive(Debug, Clone)]
pub struct ExtensionFiles {
    name: String,
    dir: PathBuf,
    /// Native code of its side modules for this host (`<module>.wasmu`),
    /// installed beside them.
    native: Option<PathBuf>,
}

impl ExtensionFiles {
    /// The extension `name` among `artifacts`: `extensions/<name>/` in a
    /// build output, with the native code `cargo xtask aot` made for it
    /// beside the backend's (`aot/<triple>/extensions/<name>/`), if any;
    /// or, for the embedded artifacts, its own archives, unpacked on first
    /// use (only the extensions asked for are).
    pub fn from_artifacts(artifacts: &Artifacts, name: &str) -> Result<Self> {
        check_name(name)?;
        if artifacts.is_embedded() {
            let (dir, native) = crate::embedded::extension(name, artifacts.verification())?
                .ok_or_else(|| Error::Extension {
                    name: name.to_string(),
                    problem: "not packaged with pglite-runtime (see pglite_oxide::extensions)"
                        .into(),
                })?;
            let mut extension = Self::from_dir(name, dir)?;
            extension.native = native;
            return Ok(extension);
        }
        let mut extension =
            Self::from_dir(name, artifacts.dir().join(ARTIFACTS_SUBDIR).join(name))?;
        extension.native = artifacts
            .aot()
            .and_then(Path::parent)
            .map(|dir| dir.join(ARTIFACTS_SUBDIR).join(name))
            .filter(|dir| dir.is_dir());
        Ok(extension)
    }

    /// The extension `name` built into `dir`: `share/extension/<name>.control`
    /// and the rest of its tree, or only `lib/<name>.so` for a module loaded
    /// with `LOAD`.
    pub fn from_dir(name: &str, dir: impl Into<PathBuf>) -> Result<Self> {
        check_name(name)?;
        let dir = dir.into();
        let extension = Self {
            name: name.to_string(),
            dir,
            native: None,
        };
        if !extension.control_file().is_file() && !extension.library().is_file() {
            return Err(Error::Extension {
                name: name.to_string(),
                problem: format!(
                    "neither {} nor {} is there",
                    extension.control_file().display(),
                    extension.library().display()
                ),
            });
        }
        Ok(extension)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn control_file(&self) -> PathBuf {
        self.dir
            .join("share/extension")
            .join(format!("{}.control", self.name))
    }

    fn library(&self) -> PathBuf {
        self.dir.join("lib").join(format!("{}.so", self.name))
    }

    /// Whether it is an extension for `CREATE EXTENSION` (it has a control
    /// file) rather than a module for `LOAD`.
    pub fn has_control_file(&self) -> bool {
        self.control_file().is_file()
    }

    /// The extensions its control file `requires` (`earthdistance` needs
    /// `cube`).
    pub fn requires(&self) -> Result<Vec<String>> {
        if !self.has_control_file() {
            return Ok(Vec::new());
        }
        let path = self.control_file();
        let text = fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        Ok(control_requires(&text))
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

/// Installs extension `name` of `artifacts` into `data_dir` with every
/// extension it requires, transitively; returns its files.
pub fn install_extension(
    artifacts: &Artifacts,
    name: &str,
    data_dir: &Path,
) -> Result<ExtensionFiles> {
    let mut pending = vec![name.to_string()];
    let mut done: Vec<String> = Vec::new();
    let mut first = None;
    while let Some(next) = pending.pop() {
        if done.contains(&next) {
            continue;
        }
        let files = ExtensionFiles::from_artifacts(artifacts, &next)?;
        files.install(data_dir)?;
        // The backend's own extensions (plpgsql) need no installing.
        let in_backend = |name: &String| {
            artifacts
                .share()
                .join(format!("extension/{name}.control"))
                .is_file()
        };
        pending.extend(files.requires()?.into_iter().filter(|r| !in_backend(r)));
        done.push(next);
        first.get_or_insert(files);
    }
    Ok(first.expect("the extension asked for was installed"))
}

/// The names of a control file's `requires = 'a, b'`.
fn control_requires(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "requires").then(|| value.trim().trim_matches('\'').to_string())
        })
        .flat_map(|list| {
            list.split(',')
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::Extension {
            name: name.to_string(),
            problem: "not a valid extension name".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_files_requirements_are_read() {
        let text = "comment = 'x'\nrequires = 'cube, plpgsql'\nrelocatable = true\n";
        assert_eq!(control_requires(text), ["cube", "plpgsql"]);
        assert!(control_requires("default_version = '1.1'\n").is_empty());
    }
}
