//! [`BackendSession`]: one PostgreSQL backend serving one client connection
//! for one data directory, driven by frontend/backend protocol bytes.

use std::path::Path;

use crate::artifacts::Artifacts;
use crate::cancel::CancelHandle;
use crate::datadir_lock::DataDirLock;
use crate::fs::{Durability, SyncCounts};
use crate::host_io::PeerSlot;
use crate::instance::{BackendInstance, CallOutcome, GUEST_DATA};
use crate::started_image::{self, FreshMemory, ImageKey};
use crate::{engine, roots, Error, Result, PG_MAJOR};

/// How to start a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Database to connect to.
    pub database: String,
    /// Server settings, as `-c name=value` on a server's command line.
    pub settings: Vec<(String, String)>,
    /// Trade durability for speed (tests): the filesystem layer turns every
    /// fsync and fdatasync into nothing (`Durability::Relaxed`). A crash of
    /// the machine can then lose or corrupt data; a crash of the process
    /// alone loses nothing that was committed, since PostgreSQL still writes
    /// its WAL at each commit.
    pub relaxed_durability: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            database: "postgres".into(),
            settings: Vec::new(),
            relaxed_durability: false,
        }
    }
}

/// The client end of a session while [`BackendSession::send_with`] runs:
/// the backend's output is handed to it as the backend flushes, and when the
/// backend reads in the middle of a command (COPY FROM STDIN) and nothing is
/// queued, it is asked for more. Both calls run on the backend's thread,
/// inside the backend: they may block, but must not call into the session.
pub trait Peer {
    /// Appends more frontend bytes to `buf`, waiting for them if need be.
    /// Appending nothing, or an error, means the client is gone: the
    /// backend then ends the session as for a lost connection.
    fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()>;

    /// Takes backend output. An error means the client is gone; a peer that
    /// wants the session to go on without its client discards instead.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// A started backend. The session is the backend's only client: the host
/// hands it whole frontend messages and gets back everything the backend
/// answered, up to the point where it waits for more input.
///
/// The backend runs in the calling thread, inside [`send`](Self::send).
pub struct BackendSession {
    backend: Option<BackendInstance>,
    /// The `pgl_process` export, called on every [`send`](Self::send).
    process: wasmer::Function,
    cancel: CancelHandle,
    /// Whether the backend was made from an image of an earlier start.
    from_image: bool,
    /// Held until the backend has exited (declared last: dropped last).
    _lock: DataDirLock,
}

// SAFETY: a session owns its whole Wasmer world: the store, the instance,
// the WASI environment and the host state. Wasmer marks the store `!Send`
// because it holds raw pointers into that same world (and an optional
// callback we never set), not because anything in it is tied to the thread
// that created it: traps are caught per call on the calling thread, and
// linear memory is plain mapped memory. Moving the whole world to another
// thread between calls is therefore sound; it is never shared (no `Sync`).
// `crates/pglite-oxide/tests/open.rs` (`pglite_is_send_and_serves_other_threads`)
// runs one session from several threads.
unsafe impl Send for BackendSession {}

impl BackendSession {
    /// Starts a backend on an initialized data directory. Returns the session
    /// and the backend's greeting (AuthenticationOk, ParameterStatus...,
    /// BackendKeyData, ReadyForQuery). Fails with [`Error::Locked`] while
    /// another backend has the directory open.
    pub fn start(
        artifacts: &Artifacts,
        data_dir: &Path,
        options: &SessionOptions,
    ) -> Result<(Self, Vec<u8>)> {
        let lock = DataDirLock::acquire(data_dir)?;
        let lower = roots::lower_layer(data_dir)?;
        check_version(data_dir, lower.as_deref())?;
        // Shared memory from System V segments, which the port layer takes
        // from fresh zero pages (assets/port/sysv_ipc.c), rather than from
        // wasi-libc's anonymous mmap(), which writes zeros over all of
        // shared_buffers at every start.
        let mut args = vec![
            "--single".to_string(),
            "-c".into(),
            "shared_memory_type=sysv".into(),
        ];
        for (name, value) in &options.settings {
            args.push("-c".into());
            args.push(format!("{name}={value}"));
        }
        args.extend(["-D".into(), GUEST_DATA.into(), options.database.clone()]);
        let durability = if options.relaxed_durability {
            Durability::Relaxed
        } else {
            Durability::Full
        };
        // A fresh copy-on-write root starts from the image of an earlier
        // start when there is one (started_image.rs), and leaves one if not.
        let key = ImageKey::for_fresh_root(
            &engine::module_key(artifacts),
            data_dir,
            lower.as_deref(),
            &args,
        )?;
        let image = key.as_ref().and_then(started_image::lookup);
        if let Some(image) = &image {
            image.place_files(data_dir, durability)?;
        }
        let mut backend = BackendInstance::new(artifacts, data_dir, durability, &args, Vec::new())?;
        let from_image = image.is_some();
        match (image, key) {
            (Some(image), _) => image.restore(&mut backend)?,
            (None, Some(key)) => {
                let fresh = started_image::room_for_more().then(|| FreshMemory::read(&backend));
                backend = run_startup(backend)?;
                if let Some(fresh) = fresh {
                    fresh.record(key, &mut backend, data_dir);
                }
            }
            (None, None) => backend = run_startup(backend)?,
        }
        let process = backend.export("pgl_process")?;
        let cancel = CancelHandle::locate(&mut backend)?;
        let mut session = Self {
            backend: Some(backend),
            process,
            cancel,
            from_image,
            _lock: lock,
        };
        // The idle loop's first turn sends ReadyForQuery and flushes.
        let greeting = session.send(&[])?;
        Ok((session, greeting))
    }

