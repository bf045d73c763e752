//! `cargo xtask check`: fast consistency checks that need no toolchain and
//! no network. For now: the recipes parse, agree with each other, and every
//! placeholder of the build recipe resolves.

use anyhow::{Context, Result};

use crate::layout::Layout;
use crate::recipes::{BuildRecipe, SourcesRecipe, ToolchainRecipe};

pub fn check(layout: &Layout) -> Result<()> {
    let sources = SourcesRecipe::load(&layout.recipe("sources.toml"))?;
    let toolchain = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    println!(
        "recipes/sources.toml: {} sources, {} pinned files",
        sources.source.len(),
        sources
            .source
            .values()
            .map(|s| s.files.len())
            .sum::<usize>()
    );
    println!(
        "recipes/toolchain.toml: {} packages ({} version-pinned), {} sysroot paths",
        toolchain.package.len(),
        toolchain
            .package
            .iter()
            .filter(|p| p.version.is_some())
            .count(),
        toolchain.sysroot.required.len()
    );
    let postgres = layout.recipe("postgres.toml");
    if postgres.exists() {
        let recipe = BuildRecipe::load(&postgres)?;
        recipe.validate_source(&sources)?;
        let source = sources.get(&recipe.source.name)?;
        crate::build::dry_run(layout, &recipe, source)
            .with_context(|| format!("checking {}", postgres.display()))?;
        println!(
            "recipes/postgres.toml: {} steps, {} outputs, placeholders resolve",
            recipe.step.len(),
            recipe.output.len()
        );
    } else {
        println!("recipes/postgres.toml: not written yet");
    }
    println!("check ok");
    Ok(())
}
