//! What `cargo xtask bench speed` runs: the speed suite (SQL files listed
//! in `<dir>/suite.tsv`, one test a line: `id<TAB>label<TAB>file`) on
//! fresh databases of each system in turn, interleaved, `--reps` times:
//!
//! - `server`: a `PgliteServer` on a Unix socket, through a SQLx client;
//! - `direct`: the direct API (`Pglite::batch_execute`);
//! - `native`: a native PostgreSQL (`--native SOCKET_DIR PORT POSTMASTER_PID`,
//!   started by xtask) through a SQLx client, a new database each time.
//!
//! Each test's SQL is one simple-protocol query buffer. Prints one line per
//! test and run (`rep=R system=S test=ID ms=...`) and one per run with peak
//! resident memory (`rss rep=R system=S peak_kb=... base_kb=...`; native:
//! `postmaster_kb=... backend_kb=...`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use pglite_oxide::{Pglite, PgliteServer};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Test {
    id: String,
    file: PathBuf,
}

struct Native {
    socket_dir: PathBuf,
    port: u16,
    postmaster: u32,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut reps = 3usize;
    let mut native = None;
    let mut systems = vec!["native", "server", "direct"];
    let mut at = 0;
    while at < args.len() {
        match args[at].as_str() {
            "--sql" => {
                dir = Some(PathBuf::from(&args[at + 1]));
                at += 2;
            }
            "--reps" => {
                reps = args[at + 1].parse()?;
                at += 2;
            }
            "--native" => {
                native = Some(Native {
                    socket_dir: PathBuf::from(&args[at + 1]),
                    port: args[at + 2].parse()?,
                    postmaster: args[at + 3].parse()?,
                });
                at += 4;
            }
            "--systems" => {
                systems = args[at + 1].split(',').collect();
                at += 2;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let dir = dir.ok_or("--sql DIR is required")?;
    let tests = read_suite(&dir)?;
    if native.is_none() {
        systems.retain(|s| *s != "native");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // One unmeasured pass of each system first: artifacts unpacked, code
    // and page cache warm.
    for rep in 0..=reps {
        for system in &systems {
            let rss = match *system {
                "server" => runtime.block_on(run_server(rep, &tests))?,
                "direct" => run_direct(rep, &tests)?,
                "native" => runtime.block_on(run_native(
                    rep,
                    &tests,
                    native.as_ref().expect("native is configured"),
                ))?,
                other => return Err(format!("unknown system {other}").into()),
            };
            println!("rss rep={rep} system={system} {rss}");
        }
    }
    Ok(())
}

fn read_suite(dir: &Path) -> Result<Vec<Test>> {
    let list = std::fs::read_to_string(dir.join("suite.tsv"))?;
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                [id, _label, file] => Ok(Test {
                    id: (*id).into(),
                    file: dir.join(file),
                }),
                _ => Err(format!("bad suite line: {line}").into()),
            }
        })
        .collect()
}

/// Runs the suite on one SQLx connection; `system` names it in the output.
async fn run_sqlx(rep: usize, system: &str, conn: &mut PgConnection, tests: &[Test]) -> Result<()> {
    for test in tests {
        // Read before the clock starts, and only this test's text: the
        // process's peak memory is part of the figures.
        let sql = std::fs::read_to_string(&test.file)?;
        let started = Instant::now();
        conn.execute(sqlx::raw_sql(&sql)).await?;
        report(rep, system, &test.id, started);
    }
    Ok(())
}

async fn run_server(rep: usize, tests: &[Test]) -> Result<String> {
    let socket_dir = tempfile::tempdir()?;
    let base = reset_peak_rss();
    let server = PgliteServer::builder()
        .temporary()
        .unix(socket_dir.path())
        .start()?;
    let mut conn = PgConnection::connect(server.database_url()).await?;
    run_sqlx(rep, "server", &mut conn, tests).await?;
    conn.close().await?;
    let peak = peak_rss_kb(std::process::id())?;
    server.shutdown()?;
    Ok(format!("peak_kb={peak} base_kb={base}"))
}

fn run_direct(rep: usize, tests: &[Test]) -> Result<String> {
    let base = reset_peak_rss();
    let mut db = Pglite::temporary()?;
    for test in tests {
        let sql = std::fs::read_to_string(&test.file)?;
        let started = Instant::now();
        db.batch_execute(&sql)?;
        report(rep, "direct", &test.id, started);
    }
    let peak = peak_rss_kb(std::process::id())?;
    db.close()?;
    Ok(format!("peak_kb={peak} base_kb={base}"))
}

async fn run_native(rep: usize, tests: &[Test], native: &Native) -> Result<String> {
    let options = PgConnectOptions::new()
        .socket(&native.socket_dir)
        .port(native.port)
        .username("postgres");
    // A fresh database each run, as the embedded systems get.
    let database = format!("speed_{rep}");
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {database}").as_str())
        .await?;
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await?;
    reset_peak_rss_of(native.postmaster);
    let mut conn = PgConnection::connect_with(&options.clone().database(&database)).await?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await?;
    run_sqlx(rep, "native", &mut conn, tests).await?;
    let backend_kb = peak_rss_kb(backend as u32)?;
    let postmaster_kb = peak_rss_kb(native.postmaster)?;
    conn.close().await?;
    admin
        .execute(format!("DROP DATABASE {database}").as_str())
        .await?;
    admin.close().await?;
    Ok(format!(
        "postmaster_kb={postmaster_kb} backend_kb={backend_kb}"
    ))
}

fn report(rep: usize, system: &str, test: &str, started: Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("rep={rep} system={system} test={test} ms={ms:.3}");
}

/// Resets this process's peak resident size to its current one; returns
/// that (kB).
fn reset_peak_rss() -> u64 {
    reset_peak_rss_of(std::process::id());
    status_kb(std::process::id(), "VmRSS:").unwrap_or(0)
}

/// Linux: writing 5 to clear_refs sets VmHWM back to VmRSS.
fn reset_peak_rss_of(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn peak_rss_kb(pid: u32) -> Result<u64> {
    status_kb(pid, "VmHWM:").ok_or_else(|| format!("no VmHWM for process {pid}").into())
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
