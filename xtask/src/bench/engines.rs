//! `cargo xtask bench engines`: the AOT code of each compiler, side by side
//! in one process: load time (deserialize), backend start, per-statement
//! latency and heavier SQL. Workloads alternate between the engines, so a
//! change in the machine's load affects both alike.

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
        repeat: 100,
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
        name: "caught errors x200 (longjmp)",
        setup: "",
        run: "DO $$DECLARE n int := 0; BEGIN FOR i IN 1..200 LOOP \
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

const SAMPLES: usize = 5;

pub fn run(layout: &Layout) -> Result<()> {
    let recipe = TargetsRecipe::load(&layout.recipe("targets.toml"))?;
    let triple = &recipe
        .target
        .iter()
        .find(|t| t.triple.starts_with(std::env::consts::ARCH))
        .context("no target for this machine in recipes/targets.toml")?
        .triple;
    let base = Artifacts::from_dir(layout.out()).context("run `cargo xtask build`")?;
    let template = base.template().context("run `cargo xtask template`")?;
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

    println!("artifact size and load time (median of {SAMPLES} deserializations):");
    for (engine, path) in &engines {
        let size = std::fs::metadata(path)?.len();
        let mut times = Vec::new();
        for _ in 0..SAMPLES {
            let started = Instant::now();
            pglite_runtime::engine::deserialize(path).map_err(anyhow::Error::msg)?;
            times.push(started.elapsed());
        }
        println!(
            "  {:<10} {:>6.1} MB  deserialize {:>7.1} ms",
            engine.name(),
            size as f64 / 1e6,
            ms(median(&mut times))
        );
        for part in super::anatomy::anatomy(&std::fs::read(path)?)? {
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

    let temp = tempfile::tempdir()?;
    let mut sessions = Vec::new();
    let mut starts: Vec<Vec<Duration>> = vec![Vec::new(); engines.len()];
    for (i, (_, path)) in engines.iter().enumerate() {
        let artifacts = base.clone().with_aot(Some(path.clone()));
        pglite_runtime::engine::module(&artifacts)?;
        // Backend start on a fresh directory, several times.
        for sample in 0..SAMPLES {
            let data = temp.path().join(format!("start-{i}-{sample}"));
            create_data_dir_from_template(&template, &data)?;
            let started = Instant::now();
            let (session, _) = BackendSession::start(&artifacts, &data, &options())?;
            starts[i].push(started.elapsed());
            session.shutdown()?;
        }
        let data = temp.path().join(format!("bench-{i}"));
        create_data_dir_from_template(&template, &data)?;
        let (session, _) = BackendSession::start(&artifacts, &data, &options())?;
        sessions.push(session);
    }
    println!("backend start, module loaded (median of {SAMPLES}):");
    for (i, (engine, _)) in engines.iter().enumerate() {
        println!(
            "  {:<10} {:>9.2} ms",
            engine.name(),
            ms(median(&mut starts[i]))
        );
    }

    print!("\n{:<34}", "workload (median of 5)");
    for (engine, _) in &engines {
        print!(" {:>12}", engine.name());
    }
    println!();
    for workload in WORKLOADS {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); engines.len()];
        for _ in 0..SAMPLES {
            for (i, session) in sessions.iter_mut().enumerate() {
                if !workload.setup.is_empty() {
                    query(session, workload.setup)?;
                }
                let started = Instant::now();
                for _ in 0..workload.repeat {
                    query(session, workload.run)?;
                }
                times[i].push(started.elapsed() / workload.repeat as u32);
            }
        }
        print!("{:<34}", workload.name);
        for t in &mut times {
            let t = median(t);
            if t < Duration::from_millis(1) {
                print!(" {:>9.1} µs", t.as_secs_f64() * 1e6);
            } else {
                print!(" {:>9.1} ms", ms(t));
            }
        }
        println!();
    }
    for session in sessions {
        session.shutdown()?;
    }
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

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
