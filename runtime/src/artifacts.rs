//! The built backend: `postgres.wasm` plus the `share/` tree it reads at
//! run time (and `lib/` with extension files), as `cargo xtask build` lays
//! them out.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A directory holding the backend artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// Artifacts in `dir`; checks that the module and share tree are there.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        for (what, path) in [
            ("the backend module", "postgres.wasm"),
            ("the share tree", "share/postgres.bki"),
        ] {
            if !dir.join(path).exists() {
                return Err(Error::Artifacts {
                    problem: format!("{what} ({path}) is missing; run `cargo xtask build`"),
                    dir,
                });
            }
        }
        Ok(Self { dir })
    }

    /// The output directory of `cargo xtask build` for this workspace:
    /// `$CARGO_TARGET_DIR/pglite/out`, else `<workspace>/target/pglite/out`.
    pub fn from_build_output() -> Result<Self> {
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        };
        Self::from_dir(target.join("pglite/out"))
    }

    pub fn wasm(&self) -> PathBuf {
        self.dir.join("postgres.wasm")
    }

    pub fn share(&self) -> PathBuf {
        self.dir.join("share")
    }

    pub fn lib(&self) -> PathBuf {
        self.dir.join("lib")
    }

    /// The template data directory archive, if `cargo xtask template` made
    /// one for these artifacts.
    pub fn template(&self) -> Option<PathBuf> {
        let path = self.dir.join(crate::roots::TEMPLATE_FILE);
        path.is_file().then_some(path)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
