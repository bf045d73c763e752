//! `cargo xtask bench speed`: the speed suite ([`super::speed_sql`]) run
//! through SQLx against our `PgliteServer`, through our direct API, and
//! through SQLx against native PostgreSQL 15, in one run of the
//! `speed_suite` example, systems interleaved, each run on a fresh
//! database. Prints each test's median per system, its ratio to native,
//! the whole suite's ratio and the geometric mean of the per-test ratios,
//! and peak resident memory; saves it all as JSON under `target/bench/`.
//!
//! The example is built with our crates optimized as the dev profile
//! optimizes every dependency: the figures include our host code (the
//! filesystem layer, the bridge, the wire front end), which users run
//! optimized.
//!
//! Client and servers are pinned to one CPU: a round trip between two
//! processes costs several times more across two vCPUs of these VMs than
//! on one, which would swamp the per-statement cost.
//!
//! Native PostgreSQL runs with the settings our temporary databases have:
//! shared_buffers=16MB, no fsync (ours turns every sync into nothing:
//! relaxed durability), synchronous_commit on (both still write WAL at each
//! commit), and no autovacuum (our single-user backend has none).
//!
//! Flags: `--quick` (one measured run instead of [`DEFAULT_REPS`]),
//! `--reps N`, `--peer-sql DIR` (run a directory of `benchmarkN.sql` files,
//! the published peers' exact SQL, instead of ours: a cross-check that our
//! generated suite measures the same thing), `--artifacts DIR` (our systems
//! run on the artifacts in DIR, laid out as `cargo xtask build` writes
//! them, instead of the embedded ones: for comparing other native code).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::median;
use super::speed_sql;
use crate::layout::Layout;
use native_postgres::NativePostgres;

/// Measured runs of the suite per system (after one unmeasured run each).
pub const DEFAULT_REPS: usize = 5;

/// The CPU client and servers are pinned to.
const PINNED_CPU: usize = 0;

/// The systems, in the order of the table; `native` is the reference.
const SYSTEMS: [(&str, &str); 3] = [
    ("native", "native PG 15, SQLx"),
    ("server", "PgliteServer, SQLx"),
    ("direct", "direct API"),
];

/// The published suite's order of its files (`benchmark2.1.sql`...).
const PEER_ORDER: [&str; 18] = [
    "1", "2", "2.1", "3", "3.1", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
    "16",
];

pub fn run(layout: &Layout, flags: &[&str]) -> Result<()> {
    let mut reps = DEFAULT_REPS;
    let mut peer_sql = None;
    let mut artifacts = None;
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        match *flag {
            "--quick" => reps = 1,
            "--reps" => {
                reps = flags
                    .next()
                    .context("--reps needs a number")?
                    .parse()
                    .context("--reps needs a number")?;
                if reps == 0 {
                    bail!("--reps must be at least 1");
                }
            }
            "--peer-sql" => {
                peer_sql = Some(PathBuf::from(
                    flags.next().context("--peer-sql needs a DIR")?,
                ));
            }
            "--artifacts" => {
                let dir = PathBuf::from(flags.next().context("--artifacts needs a DIR")?);
                pglite_runtime::Artifacts::from_dir(&dir)?;
                artifacts = Some(dir);
            }
            other => {
                bail!(
                    "unknown flag `{other}` for bench speed \
                     (--quick, --reps N, --peer-sql DIR, --artifacts DIR)"
                )
            }
        }
    }
    let out = super::results_dir(layout)?;
    let (sql_dir, labels, source) = match &peer_sql {
        Some(dir) => {
            let sql_dir = out.join("speed-peer-sql");
            (
                sql_dir.clone(),
                write_peer_suite(dir, &sql_dir)?,
                format!("peer SQL from {}", dir.display()),
            )
        }
        None => {
            let sql_dir = out.join("speed-sql");
            (
                sql_dir.clone(),
                write_suite(&sql_dir)?,
                "generated (fixed seed)".into(),
            )
        }
    };

    let exe = super::build_example_optimized(layout, "speed_suite")?;
    if !NativePostgres::available() {
        bail!("bench speed compares against native PostgreSQL 15: apt-get install postgresql-15");
    }
    let native = NativePostgres::start(
        &[
            ("shared_buffers", "16MB"),
            ("fsync", "off"),
            ("synchronous_commit", "on"),
            ("autovacuum", "off"),
        ],
        Some(PINNED_CPU),
    )?;
    native.select_one()?;
    let postmaster = native.postmaster_pid().context("native postmaster pid")?;
    println!(
        "speed suite ({source}), {reps} measured runs per system after one warm-up, \
         interleaved; client and servers pinned to CPU {PINNED_CPU} (taskset)"
    );
    let mut example = Command::new("taskset");
    match &artifacts {
        Some(dir) => {
            println!("our systems run on the artifacts in {}", dir.display());
            example.env(pglite_runtime::ARTIFACTS_ENV, dir);
        }
        None => {
            example.env_remove(pglite_runtime::ARTIFACTS_ENV);
        }
    }
    let output = example
        .args(["-c", &PINNED_CPU.to_string()])
        .arg(&exe)
        .arg("--sql")
        .arg(&sql_dir)
        .args(["--reps", &reps.to_string()])
        .arg("--native")
        .arg(native.socket_dir())
        .arg(native.port.to_string())
        .arg(postmaster.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    drop(native);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("{} failed:\n{stdout}", exe.display());
    }
    let figures = Figures::parse(&stdout)?;
    let table = figures.table(&labels);
    print!("{table}");
    std::fs::create_dir_all(&out)?;
    let json = figures.json(&labels, reps, &source);
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let path = out.join(format!("speed-{stamp}.json"));
    std::fs::write(&path, &json)?;
    std::fs::write(out.join("speed-latest.json"), &json)?;
    println!("saved {}", path.display());
    Ok(())
}

