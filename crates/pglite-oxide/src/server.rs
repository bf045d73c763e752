//! [`PgliteServer`]: the embedded database behind a TCP port and/or a Unix
//! socket, for clients in other processes or any PostgreSQL driver.
//!
//! Each accepted connection is served by [`crate::frontend`] from the one
//! shared backend, exactly as [`Pglite::connect`] clients are: one client
//! at a time holds the backend for an exchange or a whole transaction,
//! the others wait (see docs/decisions/0008).
//!
//! The server runs on a tokio runtime of its own (two worker threads), so
//! it works the same from synchronous code and from inside any async
//! runtime, and a caller's busy runtime cannot starve its accept loop.
//! Its API is synchronous: [`ServerBuilder::start`] returns once the
//! sockets listen, [`PgliteServer::shutdown`] once the backend is closed.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auth::Verifier;
use crate::backend::Backend;
use crate::database::{Builder, Pglite};
use crate::dump::{DumpFormat, DumpOptions, RestoreOptions};
use crate::error::{Error, Result};

/// The port a Unix socket is named after when there is no TCP listener
/// to take it from (PostgreSQL's default).
const DEFAULT_PORT: u16 = 5432;
/// How long shutdown waits by default for connections to finish their
/// running exchanges.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// A PostgreSQL server in this process: an embedded database that any
/// PostgreSQL client (psql, libpq, tokio-postgres, SQLx, JDBC...) connects
/// to over TCP or a Unix socket.
///
/// ```no_run
/// use pglite_oxide::PgliteServer;
///
/// let server = PgliteServer::temporary_tcp()?;
/// println!("connect to {}", server.database_url());
/// // ... clients connect ...
/// server.shutdown()?;
/// # Ok::<(), pglite_oxide::Error>(())
/// ```
///
/// Without a password (the default) clients are trusted: anyone who can
/// reach the socket gets in, which is why the server listens on 127.0.0.1
/// by default. With [`ServerBuilder::password`] every client must prove it
/// knows the password with SCRAM-SHA-256, as PostgreSQL asks it (libpq,
/// psql, tokio-postgres, SQLx and JDBC all do it); a wrong one gets FATAL
/// 28P01 and its connection is closed. The connection is not encrypted
/// (there is no TLS), so the password guards who connects, not what goes
/// over the wire. All clients run as the role and in the database the
/// server was built with, whatever user they name; a startup packet naming
/// another database is refused (3D000). Dropping the server shuts it down,
/// as [`shutdown`](Self::shutdown) does.
pub struct PgliteServer {
    running: Option<Running>,
    tcp: Option<SocketAddr>,
    unix: Option<PathBuf>,
    url: String,
    /// The URL without the password, for logs and `Debug`.
    redacted_url: String,
}

struct Running {
    db: Pglite,
    runtime: tokio::runtime::Runtime,
    stop: watch::Sender<bool>,
    /// Says when the accept loop and its connections are done.
    done: std::sync::mpsc::Receiver<()>,
    grace: Duration,
}

impl PgliteServer {
    /// A temporary database on a free TCP port of 127.0.0.1.
    pub fn temporary_tcp() -> Result<Self> {
        Self::builder()
            .temporary()
            .tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .start()
    }

    /// Options for a server (a temporary database on a free port of
    /// 127.0.0.1 by default).
    pub fn builder() -> ServerBuilder {
        Pglite::builder().server()
    }

    /// A URL clients connect with (`postgres://user@127.0.0.1:port/db`),
    /// for the TCP listener if there is one, else for the Unix socket
    /// (`postgres://user@%2Fsocket%2Fdir:port/db`, as libpq, tokio-postgres
    /// and SQLx read it). With a password, the URL carries it
    /// (`postgres://user:password@...`, percent-encoded): treat the URL as
    /// the secret it then is.
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// The same as [`database_url`](Self::database_url), by libpq's name.
    pub fn connection_uri(&self) -> &str {
        &self.url
    }

    /// The TCP address the server listens on (with the port it picked).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// The Unix socket file the server listens on
    /// (`<dir>/.s.PGSQL.<port>`).
    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix.as_deref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> Option<&Path> {
        self.running.as_ref().map(|r| r.db.data_dir())
    }

