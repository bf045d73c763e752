//! [`DataDirLock`]: at most one backend per data directory.
//!
//! PostgreSQL's own `postmaster.pid` cannot guard an embedded data
//! directory: every wasm backend has the same emulated process id, so each
//! would take another's lock file for its own stale one. The host therefore
//! holds an exclusive lock on a file of its own in the directory for as long
//! as a backend runs there. The operating system drops the lock when the
//! process ends, however it ends, so a crashed process never leaves a stale
//! lock behind.
//!
//! Whoever holds this lock knows that no backend runs in the directory, so
//! a `postmaster.pid` found there is a leftover of a process that died. It
//! is removed: PostgreSQL takes a file with its own (emulated) pid for
//! stale, but refuses to start on one a kill left empty or half-written.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::{Error, Result};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "pglite-oxide.lock";
/// PostgreSQL's own lock file, written by every backend start.
pub const POSTMASTER_PID: &str = "postmaster.pid";

/// Holds the data directory until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Locks `dir`, or fails with [`Error::Locked`] at once if it is held,
    /// then removes a `postmaster.pid` that a dead process left behind.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {
                let stale = dir.join(POSTMASTER_PID);
                match std::fs::remove_file(&stale) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("removing stale", &stale, e)),
                }
                Ok(Self { _file: file })
            }
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

    #[test]
    fn a_postmaster_pid_left_by_a_dead_process_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join(POSTMASTER_PID);
        std::fs::write(&pid, b"").unwrap();
        let lock = DataDirLock::acquire(dir.path()).unwrap();
        assert!(!pid.exists());
        // While the lock is held, a backend's own file is left alone.
        std::fs::write(&pid, b"42\n").unwrap();
        assert!(DataDirLock::acquire(dir.path()).is_err());
        assert!(pid.exists());
        drop(lock);
    }
}
