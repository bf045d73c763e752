//! Recipe types (`recipes/*.toml`) and their parsing and validation.
//!
//! Recipes are declarative: no logic lives in them. Every table rejects
//! unknown fields so that a typo is an error, not a silently ignored setting.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

mod extensions;
mod targets;
pub use extensions::ExtensionsRecipe;
pub use targets::{AotEngine, AotModule, AotTarget, TargetsRecipe};

/// `recipes/sources.toml`: upstream source pins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesRecipe {
    /// Keyed by Debian source package name.
    pub source: BTreeMap<String, Source>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Exact Debian version, as given to `apt-get source <name>=<version>`.
    pub version: String,
    /// A binary package (`apt-get download <name>=<version>`) rather than a
    /// source package: for an extension that is only SQL, whose source
    /// package the archive does not serve.
    #[serde(default)]
    pub binary: bool,
    /// Release date of the pinned source, exported as `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: u64,
    /// Whether Debian's own patches (debian/patches) are applied.
    pub debian_patches: bool,
    /// Why (not): recorded so the decision is not re-litigated by accident.
    pub debian_patches_reason: String,
    pub files: Vec<SourceFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    pub sha256: String,
}

/// `recipes/toolchain.toml`: the Debian packages the build needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainRecipe {
    pub apt: AptConfig,
    pub package: Vec<Package>,
    pub sysroot: Sysroot,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptConfig {
    /// Suite whose archive entry supplies URIs and Signed-By.
    pub base_suite: String,
    pub components: Vec<String>,
    /// Suites to enable `deb-src` entries for.
    pub deb_src_suites: Vec<String>,
    /// Extra suites to enable binary (`deb`) entries for.
    pub deb_suites: Vec<String>,
    /// The deb822 file `toolchain install` writes.
    pub sources_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    /// Exact Debian version; `None` accepts any installed version.
    pub version: Option<String>,
    /// Target release for `apt-get install -t <suite>`.
    pub suite: Option<String>,
    /// sha256 of the `.deb`; requires `version`.
    pub deb_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysroot {
    pub required: Vec<PathBuf>,
}

/// `recipes/postgres.toml`: how to build PostgreSQL from a pinned source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRecipe {
    pub source: BuildSource,
    /// Extra placeholders; values may reference built-ins and other vars.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Environment for every step; values may contain placeholders.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The parts of `assets/` the steps see (copied into the build tree's
    /// `assets/`); all of it when absent. A library's build is
    /// fingerprinted over these parts only (`crate::libraries`).
    pub assets: Option<Vec<String>>,
    pub step: Vec<Step>,
    #[serde(default)]
    pub output: Vec<Output>,
    /// Directories of this repository the steps read (extensions of our
    /// own, added by `recipes/extensions.toml`).
    #[serde(skip)]
    pub workspace_input: Vec<WorkspaceInput>,
    /// Files of `sources.toml` the steps read besides the source archive
    /// (binary packages of extensions), as (source, file name).
    #[serde(skip)]
    pub source_input: Vec<(String, String)>,
}

/// A directory of this repository that a build step reads: copied into the
/// build tree before the steps run (the tree holds everything a build
/// reads, as with the assets), and an input of the build's fingerprint.
#[derive(Debug, Clone)]
pub struct WorkspaceInput {
    /// Relative to the repository.
    pub from: String,
    /// Relative to the build directory.
    pub to: String,
    /// Subdirectories of `from` that are not part of it (a test crate
    /// beside an extension's sources): neither copied nor fingerprinted.
    pub exclude: Vec<String>,
}

