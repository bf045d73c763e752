//! Compiled modules cached on disk (the `cranelift` feature): hosts without
//! ahead-of-time code compile the backend once, and every later process
//! loads the compilation in milliseconds.
//!
//! An entry is `<module sha256>-wasmer-<version>-<engine id>.wasmu` with a
//! receipt beside it. An entry whose receipt is missing or does not match
//! (a truncated or damaged file), or that Wasmer refuses to load, is
//! reported, removed and compiled again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmer::Module;

use crate::engine::{deserialize_verified, engine, WASMER_VERSION};
use crate::receipt::{Entry, Receipt, Verification};
use crate::{Error, Result};

/// The user's cache directory for compiled modules.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    Some(crate::embedded::cache_root()?.join("modules"))
}

pub(crate) fn compile_cached(wasm_path: &Path) -> Result<Module> {
    let wasm = std::fs::read(wasm_path).map_err(|e| Error::io("reading", wasm_path, e))?;
    let digest = hex::encode(Sha256::digest(&wasm));
    let file = cache_dir().map(|dir| {
        dir.join(format!(
            "{digest}-wasmer-{WASMER_VERSION}-{}.wasmu",
            engine().deterministic_id()
        ))
    });
    if let Some(file) = &file {
        if let Some(module) = load_entry(file) {
            return Ok(module);
        }
    }
    let module = Module::new(engine(), &wasm).map_err(|e| Error::Module(e.to_string()))?;
    if let Some(file) = &file {
        if let Err(err) = store(&module, file) {
            tracing::warn!(file = %file.display(), %err, "could not cache the compiled module");
        }
    }
    Ok(module)
}

fn receipt_path(file: &Path) -> PathBuf {
    file.with_extension("wasmu.receipt")
}

/// The cached module at `file`, if it exists and is sound; an unsound entry
/// is reported and removed.
fn load_entry(file: &Path) -> Option<Module> {
    if !file.exists() {
        return None;
    }
    let problem = match Receipt::read(&receipt_path(file)) {
        Ok(Some(receipt)) => {
            let dir = file.parent()?;
            match receipt.check(dir, Verification::from_env()) {
                None => match deserialize_verified(file) {
                    Ok(module) => return Some(module),
                    Err(err) => format!("Wasmer cannot load it: {err}"),
                },
                Some(problem) => problem,
            }
        }
        Ok(None) => "its receipt is missing or damaged".to_string(),
        Err(err) => err.to_string(),
    };
    tracing::warn!(
        file = %file.display(),
        %problem,
        "cached compiled module is unusable; compiling again"
    );
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(receipt_path(file));
    None
}

fn store(module: &Module, file: &Path) -> std::result::Result<(), String> {
    let dir = file.parent().ok_or("cache file has no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let partial = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    module
        .serialize_to_file(partial.path())
        .map_err(|e| e.to_string())?;
    let name = file
        .file_name()
        .ok_or("cache file has no name")?
        .to_string_lossy()
        .into_owned();
    let receipt = Receipt {
        entries: vec![Entry::of_file(partial.path(), name).map_err(|e| e.to_string())?],
    };
    // The receipt first: a module without one is never trusted.
    let receipt_partial = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    receipt
        .write(receipt_partial.path())
        .map_err(|e| e.to_string())?;
    receipt_partial
        .persist(receipt_path(file))
        .map_err(|e| e.to_string())?;
    partial.persist(file).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

    fn wasm() -> Vec<u8> {
        wasmer::wat2wasm(WAT.as_bytes()).unwrap().into_owned()
    }

    #[test]
    fn entries_round_trip_and_damaged_ones_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.wasmu");
        let module = Module::new(engine(), wasm()).unwrap();
        store(&module, &file).unwrap();
        assert!(load_entry(&file).is_some());

        // Truncated: the receipt's size no longer matches.
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load_entry(&file).is_none());
        assert!(!file.exists(), "a damaged entry is removed");

        // No receipt: never trusted.
        store(&module, &file).unwrap();
        std::fs::remove_file(receipt_path(&file)).unwrap();
        assert!(load_entry(&file).is_none());
        assert!(!file.exists());
    }
}
