//! Transactions and savepoints as guards.

use std::ops::{Deref, DerefMut};

use crate::error::{Error, Result};
use crate::session::Session;

/// An open transaction (or savepoint, when nested). Queries run through it
/// by `Deref` to [`Session`]. Dropping it without [`commit`](Self::commit)
/// rolls it back.
pub struct Transaction<'a> {
    session: &'a mut Session,
    /// The savepoint's name, for a nested transaction.
    savepoint: Option<String>,
    done: bool,
}

impl<'a> Transaction<'a> {
    pub(crate) fn begin(session: &'a mut Session) -> Result<Self> {
        let savepoint = (session.depth > 0).then(|| format!("pglite_oxide_sp{}", session.depth));
        match &savepoint {
            None => session.batch_execute("BEGIN")?,
            Some(name) => session.batch_execute(&format!("SAVEPOINT {name}"))?,
        }
        session.depth += 1;
        Ok(Self {
            session,
            savepoint,
            done: false,
        })
    }

    /// Commits (or releases the savepoint).
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.session.depth -= 1;
        match &self.savepoint {
            None => {
                // COMMIT of a failed transaction succeeds, as a ROLLBACK.
                let reply = self.session.simple_query("COMMIT")?;
                match reply.tag.as_deref() {
                    Some("ROLLBACK") => Err(Error::RolledBack),
                    _ => Ok(()),
                }
            }
            Some(name) => self
                .session
                .batch_execute(&format!("RELEASE SAVEPOINT {name}")),
        }
    }

    /// Rolls back (to the savepoint).
    pub fn rollback(mut self) -> Result<()> {
        self.finish_rollback()
    }

    fn finish_rollback(&mut self) -> Result<()> {
        self.done = true;
        self.session.depth -= 1;
        match &self.savepoint {
            None => self.session.batch_execute("ROLLBACK"),
            Some(name) => self.session.batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
            )),
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(err) = self.finish_rollback() {
                tracing::warn!(%err, "rolling back a dropped transaction failed");
            }
        }
    }
}
