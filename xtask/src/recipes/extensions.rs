//! `recipes/extensions.toml`: extensions built as WebAssembly side modules,
//! each into a tree of its own (docs/decisions/0011-extension-side-modules.md).
//!
//! The build adds one step per extension after the backend's steps, and
//! one output per tree the step installs: `extensions/<name>/share` and
//! `extensions/<name>/lib` in the build output.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde::Deserialize;

use super::{check_relative, is_identifier, load, BuildRecipe, Output, Step};

/// What names an extension in `build.argv` and `build.outputs`.
const NAME: &str = "{extension}";
const SOURCE: &str = "{extension_source}";
const CFLAGS: &str = "{extension_cflags}";
const LINK: &str = "{extension_link}";

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
    /// Run in the build directory; `{extension}` and `{extension_source}`
    /// are the extension's name and source directory, other placeholders
    /// are the backend recipe's.
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
    /// Its source directory, relative to the PostgreSQL source tree.
    pub source: String,
    /// Compiler flags of its own (`{extension_cflags}`): the defines and
    /// include directories of a library it uses.
    #[serde(default)]
    pub cflags: String,
    /// What its side module links besides its objects
    /// (`{extension_link}`): a library's static archive.
    #[serde(default)]
    pub link: String,
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
            check_relative(&extension.source)
                .with_context(|| format!("extension {name}: source"))?;
        }
        Ok(())
    }

    /// Adds each extension's build step and outputs to `recipe`.
    pub fn add_to(&self, recipe: &mut BuildRecipe) -> Result<()> {
        for extension in &self.extension {
            let fill = |text: &str| {
                text.replace(NAME, &extension.name)
                    .replace(SOURCE, &extension.source)
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
