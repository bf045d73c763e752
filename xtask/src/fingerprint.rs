//! Input fingerprints: a sha256 over everything a step depends on, so that a
//! step whose inputs did not change is skipped.
//!
//! Every item is framed (tag, label, length-prefixed bytes), so distinct
//! inputs cannot collide by concatenation. Directory walks are sorted by
//! relative path, so the order a filesystem returns entries in never matters.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::recipes::WorkspaceInput;
use crate::tree::{is_executable, walk_files};

/// An incremental fingerprint.
pub struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    /// Starts a fingerprint for one kind of step (`"build"`, `"fetch"`).
    pub fn new(kind: &str) -> Self {
        let mut fp = Self {
            hasher: Sha256::new(),
        };
        fp.item(b'k', kind, kind.as_bytes());
        fp
    }

    fn item(&mut self, tag: u8, label: &str, value: &[u8]) {
        self.hasher.update([tag]);
        self.hasher.update((label.len() as u64).to_le_bytes());
        self.hasher.update(label.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
    }

    /// Adds a labelled string.
    pub fn add_str(&mut self, label: &str, value: &str) -> &mut Self {
        self.item(b's', label, value.as_bytes());
        self
    }

    /// Adds a file's contents under a label.
    pub fn add_file(&mut self, label: &str, path: &Path) -> Result<&mut Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.item(b'f', label, &bytes);
        Ok(self)
    }

    /// Adds every file under `dir` (recursively) whose name passes `filter`:
    /// relative paths, file kinds, executable bits and contents. A missing
    /// directory counts as empty.
    pub fn add_dir_filtered(
        &mut self,
        label: &str,
        dir: &Path,
        filter: impl Fn(&Path) -> bool,
    ) -> Result<&mut Self> {
        self.add_str("dir", label);
        if !dir.exists() {
            return Ok(self);
        }
        for entry in walk_files(dir)? {
            let path = dir.join(&entry.rel);
            if !filter(&path) {
                continue;
            }
            let name = entry.name;
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?;
                self.item(b'l', &name, target.as_os_str().as_encoded_bytes());
            } else {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let tag = if is_executable(&meta) { b'x' } else { b'f' };
                self.item(tag, &name, &bytes);
            }
        }
        Ok(self)
    }

    /// Adds every file under `dir` (recursively).
    pub fn add_dir(&mut self, label: &str, dir: &Path) -> Result<&mut Self> {
        self.add_dir_filtered(label, dir, |_| true)
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// Everything a PostgreSQL build depends on.
pub struct BuildInputs<'a> {
    /// `recipes/`: every `*.toml` in it.
    pub recipes: &'a Path,
    /// A build recipe outside `recipes/` (tests, experiments).
    pub recipe: &'a Path,
    pub patches: &'a Path,
    pub assets: &'a Path,
    /// The repository, and the directories of it that the steps read.
    pub workspace: &'a Path,
    pub workspace_inputs: &'a [WorkspaceInput],
    /// Toolchain packages and their installed versions (`None`: not installed).
    pub toolchain: &'a [(String, Option<String>)],
    pub xtask_version: &'a str,
}

/// The build fingerprint over all of `inputs`.
pub fn build_fingerprint(inputs: &BuildInputs) -> Result<String> {
    let mut fp = Fingerprint::new("build");
    // targets.toml says what is compiled ahead of time from the build's
    // output; changing it must not rebuild PostgreSQL.
    fp.add_dir_filtered("recipes", inputs.recipes, |p| {
        p.extension().is_some_and(|e| e == "toml")
            && p.file_name().is_some_and(|n| n != "targets.toml")
    })?;
    fp.add_file("recipe", inputs.recipe)?;
    fp.add_dir("patches", inputs.patches)?;
    fp.add_dir("assets", inputs.assets)?;
    for input in inputs.workspace_inputs {
        let root = inputs.workspace.join(&input.from);
        fp.add_str("workspace input", &input.to);
        fp.add_dir_filtered(&input.from, &root, |path| {
            path.strip_prefix(&root)
                .is_ok_and(|rel| input.includes(rel))
        })?;
    }
    for (name, version) in inputs.toolchain {
        fp.add_str(name, version.as_deref().unwrap_or("<not installed>"));
    }
    fp.add_str("xtask", inputs.xtask_version);
    Ok(fp.finish())
}

