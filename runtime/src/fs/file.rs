//! [`HostFile`]: an open file of a [`HostTree`](super::tree::HostTree).
//!
//! Every call completes on the calling thread: reads and writes are
//! positional (`pread`/`pwrite` at the handle's own offset, which wasix
//! sets with a seek before each call), so the futures wasix polls are ready
//! at once and nothing hops to tokio's blocking pool. A flush syncs only
//! when the guest asked for fsync or fdatasync (see [`Syncs`]).
//!
//! A file of a copy-on-write root that was never written is read from the
//! lower layer; the first write (or truncation) copies it up.
//!
//! [`Syncs`]: super::sync::Syncs

use std::fs::File;
use std::io::{self, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use virtual_fs::{AsyncRead, AsyncSeek, AsyncWrite, FsError, ReadBuf, VirtualFile};

use super::errno::os_error;
use super::paths::TreePath;
use super::tree::TreeInner;

#[derive(Debug)]
pub(crate) struct HostFile {
    tree: Arc<TreeInner>,
    path: TreePath,
    file: File,
    /// Still the lower layer's copy (never written through this handle).
    on_lower: bool,
    /// The tree's copy-up count when this handle last looked.
    copies_seen: u64,
    writable: bool,
    append: bool,
    pos: u64,
    seek: Option<io::Result<u64>>,
}

impl HostFile {
    pub fn new(
        tree: Arc<TreeInner>,
        path: TreePath,
        file: File,
        on_lower: bool,
        writable: bool,
        append: bool,
    ) -> Self {
        let copies_seen = tree.layers.copies();
        tree.ctx.file_opened();
        Self {
            tree,
            path,
            file,
            on_lower,
            copies_seen,
            writable,
            append,
            pos: 0,
            seek: None,
        }
    }

    /// Switches to the upper copy if another handle copied the file up.
    fn follow_copy_up(&mut self) -> io::Result<()> {
        if !self.on_lower {
            return Ok(());
        }
        let copies = self.tree.layers.copies();
        if copies == self.copies_seen {
            return Ok(());
        }
        self.copies_seen = copies;
        if self.tree.layers.was_copied(&self.path) {
            // Renamed or removed since: keep reading what was opened.
            if let Ok(file) = self.tree.open_upper(&self.path, self.writable) {
                self.file = file;
                self.on_lower = false;
            }
        }
        Ok(())
    }

    /// Makes this handle's file writable: copies it up first if needed.
    fn for_writing(&mut self) -> io::Result<()> {
        if !self.writable {
            return Err(os_error(libc::EBADF));
        }
        self.follow_copy_up()?;
        if self.on_lower {
            self.tree.layers.copy_up(&self.path, &self.tree.ctx.syncs)?;
            self.file = self.tree.open_upper(&self.path, true)?;
            self.on_lower = false;
        }
        Ok(())
    }

    fn read_at(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.follow_copy_up()?;
        loop {
            match self.file.read_at(buf, self.pos) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    fn write_at(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.for_writing()?;
        if self.append {
            self.pos = self.file.metadata()?.len();
        }
        loop {
            match self.file.write_at(buf, self.pos) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    fn seek_to(&mut self, target: SeekFrom) -> io::Result<u64> {
        let base = match target {
            SeekFrom::Start(offset) => return Ok(offset),
            SeekFrom::Current(delta) => (self.pos, delta),
            SeekFrom::End(delta) => (self.file.metadata()?.len(), delta),
        };
        base.0
            .checked_add_signed(base.1)
            .ok_or_else(|| os_error(libc::EINVAL))
    }

    fn metadata_or_zero<F: Fn(&std::fs::Metadata) -> u64>(&self, field: F) -> u64 {
        self.file.metadata().map(|m| field(&m)).unwrap_or(0)
    }

    /// Notes the real errno for the guest (see `errno.rs`).
    fn fail(&self, err: io::Error) -> io::Error {
        self.tree.ctx.errors.io(err)
    }

    fn fail_fs(&self, err: io::Error) -> FsError {
        self.tree.ctx.errors.fs(&err)
    }
}

fn nanos(seconds: i64, nanos: i64) -> u64 {
    u64::try_from(seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(nanos).unwrap_or(0))
}

impl Drop for HostFile {
    fn drop(&mut self) {
        self.tree.ctx.file_closed();
    }
}

impl VirtualFile for HostFile {
    fn last_accessed(&self) -> u64 {
        self.metadata_or_zero(|m| nanos(m.atime(), m.atime_nsec()))
    }

    fn last_modified(&self) -> u64 {
        self.metadata_or_zero(|m| nanos(m.mtime(), m.mtime_nsec()))
    }

    fn created_time(&self) -> u64 {
        self.metadata_or_zero(|m| nanos(m.ctime(), m.ctime_nsec()))
    }

    fn set_times(&mut self, atime: Option<u64>, mtime: Option<u64>) -> virtual_fs::Result<()> {
        let at = |ns: u64| std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns);
        let mut times = std::fs::FileTimes::new();
        if let Some(ns) = atime {
            times = times.set_accessed(at(ns));
        }
        if let Some(ns) = mtime {
            times = times.set_modified(at(ns));
        }
        self.for_writing()
            .and_then(|()| self.file.set_times(times))
            .map_err(|e| self.fail_fs(e))
    }

    fn size(&self) -> u64 {
        self.metadata_or_zero(|m| m.len())
    }

    fn set_len(&mut self, new_size: u64) -> virtual_fs::Result<()> {
        let result = if new_size == 0 && self.on_lower && self.writable {
            // Emptied (PostgreSQL truncates a dropped relation's file
            // before unlinking it): nothing of the lower copy to copy up.
            self.tree.empty_upper(&self.path).map(|file| {
                self.file = file;
                self.on_lower = false;
            })
        } else {
            self.for_writing()
                .and_then(|()| self.file.set_len(new_size))
        };
        result.map_err(|e| self.fail_fs(e))
    }

    fn unlink(&mut self) -> virtual_fs::Result<()> {
        // The handle keeps the file's contents, as on Unix.
        self.tree.remove_file(&self.path)
    }

    fn poll_read_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let len = self.size();
        Poll::Ready(Ok(len.saturating_sub(self.pos) as usize))
    }

    fn poll_write_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(8192))
    }
}

impl AsyncRead for HostFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = this.read_at(buf.initialize_unfilled());
        Poll::Ready(match result {
            Ok(n) => {
                buf.advance(n);
                Ok(())
            }
            Err(err) => Err(this.fail(err)),
        })
    }
}

impl AsyncWrite for HostFile {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = this.write_at(buf);
        Poll::Ready(result.map_err(|err| this.fail(err)))
    }

    /// wasix flushes on fsync, fdatasync and close; only the first two
    /// leave a request (see `Syncs`).
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(kind) = this.tree.ctx.syncs.take_request() else {
            return Poll::Ready(Ok(()));
        };
        if this.on_lower {
            // Never written: the lower layer's copy is already durable.
            return Poll::Ready(Ok(()));
        }
        let result = this.tree.ctx.syncs.sync_file(&this.file, kind);
        Poll::Ready(result.map_err(|err| this.fail(err)))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for HostFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.seek = Some(this.seek_to(position));
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let result = match this.seek.take() {
            Some(Ok(pos)) => {
                this.pos = pos;
                Ok(pos)
            }
            Some(Err(err)) => Err(this.fail(err)),
            None => Ok(this.pos),
        };
        Poll::Ready(result)
    }
}
