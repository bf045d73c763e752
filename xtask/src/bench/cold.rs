//! `cargo xtask bench cold`: how long a new temporary database takes to
//! answer its first `SELECT 1`.
//!
//! pglite-oxide: the `cold_start` example, spawned [`RUNS`] times; each run
//! opens two databases from the template. Reported: spawn to the first
//! result (a fresh process: loading the binary, the artifacts and the
//! module included), the second database in the same process (module
//! already loaded), and each stage's median. Native PostgreSQL 15 in the
//! same run: initdb, server start, connect and the first query
//! ([`NativePostgres`]).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::median;
use crate::layout::Layout;
use crate::native::NativePostgres;

/// Runs of each measurement (the medians are over these).
pub const RUNS: usize = 10;

/// `release`: build the example with the release profile (what users
/// ship); otherwise the dev profile, whose dependencies are optimized too.
pub fn run(layout: &Layout, release: bool) -> Result<()> {
    let exe = super::build_example_with(layout, "cold_start", &[], release)?;
    let server_exe = super::build_example_with(layout, "server_start", &[], release)?;
    // One run first, unmeasured: it unpacks the embedded artifacts into the
    // cache (once per machine and release) and warms the page cache.
    run_once(&exe)?;
    run_once(&server_exe)?;
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut native = Vec::new();
    // One after the other, not interleaved: on these VMs (ext4 mounted
    // with `discard`) one side's deleted 40 MB directories stall the other
    // side's writes.
    for _ in 0..RUNS {
        for (name, value) in run_once(&exe)? {
            samples.entry(name).or_default().push(value);
        }
    }
    for _ in 0..RUNS {
        for (name, value) in run_once(&server_exe)? {
            samples.entry(name).or_default().push(value);
        }
    }
    if NativePostgres::available() {
        for _ in 0..RUNS {
            native.push(native_once()?);
        }
    }
    let mut take = |name: &str| {
        let values = samples.get_mut(name).map_or(&mut [][..], |v| &mut v[..]);
        median(values)
    };
    let profile = if release { "release" } else { "dev" };
    println!(
        "cold start: a new temporary database answers SELECT 1 \
         ({profile} build, medians of {RUNS} runs, ms)"
    );
    println!("pglite-oxide (embedded artifacts, AOT code, template):");
    println!(
        "  first database, process spawn to first result  {:>8.2}",
        take("spawn_to_result_ms")
    );
    println!(
        "    in main: artifacts {:.2}, module {:.2}, data dir {:.2}, backend start {:.2}, query {:.2}",
        take("db1_artifacts_ms"),
        take("db1_module_ms"),
        take("db1_root_ms"),
        take("db1_start_ms"),
        take("db1_query_ms")
    );
    println!(
        "    before main (exec, loading the binary)       {:>8.2}",
        take("before_main_ms")
    );
    println!(
        "  second database, same process                  {:>8.2}",
        take("db2_total_ms")
    );
    println!(
        "    artifacts {:.2}, module {:.2}, data dir {:.2}, backend start {:.2}, query {:.2}",
        take("db2_artifacts_ms"),
        take("db2_module_ms"),
        take("db2_root_ms"),
        take("db2_start_ms"),
        take("db2_query_ms")
    );
    println!(
        "  server start + SQLx connect + first query      {:>8.2}",
        take("server1_total_ms")
    );
    println!(
        "    first in its process: server {:.2}, connect and query {:.2}; second: {:.2} in all",
        take("server1_start_ms"),
        take("server1_connect_query_ms"),
        take("server2_total_ms")
    );
    report_native(&mut native);
    Ok(())
}

/// One native run's stages, in milliseconds: initdb, start, connect and
/// the first query.
struct NativeFigures {
    initdb: f64,
    start: f64,
    connect_and_query: f64,
}

fn native_once() -> Result<NativeFigures> {
    let server = NativePostgres::start(&[], None)?;
    let started = Instant::now();
    server.select_one()?;
    Ok(NativeFigures {
        initdb: server.initdb_time.as_secs_f64() * 1000.0,
        start: server.start_time.as_secs_f64() * 1000.0,
        connect_and_query: started.elapsed().as_secs_f64() * 1000.0,
    })
}

fn report_native(runs: &mut [NativeFigures]) {
    if runs.is_empty() {
        println!("native PostgreSQL 15: not installed (apt-get install postgresql-15)");
        return;
    }
    let stage = |f: fn(&NativeFigures) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        median(&mut values)
    };
    let (initdb, start, query) = (
        stage(|r| r.initdb),
        stage(|r| r.start),
        stage(|r| r.connect_and_query),
    );
    let mut totals: Vec<f64> = runs
        .iter()
        .map(|r| r.initdb + r.start + r.connect_and_query)
        .collect();
    println!("native PostgreSQL 15 (same machine, same run):");
    println!(
        "  initdb + start + connect + first query         {:>8.2}",
        median(&mut totals)
    );
    println!("    initdb -N {initdb:.2}, server start {start:.2}, connect + SELECT 1 {query:.2}");
}

/// One process: its figures by name (`db1_start_ms`, `spawn_to_result_ms`).
fn run_once(exe: &std::path::Path) -> Result<Vec<(String, f64)>> {
    let spawned = unix_ns();
    let output = Command::new(exe)
        // The embedded artifacts, whatever the caller's environment says.
        .env_remove(pglite_runtime::ARTIFACTS_ENV)
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{} failed: {stdout}{}",
            exe.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut figures = Vec::new();
    for line in stdout.lines() {
        let fields: BTreeMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .collect();
        let Some((kind, n)) = ["db", "server"]
            .into_iter()
            .find_map(|kind| fields.get(kind).map(|n| (kind, *n)))
        else {
            continue;
        };
        for (name, value) in &fields {
            if let Some(stage) = name.strip_suffix("_ms") {
                figures.push((format!("{kind}{n}_{stage}_ms"), value.parse()?));
            }
        }
        if kind == "db" && n == "1" {
            let result: u128 = fields
                .get("result_unix_ns")
                .context("no result time")?
                .parse()?;
            let spawn_to_result = (result.saturating_sub(spawned)) as f64 / 1e6;
            let in_main: f64 = fields.get("total_ms").context("no total")?.parse()?;
            figures.push(("spawn_to_result_ms".into(), spawn_to_result));
            figures.push(("before_main_ms".into(), spawn_to_result - in_main));
        }
    }
    Ok(figures)
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
