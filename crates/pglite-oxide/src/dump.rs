//! Logical dumps and restores with PostgreSQL's own pg_dump and pg_restore,
//! built to wasm beside the backend and run in this process: their
//! connections are in-memory pipes to the database's backend
//! ([`crate::program_client`]), never sockets.

use std::io::{Read, Write};

use pglite_runtime::{run_program, Program, ProgramIo};
use tokio::runtime::Handle;

use crate::database::Pglite;
use crate::error::{Error, Result};
use crate::program_client::PipeConnector;

/// What [`Pglite::dump_sql`] and [`Pglite::dump_archive`] dump: by
/// default everything (schema and data of every schema but the system's),
/// as `pg_dump` does.
///
/// Patterns are pg_dump's (`-n`, `-t`...): `*` and `?` are wildcards, a
/// name in double quotes is taken as written.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    schema_only: bool,
    data_only: bool,
    schemas: Vec<String>,
    exclude_schemas: Vec<String>,
    tables: Vec<String>,
    exclude_tables: Vec<String>,
    no_owner: bool,
    no_privileges: bool,
    clean: bool,
    if_exists: bool,
    restrict_key: Option<String>,
}

impl DumpOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the definitions, no data (`--schema-only`).
    pub fn schema_only(mut self) -> Self {
        self.schema_only = true;
        self
    }

    /// Only the data, no definitions (`--data-only`).
    pub fn data_only(mut self) -> Self {
        self.data_only = true;
        self
    }

    /// Only schemas matching `pattern` (`--schema`; may be repeated).
    pub fn schema(mut self, pattern: impl Into<String>) -> Self {
        self.schemas.push(pattern.into());
        self
    }

    /// Not schemas matching `pattern` (`--exclude-schema`).
    pub fn exclude_schema(mut self, pattern: impl Into<String>) -> Self {
        self.exclude_schemas.push(pattern.into());
        self
    }

    /// Only tables (and views, sequences...) matching `pattern`
    /// (`--table`; may be repeated).
    pub fn table(mut self, pattern: impl Into<String>) -> Self {
        self.tables.push(pattern.into());
        self
    }

    /// Not tables matching `pattern` (`--exclude-table`).
    pub fn exclude_table(mut self, pattern: impl Into<String>) -> Self {
        self.exclude_tables.push(pattern.into());
        self
    }

    /// No `ALTER ... OWNER TO` (`--no-owner`): restored objects belong to
    /// whoever restores them.
    pub fn no_owner(mut self) -> Self {
        self.no_owner = true;
        self
    }

    /// No `GRANT` and `REVOKE` (`--no-privileges`).
    pub fn no_privileges(mut self) -> Self {
        self.no_privileges = true;
        self
    }

    /// `DROP` each object before creating it (`--clean`); with `if_exists`,
    /// `DROP ... IF EXISTS` (`--if-exists`).
    pub fn clean(mut self, if_exists: bool) -> Self {
        self.clean = true;
        self.if_exists = if_exists;
        self
    }

    /// The key of the `\restrict` and `\unrestrict` lines around a plain
    /// dump (`--restrict-key`; letters and digits). They keep psql from
    /// running meta-commands hidden in the dumped data; by default the key
    /// is random, so two dumps of the same database differ in those lines.
    /// A fixed key makes them comparable. Archives have no such lines: it
    /// changes nothing there.
    pub fn restrict_key(mut self, key: impl Into<String>) -> Self {
        self.restrict_key = Some(key.into());
        self
    }

    fn args(&self, plain: bool) -> Vec<String> {
        let mut args = Vec::new();
        if let (true, Some(key)) = (plain, &self.restrict_key) {
            args.push(format!("--restrict-key={key}"));
        }
        let flags = [
            (self.schema_only, "--schema-only"),
            (self.data_only, "--data-only"),
            (self.no_owner, "--no-owner"),
            (self.no_privileges, "--no-privileges"),
            (self.clean, "--clean"),
            (self.if_exists, "--if-exists"),
        ];
        args.extend(switches(&flags));
        for (option, patterns) in [
            ("--schema", &self.schemas),
            ("--exclude-schema", &self.exclude_schemas),
            ("--table", &self.tables),
            ("--exclude-table", &self.exclude_tables),
        ] {
            // `--option=value`: a pattern starting with '-' stays a pattern.
            args.extend(patterns.iter().map(|p| format!("{option}={p}")));
        }
        args
    }
}

/// The command-line switches that are on.
fn switches<'a>(flags: &'a [(bool, &str)]) -> impl Iterator<Item = String> + 'a {
    flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, switch)| switch.to_string())
}

/// The text of a plain dump that `dump` writes.
pub(crate) fn sql_text(dump: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<String> {
    let mut out = Vec::new();
    dump(&mut out)?;
    String::from_utf8(out)
        .map_err(|e| Error::Protocol(format!("pg_dump wrote something not UTF-8: {e}")))
}

/// What pg_dump writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DumpFormat {
    /// SQL text, for psql.
    Plain,
    /// An archive for pg_restore (`-Fc`).
    Custom,
}

/// How [`Pglite::restore_archive`] restores.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    single_transaction: bool,
    no_owner: bool,
    no_privileges: bool,
    clean: bool,
    if_exists: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            single_transaction: true,
            no_owner: false,
            no_privileges: false,
            clean: false,
            if_exists: false,
        }
    }
}

impl RestoreOptions {
    /// All or nothing (the default): the restore runs in one transaction,
    /// which a failure rolls back. Off, each object is committed as it is
    /// restored and a failure leaves the ones before it.
    pub fn single_transaction(mut self, on: bool) -> Self {
        self.single_transaction = on;
        self
    }

