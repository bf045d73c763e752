//! Sorted directory walks: the one place that decides entry order, so that
//! fingerprints, packages and output comparisons never depend on the order a
//! filesystem happens to return entries in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One entry found under a walked root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the root.
    pub rel: PathBuf,
    /// `/`-separated form of `rel`; the sort key.
    pub name: String,
    pub is_dir: bool,
}

/// Every entry under `root` (recursively, directories included, symlinks not
/// followed), sorted by their `/`-separated relative path.
pub fn walk(root: &Path) -> Result<Vec<TreeEntry>> {
    let mut entries = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let listing =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in listing {
            let entry = entry?;
            let child = rel.join(entry.file_name());
            let is_dir = entry.file_type()?.is_dir();
            if is_dir {
                pending.push(child.clone());
            }
            entries.push(TreeEntry {
                name: rel_string(&child),
                rel: child,
                is_dir,
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Every non-directory entry under `root`, sorted.
pub fn walk_files(root: &Path) -> Result<Vec<TreeEntry>> {
    Ok(walk(root)?.into_iter().filter(|e| !e.is_dir).collect())
}

/// A relative path with `/` separators.
pub fn rel_string(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether any execute bit is set.
#[cfg(unix)]
pub fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_sorted_and_includes_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["c/d/e", "b", "c/a", "a-b"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, name).unwrap();
        }
        let names: Vec<String> = walk(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a-b", "b", "c", "c/a", "c/d", "c/d/e"]);
        let files: Vec<String> = walk_files(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(files, ["a-b", "b", "c/a", "c/d/e"]);
    }
}