    /// Hands `frontend` (whole protocol messages) to the backend and returns
    /// what it answered once it has used them up.
    pub fn send(&mut self, frontend: &[u8]) -> Result<Vec<u8>> {
        let backend = self.backend.as_mut().ok_or(Error::Ended)?;
        backend.io.as_mut(&mut backend.store).queue(frontend);
        let outcome = backend.call_function(&self.process);
        self.settle(outcome)?;
        self.take_output()
    }

    /// Like [`send`](Self::send), but streaming: the backend's output goes
    /// to `peer` as it is produced, and reads past `frontend` are served by
    /// `peer` (see [`Peer`]).
    pub fn send_with(&mut self, frontend: &[u8], peer: &mut dyn Peer) -> Result<()> {
        let backend = self.backend.as_mut().ok_or(Error::Ended)?;
        {
            let io = backend.io.as_mut(&mut backend.store);
            io.queue(frontend);
            // SAFETY: the slot is cleared below, before `peer`'s borrow
            // ends, and the call runs on this thread.
            io.peer = Some(unsafe { PeerSlot::new(peer) });
        }
        let outcome = backend.call_function(&self.process);
        backend.io.as_mut(&mut backend.store).peer = None;
        self.settle(outcome)
    }

    /// After a call: a backend that exited or crashed is closed and the
    /// session ends.
    fn settle(&mut self, outcome: Result<CallOutcome>) -> Result<()> {
        match outcome {
            Ok(CallOutcome::Returned) => Ok(()),
            Ok(CallOutcome::Exited(code)) => {
                let backend = self.take_backend().ok_or(Error::Ended)?;
                let stderr = backend.stderr.text();
                backend.close();
                Err(Error::Exited { code, stderr })
            }
            Err(err) => {
                if let Some(backend) = self.take_backend() {
                    backend.close();
                }
                Err(err)
            }
        }
    }

    /// How many times the backend has synced a file or directory of its
    /// data directory to the host's disk (fsync or fdatasync).
    pub fn host_syncs(&self) -> u64 {
        self.sync_counts().total()
    }

    /// The syncs that reached the host's disk so far, by kind.
    pub fn sync_counts(&self) -> SyncCounts {
        self.backend
            .as_ref()
            .map_or_else(SyncCounts::default, |b| b.fs.syncs.counts())
    }

