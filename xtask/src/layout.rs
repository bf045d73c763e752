//! Where things live: the repository's input directories and the work
//! directory that holds downloads, build trees, outputs, logs and stamps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Paths of one workspace and its work directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Repository root (holds `recipes/`, `patches/`, `assets/`).
    pub workspace: PathBuf,
    /// Work directory: `$CARGO_TARGET_DIR/pglite` or `<workspace>/target/pglite`.
    pub work: PathBuf,
    /// Where build trees are made (see [`FIXED_BUILD_ROOT`]).
    pub build_root: PathBuf,
}

/// PostgreSQL records its build's compiler flags and paths in the backend
/// (the `pg_config` strings). Building at the same absolute path on every
/// machine, with the assets copied inside it, keeps those bytes, and so the
/// module, independent of where the repository and the cache live.
pub const FIXED_BUILD_ROOT: &str = "/var/tmp/pglite-oxide/build";

/// Builds somewhere else than [`FIXED_BUILD_ROOT`] (an experiment beside
/// the main build on a shared machine). PostgreSQL records the other path:
/// such a build's outputs differ from the committed ones.
pub const BUILD_ROOT_ENV: &str = "PGLITE_OXIDE_BUILD_ROOT";

/// An exclusive lock on part of the work directory (see [`Layout::lock`]).
pub struct WorkLock {
    _file: std::fs::File,
}

impl Layout {
    /// The layout of this repository, honouring `CARGO_TARGET_DIR` so caches
    /// survive a fresh work tree.
    pub fn from_env() -> Result<Self> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask crate has no parent directory")?
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    std::env::current_dir()?.join(dir)
                }
            }
            _ => workspace.join("target"),
        };
        let mut layout = Self::new(workspace, target.join("pglite"));
        layout.build_root = match std::env::var_os(BUILD_ROOT_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(FIXED_BUILD_ROOT),
        };
        Ok(layout)
    }

    /// A layout whose build trees live in `<work>/build` (tests).
    pub fn new(workspace: impl Into<PathBuf>, work: impl Into<PathBuf>) -> Self {
        let work = work.into();
        Self {
            workspace: workspace.into(),
            build_root: work.join("build"),
            work,
        }
    }

    pub fn recipes(&self) -> PathBuf {
        self.workspace.join("recipes")
    }

    pub fn recipe(&self, name: &str) -> PathBuf {
        self.recipes().join(name)
    }

    pub fn patches(&self) -> PathBuf {
        self.workspace.join("patches")
    }

    pub fn assets(&self) -> PathBuf {
        self.workspace.join("assets")
    }

    /// Downloaded upstream sources.
    pub fn sources(&self) -> PathBuf {
        self.work.join("sources")
    }

    /// Build trees (`<build_root>/postgres`); a reproducibility check
    /// rebuilds in the same place.
    pub fn build(&self) -> PathBuf {
        self.build_root.clone()
    }

    /// Final outputs (`out/postgres.wasm`, `out/share/...`).
    pub fn out(&self) -> PathBuf {
        self.work.join("out")
    }

    /// Built libraries that extensions link (`libraries/<name>/lib`,
    /// `.../include`; `crate::libraries`).
    pub fn libraries(&self) -> PathBuf {
        self.work.join("libraries")
    }

    pub fn logs(&self) -> PathBuf {
        self.work.join("logs")
    }

    pub fn stamps(&self) -> PathBuf {
        self.work.join("stamps")
    }

    /// Takes an exclusive lock on the work directory for `what` (`"build"`),
    /// waiting while another xtask process holds it; released on drop.
    pub fn lock(&self, what: &str) -> Result<WorkLock> {
        std::fs::create_dir_all(&self.work)
            .with_context(|| format!("creating {}", self.work.display()))?;
        let path = self.work.join(format!("{what}.lock"));
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for another `cargo xtask {what}` ({})",
                    path.display()
                );
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        Ok(WorkLock { _file: file })
    }

    /// Verified `.deb` files of pinned toolchain packages.
    pub fn toolchain_debs(&self) -> PathBuf {
        self.work.join("toolchain")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), dir.path().join("work"));
        let held = layout.lock("build").unwrap();
        let other = std::fs::File::open(layout.work.join("build.lock")).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
    }

    #[test]
    fn paths_hang_off_workspace_and_work_dir() {
        let layout = Layout::new("/repo", "/cache/pglite");
        assert_eq!(
            layout.recipe("sources.toml"),
            Path::new("/repo/recipes/sources.toml")
        );
        assert_eq!(layout.out(), Path::new("/cache/pglite/out"));
        assert_eq!(layout.stamps(), Path::new("/cache/pglite/stamps"));
    }
}
