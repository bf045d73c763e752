//! `cargo xtask bench api`: the round trip of `SELECT $1::int4 + 1` through
//! the direct API, an in-process tokio-postgres client and a native
//! PostgreSQL 15 over a Unix socket, measured in the same run with
//! everything on one CPU.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;
use native_postgres::NativePostgres;

/// The CPU benchmarks pin client and servers to: round trips across two
/// CPUs of these VMs cost several times more than on one.
const PINNED_CPU: usize = 0;

pub fn run(layout: &Layout) -> Result<()> {
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
