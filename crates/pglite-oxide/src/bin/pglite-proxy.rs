//! `pglite-proxy`: an embedded PostgreSQL database served over TCP or a
//! Unix socket, for any PostgreSQL client. Prints the connection URL, runs
//! until Ctrl-C (or SIGTERM), then shuts down cleanly.
//!
//! With a password (`--password`, or the `PGLITE_PASSWORD` environment
//! variable, which other users cannot read from the process list) clients
//! must authenticate (SCRAM-SHA-256); the printed URL then includes it.

use std::net::SocketAddr;
use std::process::ExitCode;

use pglite_oxide::{Pglite, PgliteServer};
use tokio::signal::unix::{signal, Signal, SignalKind};

const USAGE: &str = "\
usage: pglite-proxy (--temporary | --path DIR) [options]

  --temporary            a new database in a temporary directory, removed on exit
  --path DIR             the database in DIR (created if absent or empty)
  --listen ADDR          listen on this TCP address (default 127.0.0.1:5432;
                         port 0 picks a free one)
  --unix DIR             listen on a Unix socket in DIR (DIR/.s.PGSQL.<port>);
                         without --listen, only there
  --config NAME=VALUE    a PostgreSQL setting (repeatable)
  --user NAME            the role clients run as (default postgres)
  --database NAME        the database clients connect to (default postgres)
  --password PW          clients must give this password (SCRAM-SHA-256);
                         default: $PGLITE_PASSWORD if set, else none (trust).
                         The printed URL includes it.
  -h, --help             this text
";

struct Options {
    server: pglite_oxide::ServerBuilder,
}

/// The options from `args`; `password_env` is `PGLITE_PASSWORD`'s value.
fn parse(
    args: impl IntoIterator<Item = String>,
    password_env: Option<String>,
) -> Result<Option<Options>, String> {
    let mut args = args.into_iter();
    let mut database = Pglite::builder();
    let mut location = None;
    let mut listen: Option<SocketAddr> = None;
    let mut unix = None;
    let mut password = password_env.filter(|p| !p.is_empty());
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--temporary" => location = Some(None),
            "--path" => location = Some(Some(value("--path")?)),
            "--listen" => {
                let addr = value("--listen")?;
                listen =
                    Some(addr.parse().map_err(|e| {
                        format!("--listen {addr}: {e} (expected e.g. 127.0.0.1:5432)")
                    })?);
            }
            "--unix" => unix = Some(value("--unix")?),
            "--config" => {
                let setting = value("--config")?;
                let (name, value) = setting
                    .split_once('=')
                    .ok_or_else(|| format!("--config {setting}: expected NAME=VALUE"))?;
                database = database.postgres_config(name, value);
            }
            "--user" => database = database.username(&value("--user")?),
            "--database" => database = database.database(&value("--database")?),
            "--password" => {
                let given = value("--password")?;
                if given.is_empty() {
                    return Err("--password: the password is empty".into());
                }
                password = Some(given);
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    database = match location {
        Some(None) => database.temporary(),
        Some(Some(path)) => database.path(path),
        None => return Err("give --temporary or --path DIR".into()),
    };
    let mut server = database.server();
    match (listen, &unix) {
        (Some(addr), _) => server = server.tcp(addr),
        (None, None) => server = server.tcp(SocketAddr::from(([127, 0, 0, 1], 5432))),
        (None, Some(_)) => {}
    }
    if let Some(dir) = unix {
        server = server.unix(dir);
    }
    if let Some(password) = password {
        server = server.password(password);
    }
    Ok(Some(Options { server }))
}

fn main() -> ExitCode {
    let password_env = std::env::var("PGLITE_PASSWORD").ok();
    let options = match parse(std::env::args().skip(1), password_env) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("pglite-proxy: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server: PgliteServer = match options.server.start() {
        Ok(server) => server,
        Err(err) => {
            eprintln!("pglite-proxy: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Signal handlers first: a client may act on the URL at once.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("pglite-proxy: installing signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", server.database_url());
    if let Some(socket) = server.unix_socket() {
        eprintln!("listening on {}", socket.display());
    }
    signals.wait();
    eprintln!("shutting down");
    match server.shutdown() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pglite-proxy: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, caught.
struct Signals {
    runtime: tokio::runtime::Runtime,
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _entered = runtime.enter();
        let interrupt = signal(SignalKind::interrupt())?;
        let terminate = signal(SignalKind::terminate())?;
        Ok(Self {
            runtime,
            interrupt,
            terminate,
        })
    }

    /// Returns on the first of them.
    fn wait(mut self) {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        });
    }
}
