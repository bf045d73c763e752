//! Third-party C libraries that extensions link (`recipes/libraries/*.toml`,
//! docs/decisions/0014-extension-libraries.md): each is built from its
//! pinned Debian source into a tree of its own, `<work>/libraries/<name>/`
//! (`lib/`, `include/`), before the backend's build, and again only when its
//! own inputs change. The backend recipe reaches them as `{libraries}`.
//!
//! A library recipe is a build recipe (`recipes/postgres.toml`'s schema)
//! that names the parts of `assets/` it uses; its patches are
//! `patches/<name>/*.patch`, applied after Debian's when the source says
//! `debian_patches = true`.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};

use crate::build::{build_once, plan_steps, sorted_patches, BuildRun, Prepare};
use crate::fingerprint::{read_stamp, remove_stamp, write_stamp, Fingerprint};
use crate::hashing::verify_files;
use crate::layout::Layout;
use crate::recipes::{BuildRecipe, Source, SourcesRecipe, ToolchainRecipe};

/// A library: its name (the recipe's file stem) and recipe.
pub struct Library {
    pub name: String,
    pub path: PathBuf,
    pub recipe: BuildRecipe,
}

/// Every `recipes/libraries/*.toml`, loaded and checked, in name order.
pub fn load_all(layout: &Layout, sources: &SourcesRecipe) -> Result<Vec<Library>> {
    let dir = layout.recipe("libraries");
    let mut paths = Vec::new();
    if dir.is_dir() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths.iter().map(|path| load(path, sources)).collect()
}

fn load(path: &Path, sources: &SourcesRecipe) -> Result<Library> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    ensure!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "library recipe {}: the file name must be [a-z0-9_].toml",
        path.display()
    );
    let recipe = BuildRecipe::load(path)?;
    let context = || format!("invalid {}", path.display());
    recipe.validate_source(sources).with_context(context)?;
    ensure!(
        recipe.assets.is_some(),
        "{}: a library recipe lists the parts of assets/ it uses (`assets = [...]`): \
         they are what its fingerprint covers",
        path.display()
    );
    Ok(Library {
        name,
        path: path.to_path_buf(),
        recipe,
    })
}

/// `cargo xtask libraries` with the installed toolchain's versions.
pub fn run(layout: &Layout) -> Result<()> {
    let toolchain = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    let versions = crate::toolchain::installed_versions(&toolchain.package_names())?;
    build_all(layout, &versions)
}

/// Builds every library whose inputs changed since its last build.
pub fn build_all(layout: &Layout, toolchain: &[(String, Option<String>)]) -> Result<()> {
    let sources = SourcesRecipe::load(&layout.recipe("sources.toml"))?;
    for library in load_all(layout, &sources)? {
        let source = sources.get(&library.recipe.source.name)?;
        build(layout, &library, source, toolchain)
            .with_context(|| format!("building library {}", library.name))?;
    }
    Ok(())
}

/// Expands every placeholder of every library recipe without running
/// anything (for `cargo xtask check`).
pub fn dry_run(layout: &Layout, sources: &SourcesRecipe) -> Result<usize> {
    let libraries = load_all(layout, sources)?;
    for library in &libraries {
        let source = sources.get(&library.recipe.source.name)?;
        plan_steps(
            layout,
            &library.recipe,
            source,
            &place(layout, &library.name),
        )
        .with_context(|| format!("checking {}", library.path.display()))?;
    }
    Ok(libraries.len())
}

/// Where a library is built (beside the backend's tree, see
/// `FIXED_BUILD_ROOT`), collected and logged.
fn place(layout: &Layout, name: &str) -> BuildRun {
    BuildRun {
        dir: layout.build().join("libraries").join(name),
        out: layout.libraries().join(name),
        logs: layout.logs().join("libraries").join(name),
    }
}

fn build(
    layout: &Layout,
    library: &Library,
    source: &Source,
    toolchain: &[(String, Option<String>)],
) -> Result<()> {
    let name = &library.name;
    let patches = layout.patches().join(name);
    let fingerprint = fingerprint(layout, library, source, &patches, toolchain)?;
    let short = &fingerprint[..16];
    let run = place(layout, name);
    let stamp = layout.stamps().join(format!("library-{name}.fingerprint"));
    if run.out.is_dir() && read_stamp(&stamp).as_deref() == Some(fingerprint.as_str()) {
        println!("library {name} up to date (fingerprint {short})");
        return Ok(());
    }
    let file = |wanted: &dyn Fn(&str) -> bool, what: &str| {
        source
            .files
            .iter()
            .find(|f| wanted(&f.name))
            .with_context(|| format!("source {}: no {what} in sources.toml", source.version))
    };
    let archive = file(&|n| n == library.recipe.source.archive, "archive")?;
    let mut verified = vec![archive.clone()];
    let debian = if source.debian_patches {
        let tarball = file(&|n| n.ends_with(".debian.tar.xz"), "*.debian.tar.xz")?;
        verified.push(tarball.clone());
        Some(layout.sources().join(&tarball.name))
    } else {
        None
    };
    verify_files(&layout.sources(), &verified)
        .context("source not fetched or corrupt: run `cargo xtask fetch`")?;
    let prepare = Prepare {
        archive: layout.sources().join(&archive.name),
        debian,
        patches: sorted_patches(&patches)?,
    };
    println!("building library {name} (fingerprint {short})");
    remove_stamp(&stamp)?;
    build_once(layout, &library.recipe, source, &prepare, &run)?;
    write_stamp(&stamp, &fingerprint)?;
    println!("built {}", run.out.display());
    Ok(())
}

/// Everything one library's build depends on: its recipe, its source pin,
/// its patches, the parts of `assets/` it uses, the toolchain. Not the
/// backend's recipes: changing those does not rebuild a library.
fn fingerprint(
    layout: &Layout,
    library: &Library,
    source: &Source,
    patches: &Path,
    toolchain: &[(String, Option<String>)],
) -> Result<String> {
    let mut fp = Fingerprint::new("library");
    fp.add_str("name", &library.name);
    fp.add_file("recipe", &library.path)?;
    fp.add_str("version", &source.version);
    fp.add_str("debian_patches", &source.debian_patches.to_string());
    for file in &source.files {
        fp.add_str(&file.name, &file.sha256);
    }
    fp.add_dir("patches", patches)?;
    for part in library.recipe.assets.iter().flatten() {
        fp.add_dir(part, &layout.assets().join(part))?;
    }
    for (name, version) in toolchain {
        fp.add_str(name, version.as_deref().unwrap_or("<not installed>"));
    }
    fp.add_str("xtask", env!("CARGO_PKG_VERSION"));
    Ok(fp.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_library_recipes_load() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let layout = Layout::new(&workspace, workspace.join("target/pglite-test"));
        let sources = SourcesRecipe::load(&layout.recipe("sources.toml")).unwrap();
        let libraries = load_all(&layout, &sources).unwrap();
        let names: Vec<&str> = libraries.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["libcrypto", "libuuid"]);
        for library in &libraries {
            let source = sources.get(&library.recipe.source.name).unwrap();
            assert!(
                source.debian_patches,
                "{}: built as Debian builds it",
                library.name
            );
        }
    }
}
