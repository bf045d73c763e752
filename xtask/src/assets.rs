//! `cargo xtask assets build`: every step from the recipes to the committed
//! artifacts: fetch, build, aot, template, package, and the extension
//! catalog made from the packaged extensions. Each step is skipped
//! when its inputs did not change, so after a change to a patch this
//! rebuilds what depends on it and regenerates the manifest and the
//! generated Rust that `cargo xtask check` compares.

use anyhow::{Context, Result};

use crate::aot::AotOptions;
use crate::build::BuildOptions;
use crate::layout::Layout;

pub fn build(layout: &Layout) -> Result<()> {
    crate::toolchain::check(layout).context("the toolchain is incomplete")?;
    build_outputs(layout)?;
    crate::package::run(layout, false)?;
    crate::catalog::run(layout)
}

/// Fetch, build, AOT code and template: the build output that tests and
/// packages are made from (each step a no-op when its inputs are unchanged).
pub fn build_outputs(layout: &Layout) -> Result<()> {
    crate::fetch::fetch(layout)?;
    crate::build::run(
        layout,
        &BuildOptions {
            recipe: layout.recipe("postgres.toml"),
            verify_reproducible: false,
        },
    )?;
    // AOT code first: initdb for the template then loads it instead of
    // compiling the module.
    crate::aot::run(layout, &AotOptions::default())?;
    crate::template::run(layout)
}
