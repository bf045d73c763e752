//! The one error type of the crate, and PostgreSQL's own error reports.

use std::fmt;
use std::time::Duration;

pub use tokio_postgres::error::{ErrorPosition, SqlState};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL reported an error for a statement. The database is fine
    /// and the connection usable (inside a transaction, the transaction is
    /// aborted until rolled back).
    #[error("{0}")]
    Db(Box<DbError>),
    /// Loading or running the backend failed, or the data directory is
    /// unusable (see [`pglite_runtime::Error`]).
    #[error(transparent)]
    Runtime(#[from] pglite_runtime::Error),
    /// A parameter could not be converted to its column's type.
    #[error("parameter {index}: {source}")]
    ToSql { index: usize, source: BoxError },
    /// A value could not be converted to the requested Rust type.
    #[error("column {column}: {source}")]
    FromSql { column: String, source: BoxError },
    /// A statement was given the wrong number of parameters.
    #[error("the statement takes {expected} parameters, {given} were given")]
    ParameterCount { expected: usize, given: usize },
    /// A row has no column with this name or index.
    #[error("no column {0}")]
    ColumnNotFound(String),
    /// `query_one` found no row, or more than one.
    #[error("expected one row, the query returned {0}")]
    RowCount(usize),
    /// The backend answered something this client did not expect.
    #[error("unexpected reply from the backend: {0}")]
    Protocol(String),
    /// Reading COPY data from the caller, or writing it out, failed.
    #[error("COPY: {0}")]
    Copy(#[source] std::io::Error),
    /// COMMIT found the transaction failed (an earlier statement in it
    /// reported an error) and rolled it back.
    #[error("the transaction was rolled back: a statement in it failed")]
    RolledBack,
    /// Another connection keeps the backend in a transaction, and it did not
    /// finish within the wait limit (`Builder::busy_timeout`).
    #[error("the database is busy: connection {holder} keeps a transaction open; gave up after {waited:?}")]
    Busy { holder: u64, waited: Duration },
    /// The database was closed, or its backend ended after an error.
    #[error("the database is closed{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed { reason: Option<String> },
    /// An in-process async client failed (see [`crate::Pglite::connect`]).
    #[error(transparent)]
    Client(#[from] tokio_postgres::Error),
    /// The options given to the builder cannot work.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// PostgreSQL's report, when PostgreSQL reported the error.
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            Error::Db(db) => Some(db),
            _ => None,
        }
    }

    /// The SQLSTATE, when PostgreSQL reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(DbError::code)
    }
}

impl From<DbError> for Error {
    fn from(db: DbError) -> Self {
        Error::Db(Box::new(db))
    }
}

/// An error or notice as PostgreSQL reports it: the fields of an
/// ErrorResponse or NoticeResponse message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub(crate) severity: String,
    pub(crate) code: SqlState,
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
    pub(crate) position: Option<ErrorPosition>,
    pub(crate) where_: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) column: Option<String>,
    pub(crate) datatype: Option<String>,
    pub(crate) constraint: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) routine: Option<String>,
}

impl DbError {
    /// ERROR, FATAL, PANIC (errors) or WARNING, NOTICE, DEBUG, INFO, LOG
    /// (notices), untranslated.
    pub fn severity(&self) -> &str {
        &self.severity
    }
    /// The SQLSTATE code.
    pub fn code(&self) -> &SqlState {
        &self.code
    }
    /// The primary message.
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// Where in the statement (or in an internal query) the error is.
    pub fn position(&self) -> Option<&ErrorPosition> {
        self.position.as_ref()
    }
    /// The call stack context (PL/pgSQL functions, internal queries).
    pub fn where_(&self) -> Option<&str> {
        self.where_.as_deref()
    }
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }
    pub fn datatype(&self) -> Option<&str> {
        self.datatype.as_deref()
    }
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
    /// PostgreSQL's source file that reported it.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    pub fn line(&self) -> Option<u32> {
        self.line
    }
    pub fn routine(&self) -> Option<&str> {
        self.routine.as_deref()
    }

    /// Reads the fields of an ErrorResponse or NoticeResponse body.
    pub(crate) fn parse(
        fields: &mut postgres_protocol::message::backend::ErrorFields<'_>,
    ) -> std::io::Result<Self> {
        use fallible_iterator::FallibleIterator;
        let mut error = DbError {
            severity: String::new(),
            code: SqlState::INTERNAL_ERROR,
            message: String::new(),
            detail: None,
            hint: None,
            position: None,
            where_: None,
            schema: None,
            table: None,
            column: None,
            datatype: None,
            constraint: None,
            file: None,
            line: None,
            routine: None,
        };
        let mut internal_query = None;
        let mut internal_position = None;
        let mut localized_severity = None;
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'V' => error.severity = value,
                b'S' => localized_severity = Some(value),
                b'C' => error.code = SqlState::from_code(&value),
                b'M' => error.message = value,
                b'D' => error.detail = Some(value),
                b'H' => error.hint = Some(value),
                b'P' => {
                    error.position = value.parse().ok().map(ErrorPosition::Original);
                }
                b'p' => internal_position = value.parse().ok(),
                b'q' => internal_query = Some(value),
                b'W' => error.where_ = Some(value),
                b's' => error.schema = Some(value),
                b't' => error.table = Some(value),
                b'c' => error.column = Some(value),
                b'd' => error.datatype = Some(value),
                b'n' => error.constraint = Some(value),
                b'F' => error.file = Some(value),
                b'L' => error.line = value.parse().ok(),
                b'R' => error.routine = Some(value),
                _ => {}
            }
        }
        if error.severity.is_empty() {
            error.severity = localized_severity.unwrap_or_default();
        }
        if error.position.is_none() {
            if let (Some(position), Some(query)) = (internal_position, internal_query) {
                error.position = Some(ErrorPosition::Internal { position, query });
            }
        }
        Ok(error)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            self.severity,
            self.message,
            self.code.code()
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
