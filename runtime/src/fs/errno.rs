//! Host errors as the guest's errno.
//!
//! wasmer-wasix translates a filesystem's errors in two lossy steps: a
//! `FileSystem` method answers with a `virtual_fs::FsError`, which has no
//! variant for EACCES, EISDIR, EROFS, EXDEV, ENAMETOOLONG... (EACCES becomes
//! EPERM, EISDIR becomes EINVAL); a file's read or write answers with an
//! `io::Error`, which it maps by kind (ENOSPC becomes EIO). So the layer
//! answers wasix with the nearest `FsError`/`io::Error` *and* notes the real
//! errno in an [`ErrnoNote`]; the wrapped WASI imports (`imports.rs`) hand
//! the real one to the guest when wasix reports exactly the lossy value the
//! note predicted.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use virtual_fs::FsError;
use wasmer_wasix::wasmer_wasix_types::wasi::Errno;

/// The guest's errno for a host error (Linux errno numbers in, WASI's out).
pub(crate) fn guest_errno(err: &io::Error) -> Errno {
    let Some(code) = err.raw_os_error() else {
        return Errno::from(io::Error::from(err.kind()));
    };
    match code {
        libc::EACCES => Errno::Access,
        libc::EPERM => Errno::Perm,
        libc::ENOENT => Errno::Noent,
        libc::EEXIST => Errno::Exist,
        libc::EISDIR => Errno::Isdir,
        libc::ENOTDIR => Errno::Notdir,
        libc::ENOTEMPTY => Errno::Notempty,
        libc::ENOSPC => Errno::Nospc,
        libc::EDQUOT => Errno::Dquot,
        libc::EFBIG => Errno::Fbig,
        libc::EROFS => Errno::Rofs,
        libc::EIO => Errno::Io,
        libc::EINVAL => Errno::Inval,
        libc::EBADF => Errno::Badf,
        libc::EBUSY => Errno::Busy,
        libc::EXDEV => Errno::Xdev,
        libc::ELOOP => Errno::Loop,
        libc::ENAMETOOLONG => Errno::Nametoolong,
        libc::EMFILE => Errno::Mfile,
        libc::ENFILE => Errno::Nfile,
        libc::ENOMEM => Errno::Nomem,
        libc::EINTR => Errno::Intr,
        libc::EAGAIN => Errno::Again,
        libc::EMLINK => Errno::Mlink,
        libc::ETXTBSY => Errno::Txtbsy,
        libc::ESTALE => Errno::Stale,
        libc::EOVERFLOW => Errno::Overflow,
        libc::ENOSYS => Errno::Nosys,
        libc::EOPNOTSUPP => Errno::Notsup,
        libc::ENXIO => Errno::Nxio,
        libc::ENODEV => Errno::Nodev,
        libc::ESPIPE => Errno::Spipe,
        _ => Errno::Io,
    }
}

/// The `FsError` closest to a host error, for wasix's `FileSystem` calls.
pub(crate) fn fs_error(err: &io::Error) -> FsError {
    match err.raw_os_error() {
        Some(libc::ENOENT) => FsError::EntryNotFound,
        Some(libc::EEXIST) => FsError::AlreadyExists,
        Some(libc::EACCES | libc::EPERM | libc::EROFS) => FsError::PermissionDenied,
        // wasix turns WriteZero into ENOSPC (and StorageFull into EOVERFLOW).
        Some(libc::ENOSPC | libc::EDQUOT) => FsError::WriteZero,
        Some(libc::ENOTDIR) => FsError::BaseNotDirectory,
        Some(libc::ENOTEMPTY) => FsError::DirectoryNotEmpty,
        Some(libc::EINVAL) => FsError::InvalidInput,
        Some(libc::EINTR) => FsError::Interrupted,
        Some(libc::EAGAIN) => FsError::WouldBlock,
        Some(libc::EBADF) => FsError::InvalidFd,
        Some(libc::ENODEV) => FsError::NoDevice,
        Some(libc::EOPNOTSUPP) => FsError::Unsupported,
        Some(_) => FsError::IOError,
        None => FsError::from(io::Error::from(err.kind())),
    }
}

/// A host error made from an errno number.
pub(crate) fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The last error the layer reported, as the guest should see it and as
/// wasix will report it (packed: exact << 16 | lossy; 0 for none).
#[derive(Debug, Default)]
pub(crate) struct ErrnoNote(AtomicU32);

impl ErrnoNote {
    /// Notes `err`, returned to wasix as an `FsError`; returns that error.
    pub fn fs(&self, err: &io::Error) -> FsError {
        let lossy = fs_error(err);
        self.note(
            guest_errno(err),
            wasmer_wasix::fs::fs_error_into_wasi_err(lossy),
        );
        lossy
    }

    /// Notes `err`, returned to wasix as an `io::Error`; returns it.
    pub fn io(&self, err: io::Error) -> io::Error {
        let lossy = Errno::from(io::Error::from(err.kind()));
        self.note(guest_errno(&err), lossy);
        err
    }

    fn note(&self, exact: Errno, lossy: Errno) {
        let packed = if exact == lossy {
            0
        } else {
            u32::from(exact as u16) << 16 | u32::from(lossy as u16)
        };
        self.0.store(packed, Ordering::Relaxed);
    }

    pub fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// The errno to give the guest for wasix's answer `reported`: the noted
    /// one if wasix reported what the note predicted, else `reported`.
    pub fn correct(&self, reported: u16) -> u16 {
        match self.0.swap(0, Ordering::Relaxed) {
            0 => reported,
            packed if packed as u16 == reported => (packed >> 16) as u16,
            _ => reported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_keep_their_meaning() {
        for (code, errno) in [
            (libc::ENOSPC, Errno::Nospc),
            (libc::EACCES, Errno::Access),
            (libc::ENOENT, Errno::Noent),
            (libc::EEXIST, Errno::Exist),
            (libc::EISDIR, Errno::Isdir),
            (libc::EROFS, Errno::Rofs),
            (libc::EHWPOISON, Errno::Io),
        ] {
            assert_eq!(guest_errno(&os_error(code)), errno, "errno {code}");
        }
    }

    #[test]
    fn lossy_answers_are_corrected_only_when_predicted() {
        let note = ErrnoNote::default();
        // wasix maps PermissionDenied to EPERM: the guest gets EACCES back.
        assert_eq!(note.fs(&os_error(libc::EACCES)), FsError::PermissionDenied);
        let correct = |e: Errno| note.correct(e as u16);
        assert_eq!(correct(Errno::Perm), Errno::Access as u16);
        // Taken once.
        assert_eq!(correct(Errno::Perm), Errno::Perm as u16);
        // A write's ENOSPC reaches wasix as an io::Error, which it maps to EIO.
        let _ = note.io(os_error(libc::ENOSPC));
        assert_eq!(correct(Errno::Io), Errno::Nospc as u16);
        // wasix answered something else (its own error): left alone.
        let _ = note.io(os_error(libc::ENOSPC));
        assert_eq!(correct(Errno::Exist), Errno::Exist as u16);
        // Exact mappings need no note.
        let _ = note.fs(&os_error(libc::ENOENT));
        assert_eq!(correct(Errno::Noent), Errno::Noent as u16);
    }
}
