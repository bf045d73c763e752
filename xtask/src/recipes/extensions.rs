//! `recipes/extensions.toml`: extensions built as WebAssembly side modules,
//! each into a tree of its own (docs/decisions/0011-extension-side-modules.md).
//!
//! The build adds one step per extension after the backend's steps, and
//! one output per tree the step installs: `extensions/<name>/share` and
//! `extensions/<name>/lib` in the build output. An extension's sources are
//! in the PostgreSQL tree (contrib) or in this repository (ours, such as
//! `extensions/vector`): those are copied into the build tree, under
//! `extension-sources/<name>`, and are inputs of the build's fingerprint.
//! An extension that is only SQL can come as a binary package of
//! `sources.toml` (pgTAP), pinned and verified like the PostgreSQL source.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde::Deserialize;

use super::{check_relative, is_identifier, load, BuildRecipe, Output, Step, WorkspaceInput};

/// What names an extension in `build.argv` and `build.outputs`.
const NAME: &str = "{extension}";
const SOURCE: &str = "{extension_source}";
const CFLAGS: &str = "{extension_cflags}";
const LINK: &str = "{extension_link}";
/// Where sources from this repository are copied in the build tree.
const WORKSPACE_SOURCES: &str = "extension-sources";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionsRecipe {
    pub build: ExtensionBuild,
    pub extension: Vec<ExtensionPlan>,
}

/// How every extension is built: one command, and what of its install tree
/// is kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBuild {
    /// Run in the build directory; `{extension}` is the extension's name,
    /// `{extension_source}` its source directory in the build tree, other
    /// placeholders are the backend recipe's.
    pub argv: Vec<String>,
    /// Output `to` (under `extensions/{extension}/`) -> `from` (under the
    /// build directory).
    pub outputs: Vec<ExtensionOutput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionOutput {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionPlan {
    /// The extension's name (its control file's), which is also its tree's.
    pub name: String,
    /// Its source directory in the PostgreSQL source tree (contrib's).
    pub source: Option<String>,
    /// Or its source directory in this repository.
    pub workspace_source: Option<String>,
    /// Or a binary package of `sources.toml` holding only SQL and control
    /// files.
    pub package: Option<PackageFile>,
    /// Subdirectories of `workspace_source` that are not the extension's
    /// (a client test crate), so that changing them rebuilds nothing.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Compiler flags of its own (`{extension_cflags}`): the defines and
    /// include directories of a library it uses.
    #[serde(default)]
    pub cflags: String,
    /// What its side module links besides its objects
    /// (`{extension_link}`): a library's static archive.
    #[serde(default)]
    pub link: String,
}

/// A file of a source of `sources.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFile {
    pub source: String,
    pub file: String,
}

impl ExtensionPlan {
    /// The source directory (or package file), as the build's steps see it.
    fn source_dir(&self) -> String {
        match (&self.source, &self.package) {
            (Some(source), _) => format!("{{src}}/{source}"),
            (None, Some(package)) => format!("{{sources}}/{}", package.file),
            (None, None) => format!("{{build}}/{WORKSPACE_SOURCES}/{}", self.name),
        }
    }
}

impl ExtensionsRecipe {
    pub fn load(path: &Path) -> Result<Self> {
        load(path, Self::validate)
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(!self.build.argv.is_empty(), "build.argv is empty");
        ensure!(!self.build.outputs.is_empty(), "build.outputs is empty");
        let mut seen = BTreeSet::new();
        for extension in &self.extension {
            let name = &extension.name;
            // PostgreSQL's own names have dashes too (uuid-ossp).
            ensure!(
                is_identifier(&name.replace('-', "_")) && !name.starts_with('-'),
                "extension name {name:?} must be [a-z0-9_-]"
            );
            ensure!(seen.insert(name), "extension {name} listed twice");
            ensure!(
                extension.workspace_source.is_some() || extension.exclude.is_empty(),
                "extension {name}: exclude is for a workspace_source"
            );
            match (
                &extension.source,
                &extension.workspace_source,
                &extension.package,
            ) {
                (Some(source), None, None) => {
                    check_relative(source).with_context(|| format!("extension {name}: source"))?
                }
                (None, Some(source), None) => check_relative(source)
                    .with_context(|| format!("extension {name}: workspace_source"))?,
                (None, None, Some(package)) => ensure!(
                    !package.file.is_empty() && !package.file.contains('/'),
                    "extension {name}: package file {:?} must be a file name",
                    package.file
                ),
                _ => anyhow::bail!(
                    "extension {name}: give exactly one of source (in the PostgreSQL tree), \
                     workspace_source (in this repository) and package (in sources.toml)"
                ),
            }
        }
        Ok(())
    }

