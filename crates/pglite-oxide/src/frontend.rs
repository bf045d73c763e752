//! The wire-protocol front end: serves one client connection (any byte
//! stream: an in-process duplex pipe or a socket) from the shared backend.
//!
//! The client's startup is answered here (the backend started long ago);
//! after that its messages go to the backend in batches, one exchange per
//! batch of whatever the client has sent, with its prepared statement and
//! portal names moved into a namespace of its own. When the client goes
//! away, what it left behind (an open transaction, prepared statements) is
//! cleaned up so that the next client finds the backend as new.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use pglite_runtime::Peer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::auth::{self, Verifier};
use crate::backend::{Backend, ClientId};
use crate::error::{Error, Result};
use crate::settings;
use crate::sql_prepare;

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
const PROTOCOL_3: i32 = 196608;
/// The longest messages PostgreSQL reads (`PQ_LARGE_MESSAGE_LIMIT` and
/// `PQ_SMALL_MESSAGE_LIMIT`, length word included): see [`max_length`].
const LARGE_MESSAGE: usize = 0x3fff_fffe;
const SMALL_MESSAGE: usize = 10_000;
/// The messages PostgreSQL reads during COPY FROM STDIN (CopyData, CopyDone,
/// CopyFail; Flush and Sync are ignored there).
const COPY_MESSAGES: [u8; 5] = [b'd', b'c', b'f', b'H', b'S'];
/// The longest a SASL message from a client may be (PostgreSQL's
/// `PG_MAX_AUTH_TOKEN_LENGTH`).
const MAX_AUTH_MESSAGE: usize = 65535;
/// How long a client has to authenticate (PostgreSQL's default
/// `authentication_timeout`).
const AUTHENTICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Authentication request codes: SASL, SASLContinue, SASLFinal.
const AUTH_SASL: i32 = 10;
const AUTH_SASL_CONTINUE: i32 = 11;
const AUTH_SASL_FINAL: i32 = 12;
/// Frames buffered between the socket reader and the backend.
const FRAME_QUEUE: usize = 256;
/// Output chunks buffered between the backend and the socket writer.
const OUTPUT_QUEUE: usize = 64;

/// One frontend message: type byte, length, body.
type Frame = Vec<u8>;

/// What the socket reader passes on, in the order the client sent it.
enum Incoming {
    Message(Frame),
    /// The client broke the protocol here (the message of the FATAL error
    /// that ends its connection); the reader stopped.
    Violation(String),
}

/// Serves `stream` until the client terminates or disconnects.
pub(crate) async fn serve<S>(backend: Arc<Backend>, stream: S) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_until(backend, stream, None, None).await
}

