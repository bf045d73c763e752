//! The workspace's own programs built for xtask's use: the benchmarks'
//! examples and the regression suite's `pglite-proxy`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;

/// A program of the workspace, by kind and name.
#[derive(Debug, Clone, Copy)]
pub enum Program<'a> {
    Example(&'a str),
    Bin(&'a str),
}

/// Builds `program` with the dev profile (or the release profile), with
/// `features` (`package/feature`) and `--config` overrides; returns its
/// executable.
pub fn build(
    layout: &Layout,
    program: Program<'_>,
    features: &[&str],
    release: bool,
    configs: &[&str],
) -> Result<PathBuf> {
    let (flag, name, dir) = match program {
        Program::Example(name) => ("--example", name, Some("examples")),
        Program::Bin(name) => ("--bin", name, None),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = if release { "release" } else { "dev" };
    let mut command = Command::new(&cargo);
    command
        .current_dir(&layout.workspace)
        .args(["build", "--quiet", "--profile", profile])
        // The whole workspace's feature set, as `cargo test --workspace`
        // builds it: building one package alone would unify other features
        // and rebuild the Wasmer stack (minutes on two cores).
        .args(["--workspace", flag, name]);
    for config in configs {
        command.args(["--config", config]);
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    if !command.status().context("running cargo build")?.success() {
        bail!("building {name} failed");
    }
    let mut path = layout
        .work
        .parent()
        .context("work dir has no parent")?
        .join(if release { "release" } else { "debug" });
    if let Some(dir) = dir {
        path.push(dir);
    }
    Ok(path.join(name))
}
