//! Verification of fetched sources against the real `recipes/sources.toml`,
//! in a temporary directory: no network, no root.

use std::path::Path;

use xtask::fetch::verify_source;
use xtask::hashing::sha256_bytes;
use xtask::recipes::{Source, SourceFile, SourcesRecipe};

fn real_sources() -> SourcesRecipe {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/sources.toml");
    SourcesRecipe::load(&path).expect("recipes/sources.toml parses")
}

/// A copy of the real postgresql-15 pin whose files are small fakes with
/// known content, written into `dir`.
fn fake_source(dir: &Path) -> Source {
    let recipe = real_sources();
    let real = recipe.get("postgresql-15").unwrap();
    let files: Vec<SourceFile> = real
        .files
        .iter()
        .map(|file| {
            let content = format!("fake {}", file.name);
            std::fs::write(dir.join(&file.name), &content).unwrap();
            SourceFile {
                name: file.name.clone(),
                sha256: sha256_bytes(content.as_bytes()),
            }
        })
        .collect();
    Source {
        version: real.version.clone(),
        binary: real.binary,
        source_date_epoch: real.source_date_epoch,
        debian_patches: real.debian_patches,
        debian_patches_reason: real.debian_patches_reason.clone(),
        files,
    }
}

#[test]
fn intact_files_verify() {
    let dir = tempfile::tempdir().unwrap();
    let source = fake_source(dir.path());
    verify_source("postgresql-15", &source, dir.path()).unwrap();
}

#[test]
fn tampered_file_names_the_file_and_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let source = fake_source(dir.path());
    let victim = &source.files[1];
    assert_eq!(victim.name, "postgresql-15_15.18.orig.tar.bz2");
    let tampered = b"tampered";
    std::fs::write(dir.path().join(&victim.name), tampered).unwrap();

    let err = verify_source("postgresql-15", &source, dir.path()).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains(&victim.name), "{message}");
    assert!(
        message.contains(&victim.sha256),
        "expected hash missing: {message}"
    );
    assert!(
        message.contains(&sha256_bytes(tampered)),
        "actual hash missing: {message}"
    );
    // Only the tampered file is reported.
    assert!(!message.contains(&source.files[0].name), "{message}");
}

#[test]
fn real_pins_reject_wrong_content() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = real_sources();
    let real = recipe.get("postgresql-15").unwrap();
    for file in &real.files {
        std::fs::write(dir.path().join(&file.name), b"not the real file").unwrap();
    }
    let message = format!(
        "{:#}",
        verify_source("postgresql-15", real, dir.path()).unwrap_err()
    );
    for file in &real.files {
        assert!(message.contains(&file.name), "{message}");
        assert!(message.contains(&file.sha256), "{message}");
    }
    assert!(
        message.contains(&sha256_bytes(b"not the real file")),
        "{message}"
    );
}

#[test]
fn missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let source = fake_source(dir.path());
    std::fs::remove_file(dir.path().join(&source.files[2].name)).unwrap();
    let message = format!(
        "{:#}",
        verify_source("postgresql-15", &source, dir.path()).unwrap_err()
    );
    assert!(message.contains(&source.files[2].name), "{message}");
    assert!(message.contains("missing"), "{message}");
}