/// Like [`serve`], and also ends the connection once `shutdown` turns
/// true: at once if the client is between exchanges, else when its
/// running exchange is over (its open transaction is rolled back, as on a
/// disconnect, and it gets a FATAL 57P01 as from a server shutting down).
/// With a `password`, the client must prove it knows the password
/// (SCRAM-SHA-256) before it is served.
pub(crate) async fn serve_until<S>(
    backend: Arc<Backend>,
    stream: S,
    password: Option<Arc<Verifier>>,
    mut shutdown: Option<watch::Receiver<bool>>,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let admit = async {
        let Some(parameters) = startup(&backend, &mut reader, &mut writer).await? else {
            return Ok::<_, Error>(None);
        };
        let admitted = match &password {
            Some(verifier) => {
                let user = parameters
                    .iter()
                    .find(|(k, _)| k == "user")
                    .map_or("", |(_, v)| v.as_str());
                authenticate(verifier, user, &mut reader, &mut writer).await?
            }
            None => true,
        };
        Ok(admitted.then_some(parameters))
    };
    let admitted = tokio::select! {
        biased;
        () = stopped(&mut shutdown) => return Ok(()),
        admitted = admit => admitted?,
    };
    let Some(startup) = admitted else {
        return Ok(());
    };
    let settings = match settings::from_startup(&startup) {
        Ok(settings) => settings,
        Err(message) => {
            refuse(&mut writer, "42601", &message).await?;
            return Ok(());
        }
    };
    // Putting the client's settings in place runs the backend: off the
    // async worker.
    let joining = backend.clone();
    let joined = tokio::task::spawn_blocking(move || joining.join(settings))
        .await
        .map_err(|e| Error::Protocol(format!("backend task: {e}")))?;
    let (client, parameters) = match joined {
        Ok(joined) => joined,
        Err(err) => {
            let (code, message) = wire_error(&err);
            refuse(&mut writer, code, &message).await?;
            return Ok(());
        }
    };
    writer
        .write_all(&greeting(&backend, client, parameters))
        .await
        .map_err(io)?;
    writer.flush().await.map_err(io)?;

    let (frames_tx, frames) = mpsc::channel::<Incoming>(FRAME_QUEUE);
    let (output, output_rx) = mpsc::channel::<Vec<u8>>(OUTPUT_QUEUE);
    let read_task = tokio::spawn(read_frames(reader, frames_tx, client));
    let write_task = tokio::spawn(write_output(writer, output_rx));
    let mut connection = Connection {
        backend,
        client,
        inbox: Some(Inbox {
            held: VecDeque::new(),
            reader: frames,
        }),
        output,
        statements: HashSet::new(),
        sql_statements: HashSet::new(),
        copy_prepared: false,
        shutdown,
    };
    let result = connection.run().await;
    connection.clean_up().await;
    connection.backend.leave(client);
    read_task.abort();
    drop(connection);
    let _ = write_task.await;
    result
}

struct Connection {
    backend: Arc<Backend>,
    client: ClientId,
    /// The client's messages; lent to the backend's thread during an
    /// exchange.
    inbox: Option<Inbox>,
    output: mpsc::Sender<Vec<u8>>,
    /// Prepared statements the client made (backend names).
    statements: HashSet<Vec<u8>>,
    /// Names the client gave SQL-level PREPAREs ([`crate::sql_prepare`]).
    sql_statements: HashSet<Vec<u8>>,
    /// Whether the client ever prepared SQL that mentions COPY: its
    /// Execute messages may then start a COPY FROM STDIN.
    copy_prepared: bool,
    /// Turns true when the server shuts down.
    shutdown: Option<watch::Receiver<bool>>,
}

impl Connection {
    async fn run(&mut self) -> Result<()> {
        loop {
            let inbox = self.inbox.as_mut().ok_or(Error::Closed { reason: None })?;
            // Shutdown is only noticed between exchanges: a running one
            // finishes first.
            let next = tokio::select! {
                biased;
                () = stopped(&mut self.shutdown) => None,
                incoming = inbox.next() => Some(incoming),
            };
            let Some(next) = next else {
                let message = "terminating connection: the server is shutting down";
                return self.end("57P01", message).await;
            };
            let Some(mut incoming) = next else {
                return Ok(()); // disconnected
            };
            // Whatever else the client sent goes to the backend in the same
            // exchange, except messages the backend would read as part of a
            // COPY FROM STDIN that a message before them may start: those
            // wait for the next exchange, where only a COPY that did start
            // reads them (see ConnectionPeer::read_more).
            let mut batch = Vec::new();
            let mut copy_may_start = false;
            let mut end = None;
            loop {
                let frame = match incoming {
                    Incoming::Violation(message) => {
                        end = Some(End::Violation(message));
                        break;
                    }
                    Incoming::Message(frame) if frame[0] == b'X' => {
                        end = Some(End::Terminate);
                        break;
                    }
                    Incoming::Message(frame) => frame,
                };
                if copy_may_start && !COPY_MESSAGES.contains(&frame[0]) {
                    inbox.held.push_front(Incoming::Message(frame));
                    break;
                }
                track(&mut self.statements, &frame);
                if frame[0] == b'Q' {
                    self.sql_statements
                        .extend(sql_prepare::prepared_name(cstr(&frame[5..])));
                }
                copy_may_start |= may_start_copy(&frame, &mut self.copy_prepared);
                batch.extend_from_slice(&frame);
                match inbox.try_next() {
                    Some(next) => incoming = next,
                    None => break,
                }
            }
            if !batch.is_empty() {
                self.exchange(batch).await?;
            }
            match end {
                None => {}
                Some(End::Terminate) => return Ok(()),
                Some(End::Violation(message)) => return self.end("08P01", &message).await,
            }
        }
    }

