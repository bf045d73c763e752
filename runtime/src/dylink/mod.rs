//! Extension modules linked into a running backend: the host side of the
//! port's `dlopen()`/`dlsym()` (assets/port/dlfcn.c), decision 0011.
//!
//! An extension's code is a WebAssembly side module (`-fPIC -shared`,
//! `dylink.0`). When PostgreSQL loads its library, the guest asks the host
//! (`pglite.dl_open`), which instantiates the side module in the backend's
//! store with the backend's own memory, function table, stack pointer and
//! longjmp tag:
//! - its data goes in memory the backend's allocator hands out, its
//!   functions in slots added to the end of the table;
//! - `env.*` functions are the backend's (from its symbol table, see
//!   [`core_symbols`]), else those of a module loaded before;
//! - `GOT.mem.*` and `GOT.func.*` are the addresses of data and functions:
//!   the module's own, else the backend's (a backend function's pointer is
//!   the slot the backend itself uses, so pointers compare equal), else
//!   those of a module loaded before;
//! - then its data relocations and constructors run.
//!
//! `dlsym()` gets a function's table slot (a C function pointer) or a datum's
//! address. An `ereport(ERROR)` inside side-module code is a wasm exception
//! of the shared tag, caught by the backend's `sigsetjmp`.

mod core_symbols;
mod side_module;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use wasmer::{
    Extern, ExternType, Function, FunctionEnv, FunctionEnvMut, Global, Imports, Instance, Memory,
    Store, Table, Value,
};

use crate::fs::HostTree;
use core_symbols::{CoreSymbols, Symbol};
use side_module::SideModule;

/// Where libraries live in the guest (`$libdir`).
const GUEST_LIB_PREFIX: &str = "/pglite/lib/postgresql/";

/// What the backend exports for side modules (its link, recipes/postgres.toml).
const TABLE_EXPORT: &str = "__indirect_function_table";
const STACK_POINTER_EXPORT: &str = "__stack_pointer";
/// The backend's function that allocates a side module's data (never
/// freed: PostgreSQL never unloads a library).
const ALLOCATOR: &str = "malloc";

/// One backend's dynamic linker: the imports `pglite.dl_*` are bound to it.
#[derive(Default)]
pub(crate) struct Linker {
    /// The guest's `$libdir`, where the side modules are found.
    lib: Option<HostTree>,
    core: Option<Core>,
    /// Loaded modules; a handle is the index plus one.
    loaded: Vec<Loaded>,
    handles: HashMap<String, i32>,
    /// Why the last `dl_open` failed.
    error: String,
}

/// The backend instance as side modules see it.
struct Core {
    instance: Instance,
    memory: Memory,
    table: Table,
    /// Read when the first side module is linked.
    symbols: Option<Arc<CoreSymbols>>,
}

struct Loaded {
    instance: Instance,
    memory_base: u32,
    /// The slots of its functions whose address was asked for.
    slots: HashMap<String, u32>,
}

impl Linker {
    pub fn new(lib: Option<HostTree>) -> Self {
        Self {
            lib,
            ..Self::default()
        }
    }
}

/// Adds the `pglite.dl_*` imports bound to `env` to `imports`.
pub(crate) fn define_imports(store: &mut Store, env: &FunctionEnv<Linker>, imports: &mut Imports) {
    imports.define(
        "pglite",
        "dl_open",
        Function::new_typed_with_env(store, env, dl_open),
    );
    imports.define(
        "pglite",
        "dl_sym",
        Function::new_typed_with_env(store, env, dl_sym),
    );
    imports.define(
        "pglite",
        "dl_error",
        Function::new_typed_with_env(store, env, dl_error),
    );
}

/// Gives the linker the instantiated backend. Side modules are only linked
/// into a backend that exports what they import (its function table).
pub(crate) fn attach(store: &mut Store, env: &FunctionEnv<Linker>, instance: &Instance) {
    let exports = &instance.exports;
    let (Ok(memory), Ok(table)) = (
        exports.get_memory("memory"),
        exports.get_table(TABLE_EXPORT),
    ) else {
        return;
    };
    let (memory, table) = (memory.clone(), table.clone());
    let linker = env.as_mut(store);
    linker.core = Some(Core {
        instance: instance.clone(),
        memory,
        table,
        symbols: None,
    });
}

