//! `cargo xtask template`: the initial data directory, made once at build
//! time by running the built backend's initdb inside Wasmer, packed as
//! `out/template.tar.zst`. New databases unpack it instead of running
//! initdb.
//!
//! Keyed by a fingerprint of the backend module, its share tree and the
//! runtime's initdb code. The same inputs give the same bytes: the archive
//! is packed deterministically, and initdb runs with a fixed clock and a
//! seeded entropy source (PostgreSQL would otherwise stamp the cluster with
//! a random system identifier and the time of its checkpoints).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use pglite_runtime::{initdb, Artifacts, InitOptions, TEMPLATE_FILE};

use crate::fingerprint::{read_stamp, write_stamp, Fingerprint};
use crate::layout::Layout;

pub fn run(layout: &Layout) -> Result<()> {
    let out = layout.out();
    let artifacts = Artifacts::from_dir(&out).context("run `cargo xtask build` first")?;
    let fingerprint = template_fingerprint(layout, &artifacts)?;
    let stamp = layout.stamps().join("template.fingerprint");
    let archive = out.join(TEMPLATE_FILE);
    if archive.is_file() && read_stamp(&stamp).as_deref() == Some(fingerprint.as_str()) {
        println!("up to date (fingerprint {})", &fingerprint[..16]);
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    let started = Instant::now();
    let options = InitOptions {
        reproducible: true,
        ..InitOptions::default()
    };
    initdb(&artifacts, &data, &options).context("initdb")?;
    let initdb_time = started.elapsed();
    let bytes = crate::pack::pack_dir(&data)?;
    let partial = out.join(format!("{TEMPLATE_FILE}.partial"));
    std::fs::write(&partial, &bytes)?;
    std::fs::rename(&partial, &archive)?;
    write_stamp(&stamp, &fingerprint)?;
    println!(
        "template: initdb {:.2} s, {} ({} bytes, data directory {} bytes)",
        initdb_time.as_secs_f64(),
        archive.display(),
        bytes.len(),
        tree_size(&data)?
    );
    Ok(())
}

fn template_fingerprint(layout: &Layout, artifacts: &Artifacts) -> Result<String> {
    let mut fingerprint = Fingerprint::new("template");
    fingerprint
        .add_file("postgres.wasm", &artifacts.wasm())?
        .add_dir("share", &artifacts.share())?
        .add_dir("initdb", &layout.workspace.join("runtime/src/initdb"))?
        .add_file("initdb.rs", &layout.workspace.join("runtime/src/initdb.rs"))?
        .add_file(
            "reproducible.rs",
            &layout.workspace.join("runtime/src/reproducible.rs"),
        )?;
    Ok(fingerprint.finish())
}

fn tree_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            tree_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