    /// Ends the connection with a FATAL error.
    async fn end(&self, code: &str, message: &str) -> Result<()> {
        let mut reply = BytesMut::new();
        error_response(&mut reply, "FATAL", code, message);
        let _ = self.output.send(reply.to_vec()).await;
        Ok(())
    }

    /// Runs one batch in the backend on a blocking thread, streaming the
    /// output to the client.
    async fn exchange(&mut self, batch: Vec<u8>) -> Result<()> {
        let inbox = self.inbox.take().ok_or(Error::Closed { reason: None })?;
        let backend = self.backend.clone();
        let client = self.client;
        let output = self.output.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut peer = ConnectionPeer { inbox, output };
            let result = backend.send_with(client, &batch, &mut peer);
            (result, peer.inbox, batch)
        })
        .await;
        let (result, inbox, batch) =
            joined.map_err(|e| Error::Protocol(format!("backend task: {e}")))?;
        self.inbox = Some(inbox);
        match result {
            Ok(_) => Ok(()),
            Err(err @ Error::Busy { .. }) => {
                let (code, message) = wire_error(&err);
                let mut reply = BytesMut::new();
                for _ in 0..count_sync_points(&batch) {
                    error_response(&mut reply, "ERROR", code, &message);
                    ready_for_query(&mut reply);
                }
                let _ = self.output.send(reply.to_vec()).await;
                Ok(())
            }
            Err(err) => {
                let mut reply = BytesMut::new();
                error_response(&mut reply, "FATAL", "57P01", &err.to_string());
                let _ = self.output.send(reply.to_vec()).await;
                Err(err)
            }
        }
    }

    /// Leaves the backend as the next client expects it: the client's open
    /// transaction rolled back, its prepared statements closed (SQL-level
    /// ones too).
    async fn clean_up(&mut self) {
        let holds = self.backend.holder() == Some(self.client);
        if !holds && self.statements.is_empty() && self.sql_statements.is_empty() {
            return;
        }
        let mut frontend = BytesMut::new();
        // A Sync first ends an extended-protocol exchange the client left
        // unfinished (and any error state of it).
        put_message(&mut frontend, b'S', &[]);
        if holds {
            put_message(&mut frontend, b'Q', b"ROLLBACK\0");
        }
        for name in self.statements.drain() {
            let mut body = vec![b'S'];
            body.extend_from_slice(&name);
            body.push(0);
            put_message(&mut frontend, b'C', &body);
        }
        put_message(&mut frontend, b'S', &[]);
        // One Query each: deallocating a name the client deallocated
        // itself fails alone.
        for name in self.sql_statements.drain() {
            put_message(&mut frontend, b'Q', &sql_prepare::deallocate(&name));
        }
        let backend = self.backend.clone();
        let client = self.client;
        let cleaned =
            tokio::task::spawn_blocking(move || backend.send(client, &frontend).map(drop)).await;
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, client, "cleaning up after a client failed"),
            Err(err) => tracing::warn!(%err, client, "cleaning up after a client failed"),
        }
    }
}

