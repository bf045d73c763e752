//! `cargo xtask bench engines`: the AOT code of each compiler, side by side:
//! size and what it is made of, load time (deserialize), backend start,
//! per-statement latency, errors, and heavier SQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use pglite_runtime::{create_data_dir_from_template, Artifacts, BackendSession, SessionOptions};
use postgres_protocol::message::{backend, frontend};

use crate::aot::artifact_path;
use crate::layout::Layout;
use crate::recipes::{AotEngine, TargetsRecipe};

/// A named SQL workload: `setup` once per session, then `run` timed.
struct Workload {
    name: &'static str,
    setup: &'static str,
    run: &'static str,
    /// How many times `run` is sent per sample (per-statement latency).
    repeat: usize,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "SELECT 1 (per statement)",
        setup: "",
        run: "SELECT 1",
        repeat: 2000,
    },
    Workload {
        name: "INSERT one row (per statement)",
        setup: "CREATE TABLE IF NOT EXISTS kv (k serial PRIMARY KEY, v text)",
        run: "INSERT INTO kv (v) VALUES ('value')",
        repeat: 2000,
    },
    Workload {
        name: "failing statement (per statement)",
        setup: "",
        run: "SELECT 1 / 0",
        repeat: 10,
    },
    Workload {
        name: "CREATE TABLE AS 200k rows (md5)",
        setup: "DROP TABLE IF EXISTS big",
        run: "CREATE TABLE big AS SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g",
        repeat: 1,
    },
    Workload {
        name: "sort 200k text",
        setup: "",
        run: "SELECT h FROM big ORDER BY h OFFSET 199999",
        repeat: 1,
    },
    Workload {
        name: "CREATE INDEX on 200k text",
        setup: "DROP INDEX IF EXISTS big_h",
        run: "CREATE INDEX big_h ON big (h)",
        repeat: 1,
    },
    Workload {
        name: "hash aggregate + join",
        setup: "",
        run: "SELECT count(*) FROM big a JOIN big b ON a.g = b.g + 1 WHERE a.h > b.h",
        repeat: 1,
    },
    Workload {
        name: "plpgsql loop 1M",
        setup: "",
        run: "DO $$DECLARE s bigint := 0; BEGIN FOR i IN 1..1000000 LOOP s := s + i; END LOOP; END$$",
        repeat: 1,
    },
    Workload {
        name: "caught errors x20 (longjmp)",
        setup: "",
        run: "DO $$DECLARE n int := 0; BEGIN FOR i IN 1..20 LOOP \
              BEGIN PERFORM 1 / (i - i); EXCEPTION WHEN division_by_zero THEN n := n + 1; END; \
              END LOOP; END$$",
        repeat: 1,
    },
    Workload {
        name: "jsonb build + aggregate 100k",
        setup: "",
        run: "SELECT sum((j->>'a')::int) FROM (SELECT jsonb_build_object('a', g, 'b', md5(g::text)) AS j \
              FROM generate_series(1, 100000) g) s",
        repeat: 1,
    },
];

/// Samples of each measurement per process.
const SAMPLES: usize = 3;

/// Each engine runs in its own process, twice, alternating: the system
/// unwinder's table of registered code is process-wide, and LLVM's code
/// registers one entry per function, which slows every exception in the
/// process, whichever engine raised it.
const ROUNDS: usize = 2;

pub fn run(layout: &Layout) -> Result<()> {
    let engines = artifacts(layout)?;
    print_sizes(&engines)?;
    compare(&engines)
}

/// Only the sizes and what the artifacts are made of (`bench sizes`).
pub fn sizes(layout: &Layout) -> Result<()> {
    print_sizes(&artifacts(layout)?)
}

/// The AOT artifact of each engine that has one for this machine.
fn artifacts(layout: &Layout) -> Result<Vec<(AotEngine, PathBuf)>> {
    let recipe = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    let triple = &recipe
        .target
        .iter()
        .find(|t| t.triple.starts_with(std::env::consts::ARCH))
        .context("no target for this machine in recipes/targets.toml")?
        .triple;
    let mut engines: Vec<(AotEngine, PathBuf)> = Vec::new();
    for engine in [AotEngine::Cranelift, AotEngine::Llvm] {
        let dir = if engine == recipe.engine {
            crate::aot::aot_dir(layout)
        } else {
            layout.work.join(format!("aot-{}", engine.name()))
        };
        let path = artifact_path(&dir, triple, "postgres");
        if path.is_file() {
            engines.push((engine, path));
        } else {
            println!(
                "{}: no artifact at {} (run `cargo xtask aot --engine {}`)",
                engine.name(),
                path.display(),
                engine.name()
            );
        }
    }
    if engines.is_empty() {
        bail!("no AOT artifacts to compare");
    }
    Ok(engines)
}

