//! Creating a data directory (PostgreSQL's initdb), run inside Wasmer.
//!
//! The steps and their order follow PostgreSQL 15's initdb:
//! 1. the directory layout, the top-level `PG_VERSION` and the configuration
//!    files ([`layout`]);
//! 2. bootstrap mode (`postgres --boot`) reading the substituted
//!    `postgres.bki` ([`bki`]), which creates template1's catalogs; then
//!    template1's `PG_VERSION`;
//! 3. one single-user run (`postgres --single -j`) of the post-bootstrap
//!    script ([`script`]): views, functions, information_schema, plpgsql,
//!    text search, template0 and postgres;
//! 4. a pass on the host that makes every file and directory durable.
//!
//! Both backend runs use `-F` (no fsync), as initdb does: step 4 replaces
//! thousands of small syncs with one pass.

mod bki;
mod layout;
mod script;
#[cfg(test)]
mod tests_single_user;

pub(crate) use layout::sync_tree;

use std::path::Path;

use crate::artifacts::Artifacts;
use crate::fs::Durability;
use crate::instance::{BackendInstance, CallOutcome, GUEST_DATA};
use crate::{Error, Result, PG_MAJOR};

/// WAL segment size in bytes (PostgreSQL's default, 16 MB).
const WAL_SEGMENT_BYTES: u32 = 16 * 1024 * 1024;

/// How many lines of a failed step's log an [`Error::Initdb`] keeps.
const LOG_TAIL_LINES: usize = 200;

/// How to create a data directory.
///
/// The cluster always uses encoding UTF8, the C locale and the libc
/// collation provider.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Name of the bootstrap superuser (initdb's `-U`). Default `postgres`.
    pub superuser: String,
    /// Give the backend a fixed clock and a seeded entropy source, so that
    /// the same artifacts and options make the same bytes (the build-time
    /// template). Every directory made this way has the same system
    /// identifier and authentication nonce. Default `false`.
    pub reproducible: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            superuser: "postgres".into(),
            reproducible: false,
        }
    }
}

/// Creates and initializes the data directory `dir`, which must be absent
/// or an empty directory. On failure, what initdb created is removed again.
///
/// When this returns `Ok`, every file and directory of the new data
/// directory has been synced to disk.
pub fn initdb(artifacts: &Artifacts, dir: &Path, options: &InitOptions) -> Result<()> {
    check_superuser(&options.superuser)?;
    let share = artifacts.share();
    let features = script::Features::detect(&share);
    tracing::debug!(?features, dir = %dir.display(), "initdb");

    let bki = std::fs::read_to_string(share.join("postgres.bki"))
        .map_err(|e| Error::io("reading", share.join("postgres.bki"), e))?;
    let bki = bki::substitute(&bki, &options.superuser).ok_or_else(|| Error::Artifacts {
        dir: artifacts.dir().to_path_buf(),
        problem: format!("share/postgres.bki does not belong to PostgreSQL {PG_MAJOR}"),
    })?;
    let post_bootstrap = script::post_bootstrap(&share, &options.superuser, &features)?;

    let cleanup = layout::create_root(dir)?;
    let result = (|| {
        layout::create_tree(dir, &features)?;
        let run = |step, args: &[String], stdin: String| {
            run_backend(
                artifacts,
                dir,
                step,
                args,
                stdin.into_bytes(),
                options.reproducible,
            )
        };
        run("bootstrap", &boot_args(), bki)?;
        layout::write_version_file(&dir.join("base/1"))?;
        run(
            "post-bootstrap initialization",
            &single_user_args(),
            post_bootstrap,
        )?;
        layout::sync_tree(dir)
    })();
    if result.is_ok() {
        cleanup.disarm();
    }
    result
}

/// initdb's bootstrap step alone, prepared on a new directory that is
/// removed again when this is dropped (benchmarks).
#[cfg(feature = "stock-fs-bench")]
pub(crate) struct BootstrapOnly {
    artifacts: Artifacts,
    dir: std::path::PathBuf,
    bki: String,
    _cleanup: layout::Cleanup,
}