    /// Restored objects belong to the restoring role (`--no-owner`).
    pub fn no_owner(mut self) -> Self {
        self.no_owner = true;
        self
    }

    /// Skip `GRANT` and `REVOKE` (`--no-privileges`).
    pub fn no_privileges(mut self) -> Self {
        self.no_privileges = true;
        self
    }

    /// Drop each object before creating it (`--clean`); with `if_exists`,
    /// only if it exists (`--if-exists`).
    pub fn clean(mut self, if_exists: bool) -> Self {
        self.clean = true;
        self.if_exists = if_exists;
        self
    }

    fn args(&self) -> Vec<String> {
        // A failed statement ends the restore: the caller gets its error.
        let mut args = vec!["--exit-on-error".to_string()];
        let flags = [
            (self.single_transaction, "--single-transaction"),
            (self.no_owner, "--no-owner"),
            (self.no_privileges, "--no-privileges"),
            (self.clean, "--clean"),
            (self.if_exists, "--if-exists"),
        ];
        args.extend(switches(&flags));
        args
    }
}

impl Pglite {
    /// A plain SQL dump of the database (what `pg_dump` prints), which
    /// `psql -f` loads into PostgreSQL 15 or later.
    ///
    /// pg_dump runs in this process as another client of the backend, in
    /// one repeatable-read transaction: the dump is one consistent
    /// snapshot, and other clients wait while it runs (see
    /// [`Builder::busy_timeout`](crate::Builder::busy_timeout)). Fails at
    /// once if this client is inside a transaction.
    pub fn dump_sql(&self, options: &DumpOptions) -> Result<String> {
        sql_text(|out| self.dump_sql_to(options, out))
    }

    /// [`dump_sql`](Self::dump_sql), streamed to `out`.
    pub fn dump_sql_to(&self, options: &DumpOptions, mut out: impl Write) -> Result<()> {
        self.dump(options, DumpFormat::Plain, &mut out, None)
    }

    /// A custom-format archive of the database (`pg_dump -Fc`), which
    /// [`restore_archive`](Self::restore_archive) or PostgreSQL's
    /// `pg_restore` restores; streamed to `out`. Uncompressed (this build
    /// of pg_dump has no zlib). See [`dump_sql`](Self::dump_sql).
    pub fn dump_archive(&self, options: &DumpOptions, mut out: impl Write) -> Result<()> {
        self.dump(options, DumpFormat::Custom, &mut out, None)
    }

    /// Restores a custom-format archive (from
    /// [`dump_archive`](Self::dump_archive) or `pg_dump -Fc`) into this
    /// database with pg_restore, reading it from `archive` as it goes.
    /// A failed statement ends the restore with an error saying which
    /// (and, by default, rolls it all back: see
    /// [`RestoreOptions::single_transaction`]).
    pub fn restore_archive(&self, archive: impl Read, options: &RestoreOptions) -> Result<()> {
        self.restore(archive, options, None)
    }

    pub(crate) fn dump(
        &self,
        options: &DumpOptions,
        format: DumpFormat,
        out: &mut dyn Write,
        runtime: Option<Handle>,
    ) -> Result<()> {
        let plain = format == DumpFormat::Plain;
        let format = if plain {
            "--format=plain"
        } else {
            "--format=custom"
        };
        let mut args = vec![format.to_string(), self.conninfo_arg()];
        args.extend(options.args(plain));
        self.run(Program::PgDump, &args, ProgramIo::Output(out), runtime)
    }

    pub(crate) fn restore(
        &self,
        mut archive: impl Read,
        options: &RestoreOptions,
        runtime: Option<Handle>,
    ) -> Result<()> {
        let mut args = vec![self.conninfo_arg()];
        args.extend(options.args());
        self.run(
            Program::PgRestore,
            &args,
            ProgramIo::Input(&mut archive),
            runtime,
        )
    }

    /// Runs `program`, its connections served on `runtime` or, without
    /// one, on a runtime made for this run.
    fn run(
        &self,
        program: Program,
        args: &[String],
        io: ProgramIo<'_>,
        runtime: Option<Handle>,
    ) -> Result<()> {
        if self.backend().holder() == Some(self.session_id()) {
            return Err(Error::Config(format!(
                "this client is inside a transaction: commit or roll back before running {}",
                program.name()
            )));
        }
        let (handle, own) = match runtime {
            Some(handle) => (handle, None),
            None => {
                let own = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("pglite-program")
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        Error::Config(format!("starting a runtime for {}: {e}", program.name()))
                    })?;
                (own.handle().clone(), Some(own))
            }
        };
        let (connector, done) = PipeConnector::new(self.backend().clone(), handle);
        let result = run_program(self.artifacts(), program, args, io, Box::new(connector));
        // The program is gone, and its connections with it: wait until
        // they have cleaned up after it.
        while done.recv().is_ok() {}
        if let Some(own) = own {
            // Dropping a runtime blocks, which panics in async code.
            own.shutdown_background();
        }
        let warnings = result?;
        if !warnings.is_empty() {
            tracing::warn!(program = program.name(), %warnings, "warnings");
        }
        Ok(())
    }

    /// libpq's connection string for this database: the pipe's server
    /// answers only for this database and role.
    fn conninfo_arg(&self) -> String {
        let quote = |value: &str| format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"));
        format!(
            "--dbname=dbname={} user={}",
            quote(self.database()),
            quote(self.user())
        )
    }
}