fn print_sizes(engines: &[(AotEngine, PathBuf)]) -> Result<()> {
    println!("artifact size and what it is made of:");
    for (engine, path) in engines {
        let bytes = std::fs::read(path)?;
        let compressed = zstd::stream::encode_all(bytes.as_slice(), 3)?.len();
        println!(
            "  {:<10} {:>6.1} MB ({:.1} MB with zstd -3)",
            engine.name(),
            bytes.len() as f64 / 1e6,
            compressed as f64 / 1e6
        );
        for part in super::anatomy::anatomy(&bytes)? {
            println!(
                "      {:<44} {:>7.2} MB {:>9}",
                part.name,
                part.bytes as f64 / 1e6,
                if part.count > 0 {
                    part.count.to_string()
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

fn compare(engines: &[(AotEngine, PathBuf)]) -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut samples: Vec<BTreeMap<String, Vec<f64>>> = vec![BTreeMap::new(); engines.len()];
    for _ in 0..ROUNDS {
        for (i, (engine, path)) in engines.iter().enumerate() {
            let output = Command::new(&exe)
                .args(["bench", "engine-worker", engine.name()])
                .arg(path)
                .output()?;
            if !output.status.success() {
                bail!(
                    "the {} worker failed: {}",
                    engine.name(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                if let Some((key, value)) = line.split_once('=') {
                    samples[i]
                        .entry(key.to_string())
                        .or_default()
                        .push(value.parse()?);
                }
            }
        }
    }
    let rows = ["deserialize", "backend start"]
        .into_iter()
        .chain(WORKLOADS.iter().map(|w| w.name));
    print!(
        "\n{:<36}",
        format!("median of {} samples", ROUNDS * SAMPLES)
    );
    for (engine, _) in engines {
        print!(" {:>12}", engine.name());
    }
    println!();
    for row in rows {
        print!("{row:<36}");
        for engine in &mut samples {
            let value = super::median(engine.get_mut(row).map_or(&mut [][..], |v| &mut v[..]));
            if value < 1e-3 {
                print!(" {:>9.1} µs", value * 1e6);
            } else {
                print!(" {:>9.1} ms", value * 1e3);
            }
        }
        println!();
    }
    Ok(())
}

/// One engine's measurements in this process; prints `name=seconds` lines.
pub fn worker(layout: &Layout, path: &Path) -> Result<()> {
    let base = Artifacts::from_dir(layout.out()).context("run `cargo xtask build`")?;
    let template = base.template().context("run `cargo xtask template`")?;
    let artifacts = base.with_aot(Some(path.to_path_buf()));
    for _ in 0..SAMPLES {
        let started = Instant::now();
        pglite_runtime::engine::deserialize(path).map_err(anyhow::Error::msg)?;
        println!("deserialize={}", started.elapsed().as_secs_f64());
    }
    pglite_runtime::engine::module(&artifacts)?;
    let temp = tempfile::tempdir()?;
    for sample in 0..SAMPLES {
        let data = temp.path().join(format!("start-{sample}"));
        create_data_dir_from_template(&template, &data)?;
        let started = Instant::now();
        let (session, _) = BackendSession::start(&artifacts, &data, &options())?;
        println!("backend start={}", started.elapsed().as_secs_f64());
        session.shutdown()?;
    }
    let data = temp.path().join("bench");
    create_data_dir_from_template(&template, &data)?;
    let (mut session, _) = BackendSession::start(&artifacts, &data, &options())?;
    for workload in WORKLOADS {
        for _ in 0..SAMPLES {
            if !workload.setup.is_empty() {
                query(&mut session, workload.setup)?;
            }
            let started = Instant::now();
            for _ in 0..workload.repeat {
                query(&mut session, workload.run)?;
            }
            let each = started.elapsed().as_secs_f64() / workload.repeat as f64;
            println!("{}={each}", workload.name);
        }
    }
    session.shutdown()?;
    Ok(())
}

fn options() -> SessionOptions {
    SessionOptions {
        relaxed_durability: true,
        ..SessionOptions::default()
    }
}

/// Sends one simple query; fails on an ErrorResponse unless the statement
/// is meant to fail.
fn query(session: &mut BackendSession, sql: &str) -> Result<()> {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf)?;
    let reply = session.send(&buf)?;
    let mut reply = BytesMut::from(&reply[..]);
    while let Some(message) = backend::Message::parse(&mut reply)? {
        if let backend::Message::ErrorResponse(_) = message {
            if sql.contains("1 / 0") {
                continue;
            }
            bail!("{sql}: the backend reported an error");
        }
    }
    Ok(())
}
