//! One regression test the way pg_regress runs it: psql reads the test's
//! SQL with echo (`-a`) and its output is compared, ignoring whitespace,
//! with `expected/<test>.out` or one of its alternatives
//! (`<test>_1.out`...). Each test gets a backend of its own: a
//! `pglite-proxy` over the shared data directory, started for the test
//! and stopped after it, as a native server forks one per connection.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long one test may run before it counts as hung.
const TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a server may take to print its URL, and to stop.
const SERVER_TIMEOUT: Duration = Duration::from_secs(120);

/// Where things are for a run.
pub struct Runner {
    /// The `pglite-proxy` binary.
    pub proxy: PathBuf,
    /// The artifacts directory of the backend to test.
    pub artifacts: PathBuf,
    pub psql: PathBuf,
    /// PostgreSQL's src/test/regress (sql/, expected/, data/).
    pub tests: PathBuf,
    /// This run's directory: data directory, results, logs.
    pub run: PathBuf,
}

/// The settings pg_regress gives the temporary instance it starts
/// (`make check`) that change what tests print.
const SERVER_SETTINGS: [(&str, &str); 1] = [("max_prepared_transactions", "2")];

/// What pg_regress sets on the database it creates, and the three it
/// gives every psql through the environment (PGDATESTYLE, PGTZ, and
/// PGOPTIONS's intervalstyle). Those three are database settings here: a
/// client's startup settings are session settings on the shared backend
/// (docs/decisions/0008-one-backend-many-clients.md), so a test's `RESET
/// datestyle` would return to the server's default instead of to them.
const DATABASE_SETTINGS: [(&str, &str); 9] = [
    ("datestyle", "Postgres, MDY"),
    ("timezone", "America/Los_Angeles"),
    ("intervalstyle", "postgres_verbose"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("bytea_output", "hex"),
    ("timezone_abbreviations", "Default"),
];

/// Inside the data directory: the test data the server reads (COPY FROM)
/// and the directory it writes results to (COPY TO).
const DATA_INSIDE: &str = "pglite-regress";

/// The same directory as the backend sees it: the runtime mounts the data
/// directory at /data (runtime/src/fs). The tests' path variables are for
/// the server; psql's own file commands (\lo_import) cannot follow them.
const DATA_INSIDE_GUEST: &str = "/data/pglite-regress";

/// How a test went.
pub enum Outcome {
    Passed,
    /// The diff against the closest expected file.
    Failed(String),
}

impl Runner {
    pub fn data_dir(&self) -> PathBuf {
        self.run.join("data")
    }

    pub fn results(&self) -> PathBuf {
        self.run.join("results")
    }

    /// A new data directory with the `regression` database, made as
    /// pg_regress makes it.
    pub fn create_database(&self) -> Result<()> {
        let data = self.data_dir();
        let server = Server::start(self, "postgres", &self.run.join("logs/setup.log"))?;
        // One statement per -c: psql runs a multi-statement -c as one
        // transaction, which CREATE DATABASE refuses.
        let mut statements = vec!["CREATE DATABASE \"regression\" TEMPLATE=template0".to_string()];
        for (name, value) in DATABASE_SETTINGS {
            statements.push(format!(
                "ALTER DATABASE \"regression\" SET {name} TO '{value}'"
            ));
        }
        let mut psql = self.psql(&server.url);
        psql.args(["-v", "ON_ERROR_STOP=1"]);
        for statement in &statements {
            psql.args(["-c", statement]);
        }
        let output = psql.output().context("running psql")?;
        server.stop()?;
        if !output.status.success() {
            bail!(
                "creating the regression database failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // The server reads test data and writes results at paths under its
        // data directory (see DATA_INSIDE).
        let inside = data.join(DATA_INSIDE);
        crate::outputs::copy_any(&self.tests.join("data"), &inside.join("data"))?;
        std::fs::create_dir_all(inside.join("results"))?;
        std::fs::create_dir_all(self.results())?;
        Ok(())
    }

    /// Runs `test`: its output in results/<test>.out.
    pub fn run_test(&self, test: &str) -> Result<Outcome> {
        let sql = self.tests.join("sql").join(format!("{test}.sql"));
        let result = self.results().join(format!("{test}.out"));
        let server = Server::start(
            self,
            "regression",
            &self.run.join(format!("logs/{test}.log")),
        )?;
        let output = File::create(&result)?;
        let mut psql = self.psql(&server.url);
        psql.args([
            "-a",
            "-q",
            "-v",
            "HIDE_TABLEAM=on",
            "-v",
            "HIDE_TOAST_COMPRESSION=on",
        ])
        .env("PGAPPNAME", format!("pg_regress/{test}"))
        .stdin(File::open(&sql).with_context(|| format!("opening {}", sql.display()))?)
        // One open file for both, as the shell's `> out 2>&1`: errors land
        // between the statements that caused them.
        .stdout(output.try_clone()?)
        .stderr(output);
        let mut child = psql.spawn().context("starting psql")?;
        let finished = wait_bounded(&mut child, TEST_TIMEOUT)?;
        let stopped = server.stop();
        if finished.is_none() {
            bail!(
                "{test}: no result after {} s (psql killed)",
                TEST_TIMEOUT.as_secs()
            );
        }
        stopped.with_context(|| format!("{test}: stopping the server"))?;
        self.compare(test, &result)
    }

    /// psql as pg_regress runs it: no psqlrc, the test environment.
    fn psql(&self, url: &str) -> Command {
        let mut command = Command::new(&self.psql);
        command
            .arg("-X")
            .args(["-d", url])
            .current_dir(&self.run)
            .env_remove("PGOPTIONS")
            .env_remove("PGSERVICE")
            .env_remove("PGDATABASE")
            .env_remove("PGUSER")
            .env_remove("LANG")
            .env_remove("LANGUAGE")
            .env_remove("LC_ALL")
            .env_remove("PGTZ")
            .env_remove("PGDATESTYLE")
            .env("LC_MESSAGES", "C")
            .env("PG_ABS_SRCDIR", DATA_INSIDE_GUEST)
            .env("PG_ABS_BUILDDIR", DATA_INSIDE_GUEST)
            .env("PG_LIBDIR", "/pglite/lib/postgresql")
            .env("PG_DLSUFFIX", ".so");
        command
    }

    /// Compares like pg_regress: `diff -w` against each expected file;
    /// on a failure, the diff against the closest one.
    fn compare(&self, test: &str, result: &Path) -> Result<Outcome> {
        let mut best: Option<String> = None;
        for expected in expected_files(&self.tests.join("expected"), test) {
            let output = Command::new("diff")
                .args(["-w", "-U3"])
                .arg(&expected)
                .arg(result)
                .output()
                .context("running diff")?;
            match output.status.code() {
                Some(0) => return Ok(Outcome::Passed),
                Some(1) => {
                    let diff = String::from_utf8_lossy(&output.stdout).into_owned();
                    if best
                        .as_ref()
                        .is_none_or(|b| diff.lines().count() < b.lines().count())
                    {
                        best = Some(diff);
                    }
                }
                _ => bail!(
                    "diff {} failed: {}",
                    expected.display(),
                    String::from_utf8_lossy(&output.stderr)
                ),
            }
        }
        match best {
            Some(diff) => Ok(Outcome::Failed(diff)),
            None => bail!("{test}: no expected output in {}", self.tests.display()),
        }
    }
}

/// `<test>.out` and its alternatives `<test>_N.out`, as pg_regress looks
/// for them.
fn expected_files(dir: &Path, test: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let main = dir.join(format!("{test}.out"));
    if main.is_file() {
        files.push(main);
    }
    for n in 0..10 {
        let alternative = dir.join(format!("{test}_{n}.out"));
        if alternative.is_file() {
            files.push(alternative);
        }
    }
    files
}

/// Waits for `child` up to `timeout`; kills it past that. Its exit
/// status, or `None` when it had to be killed.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `pglite-proxy` on the run's data directory, listening on a Unix
/// socket in the run directory.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(runner: &Runner, database: &str, log: &Path) -> Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut command = Command::new(&runner.proxy);
        command
            .arg("--path")
            .arg(runner.data_dir())
            .arg("--unix")
            .arg(&runner.run)
            .args(["--database", database]);
        for (name, value) in SERVER_SETTINGS {
            command.args(["--config", &format!("{name}={value}")]);
        }
        let mut child = command
            .env(pglite_runtime::ARTIFACTS_ENV, &runner.artifacts)
            .env_remove("PGLITE_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(log)?)
            .spawn()
            .with_context(|| format!("starting {}", runner.proxy.display()))?;
        // The first line of its output is the URL, once it accepts clients.
        let stdout = child.stdout.take().context("proxy stdout")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(read.map(|_| line));
        });
        match receiver.recv_timeout(SERVER_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => Ok(Self {
                child,
                url: line.trim().to_string(),
            }),
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                let log_text = std::fs::read_to_string(log).unwrap_or_default();
                bail!(
                    "the server did not start ({}):\n{log_text}",
                    match outcome {
                        Err(_) => "no URL in time".to_string(),
                        Ok(Err(e)) => e.to_string(),
                        Ok(Ok(_)) => "it exited".to_string(),
                    }
                )
            }
        }
    }

    /// SIGTERM, then wait for the clean shutdown (a checkpoint).
    fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        match wait_bounded(&mut self.child, SERVER_TIMEOUT)? {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!("the server exited with {status}"),
            None => bail!("the server did not stop in {} s", SERVER_TIMEOUT.as_secs()),
        }
    }
}
