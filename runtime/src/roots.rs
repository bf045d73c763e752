//! Data directories ("roots") from the template that `cargo xtask
//! template` packs at build time.
//!
//! The archive is unpacked once per machine into a read-only
//! [`TemplateCache`] under the user's cache directory. From it:
//! - a [`TemporaryRoot`] is an empty directory that records the cache as
//!   its lower layer: the filesystem layer serves it copy-on-write, so it
//!   costs a directory and a small file, and each database file is copied
//!   only when first written;
//! - a persistent data directory is a full copy (`copy_file_range`, a
//!   reflink where the filesystem can), which depends on nothing else: a
//!   database opened again later by path must not need a cache that may
//!   have been cleaned away.
//!
//! See docs/decisions/0006-filesystem-layer.md.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::artifacts::Artifacts;
use crate::{Error, Result};

/// The template's file name among the artifacts.
pub const TEMPLATE_FILE: &str = "template.tar.zst";

/// In a copy-on-write root: the file holding the absolute path of its lower
/// layer. The reserved prefix keeps it out of the guest's sight and reach.
pub(crate) const LOWER_MARKER: &str = ".pglite-lower";

/// The unpacked template's layout, part of its cache directory's name:
/// 2 has holes for its zero blocks.
const LAYOUT: &str = "v2";

fn lower_marker(root: &Path) -> PathBuf {
    root.join(LOWER_MARKER)
}

/// The unpacked, read-only template data directory.
#[derive(Debug, Clone)]
pub struct TemplateCache {
    dir: PathBuf,
}

impl TemplateCache {
    /// The template of `artifacts`, unpacked on first use.
    pub fn open(artifacts: &Artifacts) -> Result<Self> {
        let archive = artifacts.template().ok_or_else(|| Error::Artifacts {
            dir: artifacts.dir().to_path_buf(),
            problem: format!("no {TEMPLATE_FILE}; run `cargo xtask template`"),
        })?;
        // The embedded template's sha256 is the manifest's: no need to hash.
        let embedded = artifacts.is_embedded();
        Self::open_archive_with(&archive, || {
            embedded
                .then(crate::embedded::template_sha256)
                .flatten()
                .map(str::to_string)
        })
    }

    /// The template packed in `archive`, unpacked on first use into the
    /// user's cache directory (keyed by the archive's sha256).
    pub fn open_archive(archive: &Path) -> Result<Self> {
        Self::open_archive_with(archive, || None)
    }

    /// [`Self::open_archive`] for an archive whose sha256 `digest` may know
    /// (the manifest's, for the embedded one): it is then read only to
    /// unpack it.
    /// Asked only the first time in a process.
    fn open_archive_with(archive: &Path, digest: impl FnOnce() -> Option<String>) -> Result<Self> {
        // Reading and hashing the archive costs about a millisecond per
        // database: an archive this process has seen, unchanged since (same
        // size and modification time), is known.
        type Seen = (PathBuf, u64, Option<std::time::SystemTime>);
        static OPENED: OnceLock<Mutex<HashMap<Seen, PathBuf>>> = OnceLock::new();
        let meta = fs::metadata(archive).map_err(|e| Error::io("reading", archive, e))?;
        let seen = (archive.to_path_buf(), meta.len(), meta.modified().ok());
        let opened = OPENED.get_or_init(Default::default);
        let known = opened.lock().ok().and_then(|o| o.get(&seen).cloned());
        if let Some(dir) = known.filter(|dir| dir.join("PG_VERSION").is_file()) {
            return Ok(Self { dir });
        }
        let cache = Self::unpack_archive(archive, digest())?;
        if let Ok(mut opened) = opened.lock() {
            opened.insert(seen, cache.dir.clone());
        }
        Ok(cache)
    }

    fn unpack_archive(archive: &Path, known: Option<String>) -> Result<Self> {
        let base = cache_dir().join("templates");
        let cached = |digest: &str| {
            let dir = base.join(format!("{LAYOUT}-{digest}"));
            dir.join("PG_VERSION").is_file().then_some(dir)
        };
        if let Some(dir) = known.as_deref().and_then(cached) {
            return Ok(Self { dir });
        }
        let bytes = fs::read(archive).map_err(|e| Error::io("reading", archive, e))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = known.filter(|known| *known != digest) {
            return Err(Error::Integrity {
                what: archive.display().to_string(),
                problem: format!("sha256 {digest}, its receipt says {expected}"),
            });
        }
        if let Some(dir) = cached(&digest) {
            return Ok(Self { dir });
        }
        let dir = base.join(format!("{LAYOUT}-{digest}"));
        fs::create_dir_all(&base).map_err(|e| Error::io("creating", &base, e))?;
        let partial = tempfile::Builder::new()
            .prefix(&format!("{digest}.partial-"))
            .tempdir_in(&base)
            .map_err(|e| Error::io("creating a directory in", &base, e))?;
        let unpacked = partial.path().join("data");
        unpack(archive, &bytes, &unpacked)?;
        punch_zeros_under(&unpacked)?;
        set_modes(&unpacked, 0o500, 0o400)?;
        match fs::rename(&unpacked, &dir) {
            Ok(()) => {}
            // Another process unpacked it first: use theirs.
            Err(_) if dir.join("PG_VERSION").is_file() => {
                set_modes(&unpacked, 0o700, 0o600)?;
            }
            Err(e) => return Err(Error::io("renaming into place", &dir, e)),
        }
        Ok(Self { dir })
    }