/// The stamp recorded after a step last succeeded, if any.
pub fn read_stamp(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn write_stamp(path: &Path, fingerprint: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, format!("{fingerprint}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

pub fn remove_stamp(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root.join("recipes/postgres.toml"), "[source]\n");
        write(&root.join("recipes/sources.toml"), "[source.x]\n");
        write(&root.join("recipes/README.md"), "not a recipe");
        write(&root.join("patches/0001-a.patch"), "--- a\n+++ b\n");
        write(&root.join("assets/bridge/host.c"), "int x;\n");
        write(&root.join("assets/port.h"), "#pragma once\n");
        write(&root.join("extensions/ours/ours.c"), "int ours;\n");
        write(
            &root.join("extensions/ours/tests/client.rs"),
            "fn main() {}\n",
        );
        Tree { _dir: dir, root }
    }

    fn fingerprint(t: &Tree, toolchain: &[(String, Option<String>)], version: &str) -> String {
        build_fingerprint(&BuildInputs {
            recipes: &t.root.join("recipes"),
            recipe: &t.root.join("recipes/postgres.toml"),
            patches: &t.root.join("patches"),
            assets: &t.root.join("assets"),
            workspace: &t.root,
            workspace_inputs: &[WorkspaceInput {
                from: "extensions/ours".into(),
                to: "extension-sources/ours".into(),
                exclude: vec!["tests".into()],
            }],
            toolchain,
            xtask_version: version,
        })
        .unwrap()
    }

    fn clang(version: &str) -> Vec<(String, Option<String>)> {
        vec![("clang-22".into(), Some(version.into()))]
    }

    #[test]
    fn unchanged_inputs_give_the_same_fingerprint() {
        let t = tree();
        assert_eq!(
            fingerprint(&t, &clang("1"), "0.0.0"),
            fingerprint(&t, &clang("1"), "0.0.0")
        );
    }

    #[test]
    fn changing_any_input_changes_the_fingerprint() {
        let t = tree();
        let base = fingerprint(&t, &clang("1"), "0.0.0");
        assert_ne!(base, fingerprint(&t, &clang("2"), "0.0.0"));
        assert_ne!(base, fingerprint(&t, &[], "0.0.0"));
        assert_ne!(base, fingerprint(&t, &clang("1"), "0.0.1"));
        for file in [
            "recipes/postgres.toml",
            "recipes/sources.toml",
            "patches/0001-a.patch",
            "assets/bridge/host.c",
            "assets/port.h",
            "extensions/ours/ours.c",
        ] {
            let path = t.root.join(file);
            let old = fs::read_to_string(&path).unwrap();
            fs::write(&path, format!("{old} ")).unwrap();
            assert_ne!(base, fingerprint(&t, &clang("1"), "0.0.0"), "{file}");
            fs::write(&path, old).unwrap();
        }
        assert_eq!(base, fingerprint(&t, &clang("1"), "0.0.0"));
    }

    #[test]
    fn adding_renaming_or_chmodding_files_changes_the_fingerprint() {
        let t = tree();
        let base = fingerprint(&t, &clang("1"), "0.0.0");
        write(&t.root.join("patches/0002-b.patch"), "");
        assert_ne!(base, fingerprint(&t, &clang("1"), "0.0.0"));
        fs::remove_file(t.root.join("patches/0002-b.patch")).unwrap();
        fs::rename(t.root.join("assets/port.h"), t.root.join("assets/port2.h")).unwrap();
        assert_ne!(base, fingerprint(&t, &clang("1"), "0.0.0"));
        fs::rename(t.root.join("assets/port2.h"), t.root.join("assets/port.h")).unwrap();
        assert_eq!(base, fingerprint(&t, &clang("1"), "0.0.0"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = t.root.join("assets/port.h");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            assert_ne!(base, fingerprint(&t, &clang("1"), "0.0.0"));
        }
    }

    #[test]
    fn excluded_parts_of_a_workspace_input_are_ignored() {
        let t = tree();
        let base = fingerprint(&t, &clang("1"), "0.0.0");
        write(&t.root.join("extensions/ours/tests/client.rs"), "changed");
        write(&t.root.join("extensions/other.c"), "not an input");
        assert_eq!(base, fingerprint(&t, &clang("1"), "0.0.0"));
        write(&t.root.join("extensions/ours/testsuite.c"), "an input");
        assert_ne!(base, fingerprint(&t, &clang("1"), "0.0.0"));
    }

    #[test]
    fn non_toml_files_in_recipes_are_ignored() {
        let t = tree();
        let base = fingerprint(&t, &clang("1"), "0.0.0");
        write(&t.root.join("recipes/README.md"), "changed");
        assert_eq!(base, fingerprint(&t, &clang("1"), "0.0.0"));
    }

    #[test]
    fn directory_walk_order_does_not_matter() {
        let names = ["b/2", "a", "c/d/e", "b/1", "aa", "a-b", "c/a"];
        let forward = tempfile::tempdir().unwrap();
        let backward = tempfile::tempdir().unwrap();
        for name in names {
            write(&forward.path().join(name), name);
        }
        for name in names.iter().rev() {
            write(&backward.path().join(name), name);
        }
        let digest = |dir: &Path| {
            let mut fp = Fingerprint::new("t");
            fp.add_dir("d", dir).unwrap();
            fp.finish()
        };
        assert_eq!(digest(forward.path()), digest(backward.path()));
    }

    #[test]
    fn framing_prevents_concatenation_collisions() {
        let mut a = Fingerprint::new("t");
        a.add_str("x", "ab").add_str("y", "c");
        let mut b = Fingerprint::new("t");
        b.add_str("x", "a").add_str("y", "bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn stamps_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join("stamps/build.fingerprint");
        assert_eq!(read_stamp(&stamp), None);
        write_stamp(&stamp, "abc").unwrap();
        assert_eq!(read_stamp(&stamp).as_deref(), Some("abc"));
        remove_stamp(&stamp).unwrap();
        remove_stamp(&stamp).unwrap();
        assert_eq!(read_stamp(&stamp), None);
    }
}
