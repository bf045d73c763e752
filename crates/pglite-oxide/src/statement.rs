//! Prepared statements.

use std::sync::Arc;

use postgres_types::Type;

use crate::error::Result;
use crate::row::Column;
use crate::session::Session;

/// A statement prepared in the backend, with its parameter and result
/// types. Cheap to clone; valid for the session that prepared it.
#[derive(Debug, Clone)]
pub struct Statement(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    name: String,
    params: Vec<Type>,
    columns: Arc<[Column]>,
}

impl Statement {
    pub(crate) fn new(name: String, params: Vec<Type>, columns: Arc<[Column]>) -> Self {
        Self(Arc::new(Inner {
            name,
            params,
            columns,
        }))
    }

    /// The types of its parameters (`$1`, `$2`...).
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The columns of its result (empty for statements without one).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }

    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    pub(crate) fn columns_arc(&self) -> Arc<[Column]> {
        self.0.columns.clone()
    }
}

/// What can be run: SQL text (prepared and cached on first use) or a
/// [`Statement`].
pub trait ToStatement {
    #[doc(hidden)]
    fn to_statement(&self, session: &mut Session) -> Result<Statement>;
}

impl ToStatement for str {
    fn to_statement(&self, session: &mut Session) -> Result<Statement> {
        session.prepare(self)
    }
}

impl ToStatement for String {
    fn to_statement(&self, session: &mut Session) -> Result<Statement> {
        session.prepare(self)
    }
}

impl ToStatement for Statement {
    fn to_statement(&self, _: &mut Session) -> Result<Statement> {
        Ok(self.clone())
    }
}