/// Writes our suite: one file per test and `suite.tsv` listing them in
/// order. Returns the tests' ids and labels.
fn write_suite(dir: &Path) -> Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir)?;
    let mut list = String::new();
    let mut labels = Vec::new();
    for test in speed_sql::suite() {
        let file = format!("test{}.sql", test.id);
        std::fs::write(dir.join(&file), &test.sql)?;
        let _ = writeln!(list, "{}\t{}\t{file}", test.id, test.label);
        labels.push((test.id.to_string(), test.label.to_string()));
    }
    std::fs::write(dir.join("suite.tsv"), list)?;
    Ok(labels)
}

/// A `suite.tsv` for the published peers' files in `peer` (read where
/// they are), labelled as ours are.
fn write_peer_suite(peer: &Path, dir: &Path) -> Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir)?;
    let ours: BTreeMap<&str, &str> = speed_sql::suite().iter().map(|t| (t.id, t.label)).collect();
    let mut list = String::new();
    let mut labels = Vec::new();
    for id in PEER_ORDER {
        let file = peer.join(format!("benchmark{id}.sql"));
        let file =
            std::fs::canonicalize(&file).with_context(|| format!("reading {}", file.display()))?;
        let label = ours.get(id).copied().unwrap_or("");
        let _ = writeln!(list, "{id}\t{label}\t{}", file.display());
        labels.push((id.to_string(), label.to_string()));
    }
    std::fs::write(dir.join("suite.tsv"), list)?;
    Ok(labels)
}

/// The example's figures: milliseconds by (system, test), one per measured
/// run, and peak memory (kB) by system.
#[derive(Default)]
struct Figures {
    ms: BTreeMap<(String, String), Vec<f64>>,
    /// Per measured run: the suite's total by system.
    totals: BTreeMap<String, BTreeMap<usize, f64>>,
    peak_kb: BTreeMap<String, u64>,
    base_kb: BTreeMap<String, u64>,
}