#[cfg(feature = "stock-fs-bench")]
impl BootstrapOnly {
    pub fn prepare(artifacts: &Artifacts, dir: &Path) -> Result<Self> {
        let share = artifacts.share();
        let features = script::Features::detect(&share);
        let bki = std::fs::read_to_string(share.join("postgres.bki"))
            .map_err(|e| Error::io("reading", share.join("postgres.bki"), e))?;
        let bki = bki::substitute(&bki, "postgres").ok_or_else(|| Error::Artifacts {
            dir: artifacts.dir().to_path_buf(),
            problem: format!("share/postgres.bki does not belong to PostgreSQL {PG_MAJOR}"),
        })?;
        let cleanup = layout::create_root(dir)?;
        layout::create_tree(dir, &features)?;
        Ok(Self {
            artifacts: artifacts.clone(),
            dir: dir.to_path_buf(),
            bki,
            _cleanup: cleanup,
        })
    }

    /// Runs the backend's bootstrap (instantiation included).
    pub fn run(&self) -> Result<()> {
        run_backend(
            &self.artifacts,
            &self.dir,
            "bootstrap",
            &boot_args(),
            self.bki.clone().into_bytes(),
        )
    }
}

/// initdb's rules for the superuser's name, and CREATE EXTENSION's.
fn check_superuser(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.len() >= 64 {
        Some("is longer than 63 bytes")
    } else if name.starts_with("pg_") {
        Some("starts with pg_, which is reserved for system roles")
    } else if name.chars().any(|c| c.is_control() || "\"$'\\".contains(c)) {
        // CREATE EXTENSION refuses owners whose names hold one of these
        // (they would be unsafe in extension scripts), and every cluster
        // has one: plpgsql.
        Some("contains a control character or one of \" $ ' \\")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::Initdb {
            step: "checking the options",
            code: None,
            log: format!("the superuser name {name:?} {problem}"),
        }),
        None => Ok(()),
    }
}

fn boot_args() -> Vec<String> {
    let wal_segment = WAL_SEGMENT_BYTES.to_string();
    [
        "--boot",
        "-X",
        &wal_segment,
        "-F",
        "-c",
        "log_checkpoints=false",
        "-D",
        GUEST_DATA,
    ]
    .map(String::from)
    .to_vec()
}

/// Single-user mode as initdb runs it: `-j` ends a statement at a semicolon
/// followed by a blank line, `exit_on_error` makes the first error end the
/// run with a nonzero exit code.
fn single_user_args() -> Vec<String> {
    [
        "--single",
        "-F",
        "-O",
        "-j",
        "-c",
        "search_path=pg_catalog",
        "-c",
        "exit_on_error=true",
        "-c",
        "log_checkpoints=false",
        // The segment left behind by the final WAL switch is removed, not
        // renamed for reuse with its old contents (see script.rs).
        "-c",
        "wal_recycle=off",
        "-D",
        GUEST_DATA,
        "template1",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `pgl_main` (PostgreSQL's `main()`) with `args` and `stdin` on the
/// data directory `dir`; success is a return or exit with code 0.
fn run_backend(
    artifacts: &Artifacts,
    dir: &Path,
    step: &'static str,
    args: &[String],
    stdin: Vec<u8>,
    reproducible: bool,
) -> Result<()> {
    let started = std::time::Instant::now();
    let mut backend = if reproducible {
        BackendInstance::new_reproducible(artifacts, dir, Durability::Full, args, stdin)?
    } else {
        BackendInstance::new(artifacts, dir, Durability::Full, args, stdin)?
    };
    let outcome = backend.call("pgl_main");
    let log = backend.stderr.text();
    tracing::trace!(step, output = %backend.stdout.text(), "initdb step output");
    backend.close();
    tracing::debug!(step, elapsed = ?started.elapsed(), "initdb step done");
    match outcome {
        Ok(CallOutcome::Returned | CallOutcome::Exited(0)) => Ok(()),
        Ok(CallOutcome::Exited(code)) => Err(Error::Initdb {
            step,
            code: Some(code),
            log: tail(&log, LOG_TAIL_LINES),
        }),
        Err(Error::Crashed { trap, stderr }) => Err(Error::Crashed {
            trap: format!("{trap} (during initdb's {step})"),
            stderr,
        }),
        Err(other) => Err(other),
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superuser_names() {
        assert!(check_superuser("postgres").is_ok());
        assert!(check_superuser("Ad Min").is_ok());
        for bad in [
            "",
            "pg_admin",
            "a\"b",
            "a\nb",
            "o'k",
            "a$b",
            "a\\b",
            &"x".repeat(64),
        ] {
            assert!(
                matches!(check_superuser(bad), Err(Error::Initdb { code: None, .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
