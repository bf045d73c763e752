//! One Wasmer engine per process and a cache of compiled modules.
//!
//! Compiling the 8 MB backend with Cranelift takes seconds; loading a
//! serialized compilation takes milliseconds. Compiled modules are kept in
//! memory for the life of the process and on disk under the user's cache
//! directory, keyed by the module's sha256, the Wasmer version and the
//! engine's identity, so a change to any of them compiles anew.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};
use wasmer::{Engine, Module};

use crate::{Error, Result};

/// The Wasmer version the cache keys name (the crate is pinned with `=`).
const WASMER_VERSION: &str = "7.4.2";

/// The process-wide engine (Cranelift).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

/// The compiled module for the wasm file at `path`.
pub fn module(path: &Path) -> Result<Module> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();
    let modules = MODULES.get_or_init(Default::default);
    if let Some(module) = modules.lock().expect("module cache poisoned").get(path) {
        return Ok(module.clone());
    }
    let wasm = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let module = compile_cached(&wasm)?;
    modules
        .lock()
        .expect("module cache poisoned")
        .insert(path.to_path_buf(), module.clone());
    Ok(module)
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("pglite-oxide/modules"))
}

fn compile_cached(wasm: &[u8]) -> Result<Module> {
    let engine = engine();
    let digest = hex::encode(Sha256::digest(wasm));
    let file = cache_dir().map(|dir| {
        dir.join(format!(
            "{digest}-wasmer-{WASMER_VERSION}-{}.bin",
            engine.deterministic_id()
        ))
    });
    if let Some(file) = &file {
        if file.exists() {
            // SAFETY: the file was written by `Module::serialize_to_file` for
            // this engine (its identity is in the name) and is only ever
            // replaced by an atomic rename.
            match unsafe { Module::deserialize_from_file(engine, file) } {
                Ok(module) => return Ok(module),
                Err(err) => {
                    tracing::warn!(file = %file.display(), %err, "recompiling: unusable cached module")
                }
            }
        }
    }
    let module = Module::new(engine, wasm).map_err(|e| Error::Module(e.to_string()))?;
    if let Some(file) = &file {
        if let Err(err) = store_in_cache(&module, file) {
            tracing::warn!(file = %file.display(), %err, "could not cache the compiled module");
        }
    }
    Ok(module)
}

fn store_in_cache(module: &Module, file: &Path) -> std::result::Result<(), String> {
    let dir = file.parent().ok_or("cache file has no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let partial = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    module
        .serialize_to_file(partial.path())
        .map_err(|e| e.to_string())?;
    partial.persist(file).map_err(|e| e.to_string())?;
    Ok(())
}
