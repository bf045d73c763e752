//! [`Pglite`]: an embedded database, and its [`Builder`].

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pglite_runtime::{
    install_extension, Artifacts, BackendSession, ExtensionFiles, SessionOptions, TemplateCache,
    TemporaryRoot,
};
use postgres_protocol::message::frontend;

use crate::backend::Backend;
use crate::error::{DbError, Error, Result};
use crate::notify::{NoticeHandler, Notices};
use crate::session::Session;
use crate::settings;

/// How long a client waits by default for another connection's
/// transaction before [`Error::Busy`].
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The superuser every embedded database is created with.
const BOOTSTRAP_USER: &str = "postgres";

/// An embedded PostgreSQL database: one backend, running in this process.
///
/// Queries run on the calling thread through [`Session`]'s methods (by
/// `Deref`). `Pglite` is `Send`: it can move between threads, and further
/// clients ([`Pglite::connect`], [`Pglite::session`]) share its backend.
/// The backend serves one client at a time; a client inside a transaction
/// keeps it until the transaction ends (others wait, see
/// [`Builder::busy_timeout`]).
///
/// Dropping it shuts the backend down cleanly (a checkpoint, as a server's
/// shutdown does), as [`close`](Self::close) does; a temporary database's
/// backend is just stopped, since its files are deleted.
pub struct Pglite {
    session: Session,
    backend: Arc<Backend>,
    data_dir: PathBuf,
    user: String,
    /// What it was opened with: a fork starts its own backend the same way.
    options: Builder,
    artifacts: Artifacts,
    /// The data directory of a temporary database: removed last, after the
    /// backend has shut down.
    _temporary: Option<Temporary>,
}

/// A temporary database's directory, removed when dropped.
enum Temporary {
    /// Copy-on-write over the template: nothing is copied up front.
    Root(TemporaryRoot),
    /// Without a template: a directory initdb fills.
    Dir(tempfile::TempDir),
}

impl Temporary {
    fn data_dir(&self) -> PathBuf {
        match self {
            Temporary::Root(root) => root.path().to_path_buf(),
            Temporary::Dir(dir) => dir.path().join("data"),
        }
    }
}

impl Pglite {
    /// A new database in a temporary directory, removed when it is dropped.
    pub fn temporary() -> Result<Self> {
        Self::builder().temporary().open()
    }

    /// The database in `path`, created there if the directory is absent or
    /// empty.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        Self::builder().path(path).open()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The role queries run as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The database queries run in.
    pub fn database(&self) -> &str {
        &self.backend.database
    }

    /// Another synchronous client of the same backend (for another thread).
    pub fn session(&self) -> Session {
        Session::new(self.backend.clone(), Notices::new(None))
    }

    /// Shuts the backend down cleanly: it writes a checkpoint and exits.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    pub(crate) fn shutdown(&mut self) -> Result<()> {
        self.backend.close()
    }

    /// A new, independent temporary database with the same contents (a
    /// fork), removed when dropped. It has its own backend, started with
    /// this database's options; the two share nothing afterwards.
    ///
    /// The fork is what the database holds between two transactions: this
    /// waits for other clients' open transactions to end (up to
    /// [`Builder::busy_timeout`]) and fails at once if this client is
    /// inside one. The backend writes a checkpoint, and while it is held
    /// still the files are copied; the fork then starts as after a crash at
    /// that instant (recovery replays only the checkpoint), so unlogged
    /// tables come back empty. A temporary database is copy-on-write over
    /// the template: only the files it changed are copied (a reflink where
    /// the filesystem can). A database in a directory is copied whole.
    pub fn try_clone(&self) -> Result<Pglite> {
        let root = TemporaryRoot::empty()?;
        self.held_still(|| pglite_runtime::copy_root(&self.data_dir, root.path()))?;
        let mut options = self.options.clone();
        // Recovery starts by syncing every file of the data directory
        // unless fsync is off (hundreds of milliseconds through the
        // layer); with relaxed durability syncs do nothing anyway.
        let relaxed = options.relaxed_durability.unwrap_or(true);
        if relaxed && !options.settings.iter().any(|(name, _)| name == "fsync") {
            options.settings.push(("fsync".into(), "off".into()));
        }
        options.start_in(self.artifacts.clone(), root)
    }

    /// Writes the data directory to `archive`, a `.tar.zst` file (replaced
    /// once complete), after a checkpoint and with the backend held still,
    /// as [`try_clone`](Self::try_clone) does; the same files give the same
    /// bytes. [`Builder::load_data_dir`] opens it again, here or elsewhere.
    pub fn dump_data_dir(&self, archive: impl AsRef<Path>) -> Result<()> {
        let archive = archive.as_ref();
        self.held_still(|| pglite_runtime::pack_root(&self.data_dir, archive))
    }

    /// Runs `work` on the data directory's files while they are
    /// consistent: after a CHECKPOINT, holding the backend so that nothing
    /// runs until `work` returns.
    fn held_still<R>(&self, work: impl FnOnce() -> pglite_runtime::Result<R>) -> Result<R> {
        if self.backend.holder() == Some(self.session.id) {
            return Err(Error::Config(
                "this client is inside a transaction: commit or roll back before copying \
                 the database"
                    .into(),
            ));
        }
        let mut client = self.session();
        let id = client.id;
        let mut query = BytesMut::new();
        frontend::query("CHECKPOINT", &mut query).map_err(crate::session::protocol)?;
        let mut done = None;
        self.backend.exchange(id, &query, |session| {
            let reply = session.send(&query)?;
            let reply = client.parse_reply(reply, None)?.into_result()?;
            // Not returned through the exchange: a failed copy is no
            // failure of the backend.
            done = Some(work());
            Ok(((), reply.status))
        })?;
        match done {
            Some(result) => Ok(result?),
            None => Err(Error::Protocol(
                "the checkpoint ended without an answer".into(),
            )),
        }
    }

    pub(crate) fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    pub(crate) fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// This client's identity at the backend.
    pub(crate) fn session_id(&self) -> crate::backend::ClientId {
        self.session.id
    }
}

