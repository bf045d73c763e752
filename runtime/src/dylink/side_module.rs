//! An extension's side module as found on the host: the wasm file (a
//! `dylink.0` shared library, installed as `lib/<name>.so`) and its native
//! code.
//!
//! The native code is, in order of preference, the file `<name>.wasmu`
//! beside it (compiled ahead of time for this host by `cargo xtask`), or,
//! with the `cranelift` feature, a compilation cached on disk like the
//! backend's. A module is loaded once per process and shared by every
//! backend that links it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use wasmer::Module;
use wasmparser::{Dylink0Subsection, KnownCustom, Parser, Payload};

/// Suffix of a side module's native code beside its wasm file.
const NATIVE_SUFFIX: &str = "wasmu";

/// What the side module asks the loader to reserve (`dylink.0`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    pub memory_size: u32,
    /// log2 of the alignment.
    pub memory_alignment: u32,
    pub table_size: u32,
    /// log2 of the alignment.
    pub table_alignment: u32,
}

#[derive(Clone)]
pub(crate) struct SideModule {
    pub module: Module,
    pub layout: Layout,
    /// Libraries it needs loaded first (`dylink.0` "needed").
    pub needed: Vec<String>,
}

/// The side module in `file`, loaded once per process (a file changed on
/// disk is loaded again).
pub(crate) fn load(file: &Path) -> Result<SideModule, String> {
    /// A file as seen: path, size, modification time.
    type Seen = (PathBuf, u64, SystemTime);
    static LOADED: OnceLock<Mutex<HashMap<Seen, SideModule>>> = OnceLock::new();
    let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
    let key = (
        file.to_path_buf(),
        meta.len(),
        meta.modified().map_err(|e| e.to_string())?,
    );
    let loaded = LOADED.get_or_init(Default::default);
    if let Some(side) = loaded.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(side);
    }
    let wasm = std::fs::read(file).map_err(|e| e.to_string())?;
    let (layout, needed) = dylink_section(&wasm)?;
    let module = native_code(file)?;
    let side = SideModule {
        module,
        layout,
        needed,
    };
    if let Ok(mut loaded) = loaded.lock() {
        loaded.insert(key, side.clone());
    }
    Ok(side)
}

fn dylink_section(wasm: &[u8]) -> Result<(Layout, Vec<String>), String> {
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| e.to_string())?;
        let Payload::CustomSection(section) = payload else {
            // dylink.0 must come first.
            if matches!(payload, Payload::Version { .. }) {
                continue;
            }
            break;
        };
        let KnownCustom::Dylink0(reader) = section.as_known() else {
            continue;
        };
        let mut layout = Layout::default();
        let mut needed = Vec::new();
        for subsection in reader {
            match subsection.map_err(|e| e.to_string())? {
                Dylink0Subsection::MemInfo(info) => {
                    layout = Layout {
                        memory_size: info.memory_size,
                        memory_alignment: info.memory_alignment,
                        table_size: info.table_size,
                        table_alignment: info.table_alignment,
                    }
                }
                Dylink0Subsection::Needed(names) => {
                    needed.extend(names.into_iter().map(str::to_string))
                }
                _ => {}
            }
        }
        return Ok((layout, needed));
    }
    Err("it is not a WebAssembly side module (no dylink.0 section)".into())
}

fn native_code(file: &Path) -> Result<Module, String> {
    let aot = file.with_extension(NATIVE_SUFFIX);
    if aot.is_file() {
        match crate::engine::deserialize(&aot) {
            Ok(module) => return Ok(module),
            Err(problem) if crate::engine::can_compile() => {
                tracing::warn!(file = %aot.display(), %problem, "not using the ahead-of-time code")
            }
            Err(problem) => {
                return Err(format!(
                    "its ahead-of-time code {} cannot be used here: {problem}",
                    aot.display()
                ))
            }
        }
    }
    compile(file)
}

#[cfg(feature = "cranelift")]
fn compile(file: &Path) -> Result<Module, String> {
    crate::module_cache::compile_cached(file).map_err(|e| e.to_string())
}

#[cfg(not(feature = "cranelift"))]
fn compile(_file: &Path) -> Result<Module, String> {
    Err(format!(
        "it has no ahead-of-time code for {}-{}, and this build cannot compile \
         WebAssembly (enable pglite-runtime's `cranelift` feature)",
        std::env::consts::ARCH,
        std::env::consts::OS
    ))
}
