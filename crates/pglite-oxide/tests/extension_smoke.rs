//! The smoke test of each packaged extension (decision 0013), from its
//! `extensions/smoke/<name>.sql`: the extension is enabled in a new
//! database, the file's setup runs, and its checks pass through the direct
//! API, again after a restart, and through `PgliteServer` with a real
//! client on a new database that `Builder::extension` prepared.
//!
//! A smoke file is SQL in two parts, statements ending with `;` at the end
//! of a line. What comes before a line `-- check` runs once, after the
//! extension is enabled. After it, each statement is a check: one that
//! returns rows must return exactly one row of one `true` boolean; others
//! (`LOAD`, `SET`) must only succeed. The checks run in every session, so
//! they must not change what a later run sees.
//!
//! Runs the catalog's extensions (`pglite_oxide::extensions::ALL`), or
//! those named by `PGLITE_SMOKE_EXTENSIONS` (comma-separated), filtered by
//! the command line's words as libtest does. `cargo xtask catalog` sets
//! both `PGLITE_SMOKE_EXTENSIONS` and `PGLITE_SMOKE_REPORT`, a file that
//! gets one line per extension: `<name>\tpassed` or `<name>\tfailed\t<why>`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use pglite_oxide::{extensions, Pglite};
use tokio_postgres::NoTls;

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let candidates: Vec<String> = match std::env::var("PGLITE_SMOKE_EXTENSIONS") {
        Ok(list) => list
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
        Err(_) => extensions::ALL
            .iter()
            .map(|e| e.name().to_string())
            .collect(),
    };
    let names: Vec<&String> = candidates
        .iter()
        .filter(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    println!("\nrunning {} extension smoke tests", names.len());
    let mut report = String::new();
    let mut failed = 0;
    for name in names {
        let started = Instant::now();
        let outcome = smoke(name);
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => {
                println!("smoke {name} ... ok ({secs:.1} s)");
                report.push_str(&format!("{name}\tpassed\n"));
            }
            Err(why) => {
                failed += 1;
                let why = why.replace(['\n', '\t'], " ");
                println!("smoke {name} ... FAILED: {why}");
                report.push_str(&format!("{name}\tfailed\t{why}\n"));
            }
        }
    }
    if let Ok(path) = std::env::var("PGLITE_SMOKE_REPORT") {
        if let Err(err) = std::fs::write(&path, &report) {
            eprintln!("writing {path}: {err}");
            return ExitCode::FAILURE;
        }
    }
    println!("\nsmoke result: {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A smoke file: its setup statements and its checks.
struct SmokeFile {
    setup: Vec<String>,
    checks: Vec<String>,
}

impl SmokeFile {
    fn read(name: &str) -> Result<Self, String> {
        let path = smoke_dir().join(format!("{name}.sql"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let (setup, checks) = match text.split_once("\n-- check\n") {
            Some((setup, checks)) => (setup, checks),
            None => return Err(format!("{}: no line `-- check`", path.display())),
        };
        let setup = statements(setup).map_err(|e| format!("{}: {e}", path.display()))?;
        let checks = statements(checks).map_err(|e| format!("{}: {e}", path.display()))?;
        if checks.is_empty() {
            return Err(format!("{}: no checks after `-- check`", path.display()));
        }
        Ok(Self { setup, checks })
    }
}

/// The statements of `sql`, one at a time (`VACUUM` refuses to run in the
/// implicit transaction of a batch): each ends with `;` at the end of a
/// line outside a `$$` body; comment lines are left out.
fn statements(sql: &str) -> Result<Vec<String>, String> {
    let mut statements = Vec::new();
    let mut statement = String::new();
    let mut in_body = false;
    for line in sql.lines() {
        if !in_body && (line.trim_start().starts_with("--") || line.trim().is_empty()) {
            continue;
        }
        if line.matches("$$").count() % 2 == 1 {
            in_body = !in_body;
        }
        statement.push_str(line);
        statement.push('\n');
        if !in_body && line.trim_end().ends_with(';') {
            statements.push(std::mem::take(&mut statement));
        }
    }
    if !statement.trim().is_empty() {
        return Err("the last statement has no `;`".into());
    }
    Ok(statements)
}

fn smoke_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../extensions/smoke")
}

fn smoke(name: &str) -> Result<(), String> {
    let file = SmokeFile::read(name)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("db");
    let step = |what: &'static str| move |e: pglite_oxide::Error| format!("{what}: {e}");

    let mut db = Pglite::open(&path).map_err(step("open"))?;
    db.enable_extension(name)
        .map_err(step("enable_extension"))?;
    for sql in &file.setup {
        db.batch_execute(sql)
            .map_err(|e| format!("setup: {}: {e}", sql.trim()))?;
    }
    check_direct(&mut db, &file.checks).map_err(|e| format!("direct API: {e}"))?;
    db.close().map_err(step("close"))?;

    let mut db = Pglite::open(&path).map_err(step("reopen"))?;
    check_direct(&mut db, &file.checks).map_err(|e| format!("after a restart: {e}"))?;
    db.close().map_err(step("close after the restart"))?;

    let server = Pglite::builder()
        .extension(name)
        .server()
        .tcp("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .start()
        .map_err(step("server with Builder::extension"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(server.database_url(), NoTls)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tokio::spawn(connection);
        for sql in &file.setup {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| format!("setup: {}: {e}", sql.trim()))?;
        }
        for sql in &file.checks {
            let statement = client
                .prepare(sql)
                .await
                .map_err(|e| format!("{}: {e}", sql.trim()))?;
            if statement.columns().is_empty() {
                client
                    .execute(&statement, &[])
                    .await
                    .map_err(|e| format!("{}: {e}", sql.trim()))?;
                continue;
            }
            let rows = client
                .query(&statement, &[])
                .await
                .map_err(|e| format!("{}: {e}", sql.trim()))?;
            let values: Vec<Option<bool>> = rows
                .iter()
                .map(|row| {
                    (row.len() == 1)
                        .then(|| row.try_get::<_, bool>(0).ok())
                        .flatten()
                })
                .collect();
            expect_true(sql, &values)?;
        }
        Ok::<_, String>(())
    });
    server.shutdown().map_err(step("server shutdown"))?;
    outcome.map_err(|e| format!("through the server: {e}"))
}

fn check_direct(db: &mut Pglite, checks: &[String]) -> Result<(), String> {
    for sql in checks {
        let statement = db
            .prepare(sql)
            .map_err(|e| format!("{}: {e}", sql.trim()))?;
        if statement.columns().is_empty() {
            db.execute(&statement, &[])
                .map_err(|e| format!("{}: {e}", sql.trim()))?;
            continue;
        }
        let rows = db
            .query(&statement, &[])
            .map_err(|e| format!("{}: {e}", sql.trim()))?;
        let values: Vec<Option<bool>> = rows
            .iter()
            .map(|row| {
                (row.len() == 1)
                    .then(|| row.try_get::<_, bool>(0).ok())
                    .flatten()
            })
            .collect();
        expect_true(sql, &values)?;
    }
    Ok(())
}

/// One row, one boolean column, true.
fn expect_true(sql: &str, values: &[Option<bool>]) -> Result<(), String> {
    match values {
        [Some(true)] => Ok(()),
        _ => Err(format!(
            "{}: expected one row of one `true`, got {values:?}",
            sql.trim()
        )),
    }
}