    /// The unpacked data directory (read-only).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new temporary database over the template (copy-on-write), removed
    /// when the returned value is dropped.
    pub fn temporary_root(&self) -> Result<TemporaryRoot> {
        TemporaryRoot::over(&self.dir)
    }

    /// A new persistent data directory at `dest` (which must not exist): a
    /// full copy of the template, synced to disk. On failure nothing is
    /// left at `dest`.
    pub fn create_data_dir(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(Error::io(
                "creating data directory",
                dest,
                io::ErrorKind::AlreadyExists.into(),
            ));
        }
        let result = fs::DirBuilder::new()
            .mode(0o700)
            .create(dest)
            .map_err(|e| Error::io("creating", dest, e))
            .and_then(|()| crate::snapshot::copy_root(&self.dir, dest))
            .and_then(|()| crate::initdb::sync_tree(dest));
        if result.is_err() {
            let _ = fs::remove_dir_all(dest);
        }
        result
    }
}

/// A temporary database directory, deleted on drop. End its sessions first.
#[derive(Debug)]
pub struct TemporaryRoot {
    dir: tempfile::TempDir,
}

impl TemporaryRoot {
    /// A new, empty temporary directory (0700), to fill with a data
    /// directory (a copy, an archive's contents).
    pub fn empty() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("pglite-")
            .tempdir()
            .map_err(|e| Error::io("creating a directory in", std::env::temp_dir(), e))?;
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("setting permissions of", temp.path(), e))?;
        Ok(Self { dir: temp })
    }

    /// A new temporary database, copy-on-write over the read-only data
    /// directory `lower` (the template, or a frozen snapshot).
    pub fn over(lower: &Path) -> Result<Self> {
        let root = Self::empty()?;
        let marker = lower_marker(root.path());
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&marker)
            .and_then(|mut f| f.write_all(lower.as_os_str().as_encoded_bytes()))
            .map_err(|e| Error::io("writing", &marker, e))?;
        Ok(root)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Unpacks the template `archive` into a new persistent data directory
/// `dest`, which must not exist (see [`TemplateCache::create_data_dir`]).
pub fn create_data_dir_from_template(archive: &Path, dest: &Path) -> Result<()> {
    TemplateCache::open_archive(archive)?.create_data_dir(dest)
}

/// The lower layer a root was made over, if it is a copy-on-write root;
/// an error if that layer is gone.
pub fn lower_layer(root: &Path) -> Result<Option<PathBuf>> {
    let marker = lower_marker(root);
    let bytes = match fs::read(&marker) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", &marker, e)),
    };
    let lower = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
    if !lower.join("PG_VERSION").is_file() {
        return Err(Error::io(
            "opening the template layer of",
            root,
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is gone", lower.display()),
            ),
        ));
    }
    Ok(Some(lower))
}

/// The root of what pglite-oxide caches: `$PGLITE_OXIDE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/pglite-oxide`, else `~/.cache/pglite-oxide`, else a
/// directory under the system's temporary directory.
pub fn cache_dir() -> PathBuf {
    crate::embedded::cache_root().unwrap_or_else(|| std::env::temp_dir().join("pglite-oxide"))
}

fn unpack(archive: &Path, bytes: &[u8], dest: &Path) -> Result<()> {
    let corrupt = |e: io::Error| Error::Template {
        archive: archive.to_path_buf(),
        problem: e.to_string(),
    };
    let decoder = zstd::Decoder::new(bytes).map_err(corrupt)?;
    fs::create_dir(dest).map_err(|e| Error::io("creating", dest, e))?;
    // tar refuses entries that would land outside `dest`.
    tar::Archive::new(decoder).unpack(dest).map_err(corrupt)?;
    if !dest.join("PG_VERSION").is_file() || !dest.join("global/pg_control").is_file() {
        return Err(Error::Template {
            archive: archive.to_path_buf(),
            problem: "it does not hold a PostgreSQL data directory".into(),
        });
    }
    Ok(())
}

/// Makes holes of the zero blocks of every file under `dir`: a temporary
/// database copies a file up on its first write, holes and all, and the
/// template's WAL segment is two-thirds a zero-filled tail.
fn punch_zeros_under(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))? {
        let entry = entry.map_err(|e| Error::io("reading", dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io("stat", &path, e))?;
        if kind.is_dir() {
            punch_zeros_under(&path)?;
        } else if kind.is_file() {
            crate::fs::sparse::punch_zeros(&path)
                .map_err(|e| Error::io("making holes in", &path, e))?;
        }
    }
    Ok(())
}

/// Sets every directory under `dir` (and `dir`) to `dir_mode`, every file
/// to `file_mode`; directories last, so a read-only mode does not lock the
/// walk out.
pub(crate) fn set_modes(dir: &Path, dir_mode: u32, file_mode: u32) -> Result<()> {
    let set = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("setting permissions of", path, e))
    };
    set(dir, 0o700)?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io("reading", dir, e))? {
        let entry = entry.map_err(|e| Error::io("reading", dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io("stat", &path, e))?;
        if kind.is_dir() {
            set_modes(&path, dir_mode, file_mode)?;
        } else if kind.is_file() {
            set(&path, file_mode)?;
        }
    }
    set(dir, dir_mode)
}
