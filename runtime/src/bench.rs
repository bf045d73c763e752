//! For `cargo xtask bench fs` only (feature `stock-fs-bench`): the stock
//! Wasmer filesystem as a baseline, and initdb's bootstrap step alone.

use std::path::Path;

use crate::initdb::BootstrapOnly;
use crate::{Artifacts, Result};

/// Backends started from now on use wasmer-wasix's own host filesystem
/// (`true`) or ours (`false`, the default).
pub fn use_stock_filesystem(stock: bool) {
    crate::fs::stock::select(stock);
}

/// initdb's bootstrap step, prepared on the new directory `dir` (removed
/// again when this is dropped).
pub struct Bootstrap(BootstrapOnly);

impl Bootstrap {
    pub fn prepare(artifacts: &Artifacts, dir: &Path) -> Result<Self> {
        BootstrapOnly::prepare(artifacts, dir).map(Self)
    }

    /// Runs the bootstrap backend, instantiation included.
    pub fn run(&self) -> Result<()> {
        self.0.run()
    }
}