/// Completes once `shutdown` is true; never without one (or once its
/// sender is gone without having said so).
async fn stopped(shutdown: &mut Option<watch::Receiver<bool>>) {
    if let Some(shutdown) = shutdown {
        if shutdown.wait_for(|stop| *stop).await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await
}

/// How a connection ends after the messages before this point.
enum End {
    Terminate,
    Violation(String),
}

/// The client's messages not yet sent to the backend: those held back
/// for a later exchange, then those still with the reader.
struct Inbox {
    held: VecDeque<Incoming>,
    reader: mpsc::Receiver<Incoming>,
}

impl Inbox {
    async fn next(&mut self) -> Option<Incoming> {
        match self.held.pop_front() {
            Some(incoming) => Some(incoming),
            None => self.reader.recv().await,
        }
    }

    fn try_next(&mut self) -> Option<Incoming> {
        self.held
            .pop_front()
            .or_else(|| self.reader.try_recv().ok())
    }

    fn blocking_next(&mut self) -> Option<Incoming> {
        self.held
            .pop_front()
            .or_else(|| self.reader.blocking_recv())
    }
}

/// The backend's view of the client during an exchange.
struct ConnectionPeer {
    inbox: Inbox,
    output: mpsc::Sender<Vec<u8>>,
}

impl Peer for ConnectionPeer {
    fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        // Only COPY FROM STDIN reads past a batch: wait for the client's
        // next message. Anything but COPY's own messages fails the COPY,
        // not the backend (PostgreSQL would lose track of the message
        // boundaries and end the session, every client's here); it is
        // dealt with once the COPY is over.
        let why = match self.inbox.blocking_next() {
            Some(Incoming::Message(frame)) if COPY_MESSAGES.contains(&frame[0]) => {
                buf.extend_from_slice(&frame);
                return Ok(());
            }
            Some(Incoming::Message(frame)) if frame[0] == b'X' => {
                self.inbox.held.push_front(Incoming::Message(frame));
                "the client ended the connection during COPY".to_owned()
            }
            Some(Incoming::Message(frame)) => {
                let message = format!(
                    "unexpected message type 0x{:02X} during COPY from stdin",
                    frame[0]
                );
                self.inbox
                    .held
                    .push_front(Incoming::Violation(message.clone()));
                message
            }
            Some(violation @ Incoming::Violation(_)) => {
                self.inbox.held.push_front(violation);
                "the client broke the protocol during COPY".to_owned()
            }
            None => "the client disconnected during COPY".to_owned(),
        };
        let mut body = why.into_bytes();
        body.push(0);
        let mut fail = BytesMut::new();
        put_message(&mut fail, b'f', &body);
        buf.extend_from_slice(&fail);
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // A client that is gone gets nothing; the backend goes on.
        let _ = self.output.blocking_send(bytes.to_vec());
        Ok(())
    }
}

/// Keeps the set of the client's prepared statements current.
fn track(statements: &mut HashSet<Vec<u8>>, frame: &[u8]) {
    match frame[0] {
        b'P' => {
            let name = cstr(&frame[5..]);
            if !name.is_empty() {
                statements.insert(name.to_vec());
            }
        }
        b'C' if frame.get(5) == Some(&b'S') => {
            statements.remove(cstr(&frame[6..]));
        }
        _ => {}
    }
}

/// Whether the backend may go into COPY FROM STDIN on this message: a
/// Query whose SQL mentions COPY, or an Execute once the client prepared
/// SQL that does (noted in `copy_prepared`). COPY is a statement of its
/// own, never run from inside another, so its SQL always says COPY.
fn may_start_copy(frame: &[u8], copy_prepared: &mut bool) -> bool {
    let mentions_copy = || settings::contains_ignore_case(&frame[5..], b"copy");
    match frame[0] {
        b'Q' => mentions_copy(),
        b'P' => {
            *copy_prepared |= mentions_copy();
            false
        }
        b'E' => *copy_prepared,
        _ => false,
    }
}

