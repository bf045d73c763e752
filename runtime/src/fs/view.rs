//! A data directory's files as the guest sees them, walked from the host:
//! what a copy, a frozen snapshot or an archive of a root takes.

use std::io;
use std::path::{Path, PathBuf};

use super::layers::{Found, Layers};
use super::paths::TreePath;

/// Files at a root's top that belong to the instance running there, not to
/// the database: a copy leaves them out.
pub(crate) const INSTANCE_FILES: [&str; 2] = [
    crate::datadir_lock::LOCK_FILE,
    crate::datadir_lock::POSTMASTER_PID,
];

/// What an entry is.
#[derive(Debug)]
pub(crate) enum Kind {
    Dir,
    File,
    /// A symlink, with its target as stored.
    Symlink(PathBuf),
}

/// One entry of the guest's view.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    /// The path relative to the root.
    pub relative: &'a Path,
    /// Where it lives on the host.
    pub host: PathBuf,
    pub kind: Kind,
    /// It lives in the read-only lower layer.
    pub from_lower: bool,
}

/// Visits every entry of the root `upper` (over `lower`, if it has one)
/// that the guest would see, a directory before its contents, names in
/// byte order (so archives of the same files are the same bytes).
pub(crate) fn walk(
    upper: &Path,
    lower: Option<&Path>,
    visit: &mut dyn FnMut(Entry<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let layers = Layers::new(upper.to_path_buf(), lower.map(Path::to_path_buf));
    walk_dir(&layers, &TreePath::root(), visit)
}

fn walk_dir(
    layers: &Layers,
    dir: &TreePath,
    visit: &mut dyn FnMut(Entry<'_>) -> io::Result<()>,
) -> io::Result<()> {
    for (name, found) in layers.read_dir(dir)? {
        if dir.is_root() && INSTANCE_FILES.iter().any(|f| name == *f) {
            continue;
        }
        let path = dir.child(&name);
        let (host, from_lower) = match &found {
            Found::Upper(_) => (layers.upper(&path), false),
            Found::Lower(_) => match layers.lower(&path) {
                Some(host) => (host, true),
                None => continue,
            },
        };
        let meta = found.metadata();
        let kind = if meta.is_dir() {
            Kind::Dir
        } else if meta.is_file() {
            Kind::File
        } else if meta.file_type().is_symlink() {
            Kind::Symlink(std::fs::read_link(&host)?)
        } else {
            // Sockets, fifos, devices: PostgreSQL keeps none in its data
            // directory, and a copy cannot carry them.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} is not a file, directory or symlink", host.display()),
            ));
        };
        let is_dir = matches!(kind, Kind::Dir);
        visit(Entry {
            relative: path.as_path(),
            host,
            kind,
            from_lower,
        })?;
        if is_dir {
            walk_dir(layers, &path, visit)?;
        }
    }
    Ok(())
}
