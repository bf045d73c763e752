//! The guest's standard streams: output collected in memory (the
//! backend's log, a program's stderr), and a program's stdin and stdout as
//! channels to the calling thread (see [`crate::program`]). The channels
//! are closed explicitly when the program ends, so the caller's side never
//! waits for a program that is gone.

use std::io;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use virtual_fs::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf, VirtualFile};

/// A guest output stream collected in memory (the backend's log).
#[derive(Debug, Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture poisoned")).into_owned()
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .lock()
            .expect("capture poisoned")
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Capture {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// stdout: each write is a chunk for the caller, waiting while the caller
/// is behind. Writes fail with `BrokenPipe` once the caller stopped taking
/// them (its writer failed) or the channel is closed.
#[derive(Debug, Clone)]
pub(crate) struct ChannelOutput(Arc<Mutex<Option<SyncSender<Vec<u8>>>>>);

impl ChannelOutput {
    /// `None`: output is discarded.
    pub fn new(sender: Option<SyncSender<Vec<u8>>>) -> Self {
        Self(Arc::new(Mutex::new(sender)))
    }

    /// Ends the stream: the caller sees its end.
    pub fn close(&self) {
        self.sender().take();
    }

    fn sender(&self) -> MutexGuard<'_, Option<SyncSender<Vec<u8>>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// stdin: chunks from the caller, read in order; the end of the input when
/// the caller has no more (or the channel is closed).
#[derive(Debug, Clone)]
pub(crate) struct ChannelInput(Arc<Mutex<InputState>>);

#[derive(Debug)]
struct InputState {
    receiver: Option<Receiver<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelInput {
    /// `None`: the input is empty.
    pub fn new(receiver: Option<Receiver<Vec<u8>>>) -> Self {
        Self(Arc::new(Mutex::new(InputState {
            receiver,
            chunk: Vec::new(),
            pos: 0,
        })))
    }

    /// Ends the stream: the caller's next send fails.
    pub fn close(&self) {
        self.state().receiver.take();
    }

    fn state(&self) -> MutexGuard<'_, InputState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl AsyncWrite for ChannelOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let sender = self.sender();
        let Some(sender) = sender.as_ref() else {
            return Poll::Ready(Ok(buf.len()));
        };
        // Waits (blocking the program's thread) while the caller is behind.
        Poll::Ready(match sender.send(buf.to_vec()) {
            Ok(()) => Ok(buf.len()),
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ChannelOutput {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ChannelInput {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.state();
        if state.pos == state.chunk.len() {
            // Waits (blocking the program's thread) for the caller's next
            // chunk; none means the end of the input.
            let next = state.receiver.as_ref().and_then(|r| r.recv().ok());
            match next {
                Some(chunk) => {
                    state.chunk = chunk;
                    state.pos = 0;
                }
                None => return Poll::Ready(Ok(())),
            }
        }
        let count = buf.remaining().min(state.chunk.len() - state.pos);
        buf.put_slice(&state.chunk[state.pos..state.pos + count]);
        state.pos += count;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ChannelInput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::PermissionDenied.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// No stream can seek (pg_dump and pg_restore then neither write nor
/// expect data offsets in a custom-format archive), nor has a size or
/// times.
macro_rules! stream_file {
    ($type:ty) => {
        impl AsyncSeek for $type {
            fn start_seek(self: Pin<&mut Self>, _: io::SeekFrom) -> io::Result<()> {
                Err(io::ErrorKind::Unsupported.into())
            }

            fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
                Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
            }
        }

        impl VirtualFile for $type {
            fn last_accessed(&self) -> u64 {
                0
            }

            fn last_modified(&self) -> u64 {
                0
            }

            fn created_time(&self) -> u64 {
                0
            }

            fn size(&self) -> u64 {
                0
            }

            fn set_len(&mut self, _: u64) -> virtual_fs::Result<()> {
                Err(virtual_fs::FsError::PermissionDenied)
            }

            fn unlink(&mut self) -> virtual_fs::Result<()> {
                Ok(())
            }

            fn poll_read_ready(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(1))
            }

            fn poll_write_ready(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(64 * 1024))
            }
        }
    };
}

stream_file!(Capture);
stream_file!(ChannelOutput);
stream_file!(ChannelInput);