/// Reads the startup packet(s): answers SSL and GSSAPI encryption requests
/// with "no", checks the database. Returns the startup parameters, or
/// `None` when the client went away or only wanted a cancel.
async fn startup<R, W>(
    backend: &Backend,
    reader: &mut R,
    writer: &mut W,
) -> Result<Option<Vec<(String, String)>>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let len = match reader.read_i32().await {
            Ok(len) => len,
            Err(_) => return Ok(None),
        };
        if !(8..=10_000).contains(&len) {
            return refuse(writer, "08P01", "invalid startup packet length").await;
        }
        let mut body = vec![0; len as usize - 4];
        reader.read_exact(&mut body).await.map_err(io)?;
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        match code {
            SSL_REQUEST | GSSENC_REQUEST => {
                writer.write_all(b"N").await.map_err(io)?;
                writer.flush().await.map_err(io)?;
            }
            CANCEL_REQUEST => {
                // Process id and secret key, from the BackendKeyData the
                // client got; no answer either way, as from PostgreSQL.
                if body.len() >= 12 {
                    let pid = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    let key = i32::from_be_bytes([body[8], body[9], body[10], body[11]]);
                    if let Ok(client) = ClientId::try_from(pid) {
                        backend.cancel(client, key);
                    }
                }
                return Ok(None);
            }
            PROTOCOL_3 => {
                let parameters = startup_parameters(&body[4..]);
                let database = parameters
                    .iter()
                    .find(|(k, _)| k == "database")
                    .or_else(|| parameters.iter().find(|(k, _)| k == "user"))
                    .map(|(_, v)| v.as_str())
                    .unwrap_or(&backend.database);
                if database != backend.database {
                    let message = format!(
                        "database \"{database}\" does not exist here: this server serves database \"{}\"",
                        backend.database
                    );
                    return refuse(writer, "3D000", &message).await;
                }
                return Ok(Some(parameters));
            }
            _ => {
                return refuse(writer, "0A000", "unsupported frontend protocol").await;
            }
        }
    }
}

/// Runs SCRAM-SHA-256 with the client (see [`crate::auth`]): true once
/// the client proved it knows the password (AuthenticationSASLFinal sent;
/// the greeting's AuthenticationOk follows), false when it was refused
/// (FATAL 28P01 for a wrong password, 08P01 for a protocol violation), went
/// away (as psql does to ask for a password) or took too long.
async fn authenticate<R, W>(
    verifier: &Verifier,
    user: &str,
    reader: &mut R,
    writer: &mut W,
) -> Result<bool>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let exchange = scram(verifier, reader, writer);
    let outcome = match tokio::time::timeout(AUTHENTICATION_TIMEOUT, exchange).await {
        Ok(outcome) => outcome?,
        Err(_) => {
            // As PostgreSQL: the connection is closed without a word.
            tracing::debug!(user, "authentication timed out");
            return Ok(false);
        }
    };
    let (code, message) = match outcome {
        Sasl::Done => return Ok(true),
        Sasl::Gone => return Ok(false),
        Sasl::Refused(code, message) => (code, message),
        Sasl::Failed(auth::Failure::WrongPassword) => {
            tracing::info!(user, "password authentication failed");
            (
                "28P01",
                format!("password authentication failed for user \"{user}\""),
            )
        }
        Sasl::Failed(auth::Failure::Protocol(message)) => ("08P01", message),
        Sasl::Failed(auth::Failure::Internal(message)) => ("XX000", message),
    };
    refuse(writer, code, &message).await?;
    Ok(false)
}

