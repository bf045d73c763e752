//! Build outputs: copying them out of a build tree, and comparing two output
//! trees file by file (for `build --verify-reproducible`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

use crate::hashing::sha256_file;
use crate::recipes::Output;
use crate::tree::walk;

/// Copies the recipe's outputs from `build_dir` into `out_dir` (which the
/// build emptied before its steps ran, so steps may also write there via
/// `{out}`).
pub fn collect(build_dir: &Path, out_dir: &Path, outputs: &[Output]) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    for output in outputs {
        let from = build_dir.join(&output.from);
        if !from.exists() {
            bail!(
                "output {} does not exist after the build (expected at {})",
                output.from,
                from.display()
            );
        }
        let to = out_dir.join(&output.to);
        copy_any(&from, &to).with_context(|| format!("copying output {}", output.from))?;
    }
    Ok(())
}

pub fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Copies a file, symlink or directory tree (recursively).
pub fn copy_any(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        copy_dir_filtered(from, to, |_| true)
    } else {
        copy_entry(from, to)
    }
}

/// Copies the directory `from` to `to`, only the entries whose path
/// relative to `from` passes `keep` (a directory left out is left out with
/// everything in it).
pub fn copy_dir_filtered(from: &Path, to: &Path, keep: impl Fn(&Path) -> bool) -> Result<()> {
    ensure!(from.is_dir(), "{} is not a directory", from.display());
    std::fs::create_dir_all(to)?;
    for entry in walk(from)? {
        if !keep(&entry.rel) {
            continue;
        }
        let (src, dst) = (from.join(&entry.rel), to.join(&entry.rel));
        if entry.is_dir {
            std::fs::create_dir_all(&dst)?;
        } else {
            copy_entry(&src, &dst)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, to)?;
        #[cfg(not(unix))]
        bail!("cannot copy symlink {} on this platform", from.display());
    } else {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// sha256 of every file in a tree (symlinks as `symlink:<target>`), by
/// relative path.
pub fn hash_tree(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut hashes = BTreeMap::new();
    for entry in walk(dir)? {
        if entry.is_dir {
            continue;
        }
        let path = dir.join(&entry.rel);
        let hash = if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            format!("symlink:{}", std::fs::read_link(&path)?.display())
        } else {
            sha256_file(&path)?
        };
        hashes.insert(entry.name, hash);
    }
    Ok(hashes)
}

/// Two output trees side by side.
pub struct Comparison {
    /// Relative path, hash in the first tree, hash in the second.
    pub rows: Vec<(String, Option<String>, Option<String>)>,
}

impl Comparison {
    /// Compares the files of two output trees that belong to `roots` (the
    /// recipe's outputs: other steps, such as `cargo xtask template`, add
    /// files of their own to the output directory).
    pub fn of(first: &Path, second: &Path, roots: &[&str]) -> Result<Self> {
        let a = hash_tree(first)?;
        let b = hash_tree(second)?;
        let in_roots = |name: &&String| {
            roots.iter().any(|root| {
                name.as_str() == *root
                    || name
                        .strip_prefix(root)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        let names: std::collections::BTreeSet<&String> =
            a.keys().chain(b.keys()).filter(in_roots).collect();
        let rows = names
            .into_iter()
            .map(|n| (n.clone(), a.get(n).cloned(), b.get(n).cloned()))
            .collect();
        Ok(Self { rows })
    }

    /// Paths whose hashes differ or that exist in only one tree.
    pub fn differences(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(n, _, _)| n.as_str())
            .collect()
    }

    /// A table: status, path, both hashes (shortened).
    pub fn table(&self) -> String {
        let short = |h: &Option<String>| match h {
            Some(h) => h.chars().take(16).collect(),
            None => "(absent)".to_string(),
        };
        let mut out = String::new();
        let _ = writeln!(out, "{:<6} {:<16} {:<16} path", "", "first", "second");
        for (name, a, b) in &self.rows {
            let status = if a == b { "same" } else { "DIFF" };
            let _ = writeln!(out, "{status:<6} {:<16} {:<16} {name}", short(a), short(b));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn output(from: &str, to: &str) -> Output {
        Output {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn collects_files_and_directories() {
        let build = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("out");
        fs::create_dir_all(build.path().join("src/backend")).unwrap();
        fs::write(build.path().join("src/backend/postgres"), "wasm").unwrap();
        fs::create_dir_all(build.path().join("install/share/tz")).unwrap();
        fs::write(build.path().join("install/share/tz/UTC"), "utc").unwrap();
        let outputs = [
            output("src/backend/postgres", "postgres.wasm"),
            output("install/share", "share"),
        ];
        collect(build.path(), &out, &outputs).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("postgres.wasm")).unwrap(),
            "wasm"
        );
        assert_eq!(fs::read_to_string(out.join("share/tz/UTC")).unwrap(), "utc");
        assert!(!out.join("stale").exists());
        assert!(!work.path().join("out.partial").exists());

        let err = collect(build.path(), &out, &[output("missing", "x")]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(
            out.join("postgres.wasm").exists(),
            "failed collect kept old outputs"
        );
    }

    #[test]
    fn comparison_names_differing_files() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            fs::write(dir.join("same"), "x").unwrap();
        }
        fs::write(a.path().join("differs"), "1").unwrap();
        fs::write(b.path().join("differs"), "2").unwrap();
        fs::write(a.path().join("only-first"), "").unwrap();
        fs::write(a.path().join("not-an-output"), "").unwrap();
        let roots = ["same", "differs", "only-first"];
        let cmp = Comparison::of(a.path(), b.path(), &roots).unwrap();
        assert_eq!(cmp.differences(), ["differs", "only-first"]);
        let table = cmp.table();
        assert!(table.contains("same   "), "{table}");
        assert!(table.contains("(absent)"), "{table}");
    }
}