fn guest_string(env: &FunctionEnvMut<Linker>, ptr: u32, len: i32) -> Option<String> {
    let memory = &env.data().core.as_ref()?.memory;
    let mut bytes = vec![0; usize::try_from(len).ok()?];
    memory.view(env).read(u64::from(ptr), &mut bytes).ok()?;
    String::from_utf8(bytes).ok()
}

fn dl_open(mut env: FunctionEnvMut<Linker>, ptr: u32, len: i32) -> i32 {
    let Some(path) = guest_string(&env, ptr, len) else {
        env.data_mut().error = "invalid library path".into();
        return 0;
    };
    match open(&mut env, &path) {
        Ok(handle) => handle,
        Err(problem) => {
            tracing::debug!(%path, %problem, "could not link a side module");
            env.data_mut().error = problem;
            0
        }
    }
}

fn dl_sym(mut env: FunctionEnvMut<Linker>, handle: i32, ptr: u32, len: i32) -> i32 {
    let Some(name) = guest_string(&env, ptr, len) else {
        return 0;
    };
    let Some(index) = usize::try_from(handle - 1)
        .ok()
        .filter(|&i| i < env.data().loaded.len())
    else {
        return 0;
    };
    let loaded = &env.data().loaded[index];
    let (memory_base, export) = (
        loaded.memory_base,
        loaded.instance.exports.get_extern(&name).cloned(),
    );
    let address = match export {
        Some(Extern::Function(function)) => {
            let mut slots = std::mem::take(&mut env.data_mut().loaded[index].slots);
            let slot = slot_for(&mut env, &mut slots, &name, &function);
            env.data_mut().loaded[index].slots = slots;
            slot
        }
        Some(Extern::Global(global)) => match global.get(&mut env) {
            Value::I32(offset) => Ok(memory_base.wrapping_add(offset as u32)),
            _ => return 0,
        },
        _ => return 0,
    };
    match address {
        Ok(address) => address as i32,
        Err(problem) => {
            tracing::debug!(%name, %problem, "dlsym failed");
            0
        }
    }
}

fn dl_error(mut env: FunctionEnvMut<Linker>, ptr: u32, len: i32) -> i32 {
    let Ok(capacity) = usize::try_from(len) else {
        return 0;
    };
    if capacity == 0 {
        return 0;
    }
    let (linker, store) = env.data_and_store_mut();
    let Some(core) = linker.core.as_ref() else {
        return 0;
    };
    let message = linker.error.as_bytes();
    let mut count = message.len().min(capacity - 1);
    // Whole characters only.
    while !linker.error.is_char_boundary(count) {
        count -= 1;
    }
    let mut bytes = message[..count].to_vec();
    bytes.push(0);
    if core
        .memory
        .view(&store)
        .write(u64::from(ptr), &bytes)
        .is_err()
    {
        return 0;
    }
    count as i32
}

/// Links the library at guest path `path`, once; returns its handle.
fn open(env: &mut FunctionEnvMut<Linker>, path: &str) -> Result<i32, String> {
    if let Some(&handle) = env.data().handles.get(path) {
        return Ok(handle);
    }
    let linker = env.data();
    if linker.core.is_none() {
        return Err("this backend was linked without the exports side modules need".into());
    }
    let relative = path
        .strip_prefix(GUEST_LIB_PREFIX)
        .ok_or_else(|| format!("side modules load from {GUEST_LIB_PREFIX} only"))?;
    let file = linker
        .lib
        .as_ref()
        .ok_or("this backend has no library directory")?
        .host_file(Path::new(relative))
        .map_err(|e| format!("cannot read it: {e}"))?;
    let side = side_module::load(&file)?;
    if let Some(needed) = side.needed.first() {
        return Err(format!(
            "it needs library {needed}, and side modules that need others are not supported"
        ));
    }
    let loaded = link(env, &side)?;
    let linker = env.data_mut();
    linker.loaded.push(loaded);
    let handle = linker.loaded.len() as i32;
    linker.handles.insert(path.to_string(), handle);
    Ok(handle)
}

