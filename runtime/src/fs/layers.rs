//! A tree on the host made of a writable upper directory and, for a
//! copy-on-write root, a read-only lower one (the unpacked template).
//!
//! The guest sees the upper directory's entries and, where the upper one
//! has none, the lower one's. A file is copied up whole the first time it is
//! written. What the guest removes or renames away from the lower layer is
//! hidden by a whiteout marker in the upper directory; a directory created
//! where the lower layer has one that was removed is marked opaque, so the
//! old contents do not show through. Markers are files with reserved names
//! ([`RESERVED_PREFIX`]) beside the entries they concern, so the guest's
//! directory syncs make them durable along with those entries.
//!
//! Without a lower directory every operation is the plain host one.
//!
//! [`RESERVED_PREFIX`]: super::paths::RESERVED_PREFIX

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::errno::os_error;
use super::paths::{is_reserved, TreePath, RESERVED_PREFIX};
use super::sync::{SyncKind, Syncs};

const OPAQUE: &str = ".pglite-opaque";
const WHITEOUT: &str = "whiteout";
const COPYING: &str = "copying";

/// PostgreSQL's own modes: the guest has no permission bits (WASI), so the
/// layer creates what PostgreSQL would.
pub(crate) const DIR_MODE: u32 = 0o700;
pub(crate) const FILE_MODE: u32 = 0o600;

/// Where an entry the guest sees lives.
#[derive(Debug)]
pub(crate) enum Found {
    Upper(Metadata),
    Lower(Metadata),
}

impl Found {
    pub fn metadata(&self) -> &Metadata {
        match self {
            Found::Upper(m) | Found::Lower(m) => m,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.metadata().is_dir()
    }
}

#[derive(Debug)]
pub(crate) struct Layers {
    upper: PathBuf,
    lower: Option<PathBuf>,
    /// Files copied up since this tree was mounted: a handle still reading
    /// the lower copy switches to the upper one.
    copied: Mutex<HashSet<TreePath>>,
    /// Counts copy-ups, so open handles notice them with one atomic load.
    copies: AtomicU64,
    /// [`visible_lower`](Self::visible_lower)'s answers. The lower layer
    /// never changes, and what hides it (markers, upper directories) is only
    /// made or removed by this type's own methods, which forget the answers.
    /// A backend's start looks up the same few hundred paths ~2,000 times.
    visible: Mutex<HashMap<TreePath, Option<Metadata>>>,
}

impl Layers {
    pub fn new(upper: PathBuf, lower: Option<PathBuf>) -> Self {
        Self {
            upper,
            lower,
            copied: Mutex::default(),
            copies: AtomicU64::new(0),
            visible: Mutex::default(),
        }
    }

    pub fn upper(&self, p: &TreePath) -> PathBuf {
        p.on(&self.upper)
    }

    pub fn lower(&self, p: &TreePath) -> Option<PathBuf> {
        self.lower.as_deref().map(|root| p.on(root))
    }

    pub fn copies(&self) -> u64 {
        self.copies.load(Ordering::Acquire)
    }

    pub fn was_copied(&self, p: &TreePath) -> bool {
        self.copied.lock().is_ok_and(|set| set.contains(p))
    }

    /// The entry at `p` as the guest sees it (symlinks not followed).
    pub fn find(&self, p: &TreePath) -> io::Result<Option<Found>> {
        if let Some(meta) = lstat(&self.upper(p))? {
            return Ok(Some(Found::Upper(meta)));
        }
        Ok(self.visible_lower(p)?.map(Found::Lower))
    }

    /// The lower layer's entry at `p` unless the upper layer hides it.
    fn visible_lower(&self, p: &TreePath) -> io::Result<Option<Metadata>> {
        if self.lower.is_none() {
            return Ok(None);
        }
        if let Some(known) = self.visible.lock().ok().and_then(|v| v.get(p).cloned()) {
            return Ok(known);
        }
        let found = self.look_up_visible_lower(p)?;
        if let Ok(mut visible) = self.visible.lock() {
            visible.insert(p.clone(), found.clone());
        }
        Ok(found)
    }

    /// For every method that changes the upper layer: when it returns,
    /// [`visible_lower`](Self::visible_lower) must look again.
    fn changing(&self) -> Changing<'_> {
        Changing(self)
    }

