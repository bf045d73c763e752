//! `cargo xtask test`: everything the tests need, then the tests.
//!
//! The runtime's tests run the real wasm backend. Plain `cargo test` uses
//! the committed (embedded) artifacts; this tests the tree's own build
//! instead. It brings a fresh machine there: the toolchain (installed when
//! missing, which needs root), the sources, the build, the AOT code and the
//! template (no-ops when nothing changed), then runs `cargo test
//! --workspace` with any extra arguments and `PGLITE_OXIDE_ARTIFACTS`
//! naming the build output.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;

pub fn run(layout: &Layout, cargo_test_args: &[String]) -> Result<()> {
    ensure_toolchain(layout)?;
    crate::assets::build_outputs(layout)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&layout.workspace)
        .args(["test", "--workspace"])
        .env(pglite_runtime::ARTIFACTS_ENV, layout.out())
        .args(cargo_test_args)
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// Installs the toolchain when it is missing (which needs root). Also run
/// before xtask builds itself with LLVM, which links LLVM's development
/// files from the toolchain.
pub fn ensure_toolchain(layout: &Layout) -> Result<()> {
    if crate::toolchain::check(layout).is_err() {
        println!("installing the toolchain");
        crate::toolchain::install(layout)?;
        crate::toolchain::check(layout)?;
    }
    Ok(())
}
