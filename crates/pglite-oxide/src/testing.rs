//! Databases for tests: a template migrated once, then a private fork of it
//! for every test.
//!
//! ```no_run
//! use pglite_oxide::testing::Template;
//!
//! #[test]
//! fn inserts_a_user() {
//!     let mut db = Template::migrated("migrations").unwrap().database().unwrap();
//!     db.execute("INSERT INTO users (name) VALUES ($1)", &[&"ada"]).unwrap();
//! }
//! ```
//!
//! The first test of a process that asks for a template builds it (the
//! others wait for it): a temporary database, the migrations applied, shut
//! down cleanly, then frozen read-only in the user's cache directory under
//! a hash of the migrations, the build and the options. Every later process
//! (each test of nextest runs in its own) finds it there; processes that
//! ask at once build it once, under a lock file, and it appears by an
//! atomic rename, whole or not at all. Each [`Template::database`] is a
//! new temporary database, copy-on-write over the frozen one: nothing is
//! copied up front, and tests run in parallel without seeing each other.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use pglite_runtime::{Artifacts, TemplateCache, TemporaryRoot};
use sha2::{Digest, Sha256};

use crate::database::{Builder, Pglite};
use crate::error::{Error, Result};

/// Overrides where frozen templates are kept (default: `test-templates` in
/// the cache directory, see [`pglite_runtime::cache_dir`]). Remove
/// templates there freely while no test runs: they are built again.
pub const TEMPLATES_DIR_ENV: &str = "PGLITE_OXIDE_TEST_TEMPLATES";

/// A frozen, migrated database that tests fork.
#[derive(Clone)]
pub struct Template {
    dir: PathBuf,
    options: Builder,
    artifacts: Artifacts,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").field("dir", &self.dir).finish()
    }
}

/// Templates this process has: each built (or found on disk) once.
fn registry() -> &'static Mutex<HashMap<String, Arc<OnceLock<Template>>>> {
    static TEMPLATES: OnceLock<Mutex<HashMap<String, Arc<OnceLock<Template>>>>> = OnceLock::new();
    TEMPLATES.get_or_init(Mutex::default)
}

impl Template {
    /// The template with the SQL migrations in `dir` applied: every `.sql`
    /// file (but `.down.sql`), in order of name, as sqlx names them
    /// (`<version>_<description>.sql`), each run as one batch. Databases
    /// get the default options ([`Pglite::builder`]).
    pub fn migrated(dir: impl AsRef<Path>) -> Result<Template> {
        Self::migrated_with(Pglite::builder(), dir)
    }

    /// Like [`migrated`](Self::migrated), with the options every database
    /// (the template's own included) is opened with.
    pub fn migrated_with(options: Builder, dir: impl AsRef<Path>) -> Result<Template> {
        let migrations = read_migrations(dir.as_ref())?;
        let mut key = Sha256::new();
        for (name, sql) in &migrations {
            key.update((name.len() as u64).to_le_bytes());
            key.update(name.as_bytes());
            key.update((sql.len() as u64).to_le_bytes());
            key.update(sql.as_bytes());
        }
        let key = hex::encode(key.finalize());
        Self::build(&key, options, move |db| {
            for (name, sql) in &migrations {
                db.batch_execute(sql)
                    .map_err(|e| Error::Config(format!("migration {name}: {e}")))?;
            }
            Ok(())
        })
    }

