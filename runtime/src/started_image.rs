//! Backends started from an image of a backend that has already started.
//!
//! Every new temporary database is a fresh copy-on-write root over the same
//! template, and its backend runs the same arguments: PostgreSQL's startup
//! does the same work each time and arrives at the same state. The first
//! such start in a process is therefore recorded: the pages of linear memory
//! the startup changed, the files it left in the root's upper layer, and
//! what it had written to the client. Later starts on another fresh root
//! instantiate the module (which runs no PostgreSQL code), put those pages
//! and files in place, and let the backend renew what must differ between
//! backends (random seeds, start time: `pgl_image_restored`,
//! patches/0006). This is what Wizer does for a module's initialization,
//! applied to a whole started server.
//!
//! An image is only taken when nothing outside linear memory refers to the
//! start: the backend closes its files first (`pgl_prepare_image`), and the
//! image is refused if any file is still open, or if the upper layer holds
//! anything but plain files and directories.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::datadir_lock::LOCK_FILE;
use crate::engine::WASMER_VERSION;
use crate::fs::{Durability, RESERVED_PREFIX};
use crate::instance::{BackendInstance, CallOutcome};
use crate::{Error, Result};

mod stored;

const PAGE: usize = 64 * 1024;

/// Images kept per process at most (one per set of arguments; each holds the
/// pages a start changed, about 10 MB): a process that starts databases with
/// ever new settings does not grow without bound.
const MAX_IMAGES: usize = 8;

/// What an image is valid for: the same module, the same template and the
/// same arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ImageKey {
    /// Describes the module file (path, size, modification time, inode: a
    /// rebuilt module at the same path is another module), the template
    /// (its directory is named by the archive's sha256) and the arguments.
    text: String,
}

impl ImageKey {
    /// The key for a start on `data_dir` if it is a fresh copy-on-write root
    /// (nothing in it yet but the layer's own files and the lock), else
    /// `None`: only a fresh root's start can be replayed.
    pub fn for_fresh_root(
        module: &Path,
        data_dir: &Path,
        lower: Option<&Path>,
        args: &[String],
    ) -> Result<Option<Self>> {
        let Some(lower) = lower.filter(|_| enabled()) else {
            return Ok(None);
        };
        let listing = fs::read_dir(data_dir).map_err(|e| Error::io("listing", data_dir, e))?;
        for entry in listing {
            let entry = entry.map_err(|e| Error::io("listing", data_dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name != LOCK_FILE && !name.starts_with(RESERVED_PREFIX) {
                return Ok(None);
            }
        }
        let meta = fs::metadata(module).map_err(|e| Error::io("stat", module, e))?;
        let text = format!(
            "wasmer {WASMER_VERSION}\nmodule {} {} {} {} {}\ntemplate {}\nargs {:?}\n",
            module.display(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino(),
            lower.display(),
            args,
        );
        Ok(Some(Self { text }))
    }

    /// The file name of the stored image.
    fn file_name(&self) -> String {
        let digest = Sha256::digest(self.text.as_bytes());
        format!("{}.image", hex::encode(&digest[..16]))
    }
}

/// The environment variable that turns images off (`off`): every start
/// then runs PostgreSQL's startup.
pub const IMAGES_ENV: &str = "PGLITE_OXIDE_STARTED_IMAGES";

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| !std::env::var(IMAGES_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("off")))
}

/// The images taken in this process.
fn images() -> &'static Mutex<HashMap<ImageKey, Arc<StartedImage>>> {
    static IMAGES: OnceLock<Mutex<HashMap<ImageKey, Arc<StartedImage>>>> = OnceLock::new();
    IMAGES.get_or_init(Default::default)
}

/// The image for `key`: taken in this process, or stored by an earlier one
/// in the user's cache directory.
pub(crate) fn lookup(key: &ImageKey) -> Option<Arc<StartedImage>> {
    if let Some(image) = images().lock().ok()?.get(key).cloned() {
        return Some(image);
    }
    let path = store_dir().join(key.file_name());
    let image = match stored::load(&path, &key.text) {
        Ok(Some(image)) => Arc::new(image),
        Ok(None) => return None,
        Err(problem) => {
            // Damaged or from another format: taken again by this start.
            tracing::warn!(file = %path.display(), %problem, "ignoring a stored image");
            let _ = fs::remove_file(&path);
            return None;
        }
    };
    keep(key.clone(), image.clone());
    Some(image)
}

fn keep(key: ImageKey, image: Arc<StartedImage>) {
    if let Ok(mut images) = images().lock() {
        if images.len() < MAX_IMAGES {
            images.insert(key, image);
        }
    }
}

