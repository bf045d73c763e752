//! wasix's file imports, wrapped: the guest calls ours, ours call wasix's.
//!
//! wasix owns the descriptor table and keeps it private, so what it cannot
//! do for our trees is done around its calls:
//! - `fd_sync`/`fd_datasync` leave a request that the file's flush turns
//!   into `File::sync_all`/`File::sync_data` (wasix flushes on close too);
//!   on a directory wasix answers EISDIR without asking the filesystem, so
//!   the directory is synced here, by the path it was opened with;
//! - descriptors opened with O_SYNC/O_DSYNC (PostgreSQL's `open_sync` and
//!   `open_datasync` WAL methods) are synced after each write, which wasix
//!   does not do;
//! - an error wasix reports lossily gets the real errno back (`errno.rs`).
//!
//! The wrappers are typed (one per import, with the WASI signature): a
//! dynamic wrapper's marshalling cost a tenth of bootstrap's CPU time.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use wasmer::{
    AsStoreMut, Extern, Function, FunctionEnv, FunctionEnvMut, Imports, Memory, RuntimeError,
    Store, TypedFunction,
};
use wasmer_wasix::wasmer_wasix_types::wasi::Errno;

use super::errno::guest_errno;
use super::sync::SyncKind;
use super::tree::HostTree;
use super::{FsContext, GuestFs};
use crate::{Error, Result};

const WASI: &str = "wasi_snapshot_preview1";

// WASI fdflags.
const FDFLAGS_DSYNC: i32 = 1 << 1;
const FDFLAGS_RSYNC: i32 = 1 << 3;
const FDFLAGS_SYNC: i32 = 1 << 4;

/// What a wrapper does besides correcting the errno.
enum Hook {
    None,
    Sync(i32, SyncKind),
    Open {
        dirfd: i32,
        path: (i32, i32),
        fdflags: i32,
        fd_out: i32,
    },
    Close(i32),
    Renumber(i32, i32),
    Write(i32),
}

/// Declares the wrapped imports: name, WASI signature, hook.
macro_rules! file_imports {
    ($($name:ident($($arg:ident: $ty:ty),*) => $hook:expr;)*) => {
        /// wasix's own functions, which the wrappers call.
        #[derive(Default)]
        #[allow(unused_parens)]
        struct Inner {
            $($name: Option<TypedFunction<($($ty),*), i32>>,)*
        }

        fn wrap_each(
            store: &mut Store,
            env: &FunctionEnv<GuestFsEnv>,
            imports: &mut Imports,
        ) -> Result<Inner> {
            let mut inner = Inner::default();
            $(
                if let Some(Extern::Function(f)) = imports.get_export(WASI, stringify!($name)) {
                    inner.$name = Some(f.typed(store).map_err(|e| {
                        Error::Module(format!("wasix's {}: {e}", stringify!($name)))
                    })?);
                    imports.define(WASI, stringify!($name), Function::new_typed_with_env(store, env, $name));
                }
            )*
            Ok(inner)
        }

        $(
            #[allow(clippy::too_many_arguments)]
            fn $name(
                mut env: FunctionEnvMut<GuestFsEnv>,
                $($arg: $ty),*
            ) -> std::result::Result<i32, RuntimeError> {
                let Some(inner) = env.data().inner.$name.clone() else {
                    return Ok(Errno::Nosys as i32);
                };
                let hook: Hook = $hook;
                let ctx = env.data().ctx.clone();
                before(&ctx, &hook);
                let reported = inner.call(&mut env.as_store_mut(), $($arg),*)?;
                after(&mut env, &ctx, hook, reported)
            }
        )*
    };
}

