//! `cargo xtask bench fork`: forks (`Pglite::try_clone`), the per-test
//! fixture (`testing::Template`), and one suite of 200 tests run with the
//! fixture, with a fresh temporary database a test, and on native
//! PostgreSQL 15 with `CREATE DATABASE ... TEMPLATE` a test, in one run
//! (the `fork_bench` example of pglite-oxide does the measuring).

use std::process::Command;

use anyhow::{bail, Result};

use crate::layout::Layout;
use native_postgres::NativePostgres;

pub fn run(layout: &Layout) -> Result<()> {
    let example = super::build_example(layout, "fork_bench", &[])?;
    let native = if NativePostgres::available() {
        // As the temporary databases it is compared with: no syncs.
        Some(NativePostgres::start(&[("fsync", "off")], None)?)
    } else {
        println!(
            "native PostgreSQL 15 is not installed (apt-get install postgresql-15): not compared"
        );
        None
    };
    // An empty template cache: the fixture's suite builds its template, as
    // a first run does.
    let templates = tempfile::Builder::new()
        .prefix("pglite-templates-")
        .tempdir()?;
    let mut command = Command::new(&example);
    command.env("PGLITE_OXIDE_TEST_TEMPLATES", templates.path());
    if let Some(native) = &native {
        command
            .arg("--native")
            .arg(native.socket_dir())
            .arg(native.port.to_string());
    }
    let status = command.status()?;
    make_writable(templates.path())?;
    if !status.success() {
        bail!("the fork_bench example failed");
    }
    Ok(())
}

/// Frozen templates are read-only: open their directories so that the
/// temporary directory can go.
fn make_writable(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}
