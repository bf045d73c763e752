//! [`DataDirLock`]: at most one backend per data directory.
//!
//! PostgreSQL's own `postmaster.pid` cannot guard an embedded data
//! directory: every wasm backend has the same emulated process id, so each
//! would take another's lock file for its own stale one. The host therefore
//! holds an exclusive lock on a file of its own in the directory for as long
//! as a backend runs there. The operating system drops the lock when the
//! process ends, however it ends, so a crashed process never leaves a stale
//! lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::{Error, Result};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "pglite-oxide.lock";

/// Holds the data directory until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Locks `dir`, or fails with [`Error::Locked`] at once if it is held.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io("locking", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DataDirLock::acquire(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
