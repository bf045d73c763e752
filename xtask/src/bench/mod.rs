//! `cargo xtask bench <suite>`: benchmarks that print figures from one run.
//!
//! - `engines`: the AOT code of Cranelift and LLVM side by side
//!   ([`engines`]).
//! - `cold`: process start to the first `SELECT 1` answered on a new
//!   temporary database (from the template), run as a fresh process ten
//!   times; prints the median of the wall time and of each stage the
//!   program reports (module load, data directory, backend start, query).
//! - `api`: the round trip of `SELECT $1::int4 + 1` through the direct API,
//!   an in-process tokio-postgres client and a native PostgreSQL 15 over a
//!   Unix socket, measured in the same run with everything on one CPU.
//! - `fs`: wasmer-wasix's stock host filesystem against ours ([`fs`]).

mod fs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;
use crate::native::NativePostgres;

mod anatomy;
mod engines;

const RUNS: usize = 10;

pub fn run(layout: &Layout, suite: &str) -> Result<()> {
    match suite {
        "cold" => cold(layout),
        "api" => api(layout),
        "fs" => fs::run(layout),
        "engines" => engines::run(layout),
        other => bail!("unknown bench suite `{other}` (suites: cold, api, fs, engines)"),
    }
}

/// Builds an example of the runtime crate; returns its executable.
fn build_example(layout: &Layout, name: &str, features: &[&str]) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.current_dir(&layout.workspace).args([
        "build",
        "--quiet",
        "-p",
        "pglite-runtime",
        "--example",
        name,
    ]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    if !command.status()?.success() {
        bail!("building the {name} example failed");
    }
    Ok(layout
        .work
        .parent()
        .context("work dir has no parent")?
        .join("debug/examples")
        .join(name))
}

/// The median of `values` (which must not be empty).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    (values[(values.len() - 1) / 2] + values[values.len() / 2]) / 2.0
}

fn cold(layout: &Layout) -> Result<()> {
    let exe = build_example(layout, "first_query", &[])?;
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let output = Command::new(&exe)
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !stdout.contains("answered=true") {
            bail!(
                "first_query failed: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        samples
            .entry("process_wall_ms".into())
            .or_default()
            .push(wall);
        for field in stdout.split_whitespace() {
            if let Some((name, value)) = field.split_once('=') {
                if let Ok(value) = value.parse::<f64>() {
                    samples.entry(name.to_string()).or_default().push(value);
                }
            }
        }
    }
    println!("cold start, new temporary database, first SELECT 1 ({RUNS} runs, medians):");
    for (name, mut values) in samples {
        let median = median(&mut values);
        println!(
            "  {name:<16} {median:>9.2}   (min {:.2}, max {:.2})",
            values[0],
            values[values.len() - 1]
        );
    }
    Ok(())
}

/// The CPU benchmarks pin client and servers to: round trips across two
/// CPUs of these VMs cost several times more than on one.
const PINNED_CPU: usize = 0;

fn api(layout: &Layout) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let bench = [
        "bench",
        "--profile",
        "dev",
        "-p",
        "pglite-oxide",
        "--bench",
        "roundtrip",
    ];
    let status = Command::new(&cargo)
        .current_dir(&layout.workspace)
        .args(bench)
        .arg("--no-run")
        .status()?;
    if !status.success() {
        bail!("building the roundtrip bench failed");
    }
    let native = if NativePostgres::available() {
        Some(NativePostgres::start(
            &[("fsync", "off")],
            Some(PINNED_CPU),
        )?)
    } else {
        println!(
            "native PostgreSQL 15 is not installed (apt-get install postgresql-15): not compared"
        );
        None
    };
    let mut command = Command::new("taskset");
    command
        .args(["-c", &PINNED_CPU.to_string()])
        .arg(&cargo)
        .current_dir(&layout.workspace)
        .args(bench)
        .arg("--");
    if let Some(native) = &native {
        command
            .arg("--native")
            .arg(native.socket_dir())
            .arg(native.port.to_string());
    }
    println!("client and servers pinned to CPU {PINNED_CPU}");
    let status = command.status().context("running the roundtrip bench")?;
    if !status.success() {
        bail!("the roundtrip bench failed");
    }
    Ok(())
}
