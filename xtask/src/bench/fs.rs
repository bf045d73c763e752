//! `cargo xtask bench fs`: wasmer-wasix's stock host filesystem against
//! the runtime's own filesystem layer, measured in one run.
//!
//! The runtime's `fs_bench` example does one measurement per process
//! (built with the hidden feature `stock-fs-bench`, which keeps the stock
//! filesystem selectable for this comparison only). Rounds interleave the
//! filesystems, so a busy machine slows both alike; the table shows
//! medians of wall time, with CPU time (user + system, all threads) beside
//! it, and the ratio stock/ours. Then, if `perf` is installed, one profile
//! of the timed part of the UPDATE case per filesystem: how much of the
//! CPU time went to PostgreSQL's own code (the JIT-compiled wasm).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::{build_example, median};
use crate::layout::Layout;

const ROUNDS: usize = 5;

/// (case, label, filesystems) in the order they are run each round.
const PLAN: &[(&str, &str, &[&str])] = &[
    (
        "bootstrap",
        "bootstrap (postgres --boot)",
        &["stock", "ours"],
    ),
    ("root", "new database root", &["stock", "ours"]),
    (
        "updates",
        "25,000 indexed UPDATEs",
        &["stock", "ours", "ours-relaxed"],
    ),
    ("copy", "persistent root (full copy)", &["ours"]),
];

/// Samples of each field, per (case, filesystem).
type Samples = BTreeMap<(String, String), BTreeMap<String, Vec<f64>>>;

pub fn run(layout: &Layout) -> Result<()> {
    let exe = build_example(layout, "fs_bench", &["pglite-runtime/stock-fs-bench"])?;
    let mut samples = Samples::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        for (case, _, filesystems) in PLAN {
            for fs in *filesystems {
                let fields = measure(&exe, case, fs, &[])?;
                let entry = samples
                    .entry((case.to_string(), fs.to_string()))
                    .or_default();
                for (name, value) in fields {
                    entry.entry(name).or_default().push(value);
                }
            }
        }
    }
    print_table(&mut samples);
    profile(&exe)
}

