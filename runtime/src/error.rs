//! The runtime's error type.

use std::path::PathBuf;

/// What can go wrong while loading or running the backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation on the host failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The backend artifacts are missing or incomplete.
    #[error("backend artifacts in {}: {problem}", dir.display())]
    Artifacts { dir: PathBuf, problem: String },
    /// There is no native code for this host and this build cannot compile.
    #[error(
        "no ahead-of-time code for this host ({host}) and pglite-runtime was built \
         without a compiler: enable its `cranelift` feature"
    )]
    NoCompiler { host: String },
    /// An artifact does not match what the manifest recorded for it.
    #[error("{what} failed verification: {problem}")]
    Integrity { what: String, problem: String },
    /// Wasmer could not compile, load or instantiate the module.
    #[error("loading a wasm module: {0}")]
    Module(String),
    /// The backend ended its process (it does so after a FATAL error and
    /// after a Terminate message).
    #[error("the backend exited with code {code}{}", stderr_suffix(stderr))]
    Exited { code: i32, stderr: String },
    /// A program of the build (pg_dump, pg_restore) exited with a code
    /// other than 0; `stderr` is what it reported.
    #[error("{program} exited with code {code}{}", program_report(stderr))]
    ProgramFailed {
        program: &'static str,
        code: i32,
        stderr: String,
    },
    /// The backend crashed: a trap, e.g. after a PANIC (abort).
    #[error("the backend crashed: {trap}{}", stderr_suffix(stderr))]
    Crashed { trap: String, stderr: String },
    /// Creating a data directory failed at `step`. `code` is the backend's
    /// exit code when a backend run failed, with `log` the end of its log;
    /// without a code, `log` says what was wrong.
    #[error("initdb: {step} failed{}", initdb_details(*code, log))]
    Initdb {
        step: &'static str,
        code: Option<i32>,
        log: String,
    },
    /// The session was used after it ended.
    #[error("the backend session has ended")]
    Ended,
    /// The template archive is unreadable or not a data directory.
    #[error("template {}: {problem}", archive.display())]
    Template { archive: PathBuf, problem: String },
    /// A data directory archive was refused: damaged, or not a data
    /// directory this build can run.
    #[error("archive {}: {problem}", archive.display())]
    Archive { archive: PathBuf, problem: String },
    /// Another process (or another session of this one) has the data
    /// directory open.
    #[error("data directory {} is in use by another process or session", dir.display())]
    Locked { dir: PathBuf },
    /// The directory is not a data directory this backend can open: no
    /// `PG_VERSION`, or one of another PostgreSQL major version.
    #[error("{} is not a PostgreSQL {PG_MAJOR} data directory: {problem}", dir.display())]
    NotADataDir { dir: PathBuf, problem: String },
    /// An extension's files are missing or could not be installed.
    #[error("extension {name}: {problem}")]
    Extension { name: String, problem: String },
}

/// The PostgreSQL major version of the backend, as `PG_VERSION` files
/// record it (initdb writes the same).
pub const PG_MAJOR: &str = "15";

fn stderr_suffix(stderr: &str) -> String {
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    if tail.is_empty() {
        String::new()
    } else {
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("; its log ends:\n{}", tail.join("\n"))
    }
}

/// A program's error report: from its first `error:` line (PostgreSQL's
/// frontend programs write `name: error: ...`, then details such as the
/// failed command), else the end of what it wrote.
fn program_report(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    match lines.iter().position(|line| line.contains(": error: ")) {
        Some(start) => {
            let report = &lines[start..(start + 10).min(lines.len())];
            format!(": {}", report.join("\n"))
        }
        None => stderr_suffix(stderr),
    }
}

fn initdb_details(code: Option<i32>, log: &str) -> String {
    match code {
        None => format!(": {log}"),
        Some(code) => format!(
            ": the backend exited with code {code}{}",
            stderr_suffix(&error_excerpt(log))
        ),
    }
}

/// The backend's last error report with the lines after it (DETAIL, HINT,
/// CONTEXT, STATEMENT), or else its last lines; long lines are cut.
fn error_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .rposition(|line| {
            ["ERROR:", "FATAL:", "PANIC:"]
                .iter()
                .any(|l| line.contains(l))
        })
        .unwrap_or(lines.len().saturating_sub(5));
    lines[start..]
        .iter()
        .take(5)
        .map(|line| match line.char_indices().nth(300) {
            Some((at, _)) => format!("{}...", &line[..at]),
            None => (*line).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