impl Figures {
    fn parse(stdout: &str) -> Result<Self> {
        let mut figures = Self::default();
        for line in stdout.lines() {
            let (rss, rest) = match line.strip_prefix("rss ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let fields: BTreeMap<&str, &str> = rest
                .split_whitespace()
                .filter_map(|f| f.split_once('='))
                .collect();
            let (Some(rep), Some(system)) = (fields.get("rep"), fields.get("system")) else {
                continue;
            };
            let rep: usize = rep.parse()?;
            // Run 0 warms up.
            if rep == 0 {
                continue;
            }
            let system = system.to_string();
            let kb = |name: &str| -> Result<u64> {
                Ok(fields
                    .get(name)
                    .map(|v| v.parse())
                    .transpose()?
                    .unwrap_or(0))
            };
            if rss {
                let peak = if system == "native" {
                    kb("postmaster_kb")? + kb("backend_kb")?
                } else {
                    kb("peak_kb")?
                };
                let entry = figures.peak_kb.entry(system.clone()).or_default();
                *entry = (*entry).max(peak);
                let base = figures.base_kb.entry(system).or_default();
                *base = (*base).max(kb("base_kb")?);
                continue;
            }
            let test = fields.get("test").context("no test")?.to_string();
            let ms: f64 = fields.get("ms").context("no ms")?.parse()?;
            *figures
                .totals
                .entry(system.clone())
                .or_default()
                .entry(rep)
                .or_default() += ms;
            figures.ms.entry((system, test)).or_default().push(ms);
        }
        if figures.ms.is_empty() {
            bail!("the speed_suite example printed no figures");
        }
        Ok(figures)
    }

    fn median(&self, system: &str, test: &str) -> Option<f64> {
        let mut values = self
            .ms
            .get(&(system.to_string(), test.to_string()))?
            .clone();
        Some(median(&mut values))
    }

    fn median_total(&self, system: &str) -> Option<f64> {
        let mut values: Vec<f64> = self.totals.get(system)?.values().copied().collect();
        Some(median(&mut values))
    }

    /// Per-test ratios of `system` to native.
    fn ratios(&self, system: &str, labels: &[(String, String)]) -> Vec<f64> {
        labels
            .iter()
            .filter_map(|(id, _)| Some(self.median(system, id)? / self.median("native", id)?))
            .collect()
    }

    fn table(&self, labels: &[(String, String)]) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<5} {:<45} {:>10} {:>10} {:>7} {:>10} {:>7}",
            "test", "", "native ms", "server ms", "ratio", "direct ms", "ratio"
        );
        for (id, label) in labels {
            let native = self.median("native", id);
            let _ = write!(t, "{id:<5} {label:<45} {:>10}", fmt_ms(native));
            for system in ["server", "direct"] {
                let value = self.median(system, id);
                let ratio = value.zip(native).map(|(v, n)| v / n);
                let _ = write!(t, " {:>10} {:>7}", fmt_ms(value), fmt_ratio(ratio));
            }
            t.push('\n');
        }
        let native_total = self.median_total("native");
        let _ = write!(
            t,
            "{:<5} {:<45} {:>10}",
            "all",
            "whole suite (median of run totals)",
            fmt_ms(native_total)
        );
        for system in ["server", "direct"] {
            let total = self.median_total(system);
            let ratio = total.zip(native_total).map(|(v, n)| v / n);
            let _ = write!(t, " {:>10} {:>7}", fmt_ms(total), fmt_ratio(ratio));
        }
        t.push('\n');
        let _ = write!(
            t,
            "{:<5} {:<45} {:>10}",
            "", "geometric mean of the ratios", ""
        );
        for system in ["server", "direct"] {
            let _ = write!(
                t,
                " {:>10} {:>7}",
                "",
                fmt_ratio(geometric_mean(&self.ratios(system, labels)))
            );
        }
        t.push('\n');
        let _ = writeln!(t, "peak resident memory during the suite (max over runs):");
        for (system, name) in SYSTEMS {
            let Some(peak) = self.peak_kb.get(system) else {
                continue;
            };
            let detail = if system == "native" {
                "postmaster + backend".to_string()
            } else {
                format!(
                    "whole process (client included; {:.1} MB before the database opened)",
                    mb(*self.base_kb.get(system).unwrap_or(&0))
                )
            };
            let _ = writeln!(t, "  {name:<20} {:>7.1} MB  {detail}", mb(*peak));
        }
        t
    }

    fn json(&self, labels: &[(String, String)], reps: usize, source: &str) -> String {
        let mut j = String::from("{\n");
        let _ = writeln!(j, "  \"suite\": \"speed\",");
        let _ = writeln!(j, "  \"sql\": {},", json_string(source));
        let _ = writeln!(j, "  \"reps\": {reps},");
        let _ = writeln!(j, "  \"pinned_cpu\": {PINNED_CPU},");
        let _ = writeln!(j, "  \"systems\": {{");
        for (n, (system, name)) in SYSTEMS.iter().enumerate() {
            let _ = writeln!(j, "    \"{system}\": {{");
            let _ = writeln!(j, "      \"name\": {},", json_string(name));
            let _ = writeln!(
                j,
                "      \"peak_rss_kb\": {},",
                self.peak_kb.get(*system).copied().unwrap_or(0)
            );
            let _ = writeln!(
                j,
                "      \"total_ms_median\": {},",
                json_number(self.median_total(system))
            );
            if *system != "native" {
                let _ = writeln!(
                    j,
                    "      \"geomean_ratio\": {},",
                    json_number(geometric_mean(&self.ratios(system, labels)))
                );
            }
            let _ = writeln!(j, "      \"tests\": [");
            for (i, (id, label)) in labels.iter().enumerate() {
                let runs = self
                    .ms
                    .get(&(system.to_string(), id.clone()))
                    .cloned()
                    .unwrap_or_default();
                let runs: Vec<String> = runs.iter().map(|v| format!("{v:.3}")).collect();
                let ratio = self
                    .median(system, id)
                    .zip(self.median("native", id))
                    .map(|(v, n)| v / n);
                let _ = writeln!(
                    j,
                    "        {{\"id\": \"{id}\", \"label\": {}, \"median_ms\": {}, \
                     \"ratio_to_native\": {}, \"runs_ms\": [{}]}}{}",
                    json_string(label),
                    json_number(self.median(system, id)),
                    json_number(ratio),
                    runs.join(", "),
                    if i + 1 == labels.len() { "" } else { "," }
                );
            }
            let _ = writeln!(j, "      ]");
            let _ = writeln!(j, "    }}{}", if n + 1 == SYSTEMS.len() { "" } else { "," });
        }
        let _ = writeln!(j, "  }}");
        j.push_str("}\n");
        j
    }
}

fn geometric_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let log_sum: f64 = values.iter().map(|v| v.ln()).sum();
    Some((log_sum / values.len() as f64).exp())
}

fn fmt_ms(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}

fn fmt_ratio(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}x"))
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn json_number(value: Option<f64>) -> String {
    value.map_or("null".into(), |v| format!("{v:.4}"))
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