/// The SCRAM-SHA-256 messages, from AuthenticationSASL to
/// AuthenticationSASLFinal.
async fn scram<R, W>(verifier: &Verifier, reader: &mut R, writer: &mut W) -> Result<Sasl>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut offer = BytesMut::new();
    let mut body = AUTH_SASL.to_be_bytes().to_vec();
    body.extend_from_slice(auth::MECHANISM.as_bytes());
    body.extend_from_slice(b"\0\0");
    put_message(&mut offer, b'R', &body);
    send(writer, &offer).await?;

    // SASLInitialResponse: the mechanism, then the client's first
    // message (or -1: it comes in a SASLResponse of its own).
    let initial = match sasl_response(reader).await? {
        Ok(message) => message,
        Err(end) => return Ok(end),
    };
    let mechanism = cstr(&initial);
    if mechanism != auth::MECHANISM.as_bytes() {
        return Ok(Sasl::Refused(
            "08P01",
            "client selected an invalid SASL authentication mechanism".into(),
        ));
    }
    let rest = &initial[(mechanism.len() + 1).min(initial.len())..];
    let Some(declared) = rest.get(..4) else {
        return Ok(Sasl::Refused(
            "08P01",
            "malformed SASLInitialResponse".into(),
        ));
    };
    let declared = i32::from_be_bytes([declared[0], declared[1], declared[2], declared[3]]);
    let client_first = if declared == -1 {
        send(writer, &auth_message(AUTH_SASL_CONTINUE, b"")).await?;
        match sasl_response(reader).await? {
            Ok(message) => message,
            Err(end) => return Ok(end),
        }
    } else if usize::try_from(declared).ok() == Some(rest.len() - 4) {
        rest[4..].to_vec()
    } else {
        return Ok(Sasl::Refused(
            "08P01",
            "malformed SASLInitialResponse".into(),
        ));
    };

    let (exchange, server_first) = match auth::Exchange::start(verifier, &client_first) {
        Ok(started) => started,
        Err(failure) => return Ok(Sasl::Failed(failure)),
    };
    send(
        writer,
        &auth_message(AUTH_SASL_CONTINUE, server_first.as_bytes()),
    )
    .await?;
    let client_final = match sasl_response(reader).await? {
        Ok(message) => message,
        Err(end) => return Ok(end),
    };
    match exchange.finish(&client_final) {
        Ok(server_final) => {
            // Sent with the greeting that follows.
            let reply = auth_message(AUTH_SASL_FINAL, server_final.as_bytes());
            writer.write_all(&reply).await.map_err(io)?;
            Ok(Sasl::Done)
        }
        Err(failure) => Ok(Sasl::Failed(failure)),
    }
}

