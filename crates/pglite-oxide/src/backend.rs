//! The one backend of a database, shared by every client of it: the direct
//! API and each in-process or server connection.
//!
//! A backend serves one client at a time. A client *holds* the backend from
//! its first message until the backend is idle again outside a transaction
//! (ReadyForQuery with status `I`); other clients wait for that, up to
//! a limit, then get [`Error::Busy`]. See docs/decisions/0008-one-backend-many-clients.md.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pglite_runtime::{BackendSession, CancelHandle, Peer};

use crate::error::{Error, Result};
use crate::settings::{self, Settings};

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
    /// Session settings: see [`crate::settings`].
    settings: SettingsState,
}

struct SettingsState {
    /// What a client has until it sets something: the database's own
    /// session settings (the user it runs as, for one).
    baseline: Settings,
    /// Settings of the clients that made their own (startup parameters or
    /// SET), while the backend serves someone else.
    saved: HashMap<ClientId, Settings>,
    /// The backend's settings, as last read or put in place.
    current: Settings,
    /// A statement that may have changed them ran since.
    changed: bool,
    /// The client whose settings the backend has.
    owner: Option<ClientId>,
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
                // A new backend has set nothing in its session.
                settings: SettingsState {
                    current: Settings::new(),
                    baseline: Settings::new(),
                    saved: HashMap::new(),
                    changed: false,
                    owner: None,
                },
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

    /// A new client with settings of its own (a server connection's startup
    /// parameters): puts them in place, which checks them. Returns the
    /// client and the server parameters to greet it with.
    pub fn join(&self, startup: Settings) -> Result<(ClientId, Vec<(String, String)>)> {
        let client = self.register();
        if !startup.is_empty() {
            let mut state = self.lock();
            let mut own = state.settings.baseline.clone();
            for (name, value) in startup {
                match own.iter_mut().find(|(n, _)| *n == name) {
                    Some(entry) => entry.1 = value,
                    None => own.push((name, value)),
                }
            }
            own.sort();
            state.settings.saved.insert(client, own);
        }
        // An empty exchange: checking out puts the settings in place.
        let joined = self.exchange(client, &[], |_| Ok(((), Some(IDLE))));
        if let Err(err) = joined {
            self.leave(client);
            return Err(err);
        }
        Ok((client, self.parameters()))
    }

    /// Forgets a client that is gone.
    pub fn leave(&self, client: ClientId) {
        let mut state = self.lock();
        state.settings.saved.remove(&client);
        if state.settings.owner == Some(client) {
            state.settings.owner = None;
        }
    }

    /// Makes `client`'s current settings every client's starting point
    /// (after the database's owner set them up, e.g. the user to run as).
    pub fn set_baseline(&self, client: ClientId) -> Result<()> {
        self.exchange(client, &[], |session| {
            let read = read_settings(session)?;
            Ok((read.rows, Some(IDLE)))
        })
        .map(|baseline| {
            let mut state = self.lock();
            state.settings.current = baseline.clone();
            state.settings.changed = false;
            state.settings.baseline = baseline;
        })
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
        self.cancel_running(client);
    }

    /// Cancels `client`'s running statement, if it runs one.
    pub fn cancel_running(&self, client: ClientId) {
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

    /// Runs one exchange of `client` with the backend, which sends
    /// `frontend` (looked at here only to see whether it may change
    /// settings). `exchange` returns its result and the transaction status
    /// of the ReadyForQuery that ended it (`None` when it ended without one:
    /// the client still holds the backend).
    pub fn exchange<R>(
        &self,
        client: ClientId,
        frontend: &[u8],
        exchange: impl FnOnce(&mut BackendSession) -> Result<(R, Option<u8>)>,
    ) -> Result<R> {
        let mut session = self.check_out(client)?;
        let result = match self.adopt_settings(client, &mut session) {
            Ok(()) => {
                // Marked once the settings are this client's: a change is
                // then read back from the backend when it passes on.
                if settings::may_change(frontend) {
                    self.lock().settings.changed = true;
                }
                exchange(&mut session)
            }
            Err(err) => Err(err),
        };
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
        self.exchange(client, frontend, |session| {
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
        self.exchange(client, frontend, |session| {
            let mut tracker = StatusTracker {
                inner: peer,
                framing: Framing::default(),
            };
            let sent = session.send_with(frontend, &mut tracker);
            for (name, value) in std::mem::take(&mut tracker.framing.reports) {
                self.set_parameter(&name, &value);
            }
            sent?;
            let status = tracker.framing.final_status();
            Ok((status, status))
        })
    }

    /// Gives the backend `client`'s settings, if it has another's: reads
    /// back the settings of the client that leaves (when they may have
    /// changed) and puts the arriving client's in place (when they differ).
    fn adopt_settings(&self, client: ClientId, session: &mut BackendSession) -> Result<()> {
        let (changed, current, wanted) = {
            let state = self.lock();
            let own = &state.settings;
            if own.owner == Some(client) {
                return Ok(());
            }
            let wanted = own.saved.get(&client).unwrap_or(&own.baseline).clone();
            (own.changed, own.current.clone(), wanted)
        };
        let current = if changed {
            let read = read_settings(session)?.rows;
            let mut state = self.lock();
            state.settings.current = read.clone();
            state.settings.changed = false;
            if let Some(owner) = state.settings.owner {
                state.settings.saved.insert(owner, read.clone());
            }
            read
        } else {
            current
        };
        if current != wanted {
            let reply = session.send(&settings::apply_query(&wanted))?;
            let answer = settings::parse_answer(&reply)?;
            for (name, value) in answer.reported {
                self.set_parameter(&name, &value);
            }
        }
        let mut state = self.lock();
        if let Some(owner) = state.settings.owner {
            // Settings equal to the baseline need no saving.
            if state.settings.saved.get(&owner) == Some(&state.settings.baseline) {
                state.settings.saved.remove(&owner);
            }
        }
        state.settings.current = wanted;
        state.settings.owner = Some(client);
        Ok(())
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
        self.end(false)
    }

    /// Ends the backend as [`close`](Self::close) does, but without a
    /// shutdown checkpoint (a temporary database's, about to be deleted).
    pub fn discard(&self) -> Result<()> {
        self.end(true)
    }

    fn end(&self, discard: bool) -> Result<()> {
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
                if discard {
                    session.discard();
                } else {
                    session.shutdown()?;
                }
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

/// Reads the session's settings back.
fn read_settings(session: &mut BackendSession) -> Result<settings::Answer> {
    settings::parse_answer(&session.send(&settings::read_query())?)
}

/// The status byte of a ReadyForQuery that ends `reply`, if it ends with
/// one.
fn final_status(reply: &[u8]) -> Option<u8> {
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
    /// The body of the ParameterStatus being read.
    report: Vec<u8>,
    /// ParameterStatus messages read (name, value).
    pub reports: Vec<(String, String)>,
}

impl Framing {
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                if self.kind == b'Z' && take == self.body_left {
                    self.status = Some(bytes[take - 1]);
                }
                if self.kind == b'S' {
                    self.report.extend_from_slice(&bytes[..take]);
                    if take == self.body_left {
                        self.take_report();
                    }
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
                self.report.clear();
            }
        }
    }

    fn take_report(&mut self) {
        let body = std::mem::take(&mut self.report);
        let mut parts = body.split(|&b| b == 0);
        if let (Some(name), Some(value)) = (parts.next(), parts.next()) {
            self.reports.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ));
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
