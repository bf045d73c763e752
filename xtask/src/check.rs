//! `cargo xtask check`: fast consistency checks that need no toolchain and
//! no network:
//! - the recipes parse, agree with each other, and every placeholder of the
//!   build recipe resolves;
//! - the committed artifacts match `manifests/assets.lock.toml`;
//! - the manifest's inputs match the current recipes, patches and assets
//!   (a stale input is named);
//! - the generated Rust is what the manifest and recipes give now, and the
//!   runtime depends on every AOT crate.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::codegen::{generated_files, runtime_dependency_problems};
use crate::hashing::sha256_file;
use crate::layout::Layout;
use crate::manifest::{input_files, inputs_fingerprint, stale_inputs, Manifest, MANIFEST_PATH};
use crate::recipes::{
    BuildRecipe, ExtensionsRecipe, SourcesRecipe, TargetsRecipe, ToolchainRecipe,
};

pub fn check(layout: &Layout) -> Result<()> {
    check_recipes(layout)?;
    let problems = artifact_problems(layout)?;
    if !problems.is_empty() {
        for problem in &problems {
            println!("  {problem}");
        }
        bail!("{} problem(s) with the committed artifacts", problems.len());
    }
    println!("check ok");
    Ok(())
}

fn check_recipes(layout: &Layout) -> Result<()> {
    let sources = SourcesRecipe::load(&layout.recipe("sources.toml"))?;
    let toolchain = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    println!(
        "recipes/sources.toml: {} sources, {} pinned files",
        sources.source.len(),
        sources
            .source
            .values()
            .map(|s| s.files.len())
            .sum::<usize>()
    );
    println!(
        "recipes/toolchain.toml: {} packages ({} version-pinned), {} sysroot paths",
        toolchain.package.len(),
        toolchain
            .package
            .iter()
            .filter(|p| p.version.is_some())
            .count(),
        toolchain.sysroot.required.len()
    );
    let postgres = layout.recipe("postgres.toml");
    let recipe = BuildRecipe::load_with_extensions(&postgres, &layout.recipe("extensions.toml"))?;
    recipe.validate_source(&sources)?;
    let source = sources.get(&recipe.source.name)?;
    crate::build::dry_run(layout, &recipe, source)
        .with_context(|| format!("checking {}", postgres.display()))?;
    println!(
        "recipes/postgres.toml: {} steps, {} outputs, placeholders resolve",
        recipe.step.len(),
        recipe.output.len()
    );
    let libraries = crate::libraries::dry_run(layout, &sources)?;
    println!("recipes/libraries: {libraries} libraries, placeholders resolve");
    let targets = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    println!(
        "recipes/targets.toml: {} module(s) x {} target(s), engine {}",
        targets.module.len(),
        targets.target.len(),
        targets.engine.name()
    );
    Ok(())
}

/// Everything wrong with the committed artifacts, one line each.
pub fn artifact_problems(layout: &Layout) -> Result<Vec<String>> {
    let ws = &layout.workspace;
    let manifest = Manifest::load(&ws.join(MANIFEST_PATH))?;
    let targets = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    let mut problems = Vec::new();

    for entry in &manifest.artifact {
        let path = ws.join(&entry.path);
        match std::fs::metadata(&path) {
            Err(_) => problems.push(format!("{}: missing (see {MANIFEST_PATH})", entry.path)),
            Ok(meta) if meta.len() != entry.size => problems.push(format!(
                "{}: {} bytes, the manifest says {}",
                entry.path,
                meta.len(),
                entry.size
            )),
            Ok(_) => {
                let sha = sha256_file(&path)?;
                if sha != entry.sha256 {
                    problems.push(format!(
                        "{}: sha256 {sha}, the manifest says {}",
                        entry.path, entry.sha256
                    ));
                }
            }
        }
    }
    let extensions = ExtensionsRecipe::load(&layout.recipe("extensions.toml"))?;
    let backend_artifacts = manifest
        .artifact
        .iter()
        .filter(|a| !a.name.starts_with("extension-") && !a.name.contains("-extension-"))
        .count();
    if backend_artifacts != 2 + targets.target.len() * targets.module.len() {
        problems.push(format!(
            "{MANIFEST_PATH}: {backend_artifacts} backend artifacts, but recipes/targets.toml \
             asks for the runtime, the template and {} AOT module(s)",
            targets.target.len() * targets.module.len()
        ));
    }
    let packaged = crate::codegen::packaged_extensions(&manifest);
    let wanted: Vec<&str> = extensions
        .extension
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    if packaged != wanted {
        problems.push(format!(
            "stale input: {MANIFEST_PATH} packages the extensions {packaged:?}, \
             recipes/extensions.toml lists {wanted:?}"
        ));
    }
    problems.extend(crate::catalog::problems(layout, &manifest)?);
    if manifest.aot_engine != targets.engine.name() {
        problems.push(format!(
            "{MANIFEST_PATH}: AOT code made with {}, recipes/targets.toml says {}",
            manifest.aot_engine,
            targets.engine.name()
        ));
    }

    let wasmer = pglite_runtime::engine::WASMER_VERSION;
    if manifest.wasmer != wasmer {
        problems.push(format!(
            "stale input: Wasmer is {wasmer}, the artifacts were made with {}",
            manifest.wasmer
        ));
    }
    let current = input_files(layout)?;
    for stale in stale_inputs(&manifest.inputs.files, &current) {
        problems.push(format!(
            "stale input: {stale} since the artifacts were made"
        ));
    }
    let recorded = inputs_fingerprint(
        &manifest.inputs.files,
        &manifest.inputs.toolchain,
        &manifest.wasmer,
    );
    if recorded != manifest.inputs.fingerprint {
        problems.push(format!(
            "{MANIFEST_PATH}: the inputs' fingerprint does not match the inputs it lists \
             (edited by hand?)"
        ));
    }

    match generated_files(ws, &manifest, &targets) {
        Ok(files) => {
            for (path, text) in files {
                if !is_same(&ws.join(&path), &text) {
                    problems.push(format!(
                        "{}: generated code is stale (run `cargo xtask package`)",
                        path.display()
                    ));
                }
            }
        }
        Err(err) => problems.push(format!("generated code: {err:#}")),
    }
    problems.extend(runtime_dependency_problems(ws, &targets)?);

    if problems.iter().any(|p| p.starts_with("stale input")) {
        problems.push(
            "the artifacts are older than their inputs: run `cargo xtask assets build` \
             and commit the result"
                .into(),
        );
    }
    Ok(problems)
}