impl Pglite {
    /// Makes an extension available in this database and creates it:
    /// `extension` is one of the catalog's ([`crate::extensions`], e.g.
    /// `extensions::PG_TRGM`) or a name (`"pg_trgm"`). Its files, packaged
    /// with the backend artifacts, are installed into this data directory
    /// only (other databases do not see them), with those of the
    /// extensions it requires, then `CREATE EXTENSION IF NOT EXISTS ...
    /// CASCADE` runs; a module without a control file (`auto_explain`) is
    /// `LOAD`ed into this session instead. Plain `CREATE EXTENSION` works
    /// too once the files are installed; they stay installed across
    /// restarts.
    pub fn enable_extension(&mut self, extension: impl AsRef<str>) -> Result<()> {
        let name = extension.as_ref();
        let files = install_extension(&self.artifacts, name, &self.data_dir)?;
        self.session.batch_execute(&create_extension(&files))
    }
}

/// What makes installed extension `files` usable in a session: `CREATE
/// EXTENSION IF NOT EXISTS` with the extensions it requires, or `LOAD` for
/// a module without a control file. Names are those
/// [`pglite_runtime::ExtensionFiles`] accepted (letters, digits, `_`, `-`).
fn create_extension(files: &ExtensionFiles) -> String {
    let name = files.name();
    if files.has_control_file() {
        format!("CREATE EXTENSION IF NOT EXISTS \"{name}\" CASCADE")
    } else {
        format!("LOAD '{name}'")
    }
}

impl Deref for Pglite {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl DerefMut for Pglite {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.session
    }
}

impl Drop for Pglite {
    fn drop(&mut self) {
        // A temporary database's files are deleted next: a shutdown
        // checkpoint would write them for nobody.
        let ended = if self._temporary.is_some() {
            self.backend.discard()
        } else {
            self.shutdown()
        };
        if let Err(err) = ended {
            tracing::warn!(%err, "the database did not shut down cleanly");
        }
    }
}

/// Where a database lives.
#[derive(Debug, Clone)]
enum Location {
    Temporary,
    Path(PathBuf),
    App {
        qualifier: String,
        organization: String,
        application: String,
    },
}

/// Options for opening a database.
#[derive(Clone)]
pub struct Builder {
    location: Location,
    user: String,
    database: String,
    settings: Vec<(String, String)>,
    relaxed_durability: Option<bool>,
    busy_timeout: Duration,
    notice_handler: Option<NoticeHandler>,
    artifacts: Option<Artifacts>,
    /// A data directory archive to create the database from.
    load: Option<PathBuf>,
    /// Extensions to install and create (see [`Builder::extension`]).
    extensions: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            location: Location::Temporary,
            user: BOOTSTRAP_USER.into(),
            database: "postgres".into(),
            settings: Vec::new(),
            relaxed_durability: None,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            notice_handler: None,
            artifacts: None,
            load: None,
            extensions: Vec::new(),
        }
    }
}