    /// A plain SQL dump of the database, as [`Pglite::dump_sql`] makes it:
    /// pg_dump runs in this process and reaches the backend through an
    /// in-memory pipe, not through the server's sockets.
    pub fn dump_sql(&self, options: &DumpOptions) -> Result<String> {
        crate::dump::sql_text(|out| self.dump_sql_to(options, out))
    }

    /// [`dump_sql`](Self::dump_sql), streamed to `out`.
    pub fn dump_sql_to(&self, options: &DumpOptions, mut out: impl Write) -> Result<()> {
        let (db, handle) = self.program_host()?;
        db.dump(options, DumpFormat::Plain, &mut out, Some(handle))
    }

    /// A custom-format archive, as [`Pglite::dump_archive`] makes it.
    pub fn dump_archive(&self, options: &DumpOptions, mut out: impl Write) -> Result<()> {
        let (db, handle) = self.program_host()?;
        db.dump(options, DumpFormat::Custom, &mut out, Some(handle))
    }

    /// Restores a custom-format archive, as [`Pglite::restore_archive`]
    /// does.
    pub fn restore_archive(&self, archive: impl Read, options: &RestoreOptions) -> Result<()> {
        let (db, handle) = self.program_host()?;
        db.restore(archive, options, Some(handle))
    }

    /// The database and the server's runtime, which serves a program's
    /// connections (pg_dump, pg_restore).
    fn program_host(&self) -> Result<(&Pglite, tokio::runtime::Handle)> {
        let running = self.running()?;
        Ok((&running.db, running.runtime.handle().clone()))
    }

    fn running(&self) -> Result<&Running> {
        self.running.as_ref().ok_or(Error::Closed { reason: None })
    }

    /// Stops accepting connections, lets running exchanges finish (up to
    /// [`ServerBuilder::shutdown_grace`]), ends every connection (open
    /// transactions are rolled back; clients get FATAL 57P01), then closes
    /// the backend (a checkpoint).
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        let _ = running.stop.send(true);
        // The accept loop gives connections `grace`, then aborts them.
        if running
            .done
            .recv_timeout(running.grace + Duration::from_secs(5))
            .is_err()
        {
            tracing::warn!("the server's connections did not end in time");
        }
        // Dropping every task closes every socket and channel: an exchange
        // still running on a blocking thread (a COPY FROM STDIN waiting for
        // data) then ends (CopyFail) and gives the backend back, which
        // closing waits for (within the busy timeout).
        running.runtime.shutdown_background();
        let closed = running.db.close();
        if let Some(socket) = &self.unix {
            let _ = std::fs::remove_file(socket);
        }
        closed
    }
}

impl Drop for PgliteServer {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(%err, "the server did not shut down cleanly");
        }
    }
}

impl std::fmt::Debug for PgliteServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgliteServer")
            .field("url", &self.redacted_url)
            .field("tcp", &self.tcp)
            .field("unix", &self.unix)
            .finish()
    }
}

/// Options for a [`PgliteServer`]: where it listens, and the database's own
/// options (a [`Builder`]).
#[derive(Clone)]
pub struct ServerBuilder {
    database: Builder,
    tcp: Option<SocketAddr>,
    unix: Option<PathBuf>,
    grace: Duration,
    password: Option<String>,
}

impl Builder {
    /// A server for the database these options open.
    pub fn server(self) -> ServerBuilder {
        ServerBuilder {
            database: self,
            tcp: None,
            unix: None,
            grace: DEFAULT_GRACE,
            password: None,
        }
    }
}

impl ServerBuilder {
    /// The database's options (user, database, settings, busy timeout...),
    /// replacing those given so far.
    pub fn database_options(mut self, options: Builder) -> Self {
        self.database = options;
        self
    }

