//! [`HostTree`]: a host directory (or a copy-on-write pair of them) served
//! to wasix as a `virtual_fs::FileSystem`, with `std::fs` on the calling
//! thread.
//!
//! Symlinks are stored as the guest wrote them, except that an absolute
//! target inside the mount is stored relative to the link: wasix resolves a
//! stored absolute target from the mount's root, not the guest's, and a
//! relative one means the same to the guest and to the host.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use virtual_fs::{
    DirEntry, FileOpener, FileSystem, FileType, Metadata, OpenOptionsConfig, ReadDir, VirtualFile,
};

use super::errno::os_error;
use super::file::HostFile;
use super::layers::{Found, Layers, FILE_MODE};
use super::paths::TreePath;
use super::FsContext;

/// One mounted tree.
#[derive(Debug, Clone)]
pub(crate) struct HostTree {
    inner: Arc<TreeInner>,
}

#[derive(Debug)]
pub(crate) struct TreeInner {
    pub layers: Layers,
    pub ctx: Arc<FsContext>,
    /// Where the guest sees this tree (`/data`), for symlink targets.
    mount: PathBuf,
    writable: bool,
}

impl HostTree {
    pub fn new(
        upper: PathBuf,
        lower: Option<PathBuf>,
        mount: &Path,
        writable: bool,
        ctx: Arc<FsContext>,
    ) -> Self {
        Self {
            inner: Arc::new(TreeInner {
                layers: Layers::new(upper, lower),
                ctx,
                mount: mount.to_path_buf(),
                writable,
            }),
        }
    }

    /// The host file the guest sees at `path` (relative to the mount),
    /// symlinks followed.
    pub fn host_file(&self, path: &Path) -> io::Result<PathBuf> {
        let (p, found) = self.inner.resolve(&TreePath::parse(path)?)?;
        match found {
            Found::Upper(_) => Ok(self.inner.layers.upper(&p)),
            Found::Lower(_) => self
                .inner
                .layers
                .lower(&p)
                .ok_or_else(|| os_error(libc::ENOENT)),
        }
    }

    /// Syncs directory `path` of this tree for the guest's fsync on it. A
    /// directory only the lower layer has was never changed: nothing to do.
    pub fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let (p, found) = self.inner.resolve(&TreePath::parse(path)?)?;
        match found {
            Found::Upper(meta) if meta.is_dir() => {
                self.inner.ctx.syncs.sync_dir(&self.inner.layers.upper(&p))
            }
            Found::Upper(_) => Err(os_error(libc::ENOTDIR)),
            Found::Lower(_) => Ok(()),
        }
    }

    /// Runs `op` on the checked path, noting a failure's real errno.
    fn with_path<T>(
        &self,
        path: &Path,
        op: impl FnOnce(&TreeInner, &TreePath) -> io::Result<T>,
    ) -> virtual_fs::Result<T> {
        TreePath::parse(path)
            .and_then(|p| op(&self.inner, &p))
            .map_err(|err| self.inner.ctx.errors.fs(&err))
    }

    fn writable(&self) -> io::Result<()> {
        if self.inner.writable {
            Ok(())
        } else {
            Err(os_error(libc::EROFS))
        }
    }
}