impl Builder {
    /// The database lives in `path` (created if absent or empty, reused
    /// otherwise).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.location = Location::Path(path.into());
        self
    }

    /// A temporary database, removed when closed (the default).
    pub fn temporary(mut self) -> Self {
        self.location = Location::Temporary;
        self
    }

    /// The database lives in the platform's data directory for an
    /// application (e.g. `~/.local/share/<app>/pgdata` on Linux).
    pub fn app(mut self, qualifier: &str, organization: &str, application: &str) -> Self {
        self.location = Location::App {
            qualifier: qualifier.into(),
            organization: organization.into(),
            application: application.into(),
        };
        self
    }

    /// The role queries run as (default `postgres`). Another name is
    /// created as a superuser role on first use, and the session runs as it
    /// (`SET SESSION AUTHORIZATION`).
    pub fn username(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    /// The database to connect to (default `postgres`); created on first
    /// use.
    pub fn database(mut self, database: &str) -> Self {
        self.database = database.into();
        self
    }

    /// A server setting, as `-c name=value` on a server's command line:
    /// it overrides the data directory's configuration and our defaults.
    pub fn postgres_config(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Trade durability for speed: commits do not wait for the disk and
    /// nothing is synced. A crash of the process loses nothing committed; a
    /// crash of the machine may lose or corrupt data. Default: on for
    /// temporary databases, off otherwise.
    pub fn relaxed_durability(mut self, relaxed: bool) -> Self {
        self.relaxed_durability = Some(relaxed);
        self
    }

    /// How long a client waits for another connection's transaction before
    /// giving up with [`Error::Busy`] (default 30 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Calls `handler` with every notice (WARNING, NOTICE, INFO...) instead
    /// of collecting them for [`Session::take_notices`].
    pub fn on_notice(mut self, handler: impl Fn(&DbError) + Send + Sync + 'static) -> Self {
        self.notice_handler = Some(Arc::new(handler));
        self
    }

    /// The backend artifacts to run (default: [`Artifacts::new`], the ones
    /// embedded in pglite-runtime unless `PGLITE_OXIDE_ARTIFACTS` names a
    /// directory).
    pub fn artifacts(mut self, artifacts: Artifacts) -> Self {
        self.artifacts = Some(artifacts);
        self
    }

    /// Creates the database from `archive`, a data directory written by
    /// [`Pglite::dump_data_dir`]: in a temporary directory, or at the
    /// [`path`](Self::path), which must then be absent or empty. An archive
    /// that is damaged, is not a data directory, or was made by another
    /// PostgreSQL version or for another architecture (as its control file
    /// says) is refused, and nothing is left behind.
    pub fn load_data_dir(mut self, archive: impl Into<PathBuf>) -> Self {
        self.load = Some(archive.into());
        self
    }

    /// Installs an extension (a constant of [`crate::extensions`] or a
    /// name) into the database and creates it when it opens, as
    /// [`Pglite::enable_extension`] does.
    pub fn extension(mut self, extension: impl AsRef<str>) -> Self {
        self.extensions.push(extension.as_ref().into());
        self
    }

    pub(crate) fn artifacts_ref(&self) -> Option<&Artifacts> {
        self.artifacts.as_ref()
    }

    /// What of these options shapes the database's files (a test
    /// template's cache key).
    pub(crate) fn identity(&self) -> String {
        format!(
            "{}\0{}\0{:?}\0{:?}",
            self.user, self.database, self.settings, self.extensions
        )
    }

    /// These options for a fork: the data directory is made for it.
    pub(crate) fn for_fork(mut self) -> Self {
        self.location = Location::Temporary;
        self.load = None;
        self
    }

    /// Opens the temporary database `root` (which holds one).
    pub(crate) fn start_in(self, artifacts: Artifacts, root: TemporaryRoot) -> Result<Pglite> {
        let data_dir = root.path().to_path_buf();
        self.for_fork()
            .start(artifacts, data_dir, Some(Temporary::Root(root)))
    }

    /// Opens the database, creating it when needed.
    pub fn open(self) -> Result<Pglite> {
        let artifacts = match &self.artifacts {
            Some(artifacts) => artifacts.clone(),
            None => Artifacts::new()?,
        };
        // The module loads on another thread while the data directory is
        // made (the first time in a process: ~20 ms of native code).
        pglite_runtime::engine::preload(&artifacts);
        let (data_dir, temporary) = match &self.location {
            Location::Temporary if self.load.is_some() => {
                let root = TemporaryRoot::empty()?;
                let data_dir = root.path().to_path_buf();
                (data_dir, Some(Temporary::Root(root)))
            }
            Location::Temporary => {
                let temporary = if artifacts.template().is_some() {
                    Temporary::Root(TemplateCache::open(&artifacts)?.temporary_root()?)
                } else {
                    Temporary::Dir(
                        tempfile::Builder::new()
                            .prefix("pglite-")
                            .tempdir()
                            .map_err(|e| {
                                Error::Config(format!("creating a temporary directory: {e}"))
                            })?,
                    )
                };
                (temporary.data_dir(), Some(temporary))
            }
            Location::Path(path) => (path.clone(), None),
            Location::App {
                qualifier,
                organization,
                application,
            } => {
                let dirs = directories::ProjectDirs::from(qualifier, organization, application)
                    .ok_or_else(|| Error::Config("this platform has no home directory".into()))?;
                (dirs.data_dir().join("pgdata"), None)
            }
        };
        if let Some(archive) = &self.load {
            crate::data_dir::load(&artifacts, archive, &data_dir)?;
        } else if !matches!(temporary, Some(Temporary::Root(_))) {
            // A copy-on-write root is a database already.
            crate::data_dir::prepare(&artifacts, &data_dir)?;
        }
        self.start(artifacts, data_dir, temporary)
    }

    /// Starts a backend on the data directory `data_dir`, which holds a
    /// database.
    fn start(
        self,
        artifacts: Artifacts,
        data_dir: PathBuf,
        temporary: Option<Temporary>,
    ) -> Result<Pglite> {
        let relaxed = self.relaxed_durability.unwrap_or(temporary.is_some());
        let options = SessionOptions {
            database: self.database.clone(),
            settings: self.settings.clone(),
            relaxed_durability: relaxed,
        };
        let (session, greeting) = start_creating_database(&artifacts, &data_dir, options)?;
        let parameters = settings::parse_answer(&greeting)?.reported;
        let backend = Backend::new(
            session,
            parameters,
            self.busy_timeout,
            self.database.clone(),
        );
        let mut session = Session::new(backend.clone(), Notices::new(self.notice_handler.clone()));
        // Installed once the backend runs (it sees them at once): a new
        // temporary database's start may be replayed from an image of an
        // earlier one (decision 0009), whose files it would then clash with.
        for name in &self.extensions {
            let files = install_extension(&artifacts, name, &data_dir)?;
            session.batch_execute(&create_extension(&files))?;
        }
        if self.user != BOOTSTRAP_USER {
            become_user(&mut session, &self.user)?;
            // Every client runs as that user.
            backend.set_baseline(session.id)?;
        }
        Ok(Pglite {
            session,
            backend,
            data_dir,
            user: self.user.clone(),
            options: self,
            artifacts,
            _temporary: temporary,
        })
    }
}

/// Starts a session on the requested database, creating the database first
/// when it does not exist yet.
fn start_creating_database(
    artifacts: &Artifacts,
    data_dir: &Path,
    options: SessionOptions,
) -> Result<(BackendSession, Vec<u8>)> {
    match BackendSession::start(artifacts, data_dir, &options) {
        Ok(started) => return Ok(started),
        // A standalone backend reports a missing database in its log (in
        // PostgreSQL's untranslated C-locale text) and exits.
        Err(pglite_runtime::Error::Exited { stderr, .. })
            if options.database != "postgres"
                && stderr.contains(&format!(
                    "FATAL:  database \"{}\" does not exist",
                    options.database
                )) => {}
        Err(err) => return Err(err.into()),
    }
    let bootstrap = SessionOptions {
        database: "postgres".into(),
        ..options.clone()
    };
    let (session, greeting) = BackendSession::start(artifacts, data_dir, &bootstrap)?;
    settings::parse_answer(&greeting)?;
    let backend = Backend::new(session, Vec::new(), DEFAULT_BUSY_TIMEOUT, "postgres".into());
    let mut creator = Session::new(backend.clone(), Notices::new(None));
    creator.batch_execute(&format!(
        "CREATE DATABASE {}",
        quote_ident(&options.database)
    ))?;
    drop(creator);
    backend.close()?;
    drop(backend);
    Ok(BackendSession::start(artifacts, data_dir, &options)?)
}

/// Makes the session run as `user`, creating the role when needed.
fn become_user(session: &mut Session, user: &str) -> Result<()> {
    let exists = session
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&user],
        )?
        .is_some();
    let ident = quote_ident(user);
    if !exists {
        session.batch_execute(&format!("CREATE ROLE {ident} SUPERUSER LOGIN"))?;
    }
    session.batch_execute(&format!("SET SESSION AUTHORIZATION {ident}"))
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
