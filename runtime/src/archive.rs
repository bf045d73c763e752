//! A data directory as one file (`.tar.zst`), and back.
//!
//! Packing walks the guest's view of a root (a copy-on-write root's layers
//! merged) in byte order of names, with fixed owners, modes and times:
//! the same files give the same archive. Unpacking refuses anything that is
//! not a PostgreSQL data directory this build can run: entries other than
//! files, directories and relative symlinks, paths leaving the directory, a
//! damaged stream, and a control file that is corrupt or was written by
//! another PostgreSQL version or for another architecture.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::path::{Component, Path};

use crate::control::Compatibility;
use crate::fs::view::{self, Kind};
use crate::roots::{lower_layer, set_modes};
use crate::{Error, Result};

/// zstd's level: fast, and fixed, so the output is too.
const LEVEL: i32 = 3;

/// Writes the database files of `root` to the archive `out`, replacing it
/// only once complete (written aside, synced, renamed). The root must be
/// held still: its backend checkpointed and idle, or shut down.
pub fn pack_root(root: &Path, out: &Path) -> Result<()> {
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".pglite-dump-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a file in", dir, e))?;
    let lower = lower_layer(root)?;
    pack(root, lower.as_deref(), temp.as_file_mut())
        .map_err(|e| Error::io("archiving the data directory to", out, e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| Error::io("syncing", out, e))?;
    temp.persist(out)
        .map_err(|e| Error::io("renaming into place", out, e.error))?;
    Ok(())
}

fn pack(upper: &Path, lower: Option<&Path>, out: &mut File) -> io::Result<()> {
    let mut encoder = zstd::Encoder::new(BufWriter::new(out), LEVEL)?;
    encoder.include_checksum(true)?;
    let mut tar = tar::Builder::new(encoder);
    view::walk(upper, lower, &mut |entry| {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o700);
                header.set_size(0);
                tar.append_data(&mut header, entry.relative, io::empty())
            }
            Kind::File => {
                let file = File::open(&entry.host)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o600);
                header.set_size(file.metadata()?.len());
                tar.append_data(&mut header, entry.relative, file)
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, entry.relative, target)
            }
        }
    })?;
    let encoder = tar.into_inner()?;
    let mut writer = encoder.finish()?;
    writer.flush()
}

/// Unpacks the archive `archive` into the empty directory `dest` and checks
/// that it is a data directory this build can run, comparing it with
/// `ours`, a data directory of this build (the template). On error `dest`
/// may hold part of the archive: the caller removes it.
pub fn unpack_root(archive: &Path, dest: &Path, ours: &Path) -> Result<()> {
    let refuse = |problem: String| Error::Archive {
        archive: archive.to_path_buf(),
        problem,
    };
    let file = File::open(archive).map_err(|e| Error::io("opening", archive, e))?;
    let decoder =
        zstd::Decoder::new(file).map_err(|e| refuse(format!("not a zstd stream: {e}")))?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_mtime(false);
    let entries = tar
        .entries()
        .map_err(|e| refuse(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| refuse(format!("damaged: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| refuse(format!("damaged entry name: {e}")))?
            .into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Directory => {}
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| refuse(format!("damaged link: {e}")))?
                    .unwrap_or_default();
                if !stays_inside(&path, &target) {
                    return Err(refuse(format!(
                        "{} links outside the data directory ({})",
                        path.display(),
                        target.display()
                    )));
                }
            }
            other => {
                return Err(refuse(format!(
                    "{} is a {other:?} entry; a data directory has files, directories and \
                     symlinks only",
                    path.display()
                )))
            }
        }
        // Refuses (returns false for) paths that would leave `dest`.
        let inside = entry
            .unpack_in(dest)
            .map_err(|e| refuse(format!("damaged at {}: {e}", path.display())))?;
        if !inside {
            return Err(refuse(format!(
                "{} lies outside the data directory",
                path.display()
            )));
        }
    }
    // Read to the end of the stream: zstd checks its checksum there, which
    // catches damage inside a file's contents that tar cannot see.
    io::copy(&mut tar.into_inner(), &mut io::sink())
        .map_err(|e| refuse(format!("damaged: {e}")))?;
    set_modes(dest, 0o700, 0o600)?;
    check_data_dir(dest, ours).map_err(refuse)
}

/// A relative symlink at `path` whose target stays under the root.
fn stays_inside(path: &Path, target: &Path) -> bool {
    let mut depth = path.components().count() as isize - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Why the data directory `dir` cannot run on the build whose data
/// directory is `ours`.
pub(crate) fn check_data_dir(dir: &Path, ours: &Path) -> std::result::Result<(), String> {
    let read = |path: &Path| fs::read(path).map_err(|e| e.to_string());
    let version = read(&dir.join("PG_VERSION"))
        .map_err(|e| format!("it holds no PostgreSQL data directory (PG_VERSION: {e})"))?;
    let our_version = read(&ours.join("PG_VERSION"))?;
    if version.trim_ascii() != our_version.trim_ascii() {
        return Err(format!(
            "it holds a PostgreSQL {} data directory; this build runs PostgreSQL {}",
            String::from_utf8_lossy(version.trim_ascii()),
            String::from_utf8_lossy(our_version.trim_ascii())
        ));
    }
    let control = read(&dir.join("global/pg_control"))
        .map_err(|e| format!("it has no control file (global/pg_control: {e})"))?;
    let theirs = Compatibility::parse(&control).map_err(|e| e.to_string())?;
    let ours = Compatibility::parse(&read(&ours.join("global/pg_control"))?)
        .map_err(|e| format!("this build's template: {e}"))?;
    match theirs.mismatch(&ours) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_must_stay_inside() {
        assert!(stays_inside(
            Path::new("pg_tblspc/16384"),
            Path::new("../ts1")
        ));
        assert!(!stays_inside(
            Path::new("pg_tblspc/16384"),
            Path::new("../../x")
        ));
        assert!(!stays_inside(Path::new("a"), Path::new("/etc")));
    }

    #[test]
    fn the_same_files_make_the_same_archive() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("base/1")).unwrap();
        fs::write(root.join("PG_VERSION"), "15\n").unwrap();
        fs::write(root.join("base/1/1259"), vec![7u8; 10_000]).unwrap();
        fs::write(root.join(crate::LOCK_FILE), "").unwrap();
        let first = dir.path().join("a.tar.zst");
        pack_root(&root, &first).unwrap();
        // Other times and modes, same contents.
        fs::set_permissions(
            root.join("PG_VERSION"),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        fs::write(root.join("base/1/1259"), vec![7u8; 10_000]).unwrap();
        let second = dir.path().join("b.tar.zst");
        pack_root(&root, &second).unwrap();
        assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());

        // The lock file is the instance's, not the database's.
        let names: Vec<String> =
            tar::Archive::new(zstd::Decoder::new(File::open(&first).unwrap()).unwrap())
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
        assert_eq!(names, ["PG_VERSION", "base", "base/1", "base/1/1259"]);
    }
}
