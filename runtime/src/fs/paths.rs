//! Paths inside one mounted tree.
//!
//! wasix resolves `.`, `..` and symlinks in the guest's namespace before it
//! calls a filesystem, and hands over paths relative to the mount (`/base/5`
//! for the guest's `/data/base/5`). A [`TreePath`] is such a path checked:
//! plain names only, so joining it to a host directory cannot leave it, and
//! none of the names the layer keeps for itself.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::errno::os_error;

/// Names starting with this belong to the layer (copy-on-write markers,
/// files being copied, a root's lower layer); the guest never sees them.
pub(crate) const RESERVED_PREFIX: &str = ".pglite-";

/// A checked path relative to a tree's root; empty for the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TreePath(PathBuf);

impl TreePath {
    pub fn root() -> Self {
        Self(PathBuf::new())
    }

    /// Checks a path from wasix. `..` is refused (EACCES): wasix resolves it
    /// itself, so one here would be an attempt to leave the tree.
    pub fn parse(path: &Path) -> io::Result<Self> {
        let mut checked = PathBuf::new();
        for component in path.components() {
            match component {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(name) => {
                    if is_reserved(name) {
                        return Err(os_error(libc::EACCES));
                    }
                    checked.push(name);
                }
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(os_error(libc::EACCES));
                }
            }
        }
        Ok(Self(checked))
    }

    pub fn is_root(&self) -> bool {
        self.0.as_os_str().is_empty()
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The last name; `None` for the root.
    pub fn name(&self) -> Option<&OsStr> {
        self.0.file_name()
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<TreePath> {
        if self.is_root() {
            None
        } else {
            Some(Self(
                self.0.parent().map(Path::to_path_buf).unwrap_or_default(),
            ))
        }
    }

    /// The proper ancestors, outermost first, without the root.
    pub fn ancestors(&self) -> Vec<TreePath> {
        let mut all: Vec<TreePath> = self
            .0
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| Self(p.to_path_buf()))
            .collect();
        all.reverse();
        all
    }

    /// A child of this directory (`name` is a plain name from a listing).
    pub fn child(&self, name: &OsStr) -> TreePath {
        Self(self.0.join(name))
    }

    /// This path on the host under `root`.
    pub fn on(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }

    /// A sibling name the layer uses for this path (`.pglite-<what>.<name>`).
    pub fn marker(&self, what: &str) -> Option<TreePath> {
        let name = self.name()?;
        let mut marker = OsString::from(format!("{RESERVED_PREFIX}{what}."));
        marker.push(name);
        Some(Self(self.0.with_file_name(marker)))
    }
}

pub(crate) fn is_reserved(name: &OsStr) -> bool {
    name.as_bytes().starts_with(RESERVED_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasix_paths_become_plain_relative_paths() {
        let p = TreePath::parse(Path::new("/base/./5/1259")).unwrap();
        assert_eq!(p.as_path(), Path::new("base/5/1259"));
        assert_eq!(p.name(), Some(OsStr::new("1259")));
        assert_eq!(p.parent().unwrap().as_path(), Path::new("base/5"));
        assert_eq!(
            p.ancestors()
                .iter()
                .map(|a| a.as_path().to_path_buf())
                .collect::<Vec<_>>(),
            [PathBuf::from("base"), PathBuf::from("base/5")]
        );
        assert_eq!(
            p.marker("whiteout").unwrap().as_path(),
            Path::new("base/5/.pglite-whiteout.1259")
        );
        assert!(TreePath::parse(Path::new("/")).unwrap().is_root());
        assert!(TreePath::parse(Path::new("")).unwrap().is_root());
        assert_eq!(TreePath::root().parent(), None);
    }

    #[test]
    fn escapes_and_reserved_names_are_refused() {
        for bad in ["/../etc", "a/../../b", "base/.pglite-lower", ".pglite-x"] {
            let err = TreePath::parse(Path::new(bad)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{bad}");
        }
    }
}
