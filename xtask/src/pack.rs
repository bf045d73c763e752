//! Deterministic `.tar.zst` packing: the same tree always gives the same
//! bytes, whatever order it was created in and whatever its timestamps,
//! owners or umask were.
//!
//! Entries are sorted by relative path (directories included), every header
//! has mtime 0, uid/gid 0 and empty owner names, modes are normalized to
//! 0755 (directories and executables) or 0644, no extended attributes or PAX
//! records are written, and zstd runs at a fixed level.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tar::{Builder, EntryType, Header};

use crate::tree::{is_executable, walk};

/// zstd level used for every package.
pub const ZSTD_LEVEL: i32 = 19;

/// Packs `dir`'s contents (paths relative to `dir`) into `.tar.zst` bytes.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>> {
    compress(&tar_dir(dir)?)
}

/// Packs the entries `roots` of `dir` (files or whole subtrees, paths
/// relative to `dir`) into `.tar.zst` bytes.
pub fn pack_paths(dir: &Path, roots: &[&str]) -> Result<Vec<u8>> {
    compress(&tar_paths(dir, roots)?)
}

/// Packs one file, under its own name, into `.tar.zst` bytes.
pub fn pack_file(file: &Path) -> Result<Vec<u8>> {
    compress(&tar_file(file)?)
}

/// The uncompressed deterministic tar of the entries `roots` of `dir`.
pub fn tar_paths(dir: &Path, roots: &[&str]) -> Result<Vec<u8>> {
    for root in roots {
        if !dir.join(root).exists() {
            bail!("{} does not exist", dir.join(root).display());
        }
    }
    let in_roots = |name: &str| {
        roots.iter().any(|root| {
            name == *root
                || name
                    .strip_prefix(root)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    tar_filtered(dir, in_roots)
}

/// The uncompressed deterministic tar of one file, under its own name.
pub fn tar_file(file: &Path) -> Result<Vec<u8>> {
    let dir = file.parent().context("file has no directory")?;
    let name = file
        .file_name()
        .context("file has no name")?
        .to_string_lossy()
        .into_owned();
    tar_paths(dir, &[name.as_str()])
}

/// zstd at [`ZSTD_LEVEL`], single-threaded: the same input always gives
/// the same bytes.
pub fn compress(tar: &[u8]) -> Result<Vec<u8>> {
    zstd::stream::encode_all(tar, ZSTD_LEVEL).context("zstd compression")
}

/// The uncompressed deterministic tar of `dir`.
pub fn tar_dir(dir: &Path) -> Result<Vec<u8>> {
    tar_filtered(dir, |_| true)
}

fn tar_filtered(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<u8>> {
    let mut builder = Builder::new(Vec::new());
    for entry in walk(dir)? {
        if !keep(&entry.name) {
            continue;
        }
        let rel = entry.rel;
        let path = dir.join(&rel);
        let meta =
            std::fs::symlink_metadata(&path).with_context(|| format!("stat {}", path.display()))?;
        let mut header = Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("")?;
        header.set_groupname("")?;
        let file_type = meta.file_type();
        if file_type.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, &rel, std::io::empty())?;
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(&path)?;
            header.set_entry_type(EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, &rel, &target)?;
        } else if file_type.is_file() {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            header.set_entry_type(EntryType::Regular);
            header.set_mode(if is_executable(&meta) { 0o755 } else { 0o644 });
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, &rel, bytes.as_slice())?;
        } else {
            bail!(
                "{}: only files, directories and symlinks can be packed",
                path.display()
            );
        }
    }
    builder.into_inner().context("finishing tar")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn build(root: &Path, order: &[&str], exec_mode: u32) {
        for name in order {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            if name.ends_with('/') {
                fs::create_dir_all(&path).unwrap();
            } else {
                fs::write(&path, format!("content of {name}")).unwrap();
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let bin = root.join("bin/tool");
            fs::set_permissions(&bin, fs::Permissions::from_mode(exec_mode)).unwrap();
            std::os::unix::fs::symlink("tool", root.join("bin/link")).unwrap();
        }
    }

    const NAMES: [&str; 6] = ["a.txt", "bin/tool", "empty/", "z/y/x", "z/a", "b.txt"];

    #[test]
    fn same_dir_packs_to_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &NAMES, 0o755);
        assert_eq!(pack_dir(dir.path()).unwrap(), pack_dir(dir.path()).unwrap());
    }

    #[test]
    fn creation_order_times_and_modes_do_not_matter() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        build(first.path(), &NAMES, 0o755);
        let mut reversed = NAMES;
        reversed.reverse();
        std::thread::sleep(std::time::Duration::from_millis(20));
        build(second.path(), &reversed, 0o700);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = second.path().join("a.txt");
            fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(
            pack_dir(first.path()).unwrap(),
            pack_dir(second.path()).unwrap()
        );
    }

    #[test]
    fn entries_are_sorted_and_normalized() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &NAMES, 0o700);
        let packed = pack_dir(dir.path()).unwrap();
        let tar = zstd::stream::decode_all(packed.as_slice()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.gid().unwrap(), 0);
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = header.mode().unwrap();
            match path.as_str() {
                "bin/tool" => assert_eq!(mode, 0o755),
                "a.txt" => assert_eq!(mode, 0o644),
                _ => {}
            }
            seen.push(path);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert!(seen.iter().any(|p| p.trim_end_matches('/') == "empty"));
        assert!(seen.contains(&"z/y/x".to_string()));
    }

    #[test]
    fn pack_paths_takes_only_the_named_roots() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &NAMES, 0o755);
        let packed = pack_paths(dir.path(), &["z", "a.txt"]).unwrap();
        let tar = zstd::stream::decode_all(packed.as_slice()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .map(|n| n.trim_end_matches('/').to_string())
            .collect();
        assert_eq!(names, ["a.txt", "z", "z/a", "z/y", "z/y/x"]);
        assert!(pack_paths(dir.path(), &["missing"]).is_err());
        let one = pack_file(&dir.path().join("a.txt")).unwrap();
        assert_eq!(one, pack_paths(dir.path(), &["a.txt"]).unwrap());
    }

    #[test]
    fn content_changes_change_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), &NAMES, 0o755);
        let before = pack_dir(dir.path()).unwrap();
        fs::write(dir.path().join("z/a"), "different").unwrap();
        assert_ne!(before, pack_dir(dir.path()).unwrap());
    }
}
