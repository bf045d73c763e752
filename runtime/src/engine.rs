//! One Wasmer engine per process, and the modules it runs: the backend and
//! the programs built beside it (pg_dump).
//!
//! A module comes, in order of preference, from:
//! 1. ahead-of-time native code ([`Artifacts::aot`]): deserialized by an
//!    engine that needs no compiler, in milliseconds;
//! 2. with the `cranelift` feature, a compilation of the wasm module made
//!    once and kept on disk under the user's cache directory, keyed by the
//!    module's sha256, the Wasmer version and the engine's identity;
//! 3. otherwise [`Error::NoCompiler`], which says what to enable.
//!
//! Either way a module is loaded once per process and shared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use wasmer::{Engine, Module};

use crate::artifacts::Artifacts;
use crate::{Error, Result};

/// The Wasmer version this crate is built with (pinned with `=`): part of
/// every cache key, since serialized modules are private to one version.
pub const WASMER_VERSION: &str = "7.4.2";

/// The process-wide engine: Cranelift with the `cranelift` feature, else
/// headless (it can only load native code made ahead of time).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        ensure_native_stack();
        new_engine()
    })
}

/// The native stack wasm code runs on. Wasmer's default (1 MiB) runs out
/// long before PostgreSQL's own limit (`max_stack_depth`, 2 MB of the
/// module's 8 MiB shadow stack) would stop a deep recursion with an
/// ERROR: compiled frames keep on the native stack what the shadow stack
/// does not hold. The backend then died instead of answering "stack depth
/// limit exceeded". Reserved address space; only used pages cost memory.
pub const NATIVE_STACK_SIZE: usize = 64 << 20;

/// Raises Wasmer's process-wide stack size for wasm calls to
/// [`NATIVE_STACK_SIZE`] (never lowers a larger one set by the embedder).
fn ensure_native_stack() {
    use wasmer::sys::vm::{get_stack_size, set_stack_size};
    if get_stack_size() < NATIVE_STACK_SIZE {
        set_stack_size(NATIVE_STACK_SIZE);
    }
}

/// Set (to anything) to have the engine write `/tmp/perf-<pid>.map`, which
/// names the backend's functions in `perf report` (cranelift feature only).
pub const PERFMAP_ENV: &str = "PGLITE_OXIDE_PERFMAP";

#[cfg(feature = "cranelift")]
fn new_engine() -> Engine {
    use wasmer::sys::CompilerConfig;
    if std::env::var_os(PERFMAP_ENV).is_none() {
        return Engine::default();
    }
    // The same compiler and settings as the default engine, so that AOT
    // code still loads; only the perf map is added.
    let mut compiler = wasmer::sys::Cranelift::default();
    compiler.enable_perfmap();
    let mut engine = wasmer::sys::EngineBuilder::new(compiler).engine();
    engine.set_tunables(wasmer::sys::BaseTunables::new());
    Engine::from(engine)
}

#[cfg(not(feature = "cranelift"))]
fn new_engine() -> Engine {
    Engine::default()
}

/// Whether this build can compile wasm (the `cranelift` feature).
pub const fn can_compile() -> bool {
    cfg!(feature = "cranelift")
}

/// The backend module of `artifacts`, loaded once per process (waiting for
/// a [`preload`] under way).
pub fn module(artifacts: &Artifacts) -> Result<Module> {
    module_of(&artifacts.backend_files())
}

/// The module in `files`, loaded once per process.
pub(crate) fn module_of(files: &ModuleFiles) -> Result<Module> {
    if let Some(module) = slot(files).get_or_init(|| load(files).ok()) {
        return Ok(module.clone());
    }
    // It failed: forget it, and load again here to report why.
    if let Ok(mut slots) = slots().lock() {
        slots.remove(&files.key());
    }
    load(files)
}

/// A wasm module and its native code for this host, if there is any.
#[derive(Debug, Clone)]
pub(crate) struct ModuleFiles {
    pub wasm: PathBuf,
    pub aot: Option<PathBuf>,
    /// `aot` was checked against a receipt ([`deserialize_verified`]).
    pub verified: bool,
}

