//! `cargo xtask package`: the committed artifacts, from the build outputs.
//!
//! - `runtime/artifacts/runtime.tar.zst`: `postgres.wasm`, `pg_dump.wasm`,
//!   `share/`, `lib/`;
//! - `runtime/artifacts/template.tar.zst`: the template data directory (the
//!   archive `cargo xtask template` made, as it is);
//! - `crates/aot-<triple>/artifacts/<module>.wasmu.tar.zst`: AOT code;
//! - `runtime/artifacts/extensions/<name>.tar.zst`: each extension of
//!   recipes/extensions.toml, its `share/` and `lib/` tree, and
//!   `crates/aot-extensions-<triple>/artifacts/<name>.tar.zst`, the native
//!   code of its modules (decision 0013);
//! - `manifests/assets.lock.toml`: size and sha256 of each, and the inputs;
//! - the generated Rust that embeds them (see [`crate::codegen`]).
//!
//! Archives are deterministic ([`crate::pack`]); a file whose bytes did not
//! change is not rewritten. With `--verify` nothing is written: the archives
//! made now must be byte-identical to the committed ones (CI rebuilds
//! everything from source and runs this).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::codegen::{
    self, aot_archive, aot_artifact_name, extension_aot_archive, extension_aot_artifact_name,
    extension_archive, extension_artifact_name, RUNTIME_ARCHIVE, TEMPLATE_ARCHIVE,
};
use crate::hashing::{sha256_bytes, sha256_file};
use crate::layout::Layout;
use crate::manifest::{
    input_files, inputs_fingerprint, ArtifactEntry, Inputs, Manifest, MANIFEST_PATH,
};
use crate::recipes::{ExtensionsRecipe, TargetsRecipe, ToolchainRecipe};

/// The runtime archive's top-level entries in the build output.
const RUNTIME_ROOTS: [&str; 4] = ["postgres.wasm", "pg_dump.wasm", "share", "lib"];

pub fn run(layout: &Layout, verify: bool) -> Result<()> {
    let targets = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    let out = layout.out();
    let ws = &layout.workspace;
    for root in RUNTIME_ROOTS {
        if !out.join(root).exists() {
            bail!(
                "{} is missing: run `cargo xtask build`",
                out.join(root).display()
            );
        }
    }
    let template = out.join(pglite_runtime::TEMPLATE_FILE);
    if !template.is_file() {
        bail!(
            "{} is missing: run `cargo xtask template`",
            template.display()
        );
    }

    let mut artifacts = Vec::new();
    let mut differences = Vec::new();
    let mut emit = |name: &str, rel: &str, bytes: &[u8]| -> Result<ArtifactEntry> {
        if verify {
            let committed = std::fs::read(ws.join(rel)).unwrap_or_default();
            if committed != bytes {
                differences.push(format!(
                    "{rel}: built {} bytes (sha256 {}), committed {} bytes (sha256 {})",
                    bytes.len(),
                    sha256_bytes(bytes),
                    committed.len(),
                    sha256_bytes(&committed)
                ));
            }
            Ok(entry(name, rel, bytes))
        } else {
            write_artifact(ws, name, rel, bytes)
        }
    };
    let runtime = compress_cached(layout, &crate::pack::tar_paths(&out, &RUNTIME_ROOTS)?)?;
    artifacts.push(emit("runtime", RUNTIME_ARCHIVE, &runtime)?);
    let template = std::fs::read(&template)?;
    artifacts.push(emit("template", TEMPLATE_ARCHIVE, &template)?);

    let host = wasmer::sys::Triple::host().to_string();
    for target in &targets.target {
        for module in &targets.module {
            let file = crate::aot::artifact_path(
                &crate::aot::aot_dir(layout),
                &target.triple,
                &module.name,
            );
            if !file.is_file() {
                bail!(
                    "{} is missing: run `cargo xtask aot`{}",
                    file.display(),
                    if target.triple == host {
                        ""
                    } else {
                        " on a machine of that target"
                    }
                );
            }
            let wasm_sha = sha256_file(&out.join(&module.wasm))?;
            let bytes = compress_cached(layout, &crate::pack::tar_file(&file)?)?;
            let mut entry = emit(
                &aot_artifact_name(target, &module.name),
                &aot_archive(target, &module.name),
                &bytes,
            )?;
            entry.target = Some(target.triple.clone());
            entry.module = Some(module.name.clone());
            entry.module_sha256 = Some(wasm_sha);
            artifacts.push(entry);
        }
    }

    // Only this tree's recipe entries: the shared build output may hold
    // other extensions.
    let extensions = ExtensionsRecipe::load(&layout.recipe("extensions.toml"))?;
    for extension in &extensions.extension {
        let name = &extension.name;
        let tree = out.join("extensions").join(name);
        if !tree.is_dir() {
            bail!("{} is missing: run `cargo xtask build`", tree.display());
        }
        let bytes = compress_cached(layout, &crate::pack::tar_dir(&tree)?)?;
        artifacts.push(emit(
            &extension_artifact_name(name),
            &extension_archive(name),
            &bytes,
        )?);
        let modules = side_modules(&tree.join("lib"))?;
        if modules.is_empty() {
            continue;
        }
        for target in &targets.target {
            let dir = crate::aot::aot_dir(layout)
                .join(&target.triple)
                .join("extensions")
                .join(name);
            for module in &modules {
                let file = dir.join(format!("{module}.{}", crate::aot::EXTENSION));
                if !file.is_file() {
                    bail!("{} is missing: run `cargo xtask aot`", file.display());
                }
            }
            let names: Vec<String> = modules
                .iter()
                .map(|m| format!("{m}.{}", crate::aot::EXTENSION))
                .collect();
            let roots: Vec<&str> = names.iter().map(String::as_str).collect();
            let bytes = compress_cached(layout, &crate::pack::tar_paths(&dir, &roots)?)?;
            let mut entry = emit(
                &extension_aot_artifact_name(target, name),
                &extension_aot_archive(target, name),
                &bytes,
            )?;
            entry.target = Some(target.triple.clone());
            entry.module = Some(format!("extensions/{name}"));
            artifacts.push(entry);
        }
    }

    if verify {
        if !differences.is_empty() {
            bail!(
                "the artifacts built from this tree differ from the committed ones:\n  {}",
                differences.join("\n  ")
            );
        }
        println!(
            "verified: {} archives built from this tree are byte-identical to the committed ones",
            artifacts.len()
        );
        return Ok(());
    }
    let files = input_files(layout)?;
    let toolchain = installed_toolchain(layout)?;
    let wasmer = pglite_runtime::engine::WASMER_VERSION.to_string();
    let manifest = Manifest {
        format: 1,
        aot_engine: targets.engine.name().to_string(),
        inputs: Inputs {
            fingerprint: inputs_fingerprint(&files, &toolchain, &wasmer),
            toolchain,
            files,
        },
        wasmer,
        artifact: artifacts,
    };
    write_if_changed(&ws.join(MANIFEST_PATH), manifest.to_text()?.as_bytes())?;
    for (path, text) in codegen::generated_files(ws, &manifest, &targets)? {
        write_if_changed(&ws.join(path), text.as_bytes())?;
    }
    for entry in &manifest.artifact {
        println!(
            "{:>12} bytes  {}  {}",
            entry.size,
            &entry.sha256[..16],
            entry.path
        );
    }
    println!("wrote {MANIFEST_PATH} and the generated Rust");
    Ok(())
}

