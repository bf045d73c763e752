//! wasmer-wasix's own host filesystem, kept only as the baseline of
//! `cargo xtask bench fs` (feature `stock-fs-bench`): every read and write
//! hops to tokio's blocking pool, syncs only flush, a directory sync fails
//! with EISDIR. Run PostgreSQL with `fsync=off` over it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{executable, FsContext, GuestFs, GUEST_DATA, GUEST_LIB, GUEST_SHARE};
use crate::artifacts::Artifacts;
use crate::{Error, Result};

static SELECTED: AtomicBool = AtomicBool::new(false);

/// Makes backends started from now on use the stock filesystem (or ours).
pub fn select(stock: bool) {
    SELECTED.store(stock, Ordering::SeqCst);
}

pub(super) fn selected() -> bool {
    SELECTED.load(Ordering::SeqCst)
}

pub(super) fn filesystem(
    artifacts: &Artifacts,
    data_dir: &Path,
    ctx: Arc<FsContext>,
) -> Result<GuestFs> {
    let handle = tokio::runtime::Handle::current();
    let host = |path: &Path| -> Result<Arc<dyn virtual_fs::FileSystem + Send + Sync>> {
        let fs = virtual_fs::host_fs::FileSystem::new(handle.clone(), path)
            .map_err(|e| Error::Module(format!("mounting {}: {e}", path.display())))?;
        Ok(Arc::new(fs))
    };
    let lib = artifacts.lib();
    let lib = if lib.is_dir() {
        lib
    } else {
        data_dir.to_path_buf()
    };
    let root = virtual_fs::MountFileSystem::new();
    let mounts: [(&str, Arc<dyn virtual_fs::FileSystem + Send + Sync>); 4] = [
        ("/pglite/bin", Arc::new(executable()?)),
        (GUEST_SHARE, host(&artifacts.share())?),
        (GUEST_LIB, host(&lib)?),
        (GUEST_DATA, host(data_dir)?),
    ];
    for (guest, fs) in mounts {
        root.mount(Path::new(guest), fs)
            .map_err(|e| Error::Module(format!("mounting {guest}: {e}")))?;
    }
    Ok(GuestFs {
        root: Arc::new(root),
        ctx,
        trees: Vec::new(),
    })
}