file_imports! {
    fd_advise(fd: i32, offset: i64, len: i64, advice: i32) => Hook::None;
    fd_allocate(fd: i32, offset: i64, len: i64) => Hook::None;
    fd_close(fd: i32) => Hook::Close(fd);
    fd_datasync(fd: i32) => Hook::Sync(fd, SyncKind::Data);
    fd_filestat_get(fd: i32, buf: i32) => Hook::None;
    fd_filestat_set_size(fd: i32, size: i64) => Hook::None;
    fd_filestat_set_times(fd: i32, atim: i64, mtim: i64, flags: i32) => Hook::None;
    fd_pread(fd: i32, iovs: i32, iovs_len: i32, offset: i64, nread: i32) => Hook::None;
    fd_pwrite(fd: i32, iovs: i32, iovs_len: i32, offset: i64, nwritten: i32) => Hook::Write(fd);
    fd_read(fd: i32, iovs: i32, iovs_len: i32, nread: i32) => Hook::None;
    fd_readdir(fd: i32, buf: i32, buf_len: i32, cookie: i64, bufused: i32) => Hook::None;
    fd_renumber(fd: i32, to: i32) => Hook::Renumber(fd, to);
    fd_seek(fd: i32, offset: i64, whence: i32, newoffset: i32) => Hook::None;
    fd_sync(fd: i32) => Hook::Sync(fd, SyncKind::All);
    fd_write(fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) => Hook::Write(fd);
    path_create_directory(fd: i32, path: i32, path_len: i32) => Hook::None;
    path_filestat_get(fd: i32, flags: i32, path: i32, path_len: i32, buf: i32) => Hook::None;
    path_filestat_set_times(
        fd: i32, flags: i32, path: i32, path_len: i32, atim: i64, mtim: i64, fst_flags: i32
    ) => Hook::None;
    path_link(
        old_fd: i32, old_flags: i32, old_path: i32, old_len: i32, new_fd: i32, new_path: i32,
        new_len: i32
    ) => Hook::None;
    path_open(
        dirfd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32, rights: i64,
        inheriting: i64, fdflags: i32, fd_out: i32
    ) => Hook::Open { dirfd, path: (path, path_len), fdflags, fd_out };
    path_readlink(fd: i32, path: i32, path_len: i32, buf: i32, buf_len: i32, bufused: i32)
        => Hook::None;
    path_remove_directory(fd: i32, path: i32, path_len: i32) => Hook::None;
    path_rename(
        fd: i32, old_path: i32, old_len: i32, new_fd: i32, new_path: i32, new_len: i32
    ) => Hook::None;
    path_symlink(old_path: i32, old_len: i32, fd: i32, new_path: i32, new_len: i32)
        => Hook::None;
    path_unlink_file(fd: i32, path: i32, path_len: i32) => Hook::None;
}

/// What the wrappers share.
pub(crate) struct GuestFsEnv {
    ctx: Arc<FsContext>,
    trees: Vec<(PathBuf, HostTree)>,
    inner: Inner,
    /// Set once the instance exists (imports are made before it).
    pub memory: Option<Memory>,
    /// The guest path each descriptor was opened with.
    paths: HashMap<i32, PathBuf>,
    /// Descriptors whose writes must be synced, and how.
    sync_writes: HashMap<i32, SyncKind>,
}

/// Replaces wasix's file imports in `imports` with wrappers around them.
pub(crate) fn wrap_file_imports(
    store: &mut Store,
    fs: &GuestFs,
    imports: &mut Imports,
) -> Result<FunctionEnv<GuestFsEnv>> {
    let env = FunctionEnv::new(
        store,
        GuestFsEnv {
            ctx: fs.ctx.clone(),
            trees: fs.trees.clone(),
            inner: Inner::default(),
            memory: None,
            paths: HashMap::new(),
            sync_writes: HashMap::new(),
        },
    );
    let inner = wrap_each(store, &env, imports)?;
    env.as_mut(store).inner = inner;
    Ok(env)
}

fn before(ctx: &FsContext, hook: &Hook) {
    ctx.errors.clear();
    if let Hook::Sync(_, kind) = hook {
        ctx.syncs.request(*kind);
    }
}

fn after(
    env: &mut FunctionEnvMut<GuestFsEnv>,
    ctx: &FsContext,
    hook: Hook,
    reported: i32,
) -> std::result::Result<i32, RuntimeError> {
    let errno = match hook {
        Hook::Sync(fd, _) => {
            // Not taken by a file of ours (stdio, the in-memory executable).
            ctx.syncs.take_request();
            if reported == Errno::Isdir as i32 {
                sync_dir(env.data(), fd)
            } else {
                reported
            }
        }
        _ if reported != Errno::Success as i32 => reported,
        Hook::Open {
            dirfd,
            path,
            fdflags,
            fd_out,
        } => {
            opened(env, dirfd, path, fdflags, fd_out);
            reported
        }
        Hook::Close(fd) => {
            let data = env.data_mut();
            data.paths.remove(&fd);
            data.sync_writes.remove(&fd);
            reported
        }
        Hook::Renumber(from, to) => {
            let data = env.data_mut();
            data.paths.remove(&to);
            data.sync_writes.remove(&to);
            if let Some(path) = data.paths.remove(&from) {
                data.paths.insert(to, path);
            }
            if let Some(kind) = data.sync_writes.remove(&from) {
                data.sync_writes.insert(to, kind);
            }
            reported
        }
        Hook::Write(fd) => match env.data().sync_writes.get(&fd).copied() {
            Some(kind) => sync_after_write(env, fd, kind)?,
            None => reported,
        },
        Hook::None => reported,
    };
    Ok(if errno == Errno::Success as i32 {
        errno
    } else {
        i32::from(ctx.errors.correct(errno as u16))
    })
}