fn store_dir() -> PathBuf {
    crate::roots::cache_dir().join("images")
}

/// Whether another image would be kept.
pub(crate) fn room_for_more() -> bool {
    images()
        .lock()
        .is_ok_and(|images| images.len() < MAX_IMAGES)
}

/// Runs of bytes to write into linear memory, kept in one buffer (a stored
/// image's runs stay in the file's bytes as read: no copy).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs {
    buffer: Vec<u8>,
    /// (offset in linear memory, range of `buffer`)
    runs: Vec<(u64, std::ops::Range<usize>)>,
}

impl Runs {
    /// Appends `bytes` for `offset`, merged with the previous run when they
    /// are adjacent in memory.
    pub fn push(&mut self, offset: u64, bytes: &[u8]) {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(bytes);
        let end = self.buffer.len();
        match self.runs.last_mut() {
            Some((at, range)) if range.end == start && *at + range.len() as u64 == offset => {
                range.end = end
            }
            _ => self.runs.push((offset, start..end)),
        }
    }

    /// Runs over `buffer` as it is; the ranges must lie within it.
    fn over(buffer: Vec<u8>, runs: Vec<(u64, std::ops::Range<usize>)>) -> Self {
        Self { buffer, runs }
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.runs
            .iter()
            .map(|(offset, range)| (*offset, &self.buffer[range.clone()]))
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Bytes in all runs.
    pub fn total(&self) -> usize {
        self.runs.iter().map(|(_, r)| r.len()).sum()
    }
}

/// A path relative to a root, and the file's contents (`None`: a directory).
pub(crate) type RootEntry = (PathBuf, Option<Vec<u8>>);

/// A started backend, as the difference from a freshly instantiated one.
pub(crate) struct StartedImage {
    /// The size of linear memory, in wasm pages.
    memory_pages: u64,
    /// The bytes that differ from a fresh instance.
    runs: Runs,
    /// What the start left in the root.
    files: Vec<RootEntry>,
    /// What the backend had written to the client when its start returned.
    output: Vec<u8>,
}

impl std::fmt::Debug for StartedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedImage")
            .field("memory_pages", &self.memory_pages)
            .field("runs", &self.runs.len())
            .field("bytes", &self.runs.total())
            .field("files", &self.files.len())
            .field("output", &self.output.len())
            .finish()
    }
}

/// Linear memory as it is right after instantiation, kept until the start
/// that follows can be recorded.
pub(crate) struct FreshMemory(Vec<u8>);

impl FreshMemory {
    pub fn read(backend: &BackendInstance) -> Self {
        let view = backend.memory.view(&backend.store);
        let mut bytes = vec![0; view.data_size() as usize];
        // Cannot fail: the buffer is exactly the memory's size.
        let _ = view.read(0, &mut bytes);
        Self(bytes)
    }

    /// Records the backend's start (which just returned) under `key`, if it
    /// can be replayed. Failing to record is not an error: later starts
    /// simply run PostgreSQL's startup again.
    pub fn record(self, key: ImageKey, backend: &mut BackendInstance, data_dir: &Path) {
        match self.image_of(backend, data_dir) {
            Ok(Some(image)) => {
                tracing::debug!(
                    runs = image.runs.len(),
                    bytes = image.runs.total(),
                    files = image.files.len(),
                    "recorded a started backend"
                );
                let dir = store_dir();
                if let Err(err) = stored::save(&image, &dir, &key.file_name(), &key.text) {
                    tracing::debug!(%err, dir = %dir.display(), "could not store the image");
                }
                keep(key, Arc::new(image));
            }
            Ok(None) => {}
            Err(err) => tracing::debug!(%err, "no image of the started backend"),
        }
    }

    fn image_of(
        &self,
        backend: &mut BackendInstance,
        data_dir: &Path,
    ) -> Result<Option<StartedImage>> {
        match backend.call("pgl_prepare_image")? {
            CallOutcome::Returned => {}
            CallOutcome::Exited(_) => return Ok(None),
        }
        let open = backend.fs.open_files();
        if open != 0 {
            tracing::debug!(open, "files still open: no image of the started backend");
            return Ok(None);
        }
        let Some(files) = root_files(data_dir)? else {
            return Ok(None);
        };
        let view = backend.memory.view(&backend.store);
        let size = view.data_size() as usize;
        // SAFETY: nothing runs in the instance while the store is borrowed.
        let now = unsafe { view.data_unchecked() };
        let mut runs = Runs::default();
        let mut start = 0;
        while start < size {
            let end = (start + PAGE).min(size);
            let page = &now[start..end];
            let changed = match self.0.get(start..end) {
                Some(fresh) => fresh != page,
                None => page.iter().any(|&b| b != 0),
            };
            if changed {
                runs.push(start as u64, page);
            }
            start = end;
        }
        let memory_pages = u64::from(backend.memory.view(&backend.store).size().0);
        let output = backend.io.as_ref(&backend.store).output.clone();
        Ok(Some(StartedImage {
            memory_pages,
            runs,
            files,
            output,
        }))
    }
}

