//! `cargo xtask bench vector`: our `vector` extension in the runtime (a
//! side module, from the build output with its AOT code) and in native
//! PostgreSQL 15 (built with its PGXS makefile and installed into the
//! native installation), measured in the same run by the `vector_bench`
//! example (extensions/vector/client-tests): the first query of a new
//! temporary database with and without the extension, the HNSW build of
//! 10,000 x 128-d vectors, and k = 10 query latency and recall at two
//! `hnsw.ef_search` values. The figures are printed and saved as JSON
//! under `target/bench/`.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use native_postgres::NativePostgres;

use crate::layout::Layout;
use crate::outputs::{copy_dir_filtered, remove_dir_if_exists};

/// The extension's sources, and what of them is not the extension.
const SOURCE: &str = "extensions/vector";
const NOT_SOURCE: &str = "client-tests";

pub fn run(layout: &Layout) -> Result<()> {
    // Without the template a new database runs initdb, which is not what
    // users get.
    for (file, run) in [
        (
            "extensions/vector/share/extension/vector.control",
            "`cargo xtask build` and `cargo xtask aot`",
        ),
        ("template.tar.zst", "`cargo xtask template`"),
    ] {
        let path = layout.out().join(file);
        if !path.is_file() {
            bail!("{} is missing: run {run}", path.display());
        }
    }
    if NativePostgres::available() {
        install_native(layout)?;
    }
    let exe = super::build_example(layout, "vector_bench", &[])?;
    let out = super::results_dir(layout)?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let json = out.join(format!("vector-{stamp}.json"));
    let status = Command::new(&exe)
        .arg("--json")
        .arg(&json)
        .env(pglite_runtime::ARTIFACTS_ENV, layout.out())
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", exe.display());
    }
    std::fs::copy(&json, out.join("vector-latest.json"))?;
    Ok(())
}

/// Builds the extension with PGXS against the native installation, in a
/// copy of its sources (the repository stays clean), and installs it there.
fn install_native(layout: &Layout) -> Result<()> {
    let dir = layout.work.join("bench-vector-native");
    remove_dir_if_exists(&dir)?;
    copy_dir_filtered(&layout.workspace.join(SOURCE), &dir, |rel| {
        !rel.starts_with(NOT_SOURCE)
    })?;
    let pg_config = native_postgres::program("pg_config")?;
    let log = layout.logs().join("bench-vector-native.log");
    std::fs::create_dir_all(layout.logs())?;
    let output = Command::new("make")
        .current_dir(&dir)
        .arg(format!("PG_CONFIG={}", pg_config.display()))
        .arg("install")
        .output()
        .context("running make for the native build")?;
    std::fs::write(&log, [output.stdout, output.stderr].concat())?;
    if !output.status.success() {
        bail!(
            "building the vector extension with PGXS failed (see {})",
            log.display()
        );
    }
    println!(
        "native: built with PGXS and installed into PostgreSQL 15 ({})",
        log.display()
    );
    Ok(())
}
