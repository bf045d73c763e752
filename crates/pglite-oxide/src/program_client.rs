//! The connections of pg_dump and pg_restore (run by the runtime as WASI
//! programs): each one an in-memory pipe served by [`crate::frontend`] from
//! the database's shared backend, as a [`Pglite::connect`] client is. No
//! socket is opened.
//!
//! The program runs on a thread of its own and waits on its pipe through
//! the tokio runtime that serves the other end.
//!
//! [`Pglite::connect`]: crate::Pglite::connect

use std::io;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use pglite_runtime::{ClientConnector, ClientStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::runtime::Handle;

use crate::backend::Backend;

/// Buffer size of each pipe, each way.
const PIPE_BUFFER: usize = 256 * 1024;
/// The most a wait reads ahead of the program.
const READ_AHEAD: usize = 64 * 1024;

/// Opens pipes to `backend`, served on `runtime`.
pub(crate) struct PipeConnector {
    pub backend: Arc<Backend>,
    pub runtime: Handle,
    /// Held by each connection's task until it has cleaned up after its
    /// client (rolled back, deallocated): see [`PipeConnector::new`].
    served: mpsc::Sender<()>,
}

impl PipeConnector {
    /// A connector, and what says when all its connections are done: its
    /// `recv()` fails once the connector and every connection's task are
    /// gone. A program's run must wait for that before it returns, or the
    /// caller's next statement could find the backend still held by the
    /// program's last transaction.
    pub fn new(backend: Arc<Backend>, runtime: Handle) -> (Self, mpsc::Receiver<()>) {
        let (served, done) = mpsc::channel();
        let connector = Self {
            backend,
            runtime,
            served,
        };
        (connector, done)
    }
}

impl ClientConnector for PipeConnector {
    fn connect(&mut self) -> io::Result<Box<dyn ClientStream>> {
        let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
        let backend = self.backend.clone();
        let served = self.served.clone();
        self.runtime.spawn(async move {
            if let Err(err) = crate::frontend::serve(backend, theirs).await {
                tracing::debug!(%err, "a program's connection failed");
            }
            drop(served);
        });
        Ok(Box::new(Pipe {
            stream: ours,
            runtime: self.runtime.clone(),
            read_ahead: Vec::new(),
            read_pos: 0,
            ended: false,
        }))
    }
}

/// The program's end of one pipe.
struct Pipe {
    stream: DuplexStream,
    runtime: Handle,
    /// Bytes a wait read before the program asked for them.
    read_ahead: Vec<u8>,
    read_pos: usize,
    /// The other end closed the pipe.
    ended: bool,
}

impl Pipe {
    fn ready(&self) -> bool {
        self.ended || self.read_pos < self.read_ahead.len()
    }
}

impl ClientStream for Pipe {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = &mut self.stream;
        self.runtime.block_on(stream.write_all(bytes))
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.read_pos < self.read_ahead.len() {
            let count = buf.len().min(self.read_ahead.len() - self.read_pos);
            buf[..count].copy_from_slice(&self.read_ahead[self.read_pos..self.read_pos + count]);
            self.read_pos += count;
            return Ok(Some(count));
        }
        if self.ended {
            return Ok(Some(0));
        }
        // One poll, without waiting: a duplex pipe needs no runtime for it.
        let mut read = ReadBuf::new(buf);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut self.stream).poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(())) => {
                let count = read.filled().len();
                self.ended = count == 0;
                Ok(Some(count))
            }
            Poll::Ready(Err(err)) => Err(err),
            Poll::Pending => Ok(None),
        }
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.ready() {
            return Ok(true);
        }
        self.read_ahead.resize(READ_AHEAD, 0);
        self.read_pos = 0;
        let (stream, buf) = (&mut self.stream, &mut self.read_ahead);
        let read = self.runtime.block_on(async {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, stream.read(buf)).await.ok(),
                None => Some(stream.read(buf).await),
            }
        });
        match read {
            None => {
                self.read_ahead.clear();
                Ok(false)
            }
            Some(Ok(count)) => {
                self.read_ahead.truncate(count);
                self.ended = count == 0;
                Ok(true)
            }
            Some(Err(err)) => {
                self.read_ahead.clear();
                Err(err)
            }
        }
    }
}
