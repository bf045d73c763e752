//! The one backend of a database, shared by every client of it: the direct
//! API and each in-process or server connection.
//!
//! A backend serves one client at a time. A client *holds* the backend from
//! its first message until the backend is idle again outside a transaction
//! (ReadyForQuery with status `I`); other clients wait for that, up to
//! a limit, then get [`Error::Busy`]. See docs/decisions/0008-one-backend-many-clients.md.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pglite_runtime::{BackendSession, CancelHandle, Peer};

use crate::error::{Error, Result};

/// Identifies a client of the backend.
pub(crate) type ClientId = u64;

/// Transaction status of a ReadyForQuery message: idle.
pub(crate) const IDLE: u8 = b'I';

pub(crate) struct Backend {
    state: Mutex<State>,
    /// Signalled when the session comes back or the holder changes.
    turn: Condvar,
    /// How long a client waits for another one's transaction.
    wait_limit: Duration,
    /// The database every client is connected to.
    pub database: String,
    /// Cancels the statement the backend runs.
    cancel: CancelHandle,
    /// Makes the clients' cancel keys.
    keys: RandomState,
}

struct State {
    /// The session; `None` while a client runs a unit (or once closed).
    session: Option<BackendSession>,
    /// The client inside a transaction or an unfinished exchange.
    holder: Option<ClientId>,
    /// The client whose exchange runs now.
    running: Option<ClientId>,
    /// Why the backend is gone, once it is.
    closed: Option<String>,
    next_client: ClientId,
    /// Server parameters as the backend last reported them.
    parameters: Vec<(String, String)>,
}

