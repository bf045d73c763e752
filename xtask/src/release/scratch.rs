//! The packaged crates as a user gets them: a project outside the workspace
//! that depends on `pglite-oxide` only, with every released crate taken
//! from its unpacked `.crate` (`[patch]`), checked for what it pulls in on
//! each target, then built and run offline with the quickstart example.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::recipes::TargetsRecipe;

use super::workspace::Crate;

/// Crates that need clang or LLVM, or compile wasm at run time: none may be
/// in a user's default dependency tree.
const FORBIDDEN: &[&str] = &[
    "wasmer-compiler-cranelift",
    "wasmer-compiler-llvm",
    "wasmer-compiler-singlepass",
    "cranelift-codegen",
    "llvm-sys",
    "inkwell",
    "clang-sys",
    "bindgen",
];

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
            let names = self.dependency_names(&triple)?;
            let forbidden: Vec<&&str> = FORBIDDEN
                .iter()
                .filter(|f| names.contains(&f.to_string()))
                .collect();
            ensure!(
                forbidden.is_empty(),
                "on {triple}, {ENTRY_CRATE} pulls in {forbidden:?} (needs a compiler)"
            );
            let present: Vec<&String> = aot_crates.iter().filter(|c| names.contains(c)).collect();
            let expected: Vec<&String> = want.iter().collect();
            ensure!(
                present == expected,
                "on {triple}, {ENTRY_CRATE} pulls in AOT crates {present:?}, expected {expected:?}"
            );
            report.push(format!(
                "{triple}: {} crates, AOT crate {}, no compiler crate",
                names.len(),
                want.as_deref().unwrap_or("none")
            ));
        }
        Ok(report)
    }

    /// The names of every crate in the default dependency tree on `triple`.
    fn dependency_names(&self, triple: &str) -> Result<Vec<String>> {
        let output = self
            .cargo()
            .args(["tree", "--offline", "-e", "normal,build"])
            .args(["--prefix", "none", "--format", "{p}", "--target", triple])
            .output()
            .context("running cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree --target {triple} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_whitespace().next().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
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
