//! `cargo xtask fetch`: downloads the pinned Debian source packages into the
//! sources cache and verifies every file against its sha256.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::fingerprint::{read_stamp, write_stamp, Fingerprint};
use crate::hashing::{file_states, verify_files, FileState};
use crate::layout::Layout;
use crate::recipes::{Source, SourcesRecipe};

/// Fetches and verifies every source of `recipes/sources.toml`.
pub fn fetch(layout: &Layout) -> Result<()> {
    let recipe_path = layout.recipe("sources.toml");
    let recipe = SourcesRecipe::load(&recipe_path)?;
    let _lock = layout.lock("fetch")?;
    let dir = layout.sources();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut fp = Fingerprint::new("fetch");
    fp.add_file("sources.toml", &recipe_path)?;
    let fingerprint = fp.finish();
    let stamp = layout.stamps().join("fetch.fingerprint");
    let stamped = read_stamp(&stamp).as_deref() == Some(fingerprint.as_str());

    let mut downloaded = false;
    for (name, source) in &recipe.source {
        if download_missing(name, source, &dir)? {
            downloaded = true;
            verify_source(name, source, &dir)?;
        }
        println!(
            "{name} {}: {} files verified in {}",
            source.version,
            source.files.len(),
            dir.display()
        );
    }
    if stamped && !downloaded {
        println!("up to date (fingerprint {})", &fingerprint[..16]);
    } else {
        write_stamp(&stamp, &fingerprint)?;
    }
    Ok(())
}

/// Verifies one source's files in `dir`: every listed file must be present
/// with its pinned sha256; errors name each bad file with both hashes.
pub fn verify_source(name: &str, source: &Source, dir: &Path) -> Result<()> {
    verify_files(dir, &source.files)
        .with_context(|| format!("source {name} {} failed verification", source.version))
}

/// Runs `apt-get source --download-only` (`apt-get download` for a binary
/// package) unless every file is already present
/// with the right hash (then they are verified and this returns false).
/// Files with a wrong hash are removed first: the cache is ours and the
/// recipe's hashes are the truth.
fn download_missing(name: &str, source: &Source, dir: &Path) -> Result<bool> {
    let states = file_states(dir, &source.files)?;
    if states.iter().all(|(_, state)| *state == FileState::Ok) {
        return Ok(false);
    }
    for (file, state) in &states {
        if let FileState::Mismatch { .. } = state {
            println!("{file}: {state}; downloading again");
            std::fs::remove_file(dir.join(file))?;
        }
    }
    let sh = Shell::new()?;
    let _cwd = sh.push_dir(dir);
    let spec = format!("{name}={}", source.version);
    let download = if source.binary {
        cmd!(sh, "apt-get download {spec}")
    } else {
        cmd!(sh, "apt-get source --download-only {spec}")
    };
    download.run().with_context(|| {
        format!("downloading {spec} (needs deb-src entries: run `cargo xtask toolchain install`)")
    })?;
    Ok(true)
}