impl WorkspaceInput {
    /// Whether `rel`, relative to `from`, is part of the input.
    pub fn includes(&self, rel: &Path) -> bool {
        !self.exclude.iter().any(|e| rel.starts_with(e))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSource {
    /// Key into `sources.toml`.
    pub name: String,
    /// File of that source to extract (top directory stripped) into `src/`.
    pub archive: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Shown in progress output; the log goes to `logs/<name>.log`.
    pub name: String,
    /// Working directory relative to the build directory.
    #[serde(default)]
    pub cwd: String,
    pub argv: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Relative to the build directory; directories are copied recursively.
    pub from: String,
    /// Relative to the output directory.
    pub to: String,
}

/// Reads, parses and checks a recipe.
fn load<T: DeserializeOwned>(path: &Path, validate: impl Fn(&T) -> Result<()>) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let recipe = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    validate(&recipe).with_context(|| format!("invalid {}", path.display()))?;
    Ok(recipe)
}

/// A name made of lowercase letters, digits and `_` (a module's, an
/// extension's, a part of a target triple).
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl SourcesRecipe {
    pub fn load(path: &Path) -> Result<Self> {
        load(path, Self::validate)
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(!self.source.is_empty(), "no [source.<name>] tables");
        for (name, source) in &self.source {
            ensure!(!source.version.is_empty(), "source {name}: empty version");
            ensure!(!source.files.is_empty(), "source {name}: no files");
            ensure!(
                !(source.binary && source.debian_patches),
                "source {name}: a binary package has no patches to apply"
            );
            ensure!(
                !source.debian_patches_reason.trim().is_empty(),
                "source {name}: debian_patches_reason is empty"
            );
            let mut seen = BTreeSet::new();
            for file in &source.files {
                ensure!(
                    is_plain_file_name(&file.name),
                    "source {name}: file name {:?} must be a plain file name",
                    file.name
                );
                ensure!(
                    seen.insert(&file.name),
                    "source {name}: file {} listed twice",
                    file.name
                );
                check_sha256(&file.sha256)
                    .with_context(|| format!("source {name}: file {}", file.name))?;
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&Source> {
        self.source
            .get(name)
            .with_context(|| format!("no source named {name:?} in sources.toml"))
    }
}

impl ToolchainRecipe {
    pub fn load(path: &Path) -> Result<Self> {
        load(path, Self::validate)
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(!self.package.is_empty(), "no [[package]] entries");
        ensure!(!self.apt.base_suite.is_empty(), "apt.base_suite is empty");
        ensure!(!self.apt.components.is_empty(), "apt.components is empty");
        ensure!(
            self.apt.sources_file.is_absolute(),
            "apt.sources_file must be absolute"
        );
        let mut seen = BTreeSet::new();
        for package in &self.package {
            let name = &package.name;
            ensure!(is_debian_name(name), "invalid package name {name:?}");
            ensure!(seen.insert(name), "package {name} listed twice");
            if let Some(sha) = &package.deb_sha256 {
                ensure!(
                    package.version.is_some(),
                    "package {name}: deb_sha256 needs a pinned version"
                );
                check_sha256(sha).with_context(|| format!("package {name}"))?;
            }
            if let Some(suite) = &package.suite {
                ensure!(
                    *suite == self.apt.base_suite || self.apt.deb_suites.contains(suite),
                    "package {name}: suite {suite} is neither apt.base_suite nor in apt.deb_suites"
                );
            }
            if let Some(version) = &package.version {
                ensure!(
                    !version.is_empty() && !version.contains(char::is_whitespace),
                    "package {name}: invalid version {version:?}"
                );
            }
        }
        for path in &self.sysroot.required {
            ensure!(
                path.is_absolute(),
                "sysroot path {} must be absolute",
                path.display()
            );
        }
        Ok(())
    }

    pub fn package_names(&self) -> Vec<String> {
        self.package.iter().map(|p| p.name.clone()).collect()
    }
}

impl BuildRecipe {
    pub fn load(path: &Path) -> Result<Self> {
        load(path, Self::validate)
    }

    /// The backend recipe at `path` with the extensions of `extensions`
    /// (`recipes/extensions.toml`), if that file exists, built after it.
    pub fn load_with_extensions(path: &Path, extensions: &Path) -> Result<Self> {
        let mut recipe = Self::load(path)?;
        if extensions.is_file() {
            ExtensionsRecipe::load(extensions)?
                .add_to(&mut recipe)
                .with_context(|| format!("adding {}", extensions.display()))?;
        }
        Ok(recipe)
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(!self.step.is_empty(), "no [[step]] entries");
        let mut seen = BTreeSet::new();
        for step in &self.step {
            let name = &step.name;
            ensure!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    && !name.starts_with('.'),
                "step name {name:?} must be [A-Za-z0-9._-] (it names a log file)"
            );
            ensure!(seen.insert(name), "step {name} listed twice");
            ensure!(!step.argv.is_empty(), "step {name}: empty argv");
            check_relative(&step.cwd).with_context(|| format!("step {name}: cwd"))?;
        }
        for part in self.assets.iter().flatten() {
            ensure!(!part.is_empty(), "assets: empty part");
            check_relative(part).with_context(|| format!("assets part {part:?}"))?;
        }
        for output in &self.output {
            check_relative(&output.from)
                .with_context(|| format!("output from {:?}", output.from))?;
            check_relative(&output.to).with_context(|| format!("output to {:?}", output.to))?;
            ensure!(
                !output.to.is_empty(),
                "output from {:?}: empty `to`",
                output.from
            );
        }
        for input in &self.workspace_input {
            let context = || format!("workspace input {:?}", input.from);
            ensure!(!input.from.is_empty(), "workspace input: empty `from`");
            check_relative(&input.from).with_context(context)?;
            check_relative(&input.to).with_context(context)?;
            for exclude in &input.exclude {
                ensure!(!exclude.is_empty(), "{}: empty exclude", context());
                check_relative(exclude).with_context(context)?;
            }
        }
        Ok(())
    }

    /// Checks the recipe's source, and the other files of `sources.toml` it
    /// reads, against `sources.toml`.
    pub fn validate_source(&self, sources: &SourcesRecipe) -> Result<()> {
        self.source_file(sources, &self.source.name, &self.source.archive)?;
        for (source, file) in &self.source_input {
            self.source_file(sources, source, file)?;
        }
        Ok(())
    }

    /// The pinned file `file` of source `name`.
    pub fn source_file<'s>(
        &self,
        sources: &'s SourcesRecipe,
        name: &str,
        file: &str,
    ) -> Result<&'s SourceFile> {
        sources
            .get(name)?
            .files
            .iter()
            .find(|f| f.name == file)
            .with_context(|| format!("{file} is not a file of source {name} in sources.toml"))
    }
}

/// A lowercase hex sha256.
pub fn check_sha256(sha: &str) -> Result<()> {
    ensure!(
        sha.len() == 64 && sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "sha256 {sha:?} is not 64 lowercase hex digits"
    );
    Ok(())
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

fn is_debian_name(name: &str) -> bool {
    name.len() >= 2
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// A path that stays inside the directory it is relative to.
fn check_relative(path: &str) -> Result<()> {
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            _ => bail!("{path:?} must be relative and must not contain `..`"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_recipe(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../recipes")
            .join(name)
    }

    #[test]
    fn real_sources_recipe_parses() {
        let recipe = SourcesRecipe::load(&repo_recipe("sources.toml")).unwrap();
        let pg = recipe.get("postgresql-15").unwrap();
        assert_eq!(pg.version, "15.18-0+deb12u1");
        assert!(!pg.debian_patches);
        assert_eq!(pg.files.len(), 3);
        assert!(pg
            .files
            .iter()
            .any(|f| f.name == "postgresql-15_15.18.orig.tar.bz2"
                && f.sha256 == "11df0df97fe3ea4ba9a791faaf39cee1d2fe571e78885b5b55d8517d27c323b4"));
    }

    #[test]
    fn real_toolchain_recipe_parses() {
        let recipe = ToolchainRecipe::load(&repo_recipe("toolchain.toml")).unwrap();
        let names = recipe.package_names();
        for want in [
            "clang-22",
            "lld-22",
            "llvm-22-dev",
            "libclang-rt-22-dev-wasm32",
            "wasi-libc",
            "bison",
            "flex",
            "perl",
            "zstd",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing");
        }
        let wasi = recipe
            .package
            .iter()
            .find(|p| p.name == "wasi-libc")
            .unwrap();
        assert_eq!(
            wasi.version.as_deref(),
            Some("0.0~git20240708.3f43ea9-2~bpo12+1")
        );
        assert_eq!(wasi.suite.as_deref(), Some("bookworm-backports"));
        assert_eq!(
            wasi.deb_sha256.as_deref(),
            Some("ab95a83896093f1f640f9954a5a64ef8e9635332e56fdbb3ed396aed13fe627f")
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = r#"
            [source]
            name = "postgresql-15"
            archive = "x.tar.bz2"
            [[step]]
            name = "configure"
            argv = ["./configure"]
            typo = 1
        "#;
        let err = toml::from_str::<BuildRecipe>(text).unwrap_err();
        assert!(err.to_string().contains("typo"), "{err}");
    }

    #[test]
    fn build_recipe_schema() {
        let text = r#"
            [source]
            name = "postgresql-15"
            archive = "postgresql-15_15.18.orig.tar.bz2"
            [vars]
            cc = "clang-22 --target=wasm32-wasip1"
            [env]
            CC = "{cc}"
            [[step]]
            name = "configure"
            cwd = "src"
            argv = ["./configure", "--host=wasm32-unknown-wasi"]
            [[step]]
            name = "backend"
            cwd = "src/src/backend"
            argv = ["make", "-j{jobs}", "postgres"]
            [[output]]
            from = "src/src/backend/postgres"
            to = "postgres.wasm"
        "#;
        let recipe: BuildRecipe = toml::from_str(text).unwrap();
        recipe.validate().unwrap();
        assert_eq!(recipe.step.len(), 2);
        assert_eq!(recipe.env["CC"], "{cc}");
        assert_eq!(recipe.output[0].to, "postgres.wasm");
        let sources = SourcesRecipe::load(&repo_recipe("sources.toml")).unwrap();
        recipe.validate_source(&sources).unwrap();
    }

    #[test]
    fn escaping_paths_are_rejected() {
        assert!(check_relative("src/../..").is_err());
        assert!(check_relative("/abs").is_err());
        assert!(check_relative("src/backend").is_ok());
        assert!(check_relative("").is_ok());
    }

    #[test]
    fn bad_sha_is_rejected() {
        assert!(check_sha256("ABC").is_err());
        assert!(check_sha256(&"A".repeat(64)).is_err());
        assert!(check_sha256(&"a".repeat(64)).is_ok());
    }
}