impl TreeInner {
    /// Opens the upper copy of `p`, which exists.
    /// Appends are positioned by the handle (`HostFile::write_at`): the
    /// host file is never opened O_APPEND.
    pub fn open_upper(&self, p: &TreePath, write: bool) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.layers.upper(p))
    }

    pub fn remove_file(&self, p: &TreePath) -> virtual_fs::Result<()> {
        self.layers
            .remove_file(p, &self.ctx.syncs)
            .map_err(|err| self.ctx.errors.fs(&err))
    }

    fn open(
        self: &Arc<Self>,
        p: &TreePath,
        conf: &OpenOptionsConfig,
    ) -> io::Result<Box<dyn VirtualFile + Send + Sync>> {
        let write = conf.write() || conf.append();
        if !self.writable && conf.would_mutate() {
            return Err(os_error(libc::EROFS));
        }
        let found = self.layers.find(p)?;
        if found.is_some() && conf.create_new() {
            return Err(os_error(libc::EEXIST));
        }
        let file = match found {
            Some(found) if found.is_dir() => return Err(os_error(libc::EISDIR)),
            Some(Found::Upper(_)) => {
                let file = self.open_upper(p, write)?;
                if conf.truncate() {
                    file.set_len(0)?;
                }
                HostFile::new(self.clone(), p.clone(), file, false, write, conf.append())
            }
            Some(Found::Lower(_)) if conf.truncate() => {
                // Nothing of the lower copy survives: start an empty one.
                self.create(p, write, conf.append(), false)?
            }
            Some(Found::Lower(_)) => {
                let lower = self.layers.lower(p).ok_or_else(|| os_error(libc::ENOENT))?;
                let file = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(lower)?;
                HostFile::new(self.clone(), p.clone(), file, true, write, conf.append())
            }
            None if conf.create() || conf.create_new() => {
                self.create(p, write, conf.append(), true)?
            }
            None => return Err(os_error(libc::ENOENT)),
        };
        Ok(Box::new(file))
    }

    /// Creates the upper file `p`: a new one (`exclusive`), or an empty one
    /// over the lower layer's.
    fn create(
        self: &Arc<Self>,
        p: &TreePath,
        write: bool,
        append: bool,
        exclusive: bool,
    ) -> io::Result<HostFile> {
        let file = self.create_upper(p, exclusive)?;
        Ok(HostFile::new(
            self.clone(),
            p.clone(),
            file,
            false,
            write,
            append,
        ))
    }

    /// An empty upper file over the lower layer's `p`, for a handle that
    /// empties it.
    pub fn empty_upper(&self, p: &TreePath) -> io::Result<File> {
        let file = self.create_upper(p, false)?;
        self.layers.note_copied(p);
        Ok(file)
    }

    /// Opened for reading and writing: appends are positioned by the
    /// handle (`HostFile::write_at`).
    fn create_upper(&self, p: &TreePath, exclusive: bool) -> io::Result<File> {
        let parent = p.parent().ok_or_else(|| os_error(libc::EISDIR))?;
        match self.layers.find(&parent)? {
            Some(found) if found.is_dir() => {}
            Some(_) => return Err(os_error(libc::ENOTDIR)),
            None => return Err(os_error(libc::ENOENT)),
        }
        self.layers.ensure_upper_dir(&parent, &self.ctx.syncs)?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(exclusive)
            .create(true)
            .truncate(!exclusive)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.layers.upper(p))
    }

    /// `p` with symlinks followed, inside the tree only (wasix resolves the
    /// guest's own paths; this serves a stat or sync of a link's target).
    fn resolve(&self, p: &TreePath) -> io::Result<(TreePath, Found)> {
        let mut p = p.clone();
        for _ in 0..8 {
            let found = self
                .layers
                .find(&p)?
                .ok_or_else(|| os_error(libc::ENOENT))?;
            if !found.metadata().file_type().is_symlink() {
                return Ok((p, found));
            }
            let target = self.layers.read_link(&p)?;
            let parent = p.parent().unwrap_or_else(TreePath::root);
            p = TreePath::parse(&normalize(&parent.as_path().join(target))?)?;
        }
        Err(os_error(libc::ELOOP))
    }

    /// A guest symlink target as stored on the host (see the module doc).
    fn stored_target(&self, target: &Path, link: &TreePath) -> io::Result<PathBuf> {
        if !target.is_absolute() {
            return Ok(target.to_path_buf());
        }
        let inside = target
            .strip_prefix(&self.mount)
            .map_err(|_| os_error(libc::EXDEV))?;
        let depth = link.ancestors().len();
        let mut stored: PathBuf = std::iter::repeat_n(Component::ParentDir, depth).collect();
        stored.push(inside);
        if stored.as_os_str().is_empty() {
            stored.push(".");
        }
        Ok(stored)
    }
}

impl FileSystem for HostTree {
    fn readlink(&self, path: &Path) -> virtual_fs::Result<PathBuf> {
        self.with_path(path, |tree, p| tree.layers.read_link(p))
    }

    fn read_dir(&self, path: &Path) -> virtual_fs::Result<ReadDir> {
        let entries = self.with_path(path, |tree, p| tree.layers.read_dir(p))?;
        let entries = entries
            .into_iter()
            .map(|(name, found)| DirEntry {
                path: path.join(name),
                metadata: Ok(metadata(found.metadata())),
            })
            .collect();
        Ok(ReadDir::new(entries))
    }

    fn create_dir(&self, path: &Path) -> virtual_fs::Result<()> {
        self.with_path(path, |tree, p| {
            self.writable()?;
            tree.layers.create_dir(p, &tree.ctx.syncs)
        })
    }

    fn create_symlink(&self, source: &Path, target: &Path) -> virtual_fs::Result<()> {
        self.with_path(target, |tree, p| {
            self.writable()?;
            let stored = tree.stored_target(source, p)?;
            tree.layers.create_symlink(&stored, p, &tree.ctx.syncs)
        })
    }

    fn remove_dir(&self, path: &Path) -> virtual_fs::Result<()> {
        self.with_path(path, |tree, p| {
            self.writable()?;
            tree.layers.remove_dir(p, &tree.ctx.syncs)
        })
    }

