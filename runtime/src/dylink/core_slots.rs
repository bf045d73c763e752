//! Where the backend module's own function table already holds its
//! exported functions.
//!
//! A C function pointer is an index into the one function table. When a
//! side module takes the address of a backend function (`GOT.func.*`), it
//! must get the index the backend itself uses for that function, or two
//! pointers to one function would compare unequal (PostgreSQL compares
//! function pointers, e.g. a hook against its standard implementation).
//! Wasmer does not tell which export a table element is, so the backend's
//! wasm is read once: its element segments (function index -> slot) joined
//! with its exports (name -> function index).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use wasmparser::{ElementItems, ElementKind, ExternalKind, Operator, Parser, Payload};

use crate::{Error, Result};

/// Table slot of each exported backend function whose address the backend
/// takes itself.
pub(crate) type CoreSlots = HashMap<String, u32>;

/// The slots of the backend module at `wasm`, read once per process.
pub(crate) fn core_slots(wasm: &Path) -> Result<Arc<CoreSlots>> {
    static READ: OnceLock<Mutex<HashMap<PathBuf, Arc<CoreSlots>>>> = OnceLock::new();
    let read = READ.get_or_init(Default::default);
    if let Some(slots) = read.lock().ok().and_then(|m| m.get(wasm).cloned()) {
        return Ok(slots);
    }
    let bytes = std::fs::read(wasm).map_err(|e| Error::io("reading", wasm, e))?;
    let slots = Arc::new(
        slots_of(&bytes).map_err(|e| Error::Module(format!("reading {}: {e}", wasm.display())))?,
    );
    if let Ok(mut read) = read.lock() {
        read.insert(wasm.to_path_buf(), slots.clone());
    }
    Ok(slots)
}

fn slots_of(wasm: &[u8]) -> std::result::Result<CoreSlots, wasmparser::BinaryReaderError> {
    let mut slot_of_function: HashMap<u32, u32> = HashMap::new();
    let mut exported: Vec<(String, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export?;
                    if export.kind == ExternalKind::Func {
                        exported.push((export.name.to_string(), export.index));
                    }
                }
            }
            Payload::ElementSection(elements) => {
                for element in elements {
                    let element = element?;
                    let ElementKind::Active {
                        table_index: None | Some(0),
                        offset_expr,
                    } = element.kind
                    else {
                        continue;
                    };
                    let Some(Operator::I32Const { value: offset }) = offset_expr
                        .get_operators_reader()
                        .into_iter()
                        .next()
                        .transpose()?
                    else {
                        continue;
                    };
                    if let ElementItems::Functions(functions) = element.items {
                        for (i, function) in functions.into_iter().enumerate() {
                            let slot = offset as u32 + i as u32;
                            slot_of_function.entry(function?).or_insert(slot);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(exported
        .into_iter()
        .filter_map(|(name, function)| Some((name, *slot_of_function.get(&function)?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_functions_in_the_table_get_their_slot() {
        let wasm = wasmer::wat2wasm(
            br#"(module
                (table 4 funcref)
                (func $a) (func $b) (func $c)
                (export "a" (func $a)) (export "b" (func $b)) (export "c" (func $c))
                (elem (i32.const 1) $b $a))"#,
        )
        .unwrap();
        let slots = slots_of(&wasm).unwrap();
        assert_eq!(slots.get("b"), Some(&1));
        assert_eq!(slots.get("a"), Some(&2));
        assert_eq!(slots.get("c"), None, "c's address is never taken");
    }
}
