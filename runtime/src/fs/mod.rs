//! The guest's filesystem, served by a layer of our own over `std::fs`
//! (docs/decisions/0006-filesystem-layer.md).
//!
//! wasmer-wasix's stock host filesystem runs every read and write on
//! tokio's blocking pool, never syncs (fsync and fdatasync only flush a
//! tokio handle) and refuses to sync a directory. This layer:
//! - answers wasix's `FileSystem`/`VirtualFile` calls on the calling thread
//!   with positional reads and writes ([`tree`], [`file`]);
//! - serves a data directory made copy-on-write over the read-only template
//!   ([`layers`]);
//! - wraps wasix's file imports, so that fsync and fdatasync reach
//!   `File::sync_all`/`File::sync_data`, directories included, and the guest
//!   gets the host's real errno ([`imports`], [`errno`], [`sync`]).
//!
//! The guest sees:
//! - `/pglite/bin/postgres`: an empty placeholder file. PostgreSQL only
//!   checks that its own executable exists, then finds `share/` and `lib/`
//!   relative to it.
//! - `/pglite/share/postgresql`, `/pglite/lib/postgresql`: the artifacts'
//!   trees, read-only (every database of the process reads the same files).
//! - `/data`: the data directory.

mod errno;
mod file;
mod imports;
mod layers;
mod paths;
pub(crate) mod sparse;
#[cfg(feature = "stock-fs-bench")]
pub(crate) mod stock;
mod sync;
mod tree;
pub(crate) mod view;

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use virtual_fs::FileSystem as _;

pub use sync::{Durability, SyncCounts};

pub(crate) use imports::{wrap_file_imports, GuestFsEnv};
pub(crate) use paths::RESERVED_PREFIX;

use crate::artifacts::Artifacts;
use crate::{Error, Result};
use errno::ErrnoNote;
use sync::Syncs;
pub(crate) use tree::HostTree;

pub(crate) const GUEST_EXECUTABLE: &str = "/pglite/bin/postgres";
pub(crate) const GUEST_DATA: &str = "/data";
const GUEST_SHARE: &str = "/pglite/share/postgresql";
const GUEST_LIB: &str = "/pglite/lib/postgresql";

/// What one backend instance's trees share with its wrapped imports.
#[derive(Debug, Default)]
pub(crate) struct FsContext {
    pub errors: ErrnoNote,
    pub syncs: Syncs,
    /// Files of the trees the guest holds open (see [`Self::open_files`]).
    open_files: std::sync::atomic::AtomicUsize,
}

impl FsContext {
    /// How many files of the trees the guest has open now. wasix keeps no
    /// count it shows; an image of a started backend needs this to be 0.
    pub fn open_files(&self) -> usize {
        self.open_files.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn file_opened(&self) {
        self.open_files
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub(crate) fn file_closed(&self) {
        self.open_files
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn new(durability: Durability) -> Self {
        Self {
            open_files: Default::default(),
            errors: ErrnoNote::default(),
            syncs: Syncs::new(durability),
        }
    }
}

/// The data directory as mounted: its own directory and, for a
/// copy-on-write root, the read-only layer below it.
#[derive(Debug, Clone)]
pub(crate) struct DataLayers {
    pub dir: PathBuf,
    pub lower: Option<PathBuf>,
}

/// One instance's filesystem: the mount table wasix sees, and our trees.
pub(crate) struct GuestFs {
    pub root: Arc<dyn virtual_fs::FileSystem + Send + Sync>,
    pub ctx: Arc<FsContext>,
    pub trees: Vec<(PathBuf, HostTree)>,
}

impl GuestFs {
    pub fn new(artifacts: &Artifacts, data: &DataLayers, durability: Durability) -> Result<Self> {
        check_data_dir(&data.dir)?;
        let ctx = Arc::new(FsContext::new(durability));
        // The installed extensions' share/ and lib/ over the backend's own
        // (crate::extension): read-only layers, the extensions' on top.
        let installed = crate::extension::installed_dir(&data.dir);
        let lib = artifacts.lib();
        let mut trees = vec![(
            PathBuf::from(GUEST_SHARE),
            HostTree::new(
                installed.join("share"),
                Some(artifacts.share()),
                Path::new(GUEST_SHARE),
                false,
                ctx.clone(),
            ),
        )];
        trees.push((
            PathBuf::from(GUEST_LIB),
            HostTree::new(
                installed.join("lib"),
                lib.is_dir().then_some(lib),
                Path::new(GUEST_LIB),
                false,
                ctx.clone(),
            ),
        ));
        trees.push((
            PathBuf::from(GUEST_DATA),
            HostTree::new(
                data.dir.clone(),
                data.lower.clone(),
                Path::new(GUEST_DATA),
                true,
                ctx.clone(),
            ),
        ));
        let root = virtual_fs::MountFileSystem::new();
        root.mount(Path::new("/pglite/bin"), Arc::new(executable()?))
            .map_err(|e| Error::Module(format!("mounting /pglite/bin: {e}")))?;
        for (guest, tree) in &trees {
            root.mount(guest, Arc::new(tree.clone()))
                .map_err(|e| Error::Module(format!("mounting {}: {e}", guest.display())))?;
        }
        #[cfg(feature = "stock-fs-bench")]
        if stock::selected() {
            if data.lower.is_some() {
                return Err(Error::Module(
                    "the stock filesystem cannot serve a copy-on-write root".into(),
                ));
            }
            return stock::filesystem(artifacts, &data.dir, ctx);
        }
        Ok(Self {
            root: Arc::new(root),
            ctx,
            trees,
        })
    }

    /// The tree mounted as the guest's `$libdir`, if there is one.
    pub fn lib_tree(&self) -> Option<HostTree> {
        self.trees
            .iter()
            .find(|(guest, _)| guest == Path::new(GUEST_LIB))
            .map(|(_, tree)| tree.clone())
    }

    /// Whether wasix's file imports must be wrapped (see `imports.rs`):
    /// always, except under the stock filesystem of the benchmark.
    pub fn wraps_imports(&self) -> bool {
        !self.trees.is_empty()
    }
}

/// The placeholder `/pglite/bin/postgres`, in memory.
fn executable() -> Result<virtual_fs::mem_fs::FileSystem> {
    let bin = virtual_fs::mem_fs::FileSystem::default();
    bin.new_open_options()
        .write(true)
        .create(true)
        .open(Path::new("/postgres"))
        .map_err(|e| Error::Module(format!("creating the guest executable: {e}")))?;
    Ok(bin)
}

/// PostgreSQL's own data directory checks, made on the host: the guest
/// cannot make them, since WASI carries no owners or permission bits (every
/// file reads as uid 0, as the process does). The directory must belong to
/// the user running the process and be closed to others (0700 or 0750).
fn check_data_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io("opening", dir, e))?;
    let problem = if !meta.is_dir() {
        "it is not a directory"
    } else if meta.uid() != effective_uid() {
        "it is owned by another user"
    } else if meta.permissions().mode() & 0o027 != 0 {
        "its permissions let others in (it must be 0700 or 0750)"
    } else {
        return Ok(());
    };
    Err(Error::io(
        "using the data directory",
        dir,
        io::Error::new(io::ErrorKind::PermissionDenied, problem),
    ))
}

/// The effective uid of this process.
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