    /// The database lives in `path` (see [`Builder::path`]).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.database = self.database.path(path);
        self
    }

    /// A temporary database (see [`Builder::temporary`]).
    pub fn temporary(mut self) -> Self {
        self.database = self.database.temporary();
        self
    }

    /// Listen on this TCP address; port 0 picks a free port.
    pub fn tcp(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.tcp = Some(addr.into());
        self
    }

    /// Listen on a Unix socket in `dir`, named `.s.PGSQL.<port>` as libpq
    /// expects (the TCP port when there is a TCP listener, else 5432).
    pub fn unix(mut self, dir: impl Into<PathBuf>) -> Self {
        self.unix = Some(dir.into());
        self
    }

    /// Clients must give this password (SCRAM-SHA-256; see
    /// [`PgliteServer`]). Without one, every client is let in. The server
    /// keeps only a salted verifier of it, as PostgreSQL does, and
    /// [`PgliteServer::database_url`] includes it. An empty password is
    /// refused when the server starts. In-process clients of the same
    /// database ([`Pglite::connect`]) are not asked for it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// How long shutdown waits for running exchanges (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Opens the database and starts listening (on 127.0.0.1, a free port,
    /// when no listener was given).
    pub fn start(self) -> Result<PgliteServer> {
        let verifier = match &self.password {
            Some(password) if password.is_empty() => {
                return Err(Error::Config(
                    "the server's password is empty (give none to let every client in)".into(),
                ))
            }
            Some(password) => Some(Arc::new(
                crate::auth::Verifier::new(password).map_err(Error::Config)?,
            )),
            None => None,
        };
        let mut tcp = self.tcp;
        if tcp.is_none() && self.unix.is_none() {
            tcp = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        }
        // Bind first: a taken port fails before the database is opened.
        let tcp_listener = match tcp {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .map_err(|e| Error::Config(format!("listening on {addr}: {e}")))?;
                Some(listener)
            }
            None => None,
        };
        let tcp_addr = match &tcp_listener {
            Some(listener) => Some(listener.local_addr().map_err(io)?),
            None => None,
        };
        let port = tcp_addr.map_or(DEFAULT_PORT, |a| a.port());
        let (unix_listener, unix_socket) = match &self.unix {
            Some(dir) => {
                let socket = dir.join(format!(".s.PGSQL.{port}"));
                (Some(bind_unix(&socket)?), Some(socket))
            }
            None => (None, None),
        };

        let db = match self.database.open() {
            Ok(db) => db,
            Err(err) => {
                if let Some(socket) = &unix_socket {
                    let _ = std::fs::remove_file(socket);
                }
                return Err(err);
            }
        };
        let url_with = |password: Option<&str>| match (tcp_addr, &self.unix) {
            (Some(addr), _) => tcp_url(db.user(), password, db.database(), addr),
            (None, Some(dir)) => unix_url(db.user(), password, db.database(), dir, port),
            (None, None) => unreachable!("a listener is always configured"),
        };
        let url = url_with(self.password.as_deref());
        let redacted_url = url_with(self.password.as_ref().map(|_| "********"));

        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pglite-server")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("starting the server's runtime: {e}")))?;
        let listeners = {
            let _entered = runtime.enter();
            Listeners::from_std(tcp_listener, unix_listener)
        };
        let listeners = match listeners {
            Ok(listeners) => listeners,
            Err(err) => {
                // Dropping a runtime blocks, which panics in async code.
                runtime.shutdown_background();
                if let Some(socket) = &unix_socket {
                    let _ = std::fs::remove_file(socket);
                }
                return Err(err);
            }
        };
        runtime.spawn(accept_loop(
            listeners,
            db.backend().clone(),
            verifier,
            stop_rx,
            self.grace,
            done_tx,
        ));
        tracing::info!(url = %redacted_url, "pglite server listening");
        Ok(PgliteServer {
            running: Some(Running {
                db,
                runtime,
                stop,
                done,
                grace: self.grace,
            }),
            tcp: tcp_addr,
            unix: unix_socket,
            url,
            redacted_url,
        })
    }
}

/// Binds a Unix socket, replacing a stale socket file nobody listens on.
fn bind_unix(socket: &Path) -> Result<std::os::unix::net::UnixListener> {
    let bind = || std::os::unix::net::UnixListener::bind(socket);
    match bind() {
        Ok(listener) => Ok(listener),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return Err(Error::Config(format!(
                    "{}: another server listens on this socket",
                    socket.display()
                )));
            }
            std::fs::remove_file(socket)
                .and_then(|()| bind())
                .map_err(|e| Error::Config(format!("listening on {}: {e}", socket.display())))
        }
        Err(err) => Err(Error::Config(format!(
            "listening on {}: {err}",
            socket.display()
        ))),
    }
}

struct Listeners {
    tcp: Option<TcpListener>,
    unix: Option<UnixListener>,
}