    /// The directories of this repository that extensions are built from.
    pub fn workspace_inputs(&self) -> Vec<WorkspaceInput> {
        self.extension
            .iter()
            .filter_map(|extension| {
                Some(WorkspaceInput {
                    from: extension.workspace_source.clone()?,
                    to: format!("{WORKSPACE_SOURCES}/{}", extension.name),
                    exclude: extension.exclude.clone(),
                })
            })
            .collect()
    }

    /// Adds each extension's build step, outputs and sources from this
    /// repository to `recipe`.
    pub fn add_to(&self, recipe: &mut BuildRecipe) -> Result<()> {
        recipe.workspace_input.extend(self.workspace_inputs());
        recipe
            .source_input
            .extend(self.extension.iter().filter_map(|extension| {
                let package = extension.package.as_ref()?;
                Some((package.source.clone(), package.file.clone()))
            }));
        for extension in &self.extension {
            let source = extension.source_dir();
            let fill = |text: &str| {
                text.replace(NAME, &extension.name)
                    .replace(SOURCE, &source)
                    .replace(CFLAGS, &extension.cflags)
                    .replace(LINK, &extension.link)
            };
            recipe.step.push(Step {
                name: format!("extension-{}", extension.name),
                cwd: String::new(),
                argv: self.build.argv.iter().map(|a| fill(a)).collect(),
            });
            for output in &self.build.outputs {
                recipe.output.push(Output {
                    from: fill(&output.from),
                    to: format!("extensions/{}/{}", extension.name, fill(&output.to)),
                });
            }
        }
        recipe.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: &str = r#"
        [build]
        argv = ["make", "PGLITE_SOURCE={extension_source}", "OUT=x/{extension}"]
        outputs = [{ from = "x/{extension}/share", to = "share" }]
    "#;

    fn parse(extensions: &str) -> Result<ExtensionsRecipe> {
        let recipe: ExtensionsRecipe = toml::from_str(&format!("{BUILD}{extensions}"))?;
        recipe.validate()?;
        Ok(recipe)
    }

    fn backend() -> BuildRecipe {
        toml::from_str(
            r#"
            [source]
            name = "postgresql-15"
            archive = "x.tar.bz2"
            [[step]]
            name = "configure"
            argv = ["./configure"]
            "#,
        )
        .unwrap()
    }

    #[test]
    fn sources_in_the_postgres_tree_and_in_the_repository() {
        let extensions = parse(
            r#"
            [[extension]]
            name = "pg_trgm"
            source = "contrib/pg_trgm"
            [[extension]]
            name = "ours"
            workspace_source = "extensions/ours"
            exclude = ["client-tests"]
            [[extension]]
            name = "sql_only"
            package = { source = "sql-only", file = "sql-only_1_all.deb" }
            "#,
        )
        .unwrap();
        let mut recipe = backend();
        extensions.add_to(&mut recipe).unwrap();
        let argv: Vec<&str> = recipe.step[1..]
            .iter()
            .map(|s| s.argv[1].as_str())
            .collect();
        assert_eq!(
            argv,
            [
                "PGLITE_SOURCE={src}/contrib/pg_trgm",
                "PGLITE_SOURCE={build}/extension-sources/ours",
                "PGLITE_SOURCE={sources}/sql-only_1_all.deb"
            ]
        );
        assert_eq!(
            recipe.source_input,
            [("sql-only".to_string(), "sql-only_1_all.deb".to_string())]
        );
        assert_eq!(recipe.output[1].to, "extensions/ours/share");
        let [input] = recipe.workspace_input.as_slice() else {
            panic!("one workspace input: {:?}", recipe.workspace_input)
        };
        assert_eq!(input.from, "extensions/ours");
        assert_eq!(input.to, "extension-sources/ours");
        assert!(input.includes(Path::new("src/ours.c")));
        assert!(!input.includes(Path::new("client-tests/Cargo.toml")));
    }

    #[test]
    fn exactly_one_source_is_given() {
        let both = r#"
            [[extension]]
            name = "x"
            source = "contrib/x"
            workspace_source = "extensions/x"
        "#;
        let neither = "[[extension]]\nname = \"x\"\n";
        let excluding_from_postgres = r#"
            [[extension]]
            name = "x"
            source = "contrib/x"
            exclude = ["t"]
        "#;
        let escaping = r#"
            [[extension]]
            name = "x"
            workspace_source = "../elsewhere"
        "#;
        let package_path = r#"
            [[extension]]
            name = "x"
            package = { source = "x", file = "../x.deb" }
        "#;
        for text in [
            both,
            neither,
            excluding_from_postgres,
            escaping,
            package_path,
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_real_recipe_builds_vector_from_the_repository() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/extensions.toml");
        let inputs = ExtensionsRecipe::load(&path).unwrap().workspace_inputs();
        assert!(inputs
            .iter()
            .any(|i| i.from == "extensions/vector" && !i.includes(Path::new("client-tests"))));
    }
}
