//! The backend's files: `postgres.wasm`, the `share/` tree it reads at run
//! time, `lib/` with extension files, the template data directory and, for
//! hosts that have it, native code compiled ahead of time.
//!
//! Users get the artifacts embedded in this crate (and in the AOT crate of
//! their target), unpacked once into the user's cache directory and checked
//! against their receipt on every use. Maintainers point at a directory
//! laid out as `cargo xtask build` writes it.

use std::path::{Path, PathBuf};

use crate::engine::ModuleFiles;
use crate::receipt::Verification;
use crate::{Error, Result};

/// The file name of the backend's AOT code under `aot/<triple>/`.
pub(crate) const AOT_MODULE_FILE: &str = "postgres.wasmu";

/// The module holding pg_dump and pg_restore, beside `postgres.wasm`.
pub(crate) const PG_DUMP_MODULE: &str = "pg_dump";

/// Names a directory of artifacts; [`Artifacts::new`] reads it.
pub const ARTIFACTS_ENV: &str = "PGLITE_OXIDE_ARTIFACTS";

/// A directory holding the backend artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    dir: PathBuf,
    aot: Option<PathBuf>,
    /// The files were checked against a receipt (the embedded artifacts):
    /// their native code loads without Wasmer validating it again.
    verified: bool,
    /// Set for the embedded artifacts: extensions come from their own
    /// embedded archives, checked at this level.
    embedded: Option<Verification>,
}

impl Artifacts {
    /// The artifacts this process uses by default: the directory named by
    /// `PGLITE_OXIDE_ARTIFACTS` when that is set (for example a build
    /// output), else the embedded ones ([`Artifacts::embedded`]).
    pub fn new() -> Result<Self> {
        match std::env::var_os(ARTIFACTS_ENV) {
            Some(dir) if !dir.is_empty() => Self::from_dir(dir),
            _ => Self::embedded(),
        }
    }

    /// The artifacts embedded in this crate, unpacked on first use into the
    /// user's cache directory. Checked by size on every call, by sha256 when
    /// `PGLITE_OXIDE_VERIFY=full` ([`Artifacts::embedded_with`]).
    pub fn embedded() -> Result<Self> {
        Self::embedded_with(Verification::from_env())
    }

    /// [`Artifacts::embedded`] with an explicit level of checking. A damaged
    /// cache is reported (`tracing`) and unpacked again; embedded bytes that
    /// do not match the manifest are an [`Error::Integrity`].
    pub fn embedded_with(verification: Verification) -> Result<Self> {
        let dir = crate::embedded::unpacked(verification)?;
        let mut artifacts = Self::from_dir(dir)?;
        artifacts.embedded = Some(verification);
        artifacts.verified = true;
        Ok(artifacts)
    }

    /// Artifacts in `dir`; checks that the module and share tree are there.
    /// AOT code is used if `dir` has it for this host
    /// (`aot/<triple>/postgres.wasmu`, as `cargo xtask aot` writes it).
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
        let aot = crate::generated::AOT_TARGET
            .map(|triple| dir.join("aot").join(triple).join(AOT_MODULE_FILE))
            .filter(|path| path.is_file());
        Ok(Self {
            dir,
            aot,
            verified: false,
            embedded: None,
        })
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

    /// The same artifacts with other native code: `Some(file)` loads that
    /// serialized module, `None` compiles the wasm module (which needs the
    /// `cranelift` feature). For benchmarks and tests.
    pub fn with_aot(mut self, aot: Option<PathBuf>) -> Self {
        self.aot = aot;
        self.verified = false;
        self
    }

    /// Whether these are the embedded artifacts ([`Artifacts::embedded`]).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// How the embedded artifacts are checked.
    pub(crate) fn verification(&self) -> Verification {
        self.embedded.unwrap_or_default()
    }

    /// The native code for this host, if there is any.
    pub fn aot(&self) -> Option<&Path> {
        self.aot.as_deref()
    }

    pub fn wasm(&self) -> PathBuf {
        self.dir.join("postgres.wasm")
    }

    pub(crate) fn backend_files(&self) -> ModuleFiles {
        ModuleFiles {
            wasm: self.wasm(),
            aot: self.aot.clone(),
            verified: self.verified,
        }
    }

    /// The module `<name>.wasm` of a program built beside the backend, and
    /// its AOT code `aot/<triple>/<name>.wasmu` if there is any.
    pub(crate) fn program_files(&self, name: &str) -> Result<ModuleFiles> {
        let wasm = self.dir.join(format!("{name}.wasm"));
        if !wasm.is_file() {
            return Err(Error::Artifacts {
                problem: format!(
                    "{name}.wasm is missing: these artifacts were built without it; \
                     run `cargo xtask build`"
                ),
                dir: self.dir.clone(),
            });
        }
        let aot = crate::generated::AOT_TARGET
            .map(|triple| {
                self.dir
                    .join("aot")
                    .join(triple)
                    .join(format!("{name}.wasmu"))
            })
            .filter(|path| path.is_file());
        Ok(ModuleFiles {
            wasm,
            aot,
            verified: self.verified,
        })
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