impl Listeners {
    /// The listeners on the current runtime.
    fn from_std(
        tcp: Option<std::net::TcpListener>,
        unix: Option<std::os::unix::net::UnixListener>,
    ) -> Result<Self> {
        let tcp = match tcp {
            Some(listener) => {
                listener.set_nonblocking(true).map_err(io)?;
                Some(TcpListener::from_std(listener).map_err(io)?)
            }
            None => None,
        };
        let unix = match unix {
            Some(listener) => {
                listener.set_nonblocking(true).map_err(io)?;
                Some(UnixListener::from_std(listener).map_err(io)?)
            }
            None => None,
        };
        Ok(Self { tcp, unix })
    }
}

async fn accept_tcp(listener: &Option<TcpListener>) -> std::io::Result<TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

async fn accept_unix(listener: &Option<UnixListener>) -> std::io::Result<UnixStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Accepts connections until `stop`, then waits up to `grace` for them to
/// end and aborts the rest.
async fn accept_loop(
    listeners: Listeners,
    backend: Arc<Backend>,
    password: Option<Arc<Verifier>>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    done: std::sync::mpsc::Sender<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            // Also when the sender is gone: the server was dropped.
            () = async { let _ = stop.wait_for(|stop| *stop).await; } => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            stream = accept_tcp(&listeners.tcp) => stream.map(|stream| {
                // Small messages go out at once: the protocol is
                // request/response.
                let _ = stream.set_nodelay(true);
                connections.spawn(crate::frontend::serve_until(
                    backend.clone(),
                    stream,
                    password.clone(),
                    Some(stop.clone()),
                ));
            }),
            stream = accept_unix(&listeners.unix) => stream.map(|stream| {
                connections.spawn(crate::frontend::serve_until(
                    backend.clone(),
                    stream,
                    password.clone(),
                    Some(stop.clone()),
                ));
            }),
        };
        if let Err(err) = accepted {
            // Out of file descriptors and the like: back off, go on.
            tracing::warn!(%err, "accepting a connection failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(listeners);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "connections still running after the shutdown grace period; aborting them"
        );
        connections.shutdown().await;
    }
    let _ = done.send(());
}

fn tcp_url(user: &str, password: Option<&str>, database: &str, addr: SocketAddr) -> String {
    // A wildcard address is reached through the loopback interface.
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let host = match host {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!(
        "postgres://{}@{host}:{}/{}",
        userinfo(user, password),
        addr.port(),
        percent_encode(database)
    )
}

fn unix_url(user: &str, password: Option<&str>, database: &str, dir: &Path, port: u16) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!(
        "postgres://{}@{}:{port}/{}",
        userinfo(user, password),
        percent_encode(&dir.to_string_lossy()),
        percent_encode(database)
    )
}

/// `user` or `user:password`, percent-encoded.
fn userinfo(user: &str, password: Option<&str>) -> String {
    match password {
        Some(password) => format!("{}:{}", percent_encode(user), percent_encode(password)),
        None => percent_encode(user),
    }
}

/// `text` with every byte but RFC 3986's unreserved ones percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn io(err: std::io::Error) -> Error {
    Error::Config(format!("setting up the server's sockets: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_host_user_and_database() {
        let addr: SocketAddr = "0.0.0.0:6543".parse().unwrap();
        assert_eq!(
            tcp_url("postgres", None, "postgres", addr),
            "postgres://postgres@127.0.0.1:6543/postgres"
        );
        let addr: SocketAddr = "[::]:1".parse().unwrap();
        assert_eq!(
            tcp_url("a b", None, "d/b", addr),
            "postgres://a%20b@[::1]:1/d%2Fb"
        );
        assert_eq!(
            unix_url("u", None, "db", Path::new("/tmp/sock dir"), 5432),
            "postgres://u@%2Ftmp%2Fsock%20dir:5432/db"
        );
        // A password, with the characters a URL reserves.
        assert_eq!(
            tcp_url("u", Some("p@ss:w/rd% ?#"), "db", addr),
            "postgres://u:p%40ss%3Aw%2Frd%25%20%3F%23@[::1]:1/db"
        );
        assert_eq!(
            unix_url("u", Some("pw"), "db", Path::new("/s"), 5432),
            "postgres://u:pw@%2Fs:5432/db"
        );
    }
}