    fn rename<'a>(
        &'a self,
        from: &'a Path,
        to: &'a Path,
    ) -> Pin<Box<dyn Future<Output = virtual_fs::Result<()>> + Send + 'a>> {
        let result = self.with_path(from, |tree, from| {
            self.writable()?;
            let to = TreePath::parse(to)?;
            tree.layers.rename(from, &to, &tree.ctx.syncs)
        });
        Box::pin(async move { result })
    }

    fn metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        self.with_path(path, |tree, p| Ok(metadata(tree.resolve(p)?.1.metadata())))
    }

    fn symlink_metadata(&self, path: &Path) -> virtual_fs::Result<Metadata> {
        self.with_path(path, |tree, p| {
            let found = tree.layers.find(p)?.ok_or_else(|| os_error(libc::ENOENT))?;
            Ok(metadata(found.metadata()))
        })
    }

    fn remove_file(&self, path: &Path) -> virtual_fs::Result<()> {
        self.with_path(path, |tree, p| {
            self.writable()?;
            tree.layers.remove_file(p, &tree.ctx.syncs)
        })
    }

    fn new_open_options(&self) -> virtual_fs::OpenOptions<'_> {
        virtual_fs::OpenOptions::new(self)
    }
}

impl FileOpener for HostTree {
    fn open(
        &self,
        path: &Path,
        conf: &OpenOptionsConfig,
    ) -> virtual_fs::Result<Box<dyn VirtualFile + Send + Sync + 'static>> {
        TreePath::parse(path)
            .and_then(|p| self.inner.open(&p, conf))
            .map_err(|err| self.inner.ctx.errors.fs(&err))
    }
}