    /// The backend's log (its standard error) so far.
    pub fn log(&self) -> String {
        self.backend
            .as_ref()
            .map(|b| b.stderr.text())
            .unwrap_or_default()
    }

    /// Ends the session as a client's Terminate message does: the backend
    /// finishes (a standalone backend writes a shutdown checkpoint) and
    /// exits.
    pub fn shutdown(mut self) -> Result<()> {
        self.terminate()
    }

    /// Whether this backend was made from the image of an earlier start on
    /// an identical fresh root instead of running PostgreSQL's startup
    /// (see `started_image.rs`).
    pub fn started_from_image(&self) -> bool {
        self.from_image
    }

    /// Ends the backend without letting it finish, as if its process had
    /// died: no shutdown checkpoint. For a database about to be deleted,
    /// whose files nobody will read again.
    pub fn discard(mut self) {
        if let Some(backend) = self.take_backend() {
            backend.close();
        }
    }

    /// A handle that cancels the statement this session runs, from any
    /// thread (as a CancelRequest does for a server's backend).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Takes the backend out to end it; the cancel handle lets go of its
    /// memory first.
    fn take_backend(&mut self) -> Option<BackendInstance> {
        self.cancel.disarm();
        self.backend.take()
    }

    fn terminate(&mut self) -> Result<()> {
        let Some(mut backend) = self.take_backend() else {
            return Ok(());
        };
        backend
            .io
            .as_mut(&mut backend.store)
            .queue(&[b'X', 0, 0, 0, 4]);
        let outcome = backend.call_function(&self.process);
        let stderr = backend.stderr.text();
        backend.close();
        match outcome? {
            CallOutcome::Exited(0) => Ok(()),
            CallOutcome::Exited(code) => Err(Error::Exited { code, stderr }),
            CallOutcome::Returned => Err(Error::Crashed {
                trap: "the backend did not exit after Terminate".into(),
                stderr,
            }),
        }
    }

    fn take_output(&mut self) -> Result<Vec<u8>> {
        let backend = self.backend.as_mut().ok_or(Error::Ended)?;
        Ok(std::mem::take(
            &mut backend.io.as_mut(&mut backend.store).output,
        ))
    }
}

/// Runs PostgreSQL's startup in a fresh instance.
fn run_startup(mut backend: BackendInstance) -> Result<BackendInstance> {
    match backend.call("pgl_start_embedded")? {
        CallOutcome::Returned => Ok(backend),
        CallOutcome::Exited(code) => {
            let stderr = backend.stderr.text();
            backend.close();
            Err(Error::Exited { code, stderr })
        }
    }
}

/// Refuses a directory that is not a data directory of this PostgreSQL
/// major version before a backend starts on it (the backend would exit
/// with a FATAL error in its log).
fn check_version(data_dir: &Path, lower: Option<&Path>) -> Result<()> {
    let refuse = |problem: String| Error::NotADataDir {
        dir: data_dir.to_path_buf(),
        problem,
    };
    // A copy-on-write root finds it in its template layer.
    let own = data_dir.join("PG_VERSION");
    let file = match lower {
        Some(lower) if !own.exists() => lower.join("PG_VERSION"),
        _ => own,
    };
    let version = match std::fs::read(&file) {
        Ok(version) => version,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse("it has no PG_VERSION file".into()))
        }
        Err(e) => return Err(Error::io("reading", &file, e)),
    };
    let version = String::from_utf8_lossy(&version);
    match version.trim() {
        PG_MAJOR => Ok(()),
        other if other.len() <= 16 && other.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(refuse(format!("it was made by PostgreSQL {other}")))
        }
        _ => Err(refuse("its PG_VERSION file is damaged".into())),
    }
}

impl Drop for BackendSession {
    fn drop(&mut self) {
        if let Err(err) = self.terminate() {
            tracing::warn!(%err, "backend session did not end cleanly");
        }
    }
}
