//! `cargo xtask bench extensions`: a new temporary database to its first
//! query, without an extension and with each extension of the catalog
//! (the `extension_start` example; decision 0013).

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::layout::Layout;

pub fn run(layout: &Layout) -> Result<()> {
    let exe = super::build_example_optimized(layout, "extension_start")?;
    let output = Command::new(&exe)
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("new temporary database to its first query (open + SELECT 1), medians of 11:");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}
