//! Debian's native PostgreSQL 15 for tests (crate `native-postgres`): a
//! temporary server and its client programs. Without the `postgresql-15`
//! package the tests that need it fail, saying so, rather than pass unseen.

use std::process::{Command, Output};

use native_postgres::NativePostgres;

/// A client program isolated from the caller's environment.
pub fn client(name: &str) -> Command {
    native_postgres::client(name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A native server that accepts connections; stopped on drop.
pub fn server() -> NativePostgres {
    let server = NativePostgres::start(&[], None).unwrap_or_else(|e| panic!("{e:#}"));
    server.select_one().unwrap_or_else(|e| panic!("{e:#}"));
    server
}

/// Runs `command`; its stdout, which it must have exited 0 with.
pub fn run_ok(mut command: Command) -> String {
    let output: Output = command.output().expect("running a PostgreSQL program");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