    fn forget_visibility(&self) {
        if let Ok(mut visible) = self.visible.lock() {
            visible.clear();
        }
    }

    fn look_up_visible_lower(&self, p: &TreePath) -> io::Result<Option<Metadata>> {
        let Some(lower) = self.lower(p) else {
            return Ok(None);
        };
        let Some(meta) = lstat(&lower)? else {
            return Ok(None);
        };
        let mut dir = TreePath::root();
        let mut steps = p.ancestors();
        steps.push(p.clone());
        for step in steps {
            // Below a directory the upper layer lacks there are no markers.
            if lstat(&self.upper(&dir))?.is_none() {
                break;
            }
            if lstat(&self.upper(&dir.child(OPAQUE.as_ref())))?.is_some() {
                return Ok(None);
            }
            if let Some(whiteout) = step.marker(WHITEOUT) {
                if lstat(&self.upper(&whiteout))?.is_some() {
                    return Ok(None);
                }
            }
            if &step != p {
                if let Some(upper) = lstat(&self.upper(&step))? {
                    if !upper.is_dir() {
                        return Ok(None);
                    }
                }
            }
            dir = step;
        }
        Ok(Some(meta))
    }

    /// The guest's view of directory `p`: name, metadata and layer.
    pub fn read_dir(&self, p: &TreePath) -> io::Result<BTreeMap<OsString, Found>> {
        let found = self.find(p)?.ok_or_else(|| os_error(libc::ENOENT))?;
        if !found.is_dir() {
            return Err(os_error(libc::ENOTDIR));
        }
        let mut entries = BTreeMap::new();
        let mut hidden = HashSet::new();
        let mut opaque = false;
        if let Found::Upper(_) = found {
            for entry in fs::read_dir(self.upper(p))? {
                let entry = entry?;
                let name = entry.file_name();
                if !is_reserved(&name) {
                    if let Some(meta) = lstat(&entry.path())? {
                        entries.insert(name, Found::Upper(meta));
                    }
                } else if name == OPAQUE {
                    opaque = true;
                } else if let Some(hid) = whiteout_of(&name) {
                    hidden.insert(hid);
                }
            }
        }
        let lower = match found {
            Found::Lower(_) => self.lower(p),
            Found::Upper(_) if !opaque => self
                .visible_lower(p)?
                .filter(Metadata::is_dir)
                .and(self.lower(p)),
            Found::Upper(_) => None,
        };
        if let Some(lower) = lower {
            for entry in fs::read_dir(lower)? {
                let entry = entry?;
                let name = entry.file_name();
                if is_reserved(&name) || hidden.contains(&name) || entries.contains_key(&name) {
                    continue;
                }
                if let Some(meta) = lstat(&entry.path())? {
                    entries.insert(name, Found::Lower(meta));
                }
            }
        }
        Ok(entries)
    }

    /// Makes directory `p` (a directory the guest sees) exist in the upper
    /// layer, creating it and its parents as needed.
    pub fn ensure_upper_dir(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        if self.lower.is_none() {
            // Callers checked that the directory exists: there is no other.
            return Ok(());
        }
        let mut steps = p.ancestors();
        steps.push(p.clone());
        for step in steps.iter().filter(|s| !s.is_root()) {
            match lstat(&self.upper(step))? {
                Some(meta) if meta.is_dir() => continue,
                Some(_) => return Err(os_error(libc::ENOTDIR)),
                None => {}
            }
            match self.visible_lower(step)? {
                Some(meta) if meta.is_dir() => {}
                Some(_) => return Err(os_error(libc::ENOTDIR)),
                None => return Err(os_error(libc::ENOENT)),
            }
            make_dir(&self.upper(step))?;
            self.sync_parent(step, syncs)?;
        }
        Ok(())
    }