/// `a/b/../c` -> `a/c`; EACCES if `..` leaves the tree.
fn normalize(path: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() {
                    return Err(os_error(libc::EACCES));
                }
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

fn metadata(meta: &std::fs::Metadata) -> Metadata {
    let kind = meta.file_type();
    let nanos = |s: i64, ns: i64| {
        u64::try_from(s)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(ns).unwrap_or(0))
    };
    Metadata {
        ft: FileType {
            dir: kind.is_dir(),
            file: kind.is_file(),
            symlink: kind.is_symlink(),
            char_device: kind.is_char_device(),
            block_device: kind.is_block_device(),
            socket: kind.is_socket(),
            fifo: kind.is_fifo(),
        },
        accessed: nanos(meta.atime(), meta.atime_nsec()),
        created: nanos(meta.ctime(), meta.ctime_nsec()),
        modified: nanos(meta.mtime(), meta.mtime_nsec()),
        len: meta.len(),
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll, Waker};

    use virtual_fs::{AsyncRead, AsyncSeek, AsyncWrite, FsError, ReadBuf};
    use wasmer_wasix::wasmer_wasix_types::wasi::Errno;

    use super::*;
    use crate::fs::Durability;

    /// Polls a future-like call of the layer, which is always ready.
    fn ready<T>(poll: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> T {
        match poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the layer never waits"),
        }
    }

    fn tree(upper: &Path, lower: Option<&Path>, writable: bool) -> HostTree {
        let ctx = Arc::new(FsContext::new(Durability::Full));
        HostTree::new(
            upper.to_path_buf(),
            lower.map(Path::to_path_buf),
            Path::new("/data"),
            writable,
            ctx,
        )
    }

    #[test]
    fn a_lower_file_is_read_in_place_and_copied_up_on_first_write() {
        let temp = tempfile::tempdir().unwrap();
        let (upper, lower) = (temp.path().join("upper"), temp.path().join("lower"));
        std::fs::create_dir_all(lower.join("base")).unwrap();
        std::fs::create_dir(&upper).unwrap();
        std::fs::write(lower.join("base/f"), b"abc").unwrap();
        let tree = tree(&upper, Some(&lower), true);
        let mut file = tree
            .new_open_options()
            .read(true)
            .write(true)
            .open("/base/f")
            .unwrap();
        let mut buf = [0; 3];
        ready(|cx| Pin::new(&mut file).poll_read(cx, &mut ReadBuf::new(&mut buf))).unwrap();
        assert_eq!(&buf, b"abc");
        assert!(!upper.join("base/f").exists(), "reading copies nothing");
        Pin::new(&mut file)
            .start_seek(io::SeekFrom::Start(0))
            .unwrap();
        ready(|cx| Pin::new(&mut file).poll_complete(cx)).unwrap();
        ready(|cx| Pin::new(&mut file).poll_write(cx, b"X")).unwrap();
        assert_eq!(std::fs::read(upper.join("base/f")).unwrap(), b"Xbc");
        assert_eq!(std::fs::read(lower.join("base/f")).unwrap(), b"abc");
        // Emptying a lower file copies nothing either.
        std::fs::write(lower.join("base/g"), b"old").unwrap();
        let mut emptied = tree
            .new_open_options()
            .read(true)
            .write(true)
            .open("/base/g")
            .unwrap();
        emptied.set_len(0).unwrap();
        assert_eq!(std::fs::read(upper.join("base/g")).unwrap(), b"");
        assert_eq!(tree.metadata(Path::new("/base/g")).unwrap().len, 0);
    }

    #[test]
    fn a_full_disk_is_enospc_for_the_guest() {
        let temp = tempfile::tempdir().unwrap();
        let tree = tree(temp.path(), None, true);
        let full = File::options().write(true).open("/dev/full").unwrap();
        let path = TreePath::parse(Path::new("f")).unwrap();
        let mut file = HostFile::new(tree.inner.clone(), path, full, false, true, false);
        let err = ready(|cx| Pin::new(&mut file).poll_write(cx, b"x")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        // wasix maps the io::Error to EIO; the guest gets ENOSPC back.
        let reported = Errno::from(io::Error::from(err.kind())) as u16;
        assert_eq!(tree.inner.ctx.errors.correct(reported), Errno::Nospc as u16);
    }

    #[test]
    fn read_only_trees_refuse_changes_with_erofs() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("f"), b"x").unwrap();
        let tree = tree(temp.path(), None, false);
        let err = tree.new_open_options().write(true).open("/f").unwrap_err();
        assert_eq!(err, FsError::PermissionDenied);
        let errors = &tree.inner.ctx.errors;
        assert_eq!(errors.correct(Errno::Perm as u16), Errno::Rofs as u16);
        assert_eq!(
            tree.create_dir(Path::new("/d")).unwrap_err(),
            FsError::PermissionDenied
        );
        assert!(tree.new_open_options().read(true).open("/f").is_ok());
    }

    #[test]
    fn a_flush_syncs_only_when_the_guest_asked() {
        let temp = tempfile::tempdir().unwrap();
        let tree = tree(temp.path(), None, true);
        let mut file = tree
            .new_open_options()
            .read(true)
            .write(true)
            .create_new(true)
            .open("/f")
            .unwrap();
        ready(|cx| Pin::new(&mut file).poll_write(cx, b"x")).unwrap();
        ready(|cx| Pin::new(&mut file).poll_flush(cx)).unwrap();
        assert_eq!(
            tree.inner.ctx.syncs.counts().total(),
            0,
            "a close flushes too"
        );
        tree.inner
            .ctx
            .syncs
            .request(super::super::sync::SyncKind::Data);
        ready(|cx| Pin::new(&mut file).poll_flush(cx)).unwrap();
        assert_eq!(tree.inner.ctx.syncs.counts().files_data, 1);
        tree.sync_dir(Path::new("/")).unwrap();
        assert_eq!(tree.inner.ctx.syncs.counts().directories, 1);
    }

    #[test]
    fn absolute_targets_inside_the_mount_are_stored_relative() {
        let ctx = Arc::new(FsContext::new(Durability::Full));
        let tree = HostTree::new("/x".into(), None, Path::new("/data"), true, ctx);
        let link = TreePath::parse(Path::new("pg_tblspc/16384")).unwrap();
        let stored = |t: &str| tree.inner.stored_target(Path::new(t), &link);
        assert_eq!(stored("/data/ts1").unwrap(), Path::new("../ts1"));
        assert_eq!(stored("../ts1").unwrap(), Path::new("../ts1"));
        assert_eq!(
            stored("/etc").unwrap_err().raw_os_error(),
            Some(libc::EXDEV)
        );
        assert_eq!(
            normalize(Path::new("pg_tblspc/../ts1")).unwrap(),
            Path::new("ts1")
        );
        assert!(normalize(Path::new("../x")).is_err());
    }

    #[test]
    fn symlinks_are_kept_as_links() {
        let temp = tempfile::tempdir().unwrap();
        let tree = tree(temp.path(), None, true);
        tree.create_dir(Path::new("/ts1")).unwrap();
        tree.create_dir(Path::new("/pg_tblspc")).unwrap();
        tree.create_symlink(Path::new("/data/ts1"), Path::new("/pg_tblspc/16384"))
            .unwrap();
        let link = Path::new("/pg_tblspc/16384");
        assert_eq!(tree.readlink(link).unwrap(), Path::new("../ts1"));
        assert!(tree.symlink_metadata(link).unwrap().ft.symlink);
        assert!(
            tree.metadata(link).unwrap().ft.dir,
            "followed inside the tree"
        );
        tree.sync_dir(link).unwrap();
        tree.remove_file(link).unwrap();
        assert!(temp.path().join("ts1").is_dir(), "the target stays");
    }
}