/// Runs one measurement; returns its `name=value` fields.
fn measure(exe: &Path, case: &str, fs: &str, env: &[(&str, &Path)]) -> Result<Vec<(String, f64)>> {
    let mut command = Command::new(exe);
    command.args([case, fs]);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "fs_bench {case} {fs} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout
        .split_whitespace()
        .filter_map(|field| {
            let (name, value) = field.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect())
}

fn print_table(samples: &mut Samples) {
    let mut field = |case: &str, fs: &str, name: &str| -> Option<f64> {
        let values = samples
            .get_mut(&(case.to_string(), fs.to_string()))?
            .get_mut(name)?;
        Some(median(values))
    };
    println!(
        "\nfilesystem layer: wasmer-wasix's stock host filesystem vs ours \
         ({ROUNDS} interleaved rounds, medians; wall ms, CPU ms in parentheses)\n"
    );
    println!(
        "  {:<30} {:>20} {:>20} {:>11}  target",
        "case", "stock", "ours", "stock/ours"
    );
    for (case, label, _) in PLAN.iter().take(3) {
        let stock = field(case, "stock", "ms");
        let ours = field(case, "ours", "ms");
        let cell = |ms: Option<f64>, cpu: Option<f64>| match (ms, cpu) {
            (Some(ms), Some(cpu)) => format!("{ms:.1} ({cpu:.1})"),
            (Some(ms), None) => format!("{ms:.2}"),
            _ => "-".to_string(),
        };
        let ratio = match (stock, ours) {
            (Some(s), Some(o)) if o > 0.0 => format!("{:.2}x", s / o),
            _ => "-".to_string(),
        };
        let target = match *case {
            "bootstrap" => "<= 300 ms",
            "root" => "<= 2 ms",
            _ => "",
        };
        println!(
            "  {label:<30} {:>20} {:>20} {ratio:>11}  {target}",
            cell(stock, field(case, "stock", "cpu_ms")),
            cell(ours, field(case, "ours", "cpu_ms")),
        );
    }
    println!(
        "\n  stock: PostgreSQL with fsync=off (the stock filesystem cannot sync); \
         a new root unpacks the template archive."
    );
    println!(
        "  ours: fsync on, every sync reaches the disk; a new root is copy-on-write \
         over the unpacked template."
    );
    println!(
        "  ours, 25,000 UPDATEs: {} syncs through the layer; with relaxed durability: \
         {} ms ({} CPU), {} syncs",
        fmt(field("updates", "ours", "syncs")),
        fmt(field("updates", "ours-relaxed", "ms")),
        fmt(field("updates", "ours-relaxed", "cpu_ms")),
        fmt(field("updates", "ours-relaxed", "syncs")),
    );
    println!(
        "  ours, template cache open (once per process): {} ms; a persistent root (full copy, synced): {} ms",
        fmt(field("root", "ours", "cache_open_ms")),
        fmt(field("copy", "ours", "ms")),
    );
}

fn fmt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// Profiles the timed part of the UPDATE case under each filesystem.
fn profile(exe: &Path) -> Result<()> {
    let perf_found = Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !perf_found {
        println!("\n  profile: perf is not installed (apt-get install linux-perf); skipped");
        return Ok(());
    }
    println!(
        "\nprofile of the 25,000 UPDATEs (perf, timed part only): share of CPU samples\n\
         \n  {:<8} {:>22} {:>14} {:>8} {:>8}",
        "fs", "guest (PostgreSQL)", "host runtime", "libc", "kernel"
    );
    for fs in ["stock", "ours"] {
        let work = tempfile::tempdir()?;
        let fifo = work.path().join("perf.ctl");
        let data = work.path().join("perf.data");
        let made = Command::new("mkfifo").arg(&fifo).status()?;
        if !made.success() {
            bail!("mkfifo {} failed", fifo.display());
        }
        let mut control = std::ffi::OsString::from("fifo:");
        control.push(&fifo);
        let status = Command::new("perf")
            .args(["record", "-q", "-D", "-1", "-F", "1999", "--control"])
            .arg(&control)
            .arg("-o")
            .arg(&data)
            .arg("--")
            .arg(exe)
            .args(["updates", fs])
            .env("PGLITE_PERF_CTL", &fifo)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            println!("  {fs:<8} perf record failed; skipped");
            continue;
        }
        let report = Command::new("perf")
            .args(["report", "--stdio", "--sort", "dso", "-g", "none", "-i"])
            .arg(&data)
            .output()?;
        let shares = dso_shares(&String::from_utf8_lossy(&report.stdout));
        println!(
            "  {fs:<8} {:>21.1}% {:>13.1}% {:>7.1}% {:>7.1}%",
            shares.guest, shares.host, shares.libc, shares.kernel
        );
    }
    println!(
        "\n  guest: the JIT-compiled module (PostgreSQL and the libc compiled into it); \
         target for ours >= 60%.\n  host runtime: Wasmer, wasix and the runtime crate \
         (the wasm memory.copy/fill builtins count here)."
    );
    Ok(())
}

#[derive(Debug, Default, PartialEq)]
struct Shares {
    guest: f64,
    host: f64,
    libc: f64,
    kernel: f64,
}

/// Sums `perf report --sort dso` lines into guest, host, libc and kernel.
fn dso_shares(report: &str) -> Shares {
    let mut shares = Shares::default();
    for line in report.lines().filter(|l| !l.starts_with('#')) {
        let Some((percent, dso)) = line.trim().split_once('%') else {
            continue;
        };
        let Ok(percent) = percent.trim().parse::<f64>() else {
            continue;
        };
        let dso = dso.trim();
        if dso.starts_with("[JIT]") || dso.starts_with("[unknown]") || dso.contains("anon") {
            shares.guest += percent;
        } else if dso.starts_with("[kernel") {
            shares.kernel += percent;
        } else if dso.starts_with("libc") {
            shares.libc += percent;
        } else {
            shares.host += percent;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_dso_lines_are_classified() {
        let report = "# header\n    75.11%  [JIT] tid 2259\n    16.07%  fs_bench\n     5.02%  libc.so.6\n     3.80%  [kernel.kallsyms]\n";
        assert_eq!(
            dso_shares(report),
            Shares {
                guest: 75.11,
                host: 16.07,
                libc: 5.02,
                kernel: 3.80
            }
        );
    }
}