fn is_same(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|old| old == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the committed inputs and artifacts that the check can be
    /// run on and that a test may change.
    fn workspace_copy() -> (tempfile::TempDir, Layout) {
        let real = Layout::from_env().unwrap().workspace;
        let copy = tempfile::tempdir().unwrap();
        let mut paths = vec![
            "recipes".to_string(),
            "patches".into(),
            "assets".into(),
            "extensions".into(),
            "runtime/src/initdb".into(),
            "runtime/src/initdb.rs".into(),
            "runtime/src/reproducible.rs".into(),
            "runtime/src/generated.rs".into(),
            "runtime/Cargo.toml".into(),
            MANIFEST_PATH.into(),
            crate::catalog::STATUS_PATH.into(),
            crate::catalog::CONSTANTS_RS.into(),
            "extensions/smoke".into(),
        ];
        let manifest = Manifest::load(&real.join(MANIFEST_PATH)).unwrap();
        let targets = TargetsRecipe::load(&real.join("recipes/targets.toml")).unwrap();
        for target in &targets.target {
            paths.push(format!("{}/src", target.crate_dir()));
            paths.push(format!("{}/Cargo.toml", target.crate_dir()));
            paths.push(format!("{}/src", target.extensions_crate_dir()));
            paths.push(format!("{}/Cargo.toml", target.extensions_crate_dir()));
        }
        for path in paths {
            crate::outputs::copy_any(&real.join(&path), &copy.path().join(&path)).unwrap();
        }
        // The archives are large: link them rather than copy.
        for entry in &manifest.artifact {
            let to = copy.path().join(&entry.path);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(real.join(&entry.path), &to).unwrap();
        }
        let layout = Layout::new(copy.path(), copy.path().join("work"));
        (copy, layout)
    }

    #[test]
    fn the_committed_artifacts_are_current() {
        let (_copy, layout) = workspace_copy();
        assert_eq!(artifact_problems(&layout).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_changed_patch_is_named_as_stale() {
        let (_copy, layout) = workspace_copy();
        let patch = crate::tree::walk_files(&layout.patches()).unwrap()[0]
            .name
            .clone();
        let path = layout.patches().join(&patch);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let problems = artifact_problems(&layout).unwrap();
        assert!(
            problems.contains(&format!(
                "stale input: patches/{patch} (changed) since the artifacts were made"
            )),
            "{problems:#?}"
        );
        assert!(problems
            .last()
            .unwrap()
            .contains("cargo xtask assets build"));
    }

    #[test]
    fn stale_extension_constants_are_reported() {
        let (copy, layout) = workspace_copy();
        let constants = copy.path().join(crate::catalog::CONSTANTS_RS);
        let text = std::fs::read_to_string(&constants).unwrap();
        std::fs::write(&constants, text.replace("pub const ALL", "pub const  ALL")).unwrap();
        let problems = artifact_problems(&layout).unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("runtime/src/extensions.rs: generated code is stale")),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_damaged_artifact_or_stale_generated_code_is_reported() {
        let (copy, layout) = workspace_copy();
        let generated = copy.path().join("runtime/src/generated.rs");
        let text = std::fs::read_to_string(&generated).unwrap();
        std::fs::write(&generated, text.replace("size:", "size :")).unwrap();
        let template = copy.path().join("runtime/artifacts/template.tar.zst");
        std::fs::remove_file(&template).unwrap();
        std::fs::write(&template, b"not the template").unwrap();
        let problems = artifact_problems(&layout).unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("runtime/artifacts/template.tar.zst: 16 bytes")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("runtime/src/generated.rs: generated code is stale")),
            "{problems:#?}"
        );
    }
}
