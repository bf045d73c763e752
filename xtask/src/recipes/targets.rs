//! `recipes/targets.toml`: the AOT matrix (modules x targets) and the
//! compiler whose code is shipped.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, ensure, Result};
use serde::Deserialize;

/// A Wasmer compiler that can produce AOT code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AotEngine {
    Cranelift,
    Llvm,
}

impl AotEngine {
    pub fn name(self) -> &'static str {
        match self {
            AotEngine::Cranelift => "cranelift",
            AotEngine::Llvm => "llvm",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cranelift" => Ok(AotEngine::Cranelift),
            "llvm" => Ok(AotEngine::Llvm),
            other => bail!("unknown engine `{other}` (engines: cranelift, llvm)"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsRecipe {
    /// The compiler whose code is packaged.
    pub engine: AotEngine,
    pub module: Vec<AotModule>,
    pub target: Vec<AotTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AotModule {
    /// Names the artifact (`<name>.wasmu`) and the constant in the AOT crate.
    pub name: String,
    /// The module's file in the build output.
    pub wasm: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AotTarget {
    /// A Rust target triple; names the crate `crates/aot-<triple>`.
    pub triple: String,
    /// The `cfg(...)` predicate under which the runtime uses this target.
    pub cfg: String,
    /// Wasmer CPU feature names (`sse4.2`, `avx2`, ...).
    pub cpu_features: Vec<String>,
}

impl AotTarget {
    /// The AOT crate's directory, relative to the workspace.
    pub fn crate_dir(&self) -> String {
        format!("crates/aot-{}", self.triple)
    }

    /// The AOT crate's package name.
    pub fn package(&self) -> String {
        format!("pglite-aot-{}", self.triple)
    }

    /// The package name as a Rust identifier.
    pub fn crate_ident(&self) -> String {
        self.package().replace('-', "_")
    }

    /// The crate of the extensions' native code for this target
    /// (decision 0013), relative to the workspace.
    pub fn extensions_crate_dir(&self) -> String {
        format!("crates/aot-extensions-{}", self.triple)
    }

    pub fn extensions_package(&self) -> String {
        format!("pglite-aot-extensions-{}", self.triple)
    }

    pub fn extensions_crate_ident(&self) -> String {
        self.extensions_package().replace('-', "_")
    }
}

impl TargetsRecipe {
    pub fn load(path: &Path) -> Result<Self> {
        super::load(path, Self::validate)
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(!self.module.is_empty(), "no [[module]] tables");
        ensure!(!self.target.is_empty(), "no [[target]] tables");
        let mut names = BTreeSet::new();
        for module in &self.module {
            ensure!(
                super::is_identifier(&module.name),
                "module name {:?}: lowercase letters, digits and `_` only",
                module.name
            );
            ensure!(
                names.insert(&module.name),
                "module {} listed twice",
                module.name
            );
            ensure!(
                super::is_plain_file_name(&module.wasm),
                "module {}: wasm {:?} must be a plain file name",
                module.name,
                module.wasm
            );
        }
        let mut triples = BTreeSet::new();
        for target in &self.target {
            let parts: Vec<&str> = target.triple.split('-').collect();
            ensure!(
                parts.len() >= 3 && parts.iter().all(|p| super::is_identifier(p)),
                "target {:?} is not a target triple",
                target.triple
            );
            ensure!(
                triples.insert(&target.triple),
                "target {} listed twice",
                target.triple
            );
            ensure!(
                target.cfg.starts_with("all(") || target.cfg.starts_with("any("),
                "target {}: cfg {:?} must be an all(...) or any(...) predicate",
                target.triple,
                target.cfg
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_targets_recipe_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/targets.toml");
        let recipe = TargetsRecipe::load(&path).unwrap();
        assert_eq!(recipe.module[0].name, "postgres");
        assert_eq!(
            recipe.target[0].package(),
            "pglite-aot-x86_64-unknown-linux-gnu"
        );
    }

    #[test]
    fn bad_entries_are_rejected() {
        let parse = |text: &str| toml::from_str::<TargetsRecipe>(text).map_err(|e| e.to_string());
        let base = |module: &str, triple: &str| {
            format!(
                "engine = \"cranelift\"\n[[module]]\nname = \"{module}\"\nwasm = \"m.wasm\"\n\
                 [[target]]\ntriple = \"{triple}\"\ncfg = 'all(unix)'\ncpu_features = []\n"
            )
        };
        parse(&base("postgres", "x86_64-unknown-linux-gnu"))
            .unwrap()
            .validate()
            .unwrap();
        let recipe = parse(&base("Post gres", "x86_64-unknown-linux-gnu")).unwrap();
        assert!(recipe.validate().is_err());
        let recipe = parse(&base("postgres", "x86_64/../linux")).unwrap();
        assert!(recipe.validate().is_err());
        let err = parse("engine = \"v8\"\nmodule = []\ntarget = []").unwrap_err();
        assert!(err.contains("v8"), "{err}");
    }
}
