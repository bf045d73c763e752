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
use native_postgres::NativePostgres;

/// Runs of each measurement (the medians are over these).
pub const RUNS: usize = 10;

/// `release`: build the example with the release profile (what users
/// ship); otherwise the dev profile, whose dependencies are optimized too.
pub fn run(layout: &Layout, release: bool) -> Result<()> {
    let exe = super::build_example_with(layout, "cold_start", &[], release)?;
    let server_exe = super::build_example_with(layout, "server_start", &[], release)?;
    // One run first, unmeasured: it unpacks the embedded artifacts into the
    // cache (once per machine and release), stores the started-backend image
    // and warms the page cache.
    run_once(&exe, Images::On)?;
    run_once(&server_exe, Images::On)?;
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut native = Vec::new();
    // One after the other, not interleaved: on these VMs (ext4 mounted
    // with `discard`) one side's deleted 40 MB directories stall the other
    // side's writes.
    for images in [Images::On, Images::Off] {
        for _ in 0..RUNS {
            for (name, value) in run_once(&exe, images)? {
                samples
                    .entry(format!("{}{name}", images.prefix()))
                    .or_default()
                    .push(value);
            }
        }
    }
    for _ in 0..RUNS {
        for (name, value) in run_once(&server_exe, Images::On)? {
            samples.entry(name).or_default().push(value);
        }
    }
    if NativePostgres::available() {
        for _ in 0..RUNS {
            native.push(native_once()?);
        }
    }
    let profile = if release { "release" } else { "dev" };
    println!(
        "cold start: a new temporary database answers SELECT 1 \
         ({profile} build, medians of {RUNS} runs, ms)"
    );
    println!("pglite-oxide (embedded artifacts, AOT code, template):");
    for images in [Images::On, Images::Off] {
        let p = images.prefix();
        println!("  {}:", images.title());
        println!(
            "    first database, process spawn to first result  {:>8.2}",
            take(&mut samples, &format!("{p}spawn_to_result_ms"))
        );
        println!(
            "      in main: {}",
            stages(
                &mut samples,
                &format!("{p}db1"),
                "module (loads beside the next two)"
            )
        );
        println!(
            "      before main (exec, loading the binary)       {:>8.2}",
            take(&mut samples, &format!("{p}before_main_ms"))
        );
        println!(
            "    second database, same process                  {:>8.2}",
            take(&mut samples, &format!("{p}db2_total_ms"))
        );
        println!(
            "      {}",
            stages(&mut samples, &format!("{p}db2"), "module")
        );
        println!(
            "    backends made from the image: first {:.0}/{RUNS}, second {:.0}/{RUNS}",
            samples_sum(&samples, &format!("{p}db1_from_image")),
            samples_sum(&samples, &format!("{p}db2_from_image")),
        );
    }
    println!(
        "  server start + SQLx connect + first query      {:>8.2}",
        take(&mut samples, "server1_total_ms")
    );
    println!(
        "    first in its process: server {:.2}, connect and query {:.2}; second: {:.2} in all",
        take(&mut samples, "server1_start_ms"),
        take(&mut samples, "server1_connect_query_ms"),
        take(&mut samples, "server2_total_ms")
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

/// Whether new backends may start from the image of an earlier start
/// (runtime/src/started_image.rs), or must all run PostgreSQL's startup.
#[derive(Clone, Copy)]
enum Images {
    On,
    Off,
}

impl Images {
    fn prefix(self) -> &'static str {
        match self {
            Images::On => "",
            Images::Off => "noimage_",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Images::On => "backends from the started-backend image (the default)",
            Images::Off => {
                "every backend runs PostgreSQL's startup (PGLITE_OXIDE_STARTED_IMAGES=off)"
            }
        }
    }
}

fn take(samples: &mut BTreeMap<String, Vec<f64>>, name: &str) -> f64 {
    median(samples.get_mut(name).map_or(&mut [][..], |v| &mut v[..]))
}

/// One database's stages: `{db}_artifacts_ms` and so on, as medians.
fn stages(samples: &mut BTreeMap<String, Vec<f64>>, db: &str, module: &str) -> String {
    let mut stage = |name: &str| take(samples, &format!("{db}_{name}_ms"));
    format!(
        "artifacts {:.2}, {module} {:.2}, data dir {:.2}, backend start {:.2}, query {:.2}",
        stage("artifacts"),
        stage("module"),
        stage("root"),
        stage("start"),
        stage("query")
    )
}

fn samples_sum(samples: &BTreeMap<String, Vec<f64>>, name: &str) -> f64 {
    samples.get(name).map_or(0.0, |v| v.iter().sum())
}

/// One process: its figures by name (`db1_start_ms`, `spawn_to_result_ms`,
/// `db1_from_image` as 1 or 0).
fn run_once(exe: &std::path::Path, images: Images) -> Result<Vec<(String, f64)>> {
    let spawned = unix_ns();
    let mut command = Command::new(exe);
    // The embedded artifacts, whatever the caller's environment says.
    command.env_remove(pglite_runtime::ARTIFACTS_ENV);
    match images {
        Images::On => command.env_remove(pglite_runtime::IMAGES_ENV),
        Images::Off => command.env(pglite_runtime::IMAGES_ENV, "off"),
    };
    let output = command
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
        if let Some(from_image) = fields.get("from_image") {
            let yes = if *from_image == "true" { 1.0 } else { 0.0 };
            figures.push((format!("{kind}{n}_from_image"), yes));
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