impl ModuleFiles {
    /// What identifies the module in this process.
    fn key(&self) -> PathBuf {
        self.aot.as_ref().unwrap_or(&self.wasm).clone()
    }
}

/// Starts loading the module of `artifacts` on another thread, once per
/// process: deserializing the native code (~20 ms) then overlaps what the
/// caller does before it instantiates (checking the artifacts, making the
/// data directory, reading a started-backend image); [`module`] waits for
/// it.
pub fn preload(artifacts: &Artifacts) {
    preload_files(artifacts.backend_files());
}

/// [`preload`] for the module in `files`.
pub(crate) fn preload_files(files: ModuleFiles) {
    let slot = slot(&files);
    if slot.get().is_some() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("pglite-module".into())
        .spawn(move || {
            slot.get_or_init(|| load(&files).ok());
        });
    if let Err(err) = spawned {
        tracing::debug!(%err, "no thread to preload the module: it loads when needed");
    }
}

/// A module being loaded or loaded (`None`: loading failed).
type Slot = Arc<OnceLock<Option<Module>>>;

fn slots() -> &'static Mutex<HashMap<PathBuf, Slot>> {
    static SLOTS: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

fn slot(files: &ModuleFiles) -> Slot {
    let key = files.key();
    match slots().lock() {
        Ok(mut slots) => slots.entry(key).or_default().clone(),
        // Poisoned (a panic while inserting): a slot of its own still works.
        Err(_) => Slot::default(),
    }
}

/// What identifies the backend module of `artifacts` in this process.
pub(crate) fn module_key(artifacts: &Artifacts) -> PathBuf {
    artifacts.backend_files().key()
}

fn load(files: &ModuleFiles) -> Result<Module> {
    if let Some(aot) = &files.aot {
        let loaded = if files.verified {
            deserialize_verified(aot)
        } else {
            deserialize(aot)
        };
        match loaded {
            Ok(module) => return Ok(module),
            // Code for a CPU this one is not (missing CPU features): fall
            // back to compiling where that is possible.
            Err(problem) if can_compile() => {
                tracing::warn!(file = %aot.display(), %problem, "not using the ahead-of-time code")
            }
            Err(problem) => {
                return Err(Error::Module(format!(
                    "the ahead-of-time code {} cannot be used here: {problem}",
                    aot.display()
                )))
            }
        }
    }
    compile(&files.wasm)
}

/// Loads a serialized module (see [`Module::serialize`]) that may have been
/// damaged since it was written (an extension's native code installed in a
/// data directory): Wasmer validates its layout first.
pub fn deserialize(file: &Path) -> std::result::Result<Module, String> {
    // SAFETY: the checked variant validates the archive before use.
    let module =
        unsafe { Module::deserialize_from_file(engine(), file) }.map_err(|e| e.to_string())?;
    crate::mapped_pages::release(file);
    Ok(module)
}

/// Loads a serialized module that was checked against its receipt just
/// before: native code from `cargo xtask aot` (its sha256 checked against
/// the manifest when unpacked, its size on every use, every byte with
/// `PGLITE_OXIDE_VERIFY=full`) or a compiled-module cache entry.
pub(crate) fn deserialize_verified(file: &Path) -> std::result::Result<Module, String> {
    // SAFETY: the file is ours and checked as above. Validating the layout
    // again costs 10-15% of the load, which is a quarter of a cold start's
    // critical path, and could not catch damage where it matters most
    // anyway: in the machine code.
    let module = unsafe { Module::deserialize_from_file_unchecked(engine(), file) }
        .map_err(|e| e.to_string())?;
    crate::mapped_pages::release(file);
    Ok(module)
}

#[cfg(not(feature = "cranelift"))]
fn compile(_wasm: &Path) -> Result<Module> {
    Err(Error::NoCompiler {
        host: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
    })
}

#[cfg(feature = "cranelift")]
fn compile(wasm: &Path) -> Result<Module> {
    crate::module_cache::compile_cached(wasm)
}
