//! The backend the regression tests run against: the shipped build plus
//! the C functions the tests load (`regress.so` from src/test/regress,
//! `autoinc.so` and `refint.so` from contrib/spi), linked in the way
//! PostgreSQL's own modules are (docs/decisions/0002-core-modules-static.md).
//!
//! Made from a copy of the finished build tree: only the static-modules,
//! backend and install steps run again, with the test modules added to the
//! recipe's module list (`regress/test-module.mk`). Never packaged.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::fingerprint::{read_stamp, write_stamp, Fingerprint};
use crate::layout::Layout;
use crate::outputs::{self, remove_dir_if_exists};
use crate::recipes::BuildRecipe;

/// The test modules, each `<name>.c` in src/test/regress or contrib/spi.
const TEST_MODULES: [&str; 3] = ["regress", "autoinc", "refint"];

/// Where the modules' makefiles go, relative to the source tree (the
/// recipe's `{src}`, `src/` of the build tree; see test-module.mk).
const MODULE_PARENT: &str = "src/test/regress";

/// The recipe steps the module list feeds, first and last: the modules,
/// the backend's links and its install.
const STEPS: (&str, &str) = ("static-modules", "install-backend");

/// Builds the variant when its inputs changed; returns its artifacts
/// directory (laid out like the build output, with AOT code for this host).
pub fn build(layout: &Layout) -> Result<PathBuf> {
    let main_tree = layout.build().join("postgres");
    let tree = layout.build().join("regress");
    let out = layout.work.join("regress").join("out");
    let module_makefile = layout.workspace.join("regress").join("test-module.mk");
    let main_build = read_stamp(&layout.stamps().join("build.fingerprint"))
        .context("no finished build: run `cargo xtask build`")?;
    let mut fingerprint = Fingerprint::new("regress-backend");
    fingerprint
        .add_str("build", &main_build)
        .add_file("test-module.mk", &module_makefile)?
        .add_str("modules", &TEST_MODULES.join(","))
        .add_str("wasmer", pglite_runtime::engine::WASMER_VERSION);
    let fingerprint = fingerprint.finish();
    let stamp = layout.stamps().join("regress-backend.fingerprint");
    if out.join("postgres.wasm").is_file()
        && read_stamp(&stamp).as_deref() == Some(fingerprint.as_str())
    {
        println!("regress backend up to date ({})", out.display());
        return Ok(out);
    }

    let _lock = layout.lock("build")?;
    println!("building the regress backend in {}", tree.display());
    remove_dir_if_exists(&tree)?;
    // `cp -a` keeps the timestamps, so make rebuilds only what the module
    // list changes.
    let status = Command::new("cp")
        .arg("-a")
        .arg(&main_tree)
        .arg(&tree)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!(
            "copying {} to {} failed",
            main_tree.display(),
            tree.display()
        );
    }
    let mut recipe = BuildRecipe::load(&layout.recipe("postgres.toml"))?;
    let modules = recipe
        .vars
        .get_mut("static_modules")
        .context("recipes/postgres.toml has no static_modules")?;
    for name in TEST_MODULES {
        let dir = tree
            .join("src")
            .join(MODULE_PARENT)
            .join(format!("pglite-{name}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(&module_makefile, dir.join("Makefile"))
            .with_context(|| format!("copying {}", module_makefile.display()))?;
        modules.push_str(&format!("\n{MODULE_PARENT}/pglite-{name}"));
    }
    // The link's inputs are unchanged objects plus a new module table:
    // without the old binary, make links again.
    let binary = tree.join("src/src/backend/postgres");
    if binary.exists() {
        std::fs::remove_file(&binary)?;
    }
    crate::build::rerun_steps(
        layout,
        &recipe,
        &tree,
        &layout.logs().join("regress"),
        STEPS,
    )?;

    remove_dir_if_exists(&out)?;
    outputs::collect(&tree, &out, &recipe.output)?;
    let template = layout.out().join(pglite_runtime::TEMPLATE_FILE);
    if template.is_file() {
        std::fs::copy(&template, out.join(pglite_runtime::TEMPLATE_FILE))?;
    }
    let wasm = std::fs::read(out.join("postgres.wasm"))?;
    println!("compiling the regress backend for this machine");
    crate::aot::compile_for_host(layout, &wasm, &out.join("aot"), "postgres")?
        .context("recipes/targets.toml has no target for this machine")?;
    write_stamp(&stamp, &fingerprint)?;
    Ok(out)
}

/// The source tree of the regression tests (sql/, expected/, data/ and the
/// schedule), in the variant's build tree.
pub fn tests_dir(layout: &Layout) -> PathBuf {
    layout
        .build()
        .join("regress")
        .join("src")
        .join(MODULE_PARENT)
}