/// The side modules in an extension's `lib/` (`<module>.so`), sorted.
fn side_modules(lib: &Path) -> Result<Vec<String>> {
    let mut modules = Vec::new();
    if let Ok(entries) = std::fs::read_dir(lib) {
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(module) = name.strip_suffix(".so") {
                modules.push(module.to_string());
            }
        }
    }
    modules.sort();
    Ok(modules)
}

/// [`crate::pack::compress`], remembered in the work directory by the
/// tar's sha256: level 19 takes a minute on the AOT code, and its input
/// rarely changes.
fn compress_cached(layout: &Layout, tar: &[u8]) -> Result<Vec<u8>> {
    let dir = layout.work.join("package-cache");
    let path = dir.join(format!(
        "{}-zstd{}.zst",
        sha256_bytes(tar),
        crate::pack::ZSTD_LEVEL
    ));
    if let Ok(bytes) = std::fs::read(&path) {
        // Trust it only if it really decompresses to `tar`.
        if zstd::stream::decode_all(bytes.as_slice()).is_ok_and(|t| t == tar) {
            return Ok(bytes);
        }
    }
    let bytes = crate::pack::compress(tar)?;
    write_if_changed(&path, &bytes)?;
    Ok(bytes)
}

fn installed_toolchain(layout: &Layout) -> Result<BTreeMap<String, String>> {
    let recipe = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    let versions = crate::toolchain::installed_versions(&recipe.package_names())?;
    Ok(versions
        .into_iter()
        .map(|(name, version)| (name, version.unwrap_or_else(|| "<not installed>".into())))
        .collect())
}

fn write_artifact(ws: &Path, name: &str, rel: &str, bytes: &[u8]) -> Result<ArtifactEntry> {
    write_if_changed(&ws.join(rel), bytes)?;
    Ok(entry(name, rel, bytes))
}

fn entry(name: &str, rel: &str, bytes: &[u8]) -> ArtifactEntry {
    ArtifactEntry {
        name: name.to_string(),
        path: rel.to_string(),
        size: bytes.len() as u64,
        sha256: sha256_bytes(bytes),
        target: None,
        module: None,
        module_sha256: None,
    }
}

/// Writes `bytes` unless the file already holds exactly them.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = path.parent().context("path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .context("path has no file name")?
            .to_string_lossy()
    ));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}
