//! The packaged crates as a user gets them: a project outside the workspace
//! that depends on `pglite-oxide` only, with every released crate taken
//! from its unpacked `.crate` (`[patch]`), checked for what it pulls in on
//! each target, then built and run offline with the quickstart example.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::recipes::TargetsRecipe;

use super::workspace::Crate;

/// Crates that compile wasm (and need LLVM, for one): none may be in a
/// user's default dependency tree.
const COMPILERS: &[&str] = &[
    "wasmer-compiler-cranelift",
    "wasmer-compiler-llvm",
    "wasmer-compiler-singlepass",
    "cranelift-codegen",
    "llvm-sys",
    "inkwell",
];

/// Wasmer build-depends on bindgen, hence clang-sys, on every target, but
/// calls it only for its `v8` feature; clang-sys with `runtime` (and not
/// `static`) loads libclang only when called. Both are checked, so libclang
/// is never needed.
const LIBCLANG_LOADER: &str = "clang-sys";
const WASMER_FEATURES_NEEDING_LIBCLANG: &[&str] = &["v8"];

/// A target without AOT code, to check that no AOT crate reaches it.
/// (Linux ones first: their dependencies are in a Linux machine's cache.)
const TARGETS_WITHOUT_AOT: &[&str] = &[
    "aarch64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "aarch64-apple-darwin",
];

/// The crate that users depend on; its quickstart example is run.
const ENTRY_CRATE: &str = "pglite-oxide";
const QUICKSTART: &str = "examples/quickstart.rs";

pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    /// Writes the project into `dir`: `[patch]` entries for `unpacked`
    /// (crate and its unpacked directory), the release workspace's lock
    /// file (so the offline build finds the same versions in the cache) and
    /// the entry crate's quickstart as `src/main.rs`.
    pub fn create(dir: &Path, unpacked: &[(Crate, PathBuf)], lock_file: &Path) -> Result<Self> {
        crate::outputs::remove_dir_if_exists(dir)?;
        std::fs::create_dir_all(dir.join("src"))?;
        let (entry, entry_dir) = unpacked
            .iter()
            .find(|(c, _)| c.name == ENTRY_CRATE)
            .with_context(|| format!("{ENTRY_CRATE} is not among the packaged crates"))?;
        let mut manifest = format!(
            "[package]\nname = \"release-quickstart\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\n{ENTRY_CRATE} = \"={}\"\n\n\
             # The packaged crates, in place of the registry's.\n[patch.crates-io]\n",
            entry.version
        );
        for (krate, path) in unpacked {
            manifest.push_str(&format!("{} = {{ path = {:?} }}\n", krate.name, path));
        }
        manifest.push_str("\n[workspace]\n");
        std::fs::write(dir.join("Cargo.toml"), manifest)?;
        std::fs::copy(lock_file, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {}", lock_file.display()))?;
        std::fs::copy(entry_dir.join(QUICKSTART), dir.join("src/main.rs"))
            .with_context(|| format!("{ENTRY_CRATE} has no {QUICKSTART}"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Every target of `recipes/targets.toml` gets its own AOT crate and no
    /// other; other targets get none; no target gets a compiler.
    pub fn check_dependencies(&self, targets: &TargetsRecipe) -> Result<Vec<String>> {
        let aot_crates: Vec<String> = targets.target.iter().map(|t| t.package()).collect();
        let without = TARGETS_WITHOUT_AOT
            .iter()
            .find(|t| !targets.target.iter().any(|a| &a.triple == *t))
            .context("every probe target has AOT code: add one without")?;
        let mut report = Vec::new();
        let cases = targets
            .target
            .iter()
            .map(|t| (t.triple.clone(), Some(t.package())))
            .chain([(without.to_string(), None)]);
        for (triple, want) in cases {
            let names = self.dependencies(&triple)?;
            let compilers: Vec<&&str> = COMPILERS
                .iter()
                .filter(|c| names.contains_key(**c))
                .collect();
            ensure!(
                compilers.is_empty(),
                "on {triple}, {ENTRY_CRATE} pulls in {compilers:?} (a wasm compiler)"
            );
            check_libclang_unused(&triple, &names)?;
            let present: Vec<&String> = aot_crates
                .iter()
                .filter(|c| names.contains_key(*c))
                .collect();
            let expected: Vec<&String> = want.iter().collect();
            ensure!(
                present == expected,
                "on {triple}, {ENTRY_CRATE} pulls in AOT crates {present:?}, expected {expected:?}"
            );
            report.push(format!(
                "{triple}: {} crates, AOT crate {}, no wasm compiler, libclang never loaded",
                names.len(),
                want.as_deref().unwrap_or("none")
            ));
        }
        Ok(report)
    }

    /// Every crate in the default dependency tree on `triple`, with the
    /// features enabled on it.
    fn dependencies(&self, triple: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let output = self
            .cargo()
            .args(["tree", "--offline", "-e", "normal,build"])
            .args([
                "--prefix", "none", "--format", "{p}|{f}", "--target", triple,
            ])
            .output()
            .context("running cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree --target {triple} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let (package, features) = line.split_once('|').unwrap_or((line, ""));
            let Some(name) = package.split_whitespace().next() else {
                continue;
            };
            let features = features
                .split(',')
                .map(|f| f.trim().trim_end_matches(" (*)").to_string())
                .filter(|f| !f.is_empty());
            crates.entry(name.to_string()).or_default().extend(features);
        }
        Ok(crates)
    }

    /// Builds and runs the quickstart offline, its embedded artifacts
    /// unpacked into a cache of its own; returns what it printed.
    pub fn run_quickstart(&self) -> Result<String> {
        let cache = self.dir.join("cache");
        let output = self
            .cargo()
            .args(["run", "--offline", "--quiet"])
            .env("PGLITE_OXIDE_CACHE_DIR", &cache)
            .output()
            .context("running the quickstart")?;
        if !output.status.success() {
            bail!(
                "the quickstart failed in {}:\n{}{}",
                self.dir.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn cargo(&self) -> Command {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command.current_dir(&self.dir);
        command
    }
}

/// Errors if anything in the tree would load or link libclang.
fn check_libclang_unused(triple: &str, crates: &BTreeMap<String, BTreeSet<String>>) -> Result<()> {
    if let Some(features) = crates.get(LIBCLANG_LOADER) {
        ensure!(
            features.contains("runtime") && !features.contains("static"),
            "on {triple}, {LIBCLANG_LOADER} is built with {features:?}: it would link libclang"
        );
    }
    if let Some(features) = crates.get("wasmer") {
        let needing: Vec<&&str> = WASMER_FEATURES_NEEDING_LIBCLANG
            .iter()
            .filter(|f| features.contains(**f))
            .collect();
        ensure!(
            needing.is_empty(),
            "on {triple}, wasmer has features {needing:?}: its build would run libclang"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(items: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        items
            .iter()
            .map(|(name, features)| {
                (
                    name.to_string(),
                    features.iter().map(|f| f.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn libclang_may_be_present_but_never_loaded() {
        let lazy = tree(&[
            ("clang-sys", &["runtime", "clang_11_0"]),
            ("wasmer", &["sys"]),
        ]);
        check_libclang_unused("t", &lazy).unwrap();
        let linked = tree(&[("clang-sys", &["clang_11_0"])]);
        assert!(check_libclang_unused("t", &linked).is_err());
        let v8 = tree(&[("clang-sys", &["runtime"]), ("wasmer", &["sys", "v8"])]);
        assert!(check_libclang_unused("t", &v8).is_err());
    }
}