/// Records a new descriptor's guest path and sync flags.
fn opened(
    env: &mut FunctionEnvMut<GuestFsEnv>,
    dirfd: i32,
    (path_ptr, path_len): (i32, i32),
    fdflags: i32,
    fd_out: i32,
) {
    let (data, store) = env.data_and_store_mut();
    let Some(memory) = data.memory.as_ref() else {
        return;
    };
    let view = memory.view(&store);
    let mut path = vec![0; path_len.max(0) as usize];
    let mut fd = [0; 4];
    if view.read(path_ptr as u32 as u64, &mut path).is_err()
        || view.read(fd_out as u32 as u64, &mut fd).is_err()
    {
        return;
    }
    let fd = i32::from_le_bytes(fd);
    // wasi-libc opens relative to a preopen (our only one is "/") or to a
    // descriptor opened here.
    let base = data
        .paths
        .get(&dirfd)
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/"));
    let path = lexical_join(&base, Path::new(&*String::from_utf8_lossy(&path)));
    data.paths.insert(fd, path);
    let kind = if fdflags & (FDFLAGS_SYNC | FDFLAGS_RSYNC) != 0 {
        Some(SyncKind::All)
    } else if fdflags & FDFLAGS_DSYNC != 0 {
        Some(SyncKind::Data)
    } else {
        None
    };
    match kind {
        Some(kind) => data.sync_writes.insert(fd, kind),
        None => data.sync_writes.remove(&fd),
    };
}

/// Syncs the directory open as `fd`; returns the guest's errno.
fn sync_dir(data: &GuestFsEnv, fd: i32) -> i32 {
    let Some(path) = data.paths.get(&fd) else {
        // A preopen: the virtual root, nothing on the host.
        return Errno::Success as i32;
    };
    let tree = data
        .trees
        .iter()
        .filter_map(|(mount, tree)| Some((path.strip_prefix(mount).ok()?, tree)))
        .min_by_key(|(rest, _)| rest.components().count());
    let Some((rest, tree)) = tree else {
        // /, /pglite...: directories of the mount table, not of the host.
        return Errno::Success as i32;
    };
    match tree.sync_dir(rest) {
        Ok(()) => Errno::Success as i32,
        Err(err) => {
            tracing::error!(path = %path.display(), %err, "directory sync failed");
            guest_errno(&err) as i32
        }
    }
}

/// The sync an O_SYNC/O_DSYNC descriptor owes after a write.
fn sync_after_write(
    env: &mut FunctionEnvMut<GuestFsEnv>,
    fd: i32,
    kind: SyncKind,
) -> std::result::Result<i32, RuntimeError> {
    let data = env.data();
    let inner = match kind {
        SyncKind::All => data.inner.fd_sync.clone(),
        SyncKind::Data => data.inner.fd_datasync.clone(),
    };
    let Some(inner) = inner else {
        return Ok(Errno::Nosys as i32);
    };
    let ctx = data.ctx.clone();
    ctx.syncs.request(kind);
    let reported = inner.call(&mut env.as_store_mut(), fd)?;
    ctx.syncs.take_request();
    Ok(reported)
}

/// `base` joined with `path`, `.` and `..` taken lexically (wasix resolves
/// them the same way for paths without symlinks).
fn lexical_join(base: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in base.join(path).components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_paths_are_absolute_and_plain() {
        let root = Path::new("/");
        assert_eq!(
            lexical_join(root, Path::new("data/pg_wal")),
            Path::new("/data/pg_wal")
        );
        assert_eq!(
            lexical_join(Path::new("/data"), Path::new("./base/../global")),
            Path::new("/data/global")
        );
        assert_eq!(lexical_join(root, Path::new("../..")), Path::new("/"));
    }
}
