//! The data directory on the host: its layout, configuration files, version
//! files, removal after a failure and the final sync.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::script::Features;
use super::PG_MAJOR;
use crate::{Error, Result};

/// The subdirectories of a new data directory, parents first (`pg_wal`
/// leads because initdb creates it, or its symlink, before the others).
const SUBDIRS: &[&str] = &[
    "pg_wal",
    "pg_wal/archive_status",
    "global",
    "pg_commit_ts",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
    "pg_twophase",
    "pg_multixact",
    "pg_multixact/members",
    "pg_multixact/offsets",
    "base",
    "base/1",
    "pg_replslot",
    "pg_tblspc",
    "pg_stat",
    "pg_stat_tmp",
    "pg_xact",
    "pg_logical",
    "pg_logical/snapshots",
    "pg_logical/mappings",
];

/// Undoes a failed initdb: when dropped unless [disarmed](Self::disarm),
/// removes the data directory (or, if it existed before, its contents).
pub(super) struct Cleanup {
    dir: PathBuf,
    /// We created `dir` (else it existed, empty, and only its contents go).
    created: bool,
    armed: bool,
}

impl Cleanup {
    /// initdb succeeded: keep everything.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let result = if self.created {
            fs::remove_dir_all(&self.dir)
        } else {
            empty_dir(&self.dir)
        };
        // The error that made initdb fail is the one worth returning.
        if let Err(err) = result {
            tracing::warn!(dir = %self.dir.display(), %err, "could not remove a failed initdb's files");
        }
    }
}

fn empty_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Creates `dir` (owner-only), or accepts it if it exists and is empty
/// and makes it owner-only, as initdb does.
pub(super) fn create_root(dir: &Path) -> Result<Cleanup> {
    match dir_builder().create(dir) {
        Ok(()) => Ok(Cleanup {
            dir: dir.to_path_buf(),
            created: true,
            armed: true,
        }),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            let mut entries =
                fs::read_dir(dir).map_err(|e| Error::io("reading the directory", dir, e))?;
            if entries.next().is_some() {
                return Err(Error::io(
                    "creating a data directory in",
                    dir,
                    io::Error::new(io::ErrorKind::AlreadyExists, "the directory is not empty"),
                ));
            }
            #[cfg(unix)]
            fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(|e| Error::io("setting permissions of", dir, e))?;
            Ok(Cleanup {
                dir: dir.to_path_buf(),
                created: false,
                armed: true,
            })
        }
        Err(err) => Err(Error::io("creating the data directory", dir, err)),
    }
}

/// Everything the bootstrap backend expects before it starts: the
/// subdirectories, the top-level `PG_VERSION` and the configuration files.
pub(super) fn create_tree(dir: &Path, features: &Features) -> Result<()> {
    let builder = dir_builder();
    for sub in SUBDIRS {
        let path = dir.join(sub);
        builder
            .create(&path)
            .map_err(|e| Error::io("creating", path, e))?;
    }
    write_version_file(dir)?;
    let text_search = if features.snowball {
        "pg_catalog.english"
    } else {
        // english comes from snowball_create.sql; without it, the built-in
        // configuration.
        "pg_catalog.simple"
    };
    write_file(
        &dir.join("postgresql.conf"),
        &POSTGRESQL_CONF.replace("@TEXT_SEARCH_CONFIG@", text_search),
    )?;
    write_file(&dir.join("postgresql.auto.conf"), POSTGRESQL_AUTO_CONF)?;
    write_file(&dir.join("pg_hba.conf"), PG_HBA_CONF)?;
    write_file(&dir.join("pg_ident.conf"), PG_IDENT_CONF)
}

/// The `PG_VERSION` file the backend checks in the data directory and in
/// each database directory.
pub(super) fn write_version_file(dir: &Path) -> Result<()> {
    write_file(&dir.join("PG_VERSION"), &format!("{PG_MAJOR}\n"))
}

/// Syncs every file and directory under `dir`, then `dir` itself and its
/// parent (which holds `dir`'s entry). Directories are synced after their
/// contents.
pub(crate) fn sync_tree(dir: &Path) -> Result<()> {
    sync_dir_recursive(dir)?;
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    sync_path(parent)
}

fn sync_dir_recursive(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("reading the directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("reading the directory", dir, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("inspecting", &path, e))?;
        if kind.is_dir() {
            sync_dir_recursive(&path)?;
        } else if kind.is_file() {
            sync_path(&path)?;
        }
        // initdb creates no symlinks or special files; anything else is
        // left alone.
    }
    sync_path(dir)
}

/// Opens `path` read-only (which works for directories too on Unix) and
/// syncs it.
fn sync_path(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::io("syncing", path, e))
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(|e| Error::io("writing", path, e))
}

fn dir_builder() -> fs::DirBuilder {
    #[allow(unused_mut)]
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Our settings for an embedded backend. Only what differs from PostgreSQL's
/// built-in defaults, or what PostgreSQL's initdb would have chosen from the
/// environment, is set; the share tree's `postgresql.conf.sample` documents
/// the rest.
const POSTGRESQL_CONF: &str = "\
# postgresql.conf, written by pglite-oxide's initdb.
#
# This backend runs embedded in its host program, inside a WebAssembly
# sandbox: one process, no listening sockets, no child processes, no POSIX
# shared memory. The settings below suit that; every other setting keeps
# PostgreSQL's built-in default (share/postgresql/postgresql.conf.sample
# lists them all). ALTER SYSTEM writes to postgresql.auto.conf, which
# overrides this file.

# Clients reach the backend through the host program only.
listen_addresses = ''
max_connections = 10

shared_buffers = 16MB
# There is no shm_open() in the sandbox.
dynamic_shared_memory_type = sysv

# Results must not depend on the host machine's zone or locale.
timezone = 'UTC'
log_timezone = 'UTC'
datestyle = 'iso, mdy'
lc_messages = 'C'
lc_monetary = 'C'
lc_numeric = 'C'
lc_time = 'C'
default_text_search_config = '@TEXT_SEARCH_CONFIG@'
";

/// ALTER SYSTEM recognises and rewrites this file; its header is the one
/// PostgreSQL writes.
const POSTGRESQL_AUTO_CONF: &str = "\
# Do not edit this file manually!
# It will be overwritten by the ALTER SYSTEM command.
";

const PG_HBA_CONF: &str = "\
# pg_hba.conf, written by pglite-oxide's initdb.
#
# The embedded backend listens on no socket and reads no rule here: its
# only clients come through the host program, which decides who may
# connect (PgliteServer's password, for one). The one rule says so. It is a
# host rule because this build has no Unix-domain sockets, for which a
# local rule would be an error in pg_hba_file_rules.
#
# TYPE  DATABASE        USER            ADDRESS                 METHOD
host    all             all             all                     trust
";

const PG_IDENT_CONF: &str = "\
# pg_ident.conf, written by pglite-oxide's initdb: no user name maps.
#
# MAPNAME       SYSTEM-USERNAME         PG-USERNAME
";