impl StartedImage {
    /// Puts the files of the start in the fresh root `data_dir`, before an
    /// instance opens it.
    pub fn place_files(&self, data_dir: &Path, durability: Durability) -> Result<()> {
        for (rel, contents) in &self.files {
            let path = data_dir.join(rel);
            match contents {
                None => fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .map_err(|e| Error::io("creating", &path, e))?,
                Some(bytes) => {
                    let mut file = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)
                        .map_err(|e| Error::io("creating", &path, e))?;
                    file.write_all(bytes)
                        .map_err(|e| Error::io("writing", &path, e))?;
                    if durability == Durability::Full {
                        file.sync_all()
                            .map_err(|e| Error::io("syncing", &path, e))?;
                    }
                }
            }
        }
        if durability == Durability::Full {
            for dir in std::iter::once(Path::new("")).chain(
                self.files
                    .iter()
                    .filter(|f| f.1.is_none())
                    .map(|f| f.0.as_path()),
            ) {
                let path = data_dir.join(dir);
                fs::File::open(&path)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| Error::io("syncing", &path, e))?;
            }
        }
        Ok(())
    }

    /// Makes the freshly instantiated `backend` the started one.
    pub fn restore(&self, backend: &mut BackendInstance) -> Result<()> {
        let pages = u64::from(backend.memory.view(&backend.store).size().0);
        if self.memory_pages > pages {
            let grow = u32::try_from(self.memory_pages - pages)
                .map_err(|_| Error::Module("image larger than linear memory".into()))?;
            backend
                .memory
                .grow(&mut backend.store, wasmer::Pages(grow))
                .map_err(|e| Error::Module(format!("growing memory for the image: {e}")))?;
        }
        let view = backend.memory.view(&backend.store);
        for (offset, bytes) in self.runs.iter() {
            let in_bounds = offset
                .checked_add(bytes.len() as u64)
                .is_some_and(|end| end <= view.data_size());
            if in_bounds {
                populate(view.data_ptr(), offset, bytes.len());
            }
            view.write(offset, bytes)
                .map_err(|e| Error::Module(format!("writing the image: {e}")))?;
        }
        backend.io.as_mut(&mut backend.store).output = self.output.clone();
        match backend.call("pgl_image_restored")? {
            CallOutcome::Returned => Ok(()),
            CallOutcome::Exited(code) => Err(Error::Exited {
                code,
                stderr: backend.stderr.text(),
            }),
        }
    }
}

/// Maps the pages of `len` bytes at `offset` of linear memory (at `base`)
/// in one call, before they are written: page faults one by one cost most
/// of a restore otherwise. Only a hint: failure (an older kernel) is ignored.
fn populate(base: *mut u8, offset: u64, len: usize) {
    // Linux's MADV_POPULATE_WRITE (5.14), not in every libc crate release.
    const MADV_POPULATE_WRITE: libc::c_int = 23;
    let page = 4096;
    let start = offset as usize / page * page;
    let end = (offset as usize + len).div_ceil(page) * page;
    // SAFETY: the range lies within linear memory (checked by the caller),
    // which is mapped read-write; the advice changes no contents.
    unsafe {
        libc::madvise(base.add(start).cast(), end - start, MADV_POPULATE_WRITE);
    }
}

/// The files and directories of the root's upper layer, without the lock
/// and the host's reserved entries (the layer's pointer to its lower one,
/// the installed extensions: they are put there before each start, not by
/// it); `None` if it holds anything else than plain files and directories.
fn root_files(root: &Path) -> Result<Option<Vec<RootEntry>>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let listing = fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
        let mut entries = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
            entries.push(entry);
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if rel.as_os_str().is_empty()
                && (name == LOCK_FILE || name.to_string_lossy().starts_with(RESERVED_PREFIX))
            {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io("stat", &path, e))?;
            let child = rel.join(&name);
            if kind.is_dir() {
                files.push((child.clone(), None));
                pending.push(child);
            } else if kind.is_file() {
                let bytes = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
                files.push((child, Some(bytes)));
            } else {
                return Ok(None);
            }
        }
    }
    // Parents before their contents.
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(files))
}
