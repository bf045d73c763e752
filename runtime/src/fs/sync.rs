//! Making the data directory durable: every sync the backend asks for
//! passes here, and only here does relaxed durability turn it into nothing.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Whether the backend's syncs reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fsync`/`fdatasync` become `File::sync_all`/`File::sync_data` on
    /// the host, directories included.
    #[default]
    Full,
    /// Syncs do nothing (tests): a crash of the machine can lose or corrupt
    /// data; a crash of the process alone loses nothing committed, since the
    /// writes themselves still reach the host's page cache.
    Relaxed,
}

/// How many syncs reached the host's disk through the layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// `File::sync_all` calls on files (fsync).
    pub files_all: u64,
    /// `File::sync_data` calls on files (fdatasync).
    pub files_data: u64,
    /// Syncs of directories (their entries: created, renamed, removed files).
    pub directories: u64,
}

impl SyncCounts {
    pub fn total(&self) -> u64 {
        self.files_all + self.files_data + self.directories
    }
}

/// What the guest asked for: fsync or fdatasync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncKind {
    All = 1,
    Data = 2,
}

/// The sync policy of one backend instance, and its counters.
#[derive(Debug, Default)]
pub(crate) struct Syncs {
    durability: Durability,
    /// Set by the wrapped `fd_sync`/`fd_datasync` while wasix flushes the
    /// file: wasix turns both into a plain flush, which is also what it does
    /// when a file is closed, so a flush syncs only when this says so.
    requested: AtomicU8,
    files_all: AtomicU64,
    files_data: AtomicU64,
    directories: AtomicU64,
}

impl Syncs {
    pub fn new(durability: Durability) -> Self {
        Self {
            durability,
            ..Self::default()
        }
    }

    pub fn request(&self, kind: SyncKind) {
        self.requested.store(kind as u8, Ordering::Relaxed);
    }

    /// The pending request, if any, which this clears.
    pub fn take_request(&self) -> Option<SyncKind> {
        match self.requested.swap(0, Ordering::Relaxed) {
            1 => Some(SyncKind::All),
            2 => Some(SyncKind::Data),
            _ => None,
        }
    }

    pub fn sync_file(&self, file: &File, kind: SyncKind) -> io::Result<()> {
        if self.durability == Durability::Relaxed {
            return Ok(());
        }
        match kind {
            SyncKind::All => {
                file.sync_all()?;
                self.files_all.fetch_add(1, Ordering::Relaxed);
            }
            SyncKind::Data => {
                file.sync_data()?;
                self.files_data.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Syncs the directory at the host path `dir`.
    pub fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.durability == Durability::Relaxed {
            return Ok(());
        }
        // A read-only open of a directory can be synced on Linux.
        File::open(dir)?.sync_all()?;
        self.directories.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn counts(&self) -> SyncCounts {
        SyncCounts {
            files_all: self.files_all.load(Ordering::Relaxed),
            files_data: self.files_data.load(Ordering::Relaxed),
            directories: self.directories.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_durability_syncs_nothing_and_counts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let full = Syncs::new(Durability::Full);
        full.sync_file(&file, SyncKind::All).unwrap();
        full.sync_file(&file, SyncKind::Data).unwrap();
        full.sync_dir(dir.path()).unwrap();
        assert_eq!(
            full.counts(),
            SyncCounts {
                files_all: 1,
                files_data: 1,
                directories: 1
            }
        );
        let relaxed = Syncs::new(Durability::Relaxed);
        relaxed.sync_file(&file, SyncKind::All).unwrap();
        relaxed.sync_dir(dir.path()).unwrap();
        assert_eq!(relaxed.counts().total(), 0);
    }

    #[test]
    fn a_request_is_taken_once() {
        let syncs = Syncs::new(Durability::Full);
        assert_eq!(syncs.take_request(), None);
        syncs.request(SyncKind::Data);
        assert_eq!(syncs.take_request(), Some(SyncKind::Data));
        assert_eq!(syncs.take_request(), None);
    }
}