/// Instantiates `side` into the backend and runs its initialization.
fn link(env: &mut FunctionEnvMut<Linker>, side: &SideModule) -> Result<Loaded, String> {
    let symbols = core_symbols(env)?;
    let (core_instance, memory, table) = {
        let core = env.data().core.as_ref().ok_or("no backend")?;
        (
            core.instance.clone(),
            core.memory.clone(),
            core.table.clone(),
        )
    };
    let layout = side.layout;

    // Its data: zeroed memory from the backend's allocator (bss is not in
    // the module's data segments).
    let memory_base = if layout.memory_size > 0 {
        let allocate = match symbols.get(env, &memory, ALLOCATOR)? {
            Some(Symbol::Function(slot)) => table_function(env, &table, slot)?,
            _ => return Err(format!("the backend has no {ALLOCATOR}")),
        };
        let alignment = 1u32 << layout.memory_alignment.min(16);
        let size = layout.memory_size;
        let result = allocate
            .call(env, &[Value::I32((size + alignment) as i32)])
            .map_err(|e| format!("allocating its {size} bytes of data: {e}"))?;
        let base = match result.first() {
            Some(Value::I32(block)) if *block != 0 => (*block as u32).next_multiple_of(alignment),
            _ => return Err(format!("out of memory for its {size} bytes of data")),
        };
        memory
            .view(env)
            .write(u64::from(base), &vec![0; size as usize])
            .map_err(|e| e.to_string())?;
        base
    } else {
        0
    };

    // Its functions' slots at the end of the table.
    let table_alignment = 1u32 << layout.table_alignment.min(16);
    let current = table.size(env);
    let table_base = current.next_multiple_of(table_alignment);
    let grow = table_base - current + layout.table_size;
    if grow > 0 {
        table
            .grow(env, grow, Value::FuncRef(None))
            .map_err(|e| format!("growing the function table: {e}"))?;
    }

    // Imports; the GOT entries of its own symbols are filled in once it
    // exists.
    let own: HashMap<String, ExternType> = side
        .module
        .exports()
        .map(|e| (e.name().to_string(), e.ty().clone()))
        .collect();
    let mut imports = Imports::new();
    let mut own_got: Vec<(String, Global, bool)> = Vec::new();
    let mut undefined: Vec<String> = Vec::new();
    for import in side.module.imports() {
        let (module, name) = (import.module(), import.name());
        let value: Option<Extern> = match (module, name, import.ty()) {
            ("env", "memory", _) => Some(memory.clone().into()),
            ("env", TABLE_EXPORT, _) => Some(table.clone().into()),
            ("env", "__memory_base", _) => {
                Some(Global::new(env, Value::I32(memory_base as i32)).into())
            }
            ("env", "__table_base", _) => {
                Some(Global::new(env, Value::I32(table_base as i32)).into())
            }
            ("env", STACK_POINTER_EXPORT, _) | ("env", _, ExternType::Tag(_)) => {
                core_instance.exports.get_extern(name).cloned()
            }
            ("env", _, ExternType::Function(_)) => match symbols.get(env, &memory, name)? {
                Some(Symbol::Function(slot)) => Some(table_function(env, &table, slot)?.into()),
                _ => loaded_function(env, name).map(Extern::from),
            },
            ("GOT.mem", _, _) | ("GOT.func", _, _) => {
                let functions = module == "GOT.func";
                let global = Global::new_mut(env, Value::I32(0));
                let address = if own.contains_key(name) {
                    own_got.push((name.to_string(), global.clone(), functions));
                    Some(0)
                } else {
                    match (symbols.get(env, &memory, name)?, functions) {
                        (Some(Symbol::Function(slot)), true) => Some(slot),
                        (Some(Symbol::Data(address)), false) => Some(address),
                        _ if functions => loaded_function_slot(env, name)?,
                        _ => loaded_data(env, name),
                    }
                };
                match address {
                    Some(address) => {
                        global
                            .set(env, Value::I32(address as i32))
                            .map_err(|e| e.to_string())?;
                        Some(global.into())
                    }
                    None => None,
                }
            }
            _ => None,
        };
        match value {
            Some(value) => imports.define(module, name, value),
            None => undefined.push(format!("{module}.{name}")),
        }
    }
    if !undefined.is_empty() {
        undefined.sort();
        return Err(format!("undefined symbols: {}", undefined.join(", ")));
    }

    let instance =
        Instance::new(env, &side.module, &imports).map_err(|e| format!("instantiating: {e}"))?;
    let mut slots = HashMap::new();
    for (name, global, functions) in own_got {
        let address = match instance.exports.get_extern(&name) {
            Some(Extern::Function(f)) if functions => slot_for(env, &mut slots, &name, f)?,
            Some(Extern::Global(g)) if !functions => match g.get(env) {
                Value::I32(offset) => memory_base.wrapping_add(offset as u32),
                _ => return Err(format!("its export {name} is not an address")),
            },
            _ => return Err(format!("its export {name} is not what it imports")),
        };
        global
            .set(env, Value::I32(address as i32))
            .map_err(|e| e.to_string())?;
    }
    for init in ["__wasm_apply_data_relocs", "__wasm_call_ctors"] {
        if let Ok(function) = instance.exports.get_function(init) {
            function
                .clone()
                .call(env, &[])
                .map_err(|e| format!("{init}: {e}"))?;
        }
    }
    Ok(Loaded {
        instance,
        memory_base,
        slots,
    })
}