impl Backend {
    pub fn new(
        session: BackendSession,
        parameters: Vec<(String, String)>,
        wait_limit: Duration,
        database: String,
    ) -> Arc<Self> {
        let cancel = session.cancel_handle();
        Arc::new(Self {
            state: Mutex::new(State {
                session: Some(session),
                holder: None,
                running: None,
                closed: None,
                next_client: 1,
                parameters,
            }),
            turn: Condvar::new(),
            wait_limit,
            database,
            cancel,
            keys: RandomState::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-made:
        // every update is a single assignment.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A new client identity.
    pub fn register(&self) -> ClientId {
        let mut state = self.lock();
        let id = state.next_client;
        state.next_client += 1;
        id
    }

    /// The secret a client must show to cancel its statements from another
    /// connection (BackendKeyData): unguessable by other clients, and the
    /// same for as long as the backend lives.
    pub fn cancel_key(&self, client: ClientId) -> i32 {
        self.keys.hash_one(client) as i32
    }

    /// Cancels `client`'s running statement, as a CancelRequest asks. Like
    /// PostgreSQL, does nothing when the key is wrong or nothing runs.
    pub fn cancel(&self, client: ClientId, key: i32) {
        if key != self.cancel_key(client) {
            tracing::debug!(client, "cancel request with a wrong key");
            return;
        }
        // Under the lock: the running exchange cannot end and another
        // client's begin (clearing the flag) in between.
        let state = self.lock();
        if state.running == Some(client) {
            self.cancel.cancel();
        }
    }

    /// The server parameters (ParameterStatus) to greet a new client with.
    pub fn parameters(&self) -> Vec<(String, String)> {
        self.lock().parameters.clone()
    }

    /// Records a ParameterStatus the backend sent.
    pub fn set_parameter(&self, name: &str, value: &str) {
        let mut state = self.lock();
        match state.parameters.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value.to_owned(),
            None => state.parameters.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Runs one exchange of `client` with the backend. `exchange` returns
    /// its result and the transaction status of the ReadyForQuery that
    /// ended it (`None` when it ended without one: the client still holds
    /// the backend).
    pub fn exchange<R>(
        &self,
        client: ClientId,
        exchange: impl FnOnce(&mut BackendSession) -> Result<(R, Option<u8>)>,
    ) -> Result<R> {
        let mut session = self.check_out(client)?;
        let result = exchange(&mut session);
        let (result, holder) = match result {
            Ok((value, Some(IDLE))) => (Ok(value), None),
            Ok((value, _)) => (Ok(value), Some(client)),
            // The session itself failed: the backend is gone.
            Err(Error::Runtime(err)) => {
                let reason = err.to_string();
                let mut state = self.lock();
                state.closed = Some(reason);
                state.holder = None;
                state.running = None;
                drop(state);
                self.turn.notify_all();
                drop(session);
                return Err(Error::Runtime(err));
            }
            Err(err) => (Err(err), self.lock().holder),
        };
        let mut state = self.lock();
        state.session = Some(session);
        state.holder = holder;
        state.running = None;
        drop(state);
        self.turn.notify_all();
        result
    }

    /// Convenience for [`exchange`](Self::exchange) with a plain
    /// (non-streaming) send.
    pub fn send(&self, client: ClientId, frontend: &[u8]) -> Result<Vec<u8>> {
        self.exchange(client, |session| {
            let reply = session.send(frontend)?;
            let status = final_status(&reply);
            Ok((reply, status))
        })
    }

    /// Like [`send`](Self::send), streaming through `peer`.
    pub fn send_with(
        &self,
        client: ClientId,
        frontend: &[u8],
        peer: &mut dyn Peer,
    ) -> Result<Option<u8>> {
        self.exchange(client, |session| {
            let mut tracker = StatusTracker {
                inner: peer,
                framing: Framing::default(),
            };
            session.send_with(frontend, &mut tracker)?;
            let status = tracker.framing.final_status();
            Ok((status, status))
        })
    }

    /// Waits until the session is free for `client` and takes it.
    fn check_out(&self, client: ClientId) -> Result<BackendSession> {
        let start = Instant::now();
        let mut state = self.lock();
        loop {
            if let Some(reason) = &state.closed {
                return Err(Error::Closed {
                    reason: Some(reason.clone()),
                });
            }
            let free = state.holder.is_none_or(|holder| holder == client);
            if free {
                if let Some(session) = state.session.take() {
                    state.running = Some(client);
                    // A request meant for an earlier statement must not
                    // cancel this one.
                    self.cancel.clear();
                    return Ok(session);
                }
            }
            let waited = start.elapsed();
            let Some(left) = self.wait_limit.checked_sub(waited) else {
                return Err(match state.holder {
                    Some(holder) if holder != client => Error::Busy { holder, waited },
                    // Another client's statement is still running.
                    _ => Error::Busy { holder: 0, waited },
                });
            };
            if waited > Duration::from_secs(1) && waited < Duration::from_millis(1100) {
                tracing::info!(client, holder = ?state.holder, "waiting for another connection's transaction");
            }
            state = self
                .turn
                .wait_timeout(state, left.min(Duration::from_millis(250)))
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
    }

    /// The holder of the backend, if any.
    pub fn holder(&self) -> Option<ClientId> {
        self.lock().holder
    }

    /// Ends the backend: waits (within the limit) for a running exchange,
    /// then shuts the session down. Later calls fail with
    /// [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        let start = Instant::now();
        let mut state = self.lock();
        loop {
            if state.closed.is_some() {
                return Ok(());
            }
            if let Some(session) = state.session.take() {
                state.closed = Some("it was closed".into());
                drop(state);
                self.turn.notify_all();
                session.shutdown()?;
                return Ok(());
            }
            if start.elapsed() > self.wait_limit {
                return Err(Error::Busy {
                    holder: state.holder.unwrap_or(0),
                    waited: start.elapsed(),
                });
            }
            state = self
                .turn
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
    }
}

/// The status byte of a ReadyForQuery that ends `reply`, if it ends with
/// one.
pub(crate) fn final_status(reply: &[u8]) -> Option<u8> {
    let mut framing = Framing::default();
    framing.feed(reply);
    framing.final_status()
}

/// Follows the message boundaries of a stream of backend messages, to tell
/// whether it ended with a ReadyForQuery, and with which status.
#[derive(Default)]
pub(crate) struct Framing {
    /// The header (type and length) of the message being read.
    header: Vec<u8>,
    /// Bytes of the current message's body still to come.
    body_left: usize,
    /// The type of the message being read or last read.
    kind: u8,
    /// The status byte, once a whole ReadyForQuery is the last message.
    status: Option<u8>,
}

impl Framing {
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                if self.kind == b'Z' && take == self.body_left {
                    self.status = Some(bytes[take - 1]);
                }
                self.body_left -= take;
                bytes = &bytes[take..];
                continue;
            }
            let take = (5 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() == 5 {
                self.kind = self.header[0];
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                self.body_left = (len as usize).saturating_sub(4);
                self.header.clear();
                self.status = None;
            }
        }
    }

    /// The ReadyForQuery status if the stream so far ends with one.
    pub fn final_status(&self) -> Option<u8> {
        if self.body_left == 0 && self.header.is_empty() {
            self.status
        } else {
            None
        }
    }
}

/// Passes everything through to a peer, following the framing of its
/// output to tell how the exchange ended.
struct StatusTracker<'a> {
    inner: &'a mut dyn Peer,
    framing: Framing,
}

impl Peer for StatusTracker<'_> {
    fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        self.inner.read_more(buf)
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.framing.feed(bytes);
        self.inner.write(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_finds_a_final_ready_for_query_across_chunks() {
        let mut stream = vec![b'C', 0, 0, 0, 13];
        stream.extend_from_slice(b"SELECT 1\0");
        stream.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'T']);
        for split in 0..stream.len() {
            let mut framing = Framing::default();
            framing.feed(&stream[..split]);
            framing.feed(&stream[split..]);
            assert_eq!(framing.final_status(), Some(b'T'), "split at {split}");
        }
        // A data row whose bytes look like a ReadyForQuery is not one.
        let row = [b'D', 0, 0, 0, 10, b'Z', 0, 0, 0, 5, b'I'];
        assert_eq!(final_status(&row), None);
    }
}
