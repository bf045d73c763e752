//! Debian's native PostgreSQL 15 for tests: a temporary server on a Unix
//! socket, and its client programs (psql, pg_dump).
//!
//! The server package must be installed (`apt-get install postgresql-15`):
//! without it the tests that need it fail, saying so, rather than pass
//! unseen.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A client program of the native installation (`psql`, `pg_dump`).
pub fn program(name: &str) -> PathBuf {
    let path = Path::new(BIN).join(name);
    assert!(
        path.is_file(),
        "{} is not installed, and this test needs it: install PostgreSQL 15 with \
         `apt-get install postgresql-15` (Debian bookworm)",
        path.display()
    );
    path
}

/// A client command isolated from the caller's environment (no PG*
/// variables, no psqlrc, no password file).
pub fn client(name: &str) -> Command {
    let mut command = Command::new(program(name));
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("PG") {
            command.env_remove(var);
        }
    }
    command
        .env("PGPASSFILE", "/nonexistent/pgpass")
        .env("PSQLRC", "/nonexistent/psqlrc");
    command
}

/// Runs `command`; its stdout, which it must have exited 0 with.
pub fn run_ok(mut command: Command) -> String {
    let output: Output = command.output().expect("running a PostgreSQL program");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A native server (initdb, then postgres on a Unix socket only); stopped
/// on drop.
pub struct NativeServer {
    dir: tempfile::TempDir,
    server: Child,
    pub port: u16,
}

impl NativeServer {
    pub fn start() -> Self {
        let postgres = program("postgres");
        let dir = tempfile::Builder::new()
            .prefix("pglite-native-")
            .tempdir()
            .unwrap();
        let as_root = is_root();
        if as_root {
            // PostgreSQL refuses to run as root: hand the directory over.
            run_status(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path()),
            );
        }
        let data = dir.path().join("data");
        let mut initdb = as_user(as_root, &program("initdb"));
        initdb
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
                "-D",
            ])
            .arg(&data);
        run_status(&mut initdb);
        // A port of this process's own: tests in other processes may run a
        // server at the same time.
        let port = 30_000 + (std::process::id() % 20_000) as u16;
        let server = as_user(as_root, &postgres)
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-p", &port.to_string(), "-c", "listen_addresses="])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let native = Self { dir, server, port };
        native.wait_until_ready();
        native
    }

    /// The directory of its socket, as `--host` takes it.
    pub fn host(&self) -> &Path {
        self.dir.path()
    }

    /// A client command connected to database `postgres` as `postgres`.
    pub fn client(&self, name: &str) -> Command {
        let mut command = client(name);
        command.arg("--host").arg(self.host()).args([
            "--port",
            &self.port.to_string(),
            "--username",
            "postgres",
        ]);
        command
    }

    fn wait_until_ready(&self) {
        let started = Instant::now();
        loop {
            let mut probe = self.client("psql");
            probe.args(["--no-psqlrc", "--dbname", "postgres", "-c", "SELECT 1"]);
            if probe.output().is_ok_and(|o| o.status.success()) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the native server did not accept connections within 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        // SIGINT: fast shutdown. As root the child is runuser, which does
        // not pass the signal on: signal the postmaster (postmaster.pid).
        let postmaster = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned));
        let pid = postmaster.unwrap_or_else(|| self.server.id().to_string());
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let _ = self.server.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn as_user(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run_status(command: &mut Command) {
    let output = command.output().expect("running a PostgreSQL program");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