/// The backend's symbol table, read once.
fn core_symbols(env: &mut FunctionEnvMut<Linker>) -> Result<Arc<CoreSymbols>, String> {
    if let Some(symbols) = env.data().core.as_ref().and_then(|c| c.symbols.clone()) {
        return Ok(symbols);
    }
    let (instance, memory) = {
        let core = env.data().core.as_ref().ok_or("no backend")?;
        (core.instance.clone(), core.memory.clone())
    };
    let symbols = Arc::new(
        CoreSymbols::read(env, &instance, &memory)?
            .ok_or("this backend was built without the symbol table side modules link against")?,
    );
    if let Some(core) = env.data_mut().core.as_mut() {
        core.symbols = Some(symbols.clone());
    }
    Ok(symbols)
}

/// The function in slot `slot` of the table.
fn table_function(
    env: &mut FunctionEnvMut<Linker>,
    table: &Table,
    slot: u32,
) -> Result<Function, String> {
    match table.get(env, slot) {
        Some(Value::FuncRef(Some(function))) => Ok(function),
        _ => Err(format!(
            "the backend's function table has no function in slot {slot}"
        )),
    }
}

/// Function `name` of a module loaded before.
fn loaded_function(env: &FunctionEnvMut<Linker>, name: &str) -> Option<Function> {
    env.data()
        .loaded
        .iter()
        .find_map(|loaded| loaded.instance.exports.get_function(name).ok().cloned())
}

/// The pointer of function `name` of a module loaded before.
fn loaded_function_slot(
    env: &mut FunctionEnvMut<Linker>,
    name: &str,
) -> Result<Option<u32>, String> {
    let found = env
        .data()
        .loaded
        .iter()
        .position(|loaded| loaded.instance.exports.get_function(name).is_ok());
    let Some(index) = found else {
        return Ok(None);
    };
    let function = env.data().loaded[index]
        .instance
        .exports
        .get_function(name)
        .map_err(|e| e.to_string())?
        .clone();
    let mut slots = std::mem::take(&mut env.data_mut().loaded[index].slots);
    let slot = slot_for(env, &mut slots, name, &function);
    env.data_mut().loaded[index].slots = slots;
    slot.map(Some)
}

/// The address of datum `name` of a module loaded before (its exports are
/// offsets from its memory base).
fn loaded_data(env: &mut FunctionEnvMut<Linker>, name: &str) -> Option<u32> {
    let (base, global) = env.data().loaded.iter().find_map(|loaded| {
        Some((
            loaded.memory_base,
            loaded.instance.exports.get_global(name).ok()?.clone(),
        ))
    })?;
    match global.get(env) {
        Value::I32(offset) => Some(base.wrapping_add(offset as u32)),
        _ => None,
    }
}

/// The function pointer of a side module's function `function` (its
/// export `name`): the slot already handed out for it (in `slots`, the
/// module's), else a new slot at the end of the table.
fn slot_for(
    env: &mut FunctionEnvMut<Linker>,
    slots: &mut HashMap<String, u32>,
    name: &str,
    function: &Function,
) -> Result<u32, String> {
    if let Some(&slot) = slots.get(name) {
        return Ok(slot);
    }
    let table = env.data().core.as_ref().ok_or("no backend")?.table.clone();
    let slot = table
        .grow(env, 1, Value::FuncRef(Some(function.clone())))
        .map_err(|e| format!("growing the function table: {e}"))?;
    slots.insert(name.to_string(), slot);
    Ok(slot)
}
