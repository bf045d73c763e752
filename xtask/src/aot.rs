//! `cargo xtask aot`: native code for the wasm modules, ahead of time, for
//! each target of `recipes/targets.toml` this machine can produce.
//!
//! The result is a serialized Wasmer module (`<module>.wasmu`) that the
//! runtime loads with an engine that has no compiler. Only the host's own
//! target is produced: code for another target could be written, but not
//! loaded and tested here.
//!
//! Each artifact is keyed by a fingerprint of its module, the compiler and
//! its settings, the target and the Wasmer version.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmer::sys::{CpuFeature, EngineBuilder, Target, Triple};
use wasmer::{Engine, Module};

use crate::fingerprint::{read_stamp, write_stamp, Fingerprint};
use crate::hashing::sha256_bytes;
use crate::layout::Layout;
use crate::recipes::{AotEngine, AotModule, AotTarget, TargetsRecipe};

/// File name extension of a serialized module.
pub const EXTENSION: &str = "wasmu";

/// What `cargo xtask aot` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct AotOptions {
    /// Compile with this engine instead of the recipe's (experiments: the
    /// artifacts then go to `<work>/aot-<engine>` unless `out` is given).
    pub engine: Option<AotEngine>,
    pub out: Option<PathBuf>,
    /// Compile even when the fingerprint says the artifact is current.
    pub force: bool,
}

/// The AOT artifacts of the shipped engine: `<out>/aot`.
pub fn aot_dir(layout: &Layout) -> PathBuf {
    layout.out().join("aot")
}

/// Where a module's artifact for a target lives under an AOT directory.
pub fn artifact_path(dir: &Path, triple: &str, module: &str) -> PathBuf {
    dir.join(triple).join(format!("{module}.{EXTENSION}"))
}

/// One compiled artifact, with what it cost.
pub struct Compiled {
    pub path: PathBuf,
    pub size: u64,
    pub compile_time: Option<Duration>,
}

pub fn run(layout: &Layout, options: &AotOptions) -> Result<Vec<Compiled>> {
    let recipe = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    let engine = options.engine.unwrap_or(recipe.engine);
    let dir = match (&options.out, engine == recipe.engine) {
        (Some(out), _) => out.clone(),
        (None, true) => aot_dir(layout),
        (None, false) => layout.work.join(format!("aot-{}", engine.name())),
    };
    let host = Triple::host();
    let mut compiled = Vec::new();
    for target in &recipe.target {
        let triple = parse_triple(target)?;
        if !runs_here(&triple) {
            println!(
                "{}: skipped (this machine is {host}; its code could not be tested here)",
                target.triple
            );
            continue;
        }
        let modules = recipe
            .module
            .iter()
            .map(|m| (m.name.clone(), m.wasm.clone()))
            .chain(extension_modules(layout)?);
        for (name, wasm) in modules {
            let module = AotModule { name, wasm };
            let wasm_path = layout.out().join(&module.wasm);
            let wasm = std::fs::read(&wasm_path).with_context(|| {
                format!("reading {}: run `cargo xtask build`", wasm_path.display())
            })?;
            let path = artifact_path(&dir, &target.triple, &module.name);
            let fingerprint = aot_fingerprint(engine, target, &wasm, &path);
            let stamp = layout.stamps().join(format!(
                "aot-{}-{}-{}-{}.fingerprint",
                engine.name(),
                target.triple,
                module.name.replace('/', "-"),
                &sha256_bytes(dir.display().to_string().as_bytes())[..12]
            ));
            if !options.force
                && path.is_file()
                && read_stamp(&stamp).as_deref() == Some(fingerprint.as_str())
            {
                println!(
                    "{} {}: up to date ({})",
                    target.triple,
                    module.name,
                    path.display()
                );
                compiled.push(Compiled {
                    size: std::fs::metadata(&path)?.len(),
                    path,
                    compile_time: None,
                });
                continue;
            }
            println!(
                "{} {}: compiling {} with {}",
                target.triple,
                module.name,
                wasm_path.display(),
                engine.name()
            );
            let (bytes, compile_time) = compile(engine, target, &triple, &wasm)?;
            write_atomically(&path, &bytes)?;
            write_stamp(&stamp, &fingerprint)?;
            println!(
                "{} {}: {:.1} s, {} bytes -> {}",
                target.triple,
                module.name,
                compile_time.as_secs_f64(),
                bytes.len(),
                path.display()
            );
            compiled.push(Compiled {
                path,
                size: bytes.len() as u64,
                compile_time: Some(compile_time),
            });
        }
    }
    Ok(compiled)
}

