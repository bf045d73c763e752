//! Debian's native PostgreSQL 15, for pglite-oxide's benchmarks (which
//! compare against it in the same run) and tests (which load dumps into it
//! and run its client programs): a server started on a temporary
//! directory, and the client programs (`psql`, `pg_dump`) isolated from the
//! caller's environment.
//!
//! `apt-get install postgresql-15` brings both; `postgresql-client-15`
//! only the client programs.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use postgres_protocol::message::{backend, frontend};

/// Where Debian installs PostgreSQL 15's programs.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The path of an installed program of PostgreSQL 15 (`psql`, `pg_dump`,
/// `postgres`), or an error saying what to install.
pub fn program(name: &str) -> Result<PathBuf> {
    let path = Path::new(BIN).join(name);
    if !path.is_file() {
        bail!(
            "{} is not installed: install PostgreSQL 15 with `apt-get install postgresql-15` \
             (Debian bookworm)",
            path.display()
        );
    }
    Ok(path)
}

/// A client program isolated from the caller's environment: no PG*
/// variables, no psqlrc, no password file.
pub fn client(name: &str) -> Result<Command> {
    let mut command = Command::new(program(name)?);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("PG") {
            command.env_remove(var);
        }
    }
    command
        .env("PGPASSFILE", "/nonexistent/pgpass")
        .env("PSQLRC", "/nonexistent/psqlrc");
    Ok(command)
}

/// A running native server; stopped on drop.
pub struct NativePostgres {
    dir: tempfile::TempDir,
    server: Child,
    pub port: u16,
    /// How long initdb took, and the server until its socket appeared.
    pub initdb_time: Duration,
    pub start_time: Duration,
}

impl NativePostgres {
    /// Whether the native server is installed.
    pub fn available() -> bool {
        Path::new(BIN).join("postgres").is_file()
    }

    /// initdb + start, listening only on a Unix socket in its directory,
    /// with `settings` (`-c name=value`). `cpu` pins the server to one CPU.
    pub fn start(settings: &[(&str, &str)], cpu: Option<usize>) -> Result<Self> {
        if !Self::available() {
            bail!("native PostgreSQL 15 is not installed: apt-get install postgresql-15");
        }
        let dir = tempfile::Builder::new()
            .prefix("pglite-native-")
            .tempdir()?;
        let as_root = is_root();
        if as_root {
            // PostgreSQL refuses to run as root: hand the directory over.
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let initdb_started = Instant::now();
        let mut initdb = user_command(as_root, &format!("{BIN}/initdb"));
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
        run(&mut initdb)?;
        let initdb_time = initdb_started.elapsed();
        let port = 20_000 + (std::process::id() % 10_000) as u16;
        let started = Instant::now();
        let mut server = match cpu {
            Some(cpu) => {
                let mut c = user_command(as_root, "taskset");
                c.args(["-c", &cpu.to_string(), &format!("{BIN}/postgres")]);
                c
            }
            None => user_command(as_root, &format!("{BIN}/postgres")),
        };
        server.arg("-D").arg(&data).arg("-k").arg(dir.path()).args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=",
        ]);
        for (name, value) in settings {
            server.args(["-c", &format!("{name}={value}")]);
        }
        let server = server
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting native postgres")?;
        let mut native = Self {
            dir,
            server,
            port,
            initdb_time,
            start_time: Duration::ZERO,
        };
        let socket = native.socket();
        while !socket.exists() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("native postgres did not start within 30 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        native.start_time = started.elapsed();
        Ok(native)
    }

    fn socket(&self) -> PathBuf {
        self.socket_dir().join(format!(".s.PGSQL.{}", self.port))
    }

    /// A new connection (trust authentication) runs `SELECT 1` and ends.
    /// While the server is still starting up it refuses connections; this
    /// tries again until it accepts (or 30 s pass).
    pub fn select_one(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            match self.try_select_one() {
                Ok(()) => return Ok(()),
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn try_select_one(&self) -> Result<()> {
        let mut stream = UnixStream::connect(self.socket())?;
        let mut out = BytesMut::new();
        frontend::startup_message([("user", "postgres"), ("database", "postgres")], &mut out)?;
        stream.write_all(&out)?;
        read_until_ready(&mut stream)?;
        out.clear();
        frontend::query("SELECT 1", &mut out)?;
        stream.write_all(&out)?;
        read_until_ready(&mut stream)?;
        out.clear();
        frontend::terminate(&mut out);
        stream.write_all(&out)?;
        Ok(())
    }

    /// The postmaster's process id (the first line of postmaster.pid).
    pub fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A client program ([`client`]) connected to this server as
    /// `postgres` (trust authentication).
    pub fn client(&self, name: &str) -> Result<Command> {
        let mut command = client(name)?;
        command.arg("--host").arg(self.dir.path()).args([
            "--port",
            &self.port.to_string(),
            "--username",
            "postgres",
        ]);
        Ok(command)
    }
}

impl Drop for NativePostgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown. As root the child is runuser,
        // which does not pass the signal on: signal the postmaster itself
        // (the first line of postmaster.pid).
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

fn user_command(as_root: bool, program: &str) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn read_until_ready(stream: &mut UnixStream) -> Result<()> {
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 8192];
    loop {
        while let Some(message) = backend::Message::parse(&mut buf)? {
            match message {
                backend::Message::ReadyForQuery(_) => return Ok(()),
                backend::Message::ErrorResponse(_) => bail!("the server reported an error"),
                _ => {}
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