    /// The template that `setup` makes from a new database (migrations of
    /// another kind, e.g. sqlx's through [`crate::PgliteServer`], seed
    /// data). `key` names what `setup` does: a template is built once per
    /// key (and per build of pglite-oxide and per options), so change the
    /// key when the setup changes, e.g. a hash of the migrations.
    pub fn build(
        key: &str,
        options: Builder,
        setup: impl FnOnce(&mut Pglite) -> Result<()>,
    ) -> Result<Template> {
        let artifacts = match options.artifacts_ref() {
            Some(artifacts) => artifacts.clone(),
            None => Artifacts::new()?,
        };
        if artifacts.template().is_none() {
            return Err(Error::Config(
                "test templates need the build's template data directory, and these \
                 artifacts have none"
                    .into(),
            ));
        }
        let base = TemplateCache::open(&artifacts)?;
        let mut digest = Sha256::new();
        // How this version freezes templates.
        digest.update(env!("CARGO_PKG_VERSION").as_bytes());
        digest.update([0]);
        // The build: its template's cache directory is named by its hash.
        digest.update(base.dir().as_os_str().as_encoded_bytes());
        digest.update([0]);
        digest.update(options.identity().as_bytes());
        digest.update([0]);
        digest.update(key.as_bytes());
        let hash = hex::encode(digest.finalize());

        let slot = {
            let mut templates = registry().lock().unwrap_or_else(|p| p.into_inner());
            templates.entry(hash.clone()).or_default().clone()
        };
        if let Some(template) = slot.get() {
            return Ok(template.clone());
        }
        // One thread builds; the others of this process wait for it here.
        static BUILDING: Mutex<()> = Mutex::new(());
        let _building = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(template) = slot.get() {
            return Ok(template.clone());
        }
        let dir = frozen(&hash, &options, &artifacts, setup)?;
        let template = Template {
            dir,
            options: options.for_fork(),
            artifacts,
        };
        Ok(slot.get_or_init(|| template).clone())
    }

    /// A new temporary database with the template's contents, removed when
    /// dropped.
    pub fn database(&self) -> Result<Pglite> {
        let root = TemporaryRoot::over(&self.dir)?;
        self.options.clone().start_in(self.artifacts.clone(), root)
    }

    /// The frozen data directory (read-only).
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// The frozen template `hash` in the cache directory, built there by
/// `setup` if no process has yet.
fn frozen(
    hash: &str,
    options: &Builder,
    artifacts: &Artifacts,
    setup: impl FnOnce(&mut Pglite) -> Result<()>,
) -> Result<PathBuf> {
    let base = templates_dir();
    let dir = base.join(hash);
    if dir.join("PG_VERSION").is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(&base)
        .map_err(|e| Error::Config(format!("creating {}: {e}", base.display())))?;
    // Other processes building the same template wait here; the lock goes
    // with the process, however it ends.
    let lock_path = base.join(format!("{hash}.lock"));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::Config(format!("opening {}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| Error::Config(format!("locking {}: {e}", lock_path.display())))?;
    if dir.join("PG_VERSION").is_file() {
        return Ok(dir);
    }
    let mut db = options
        .clone()
        .temporary()
        .artifacts(artifacts.clone())
        .open()?;
    setup(&mut db)?;
    // The shutdown checkpoint then starts a new WAL segment: the one each
    // fork writes to holds that record and zeros, which freezing turns
    // into holes, so a fork's first write copies kilobytes, not 16 MB.
    db.batch_execute("SELECT pg_switch_wal()")?;
    // A clean shutdown: forks start without recovery.
    db.shutdown()?;
    pglite_runtime::freeze_root(db.data_dir(), &dir)?;
    drop(db);
    Ok(dir)
}

/// Where frozen templates are kept: `$PGLITE_OXIDE_TEST_TEMPLATES`, else
/// `test-templates` in pglite-oxide's cache directory.
fn templates_dir() -> PathBuf {
    match std::env::var_os(TEMPLATES_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => pglite_runtime::cache_dir().join("test-templates"),
    }
}

/// The migration files of `dir`, in order, with their SQL.
fn read_migrations(dir: &Path) -> Result<Vec<(String, String)>> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::Config(format!("reading {}: {e}", dir.display())))?;
    let mut migrations = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Config(format!("reading {}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") || name.ends_with(".down.sql") {
            continue;
        }
        let sql = fs::read_to_string(entry.path())
            .map_err(|e| Error::Config(format!("reading {}: {e}", entry.path().display())))?;
        migrations.push((name, sql));
    }
    if migrations.is_empty() {
        return Err(Error::Config(format!(
            "{} has no .sql migrations",
            dir.display()
        )));
    }
    migrations.sort();
    Ok(migrations)
}
