//! `cargo xtask bench <suite>`: benchmarks that print figures from one run.
//!
//! - `cold`: new temporary databases from a fresh process and in a warm
//!   one, beside native PostgreSQL 15 measured in the same run ([`cold`]);
//!   `cold-release` builds the program with the release profile.
//! - `api`: query round trips through the direct API, an in-process client
//!   and native PostgreSQL ([`api`]).
//! - `fs`: wasmer-wasix's stock host filesystem against ours ([`fs`]).
//! - `fork`: forks, the per-test fixture and a 200-test suite three ways
//!   ([`fork`]).
//! - `engines`: the AOT code of Cranelift and LLVM side by side
//!   ([`engines`]); `sizes`: only what the artifacts are made of.
//! - `speed`: the SQLite-derived speed suite through SQLx against our
//!   server, through our direct API and against native PostgreSQL
//!   ([`speed`]).
//! - `vector`: our vector extension's first query, HNSW build, latency and
//!   recall, in the runtime and in native PostgreSQL ([`vector`]).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;
use crate::workspace_build::Program;

mod anatomy;
mod api;
mod cold;
mod engines;
mod extensions;
mod fork;
mod fs;
mod speed;
mod speed_sql;
mod vector;

pub fn run(layout: &Layout, suite: &str, flags: &[&str]) -> Result<()> {
    if suite == "speed" {
        return speed::run(layout, flags);
    }
    if let Some(flag) = flags.first() {
        bail!("bench {suite} takes no flags (got `{flag}`)");
    }
    match suite {
        "cold" => cold::run(layout, false),
        "cold-release" => cold::run(layout, true),
        "api" => api::run(layout),
        "fs" => fs::run(layout),
        "fork" => fork::run(layout),
        "engines" => engines::run(layout),
        "extensions" => extensions::run(layout),
        "sizes" => engines::sizes(layout),
        "vector" => vector::run(layout),
        other => bail!(
            "unknown bench suite `{other}` (suites: cold, cold-release, api, fs, fork, engines, extensions, sizes, speed, vector)"
        ),
    }
}

/// `bench engines`' measurements of one engine's code, in this process.
pub fn engine_worker(layout: &Layout, path: &std::path::Path) -> Result<()> {
    engines::worker(layout, path)
}

/// Builds an example of the workspace (names are unique across it) with the
/// dev profile (or the release profile); returns its executable. Features
/// are `package/feature`.
fn build_example(layout: &Layout, name: &str, features: &[&str]) -> Result<PathBuf> {
    build_example_with(layout, name, features, false)
}

fn build_example_with(
    layout: &Layout,
    name: &str,
    features: &[&str],
    release: bool,
) -> Result<PathBuf> {
    build_example_configured(layout, name, features, release, &[])
}

/// Our crates compiled as optimized as the dev profile compiles every
/// dependency (opt-level 2), for benches whose figures include host code
/// of ours (the filesystem layer, the wire front end): users run it
/// optimized. Only the workspace's crates are rebuilt for it.
const OPTIMIZED_WORKSPACE: [&str; 2] = [
    "profile.dev.package.pglite-runtime.opt-level=2",
    "profile.dev.package.pglite-oxide.opt-level=2",
];

/// [`build_example`] with our own crates optimized ([`OPTIMIZED_WORKSPACE`]).
fn build_example_optimized(layout: &Layout, name: &str) -> Result<PathBuf> {
    build_example_configured(layout, name, &[], false, &OPTIMIZED_WORKSPACE)
}

fn build_example_configured(
    layout: &Layout,
    name: &str,
    features: &[&str],
    release: bool,
    configs: &[&str],
) -> Result<PathBuf> {
    crate::workspace_build::build(layout, Program::Example(name), features, release, configs)
}

/// The median of `values` (sorted in place); 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (values[(n - 1) / 2] + values[n / 2]) / 2.0
}

/// Where benches save their JSON: `target/bench/` (beside the pipeline's
/// work directory), made if missing.
pub(crate) fn results_dir(layout: &Layout) -> Result<PathBuf> {
    let out = layout
        .work
        .parent()
        .context("work dir has no parent")?
        .join("bench");
    std::fs::create_dir_all(&out)?;
    Ok(out)
}