fn parse_triple(target: &AotTarget) -> Result<Triple> {
    target
        .triple
        .parse()
        .map_err(|e| anyhow::anyhow!("target {}: {e}", target.triple))
}

/// Whether code for `triple` can be loaded and tested on this machine.
pub fn runs_here(triple: &Triple) -> bool {
    let host = Triple::host();
    triple.architecture == host.architecture && triple.operating_system == host.operating_system
}

/// Native code for `wasm` for this machine's target of
/// `recipes/targets.toml` with the recipe's engine, written to
/// `<dir>/<triple>/<module>.wasmu`; `None` when no target runs here.
pub fn compile_for_host(
    layout: &Layout,
    wasm: &[u8],
    dir: &Path,
    module: &str,
) -> Result<Option<PathBuf>> {
    let recipe = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    for target in &recipe.target {
        let triple = parse_triple(target)?;
        if runs_here(&triple) {
            let (bytes, _) = compile(recipe.engine, target, &triple, wasm)?;
            let path = artifact_path(dir, &target.triple, module);
            write_atomically(&path, &bytes)?;
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The side modules of the built extensions (`extensions/<name>/lib/*.so`
/// in the build output), named `extensions/<name>/<module>`: their code
/// goes to `<triple>/extensions/<name>/<module>.wasmu`, which the runtime
/// installs beside the module (decision 0011).
fn extension_modules(layout: &Layout) -> Result<Vec<(String, String)>> {
    let dir = layout.out().join("extensions");
    let mut modules = Vec::new();
    let Ok(extensions) = std::fs::read_dir(&dir) else {
        return Ok(modules);
    };
    for extension in extensions {
        let extension = extension?.file_name().to_string_lossy().into_owned();
        let lib = dir.join(&extension).join("lib");
        let Ok(files) = std::fs::read_dir(&lib) else {
            continue;
        };
        for file in files {
            let file = file?.file_name().to_string_lossy().into_owned();
            if let Some(module) = file.strip_suffix(".so") {
                modules.push((
                    format!("extensions/{extension}/{module}"),
                    format!("extensions/{extension}/lib/{file}"),
                ));
            }
        }
    }
    modules.sort();
    Ok(modules)
}

/// Everything an artifact depends on, and where it is.
fn aot_fingerprint(engine: AotEngine, target: &AotTarget, wasm: &[u8], path: &Path) -> String {
    let mut fp = Fingerprint::new("aot");
    fp.add_str("path", &path.display().to_string());
    fp.add_str("module", &sha256_bytes(wasm))
        .add_str("engine", engine.name())
        .add_str("engine-settings", engine_settings(engine))
        .add_str("triple", &target.triple)
        .add_str("cpu-features", &target.cpu_features.join(","))
        .add_str("wasmer", pglite_runtime::engine::WASMER_VERSION);
    fp.finish()
}

/// Settings that are not Wasmer's defaults; part of the fingerprint.
fn engine_settings(engine: AotEngine) -> &'static str {
    match engine {
        AotEngine::Cranelift => "defaults; instruction address maps stripped",
        AotEngine::Llvm => {
            "defaults; instruction address maps stripped; one .eh_frame registration"
        }
    }
}

/// Compiles `wasm` for `target` and serializes the module.
pub fn compile(
    engine: AotEngine,
    target: &AotTarget,
    triple: &Triple,
    wasm: &[u8],
) -> Result<(Vec<u8>, Duration)> {
    let mut features = enumset::EnumSet::<CpuFeature>::new();
    for name in &target.cpu_features {
        let feature: CpuFeature = name
            .parse()
            .map_err(|e| anyhow::anyhow!("target {}: cpu feature {name}: {e:?}", target.triple))?;
        features.insert(feature);
    }
    let wasmer_target = Target::new(triple.clone(), features);
    let merge_unwind_tables = engine == AotEngine::Llvm;
    let engine = compiler_engine(engine, wasmer_target)?;
    let started = Instant::now();
    let module = Module::new(&engine, wasm).context("compiling the module")?;
    let elapsed = started.elapsed();
    let bytes = module.serialize().context("serializing the module")?;
    Ok((post_process(&bytes, merge_unwind_tables)?, elapsed))
}

/// The serialized module without its per-instruction address maps and,
/// with `merge_unwind_tables` (LLVM's code), with its unwind tables
/// registered as one object ([`crate::eh_frame::merge`]).
///
/// Cranelift records, for every machine instruction, the wasm offset it
/// came from: a third of the artifact (12.8 MB of 37 MB for the backend).
/// Wasmer uses it only to name the exact wasm instruction in a backtrace;
/// without it a frame names its function and the function's start, as with
/// LLVM's code, which never has it. Traps, unwinding and exceptions use
/// other tables (trap sites, unwind info), which stay.
pub fn post_process(bytes: &[u8], merge_unwind_tables: bool) -> Result<Vec<u8>> {
    use wasmer_compiler::serialize::{SerializableCompilation, SerializableModule};
    use wasmer_types::MetadataHeader;

    const MAGIC: &[u8; 16] = b"wasmer-universal";
    let rest = bytes
        .strip_prefix(MAGIC)
        .context("not a serialized Wasmer module")?;
    let len = MetadataHeader::parse(rest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = rest
        .get(MetadataHeader::LEN..MetadataHeader::LEN + len)
        .context("truncated serialized module")?;
    let archived =
        SerializableModule::archive_from_slice_checked(body).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut module = SerializableModule::deserialize_from_archive(archived)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let SerializableCompilation::Rkyv(compilation) = &mut module.compilation {
        for frame_info in compilation.function_frame_info.values_mut() {
            frame_info.address_map.instructions = Vec::new();
        }
        if let Some(index) = compilation
            .unwind_info
            .eh_frame
            .filter(|_| merge_unwind_tables)
        {
            let section = &mut compilation.custom_sections[index];
            let relocations = &mut compilation.custom_section_relocations[index];
            let merged = crate::eh_frame::merge(section.bytes.as_slice(), relocations)?;
            section.bytes = wasmer_compiler::types::section::SectionBody::new_with_vec(merged);
        }
    }
    let body = module.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::with_capacity(MAGIC.len() + MetadataHeader::LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&MetadataHeader::new(body.len()).into_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn compiler_engine(engine: AotEngine, target: Target) -> Result<Engine> {
    let builder = match engine {
        AotEngine::Cranelift => EngineBuilder::new(wasmer::sys::Cranelift::new()),
        AotEngine::Llvm => llvm_builder()?,
    };
    Ok(builder.set_target(Some(target)).engine().into())
}

/// Whether this xtask was built with LLVM (its `llvm` feature).
pub const HAS_LLVM: bool = cfg!(feature = "llvm");

/// Where Debian's `llvm-22-dev` (recipes/toolchain.toml) puts LLVM, for
/// the `llvm-sys` crate's build.
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// Runs this xtask command again in an xtask built with LLVM.
pub fn rerun_with_llvm(args: &[String]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.args([
        "run",
        "--quiet",
        "--package",
        "xtask",
        "--features",
        "llvm",
        "--",
    ]);
    command.args(args);
    if std::env::var_os("LLVM_SYS_221_PREFIX").is_none() {
        command.env("LLVM_SYS_221_PREFIX", LLVM_PREFIX);
    }
    let status = command
        .status()
        .context("running cargo to build xtask with LLVM")?;
    anyhow::ensure!(
        status.success(),
        "xtask (with LLVM) {}: {status}",
        args.join(" ")
    );
    Ok(())
}

#[cfg(feature = "llvm")]
fn llvm_builder() -> Result<EngineBuilder> {
    Ok(EngineBuilder::new(wasmer::sys::LLVM::new()))
}

#[cfg(not(feature = "llvm"))]
fn llvm_builder() -> Result<EngineBuilder> {
    anyhow::bail!(
        "this xtask was built without LLVM (commands that compile with it run \
         themselves again in an xtask built with it)"
    )
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("artifact path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = path.with_extension(format!("{EXTENSION}.partial"));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}