/// How a SCRAM exchange with a client ended.
enum Sasl {
    Done,
    Gone,
    Refused(&'static str, String),
    Failed(auth::Failure),
}

/// The body of the client's next message, which must be a SASL one
/// (`p`); else how the exchange ends (the client went away, or sent
/// something else).
async fn sasl_response<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<std::result::Result<Vec<u8>, Sasl>> {
    let mut header = [0u8; 5];
    if reader.read_exact(&mut header).await.is_err() {
        return Ok(Err(Sasl::Gone));
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if !(4..=MAX_AUTH_MESSAGE).contains(&len) {
        return Ok(Err(Sasl::Refused(
            "08P01",
            format!("invalid SASL response length {len}"),
        )));
    }
    // Read whole even when refused: closing a socket with unread bytes
    // resets it, which can swallow the error on its way to the client.
    let mut body = vec![0; len - 4];
    if reader.read_exact(&mut body).await.is_err() {
        return Ok(Err(Sasl::Gone));
    }
    match header[0] {
        b'p' => Ok(Ok(body)),
        b'X' => Ok(Err(Sasl::Gone)),
        other => Ok(Err(Sasl::Refused(
            "08P01",
            format!(
                "expected SASL response, got message type {}",
                other.escape_ascii()
            ),
        ))),
    }
}

/// An Authentication message of this kind with this data.
fn auth_message(kind: i32, data: &[u8]) -> BytesMut {
    let mut body = kind.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    let mut out = BytesMut::new();
    put_message(&mut out, b'R', &body);
    out
}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> Result<()> {
    writer.write_all(bytes).await.map_err(io)?;
    writer.flush().await.map_err(io)
}

async fn refuse<W: AsyncWrite + Unpin>(
    writer: &mut W,
    code: &str,
    message: &str,
) -> Result<Option<Vec<(String, String)>>> {
    let mut reply = BytesMut::new();
    error_response(&mut reply, "FATAL", code, message);
    writer.write_all(&reply).await.map_err(io)?;
    writer.flush().await.map_err(io)?;
    Ok(None)
}

fn startup_parameters(mut body: &[u8]) -> Vec<(String, String)> {
    let mut parameters = Vec::new();
    while !body.is_empty() && body[0] != 0 {
        let name = cstr(body);
        body = &body[(name.len() + 1).min(body.len())..];
        let value = cstr(body);
        body = &body[(value.len() + 1).min(body.len())..];
        parameters.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    parameters
}

/// AuthenticationOk, the server parameters, BackendKeyData and
/// ReadyForQuery.
fn greeting(backend: &Backend, client: ClientId, parameters: Vec<(String, String)>) -> Vec<u8> {
    let mut out = BytesMut::new();
    put_message(&mut out, b'R', &0i32.to_be_bytes());
    for (name, value) in parameters {
        let mut body = Vec::new();
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
        put_message(&mut out, b'S', &body);
    }
    let mut key = Vec::new();
    key.extend_from_slice(&(client as i32).to_be_bytes());
    key.extend_from_slice(&backend.cancel_key(client).to_be_bytes());
    put_message(&mut out, b'K', &key);
    ready_for_query(&mut out);
    out.to_vec()
}

/// Splits the client's byte stream into messages, renaming prepared
/// statements and portals into the client's namespace.
async fn read_frames<R: AsyncRead + Unpin>(
    mut reader: R,
    frames: mpsc::Sender<Incoming>,
    client: ClientId,
) {
    let prefix = format!("pgl{client}_").into_bytes();
    loop {
        let mut header = [0u8; 5];
        if reader.read_exact(&mut header).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        // Checked here, not left to the backend: PostgreSQL ends its
        // session on either, and the backend is every client's.
        let violation = match max_length(header[0]) {
            None => Some(format!("invalid frontend message type {}", header[0])),
            Some(max) if !(4..=max).contains(&len) => Some(format!(
                "invalid message length {len} for message type {}",
                header[0].escape_ascii()
            )),
            Some(_) => None,
        };
        if let Some(message) = violation {
            tracing::debug!(client, message, "closing the connection");
            let _ = frames.send(Incoming::Violation(message)).await;
            return;
        }
        let mut body = vec![0; len - 4];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let frame = rename(header[0], &body, &prefix);
        if frames.send(Incoming::Message(frame)).await.is_err() {
            return;
        }
    }
}

/// The longest message of this type PostgreSQL reads (its length word
/// included), or `None` for a type a client may not send after startup.
fn max_length(kind: u8) -> Option<usize> {
    match kind {
        b'Q' | b'F' | b'B' | b'P' | b'd' => Some(LARGE_MESSAGE),
        b'C' | b'D' | b'E' | b'H' | b'S' | b'c' | b'f' | b'X' => Some(SMALL_MESSAGE),
        _ => None,
    }
}

async fn write_output<W: AsyncWrite + Unpin>(mut writer: W, mut output: mpsc::Receiver<Vec<u8>>) {
    while let Some(chunk) = output.recv().await {
        if writer.write_all(&chunk).await.is_err() {
            break;
        }
        if output.is_empty() && writer.flush().await.is_err() {
            break;
        }
    }
    // Drain, so that the backend never blocks on a gone client.
    while output.recv().await.is_some() {}
    let _ = writer.shutdown().await;
}

/// The message with its statement and portal names prefixed (the unnamed
/// ones stay unnamed).
fn rename(kind: u8, body: &[u8], prefix: &[u8]) -> Frame {
    let mut out = Vec::with_capacity(body.len() + 5 + 2 * prefix.len());
    out.push(kind);
    out.extend_from_slice(&[0; 4]);
    let named = |out: &mut Vec<u8>, name: &[u8]| {
        if !name.is_empty() {
            out.extend_from_slice(prefix);
        }
        out.extend_from_slice(name);
        out.push(0);
    };
    match kind {
        // Parse: statement name, ...; Execute: portal name, ...
        b'P' | b'E' => {
            let name = cstr(body);
            named(&mut out, name);
            out.extend_from_slice(&body[(name.len() + 1).min(body.len())..]);
        }
        // Bind: portal name, statement name, ...
        b'B' => {
            let portal = cstr(body);
            let rest = &body[(portal.len() + 1).min(body.len())..];
            let statement = cstr(rest);
            named(&mut out, portal);
            named(&mut out, statement);
            out.extend_from_slice(&rest[(statement.len() + 1).min(rest.len())..]);
        }
        // Describe and Close: 'S' or 'P', then the name.
        b'D' | b'C' if !body.is_empty() => {
            out.push(body[0]);
            let name = cstr(&body[1..]);
            named(&mut out, name);
            out.extend_from_slice(&body[(name.len() + 2).min(body.len())..]);
        }
        _ => out.extend_from_slice(body),
    }
    let len = (out.len() - 1) as u32;
    out[1..5].copy_from_slice(&len.to_be_bytes());
    out
}

/// The bytes up to the first NUL (or all of them).
fn cstr(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// How many ReadyForQuery answers a batch expects: one per Query and per
/// Sync.
fn count_sync_points(batch: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = batch;
    while rest.len() >= 5 {
        if rest[0] == b'Q' || rest[0] == b'S' {
            count += 1;
        }
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        rest = &rest[(1 + len).min(rest.len())..];
    }
    count
}

fn put_message(out: &mut BytesMut, kind: u8, body: &[u8]) {
    out.put_u8(kind);
    out.put_u32((body.len() + 4) as u32);
    out.put_slice(body);
}

fn ready_for_query(out: &mut BytesMut) {
    put_message(out, b'Z', b"I");
}

fn error_response(out: &mut BytesMut, severity: &str, code: &str, message: &str) {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    put_message(out, b'E', &body);
}

/// The SQLSTATE and message a wire client gets for `err`: PostgreSQL's
/// own for its errors, 55P03 (lock_not_available) for a busy backend,
/// 57P01 (admin_shutdown) for a backend that is gone.
fn wire_error(err: &Error) -> (&str, String) {
    match err {
        Error::Db(db) => (db.code().code(), db.message().to_owned()),
        Error::Busy { .. } => ("55P03", err.to_string()),
        _ => ("57P01", err.to_string()),
    }
}

fn io(err: std::io::Error) -> Error {
    Error::Protocol(format!("client connection: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_move_into_the_client_namespace() {
        let p = b"s1\0SELECT 1\0\0\0";
        assert_eq!(&rename(b'P', p, b"c_")[5..], b"c_s1\0SELECT 1\0\0\0");
        assert_eq!(
            &rename(b'P', b"\0SELECT 1\0\0\0", b"c_")[5..],
            b"\0SELECT 1\0\0\0"
        );
        let b = b"p\0s1\0\0\0\0\0\0\0";
        assert_eq!(&rename(b'B', b, b"c_")[5..], b"c_p\0c_s1\0\0\0\0\0\0\0");
        assert_eq!(&rename(b'D', b"Ss1\0", b"c_")[5..], b"Sc_s1\0");
        assert_eq!(&rename(b'C', b"P\0", b"c_")[5..], b"P\0");
        assert_eq!(&rename(b'E', b"\0\0\0\0\0", b"c_")[5..], b"\0\0\0\0\0");
        let frame = rename(b'D', b"Ss1\0", b"c_");
        assert_eq!(
            u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize,
            frame.len() - 1
        );
    }
}