    /// Copies the lower file `p` into the upper layer (no-op if it is there).
    pub fn copy_up(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        let mut copied = self.copied.lock().map_err(|_| os_error(libc::EIO))?;
        let Some(Found::Lower(meta)) = self.find(p)? else {
            return Ok(());
        };
        let parent = p.parent().ok_or_else(|| os_error(libc::EISDIR))?;
        self.ensure_upper_dir(&parent, syncs)?;
        let lower = self.lower(p).ok_or_else(|| os_error(libc::ENOENT))?;
        let temp = p.marker(COPYING).ok_or_else(|| os_error(libc::EISDIR))?;
        let temp = self.upper(&temp);
        if meta.file_type().is_symlink() {
            remove_if_present(&temp)?;
            std::os::unix::fs::symlink(fs::read_link(&lower)?, &temp)?;
        } else if meta.is_file() {
            // copy_file_range: in the kernel, and a reflink where the
            // filesystem can; holes stay holes (a frozen snapshot's WAL).
            remove_if_present(&temp)?;
            super::sparse::copy_keeping_holes(&lower, &temp, FILE_MODE)?;
            let file = fs::File::open(&temp)?;
            // The guest will sync its writes, never this copy's entry.
            syncs.sync_file(&file, SyncKind::All)?;
        } else {
            return Err(os_error(libc::EISDIR));
        }
        fs::rename(&temp, self.upper(p))?;
        self.sync_parent(p, syncs)?;
        copied.insert(p.clone());
        self.copies.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Records that `p` now has an upper copy made without [`copy_up`]
    /// (emptied over the lower one), for handles still reading the lower.
    ///
    /// [`copy_up`]: Self::copy_up
    pub fn note_copied(&self, p: &TreePath) {
        let _changing = self.changing();
        if let Ok(mut copied) = self.copied.lock() {
            copied.insert(p.clone());
            self.copies.fetch_add(1, Ordering::Release);
        }
    }

    /// Creates directory `p`; its parent must exist.
    pub fn create_dir(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        let parent = p.parent().ok_or_else(|| os_error(libc::EEXIST))?;
        self.require_dir(&parent)?;
        if self.find(p)?.is_some() {
            return Err(os_error(libc::EEXIST));
        }
        self.ensure_upper_dir(&parent, syncs)?;
        make_dir(&self.upper(p))?;
        if self.has_lower(p)? {
            // A lower directory of that name was removed: keep it hidden.
            create_marker(&self.upper(&p.child(OPAQUE.as_ref())))?;
        }
        Ok(())
    }

    /// Creates a symlink at `p` holding `target`.
    pub fn create_symlink(&self, target: &Path, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        let parent = p.parent().ok_or_else(|| os_error(libc::EEXIST))?;
        self.require_dir(&parent)?;
        if self.find(p)?.is_some() {
            return Err(os_error(libc::EEXIST));
        }
        self.ensure_upper_dir(&parent, syncs)?;
        std::os::unix::fs::symlink(target, self.upper(p))
    }

    pub fn read_link(&self, p: &TreePath) -> io::Result<PathBuf> {
        match self.find(p)? {
            Some(Found::Upper(_)) => fs::read_link(self.upper(p)),
            Some(Found::Lower(_)) => match self.lower(p) {
                Some(lower) => fs::read_link(lower),
                None => Err(os_error(libc::ENOENT)),
            },
            None => Err(os_error(libc::ENOENT)),
        }
    }

    /// Removes the file or symlink `p`.
    pub fn remove_file(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        let found = self.find(p)?.ok_or_else(|| os_error(libc::ENOENT))?;
        if found.is_dir() {
            return Err(os_error(libc::EISDIR));
        }
        // Whiteout first: until the upper file is gone, it wins anyway.
        self.hide_lower(p, syncs)?;
        if let Found::Upper(_) = found {
            fs::remove_file(self.upper(p))?;
        }
        Ok(())
    }

    /// Removes the empty directory `p`.
    pub fn remove_dir(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        if p.is_root() {
            return Err(os_error(libc::EBUSY));
        }
        let found = self.find(p)?.ok_or_else(|| os_error(libc::ENOENT))?;
        if !found.is_dir() {
            return Err(os_error(libc::ENOTDIR));
        }
        if !self.read_dir(p)?.is_empty() {
            return Err(os_error(libc::ENOTEMPTY));
        }
        self.hide_lower(p, syncs)?;
        if let Found::Upper(_) = found {
            // Only markers are left in it.
            fs::remove_dir_all(self.upper(p))?;
        }
        Ok(())
    }

    /// Renames `from` to `to` as rename(2) does: a file replaces a file, a
    /// directory replaces an empty directory.
    pub fn rename(&self, from: &TreePath, to: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        let source = self.find(from)?.ok_or_else(|| os_error(libc::ENOENT))?;
        if from == to {
            return Ok(());
        }
        let target_parent = to.parent().ok_or_else(|| os_error(libc::EBUSY))?;
        if from.is_root() {
            return Err(os_error(libc::EBUSY));
        }
        if source.is_dir() && to.as_path().starts_with(from.as_path()) {
            return Err(os_error(libc::EINVAL));
        }
        self.require_dir(&target_parent)?;
        match (source.is_dir(), self.find(to)?) {
            (false, Some(target)) if target.is_dir() => return Err(os_error(libc::EISDIR)),
            (true, Some(target)) if !target.is_dir() => return Err(os_error(libc::ENOTDIR)),
            (true, Some(_)) if !self.read_dir(to)?.is_empty() => {
                return Err(os_error(libc::ENOTEMPTY))
            }
            (true, Some(Found::Upper(_))) => fs::remove_dir_all(self.upper(to))?,
            _ => {}
        }
        self.ensure_upper_dir(&target_parent, syncs)?;
        if source.is_dir() {
            if self.visible_lower(from)?.is_some() {
                self.copy_up_tree(from, syncs)?;
            } else if self.has_lower(to)? {
                create_marker(&self.upper(&from.child(OPAQUE.as_ref())))?;
            }
            self.hide_lower(from, syncs)?;
            return fs::rename(self.upper(from), self.upper(to));
        }
        if let Found::Lower(_) = source {
            self.copy_up(from, syncs)?;
            fs::rename(self.upper(from), self.upper(to))?;
            // Last: a crash before this leaves both names, never neither.
            return self.hide_lower(from, syncs);
        }
        self.hide_lower(from, syncs)?;
        fs::rename(self.upper(from), self.upper(to))
    }

    /// Puts the whole directory `p` in the upper layer and makes it opaque.
    fn copy_up_tree(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        self.ensure_upper_dir(p, syncs)?;
        for (name, found) in self.read_dir(p)? {
            let child = p.child(&name);
            match found {
                Found::Lower(meta) if meta.is_dir() => self.copy_up_tree(&child, syncs)?,
                Found::Lower(_) => self.copy_up(&child, syncs)?,
                Found::Upper(_) => {}
            }
        }
        create_marker(&self.upper(&p.child(OPAQUE.as_ref())))
    }

    /// Hides the lower layer's `p`, if the guest can see one.
    fn hide_lower(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        let _changing = self.changing();
        if self.visible_lower(p)?.is_none() {
            return Ok(());
        }
        let parent = p.parent().ok_or_else(|| os_error(libc::EBUSY))?;
        self.ensure_upper_dir(&parent, syncs)?;
        let marker = p.marker(WHITEOUT).ok_or_else(|| os_error(libc::EBUSY))?;
        create_marker(&self.upper(&marker))
    }

    fn has_lower(&self, p: &TreePath) -> io::Result<bool> {
        match self.lower(p) {
            Some(lower) => Ok(lstat(&lower)?.is_some()),
            None => Ok(false),
        }
    }

    fn require_dir(&self, p: &TreePath) -> io::Result<()> {
        match self.find(p)? {
            Some(found) if found.is_dir() => Ok(()),
            Some(_) => Err(os_error(libc::ENOTDIR)),
            None => Err(os_error(libc::ENOENT)),
        }
    }

    /// Syncs the upper directory holding `p`'s entry (copy-on-write
    /// bookkeeping the guest does not know it must sync).
    fn sync_parent(&self, p: &TreePath, syncs: &Syncs) -> io::Result<()> {
        match p.parent() {
            Some(parent) => syncs.sync_dir(&self.upper(&parent)),
            None => Ok(()),
        }
    }
}

/// `symlink_metadata`, with "not there" as `None`.
pub(crate) fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if is_absent(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

/// ENOENT, or ENOTDIR (a file where a directory of the path would be).
fn is_absent(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

fn whiteout_of(name: &std::ffi::OsStr) -> Option<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let prefix = format!("{RESERVED_PREFIX}{WHITEOUT}.");
    name.as_bytes()
        .strip_prefix(prefix.as_bytes())
        .map(|rest| std::ffi::OsStr::from_bytes(rest).to_os_string())
}

fn make_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(DIR_MODE).create(path)
}

fn create_marker(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
}

/// Forgets [`Layers::visible_lower`]'s answers when dropped: held by every
/// method that changes the upper layer, whatever way it returns.
struct Changing<'a>(&'a Layers);

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.forget_visibility();
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if !is_absent(&err) => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
