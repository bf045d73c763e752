//! [`Session`]: the direct, synchronous query interface of a database (and
//! of a transaction, through `Deref`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{self, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;
use postgres_types::{ToSql, Type};

use crate::backend::{Backend, ClientId};
use crate::error::{DbError, Error, Result};
use crate::notify::{Notices, Notification};
use crate::row::{Column, Row};
use crate::statement::{Statement, ToStatement};
use crate::transaction::Transaction;
use crate::types::TypeCache;

/// How many prepared statements a session keeps before it closes the
/// least recently prepared one.
const STATEMENT_CACHE: usize = 256;

/// The query interface. A [`crate::Pglite`] and a [`Transaction`] both
/// dereference to it.
///
/// Statements are prepared once per SQL text and kept (up to 256), so the
/// same query run again costs one exchange with the backend.
pub struct Session {
    pub(crate) backend: Arc<Backend>,
    pub(crate) id: ClientId,
    statements: HashMap<String, Statement>,
    /// Prepared statement names in preparation order (cache eviction).
    prepared_order: VecDeque<String>,
    next_statement: u64,
    /// Nesting depth of open [`Transaction`]s.
    pub(crate) depth: u32,
    pub(crate) notices: Notices,
    notifications: VecDeque<Notification>,
    pub(crate) types: TypeCache,
    buf: BytesMut,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Its settings are of no use to anyone else.
        self.backend.leave(self.id);
    }
}

/// Cancels the running statement of one [`Session`]; see
/// [`Session::cancel_token`]. `Send`, `Sync` and cheap to clone.
#[derive(Clone, Debug)]
pub struct CancelToken {
    backend: std::sync::Weak<Backend>,
    client: ClientId,
}

impl CancelToken {
    /// Asks the backend to cancel the session's running statement.
    pub fn cancel(&self) {
        if let Some(backend) = self.backend.upgrade() {
            backend.cancel_running(self.client);
        }
    }
}

/// What the backend answered to one exchange.
#[derive(Default)]
pub(crate) struct Reply {
    pub rows: Vec<Row>,
    /// The last CommandComplete's tag.
    pub tag: Option<String>,
    pub error: Option<DbError>,
    pub parameters: Option<Vec<u32>>,
    pub columns: Option<Vec<ColumnDescription>>,
    pub status: Option<u8>,
    /// A CopyInResponse or CopyOutResponse was seen.
    pub copy_in: bool,
    pub copy_out: bool,
}

/// A RowDescription field before its type is resolved.
pub(crate) struct ColumnDescription {
    name: String,
    type_oid: u32,
    table_oid: u32,
    column_id: i16,
}

impl Session {
    pub(crate) fn new(backend: Arc<Backend>, notices: Notices) -> Self {
        let id = backend.register();
        Self {
            backend,
            id,
            statements: HashMap::new(),
            prepared_order: VecDeque::new(),
            next_statement: 0,
            depth: 0,
            notices,
            notifications: VecDeque::new(),
            types: TypeCache::default(),
            buf: BytesMut::new(),
        }
    }

    /// A token that cancels the statement this session is running, from
    /// another thread: the statement fails with SQLSTATE 57014
    /// (`query_canceled`) and the session goes on. Cancelling when nothing
    /// runs does nothing.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken {
            backend: Arc::downgrade(&self.backend),
            client: self.id,
        }
    }

    /// Runs a statement and returns how many rows it inserted, updated,
    /// deleted, selected, copied... (0 for statements that report none).
    pub fn execute<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let statement = statement.to_statement(self)?;
        let reply = self.run(&statement, params)?;
        Ok(reply.tag.as_deref().map_or(0, rows_affected))
    }

    /// Runs a statement and returns its rows.
    pub fn query<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let statement = statement.to_statement(self)?;
        Ok(self.run(&statement, params)?.rows)
    }

    /// Runs a statement that returns exactly one row.
    pub fn query_one<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row> {
        let mut rows = self.query(statement, params)?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(Error::RowCount(n)),
        }
    }

    /// Runs a statement that returns at most one row.
    pub fn query_opt<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let mut rows = self.query(statement, params)?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows.remove(0))),
            n => Err(Error::RowCount(n)),
        }
    }

    /// Runs one or more statements separated by semicolons, without
    /// parameters (the simple query protocol). They run in one implicit
    /// transaction unless they contain their own transaction control.
    pub fn batch_execute(&mut self, sql: &str) -> Result<()> {
        self.simple_query(sql).map(drop)
    }

    /// Runs `sql` with the simple query protocol.
    pub(crate) fn simple_query(&mut self, sql: &str) -> Result<Reply> {
        self.buf.clear();
        frontend::query(sql, &mut self.buf).map_err(protocol)?;
        self.exchange(None)?.into_result()
    }

    /// Prepares a statement for repeated use. Statements are also prepared
    /// (and cached) implicitly when a query is given as SQL text.
    pub fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.prepare_typed(sql, &[])
    }

    /// Prepares a statement, fixing the types of its first parameters.
    pub fn prepare_typed(&mut self, sql: &str, types: &[Type]) -> Result<Statement> {
        if types.is_empty() {
            if let Some(statement) = self.statements.get(sql) {
                return Ok(statement.clone());
            }
        }
        self.evict_statements()?;
        let name = format!("pgld{}_{}", self.id, self.next_statement);
        self.next_statement += 1;
        self.buf.clear();
        frontend::parse(&name, sql, types.iter().map(Type::oid), &mut self.buf)
            .map_err(protocol)?;
        frontend::describe(b'S', &name, &mut self.buf).map_err(protocol)?;
        frontend::sync(&mut self.buf);
        let reply = self.exchange(None)?.into_result()?;
        let params = reply
            .parameters
            .ok_or_else(|| Error::Protocol("no ParameterDescription".into()))?;
        let params = params
            .into_iter()
            .map(|oid| self.resolve_type(oid))
            .collect::<Result<Vec<_>>>()?;
        let columns = self.resolve_columns(reply.columns.unwrap_or_default())?;
        let statement = Statement::new(name.clone(), params, columns);
        self.prepared_order.push_back(name);
        if types.is_empty() {
            self.statements.insert(sql.to_owned(), statement.clone());
        }
        Ok(statement)
    }

    /// Begins a transaction (or, inside one, a savepoint). The returned
    /// guard rolls back when dropped without [`Transaction::commit`].
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self)
    }

    /// Notifications (LISTEN/NOTIFY) received so far, oldest first.
    pub fn notifications(&mut self) -> Vec<Notification> {
        self.notifications.drain(..).collect()
    }

    /// Notices (warnings, notices, info) collected so far, when no notice
    /// callback was configured.
    pub fn take_notices(&mut self) -> Vec<DbError> {
        self.notices.take()
    }

    /// Binds and executes a prepared statement.
    fn run(&mut self, statement: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Reply> {
        let types = statement.params();
        if types.len() != params.len() {
            return Err(Error::ParameterCount {
                expected: types.len(),
                given: params.len(),
            });
        }
        self.buf.clear();
        let mut index = 0;
        let mut failed = None;
        let bound = frontend::bind(
            "",
            statement.name(),
            [1],
            params.iter().zip(types),
            |(param, ty), buf| {
                index += 1;
                match param.to_sql_checked(base_type(ty), buf) {
                    Ok(postgres_types::IsNull::No) => Ok(IsNull::No),
                    Ok(postgres_types::IsNull::Yes) => Ok(IsNull::Yes),
                    Err(err) => {
                        failed = Some(index - 1);
                        Err(err)
                    }
                }
            },
            [1],
            &mut self.buf,
        );
        match bound {
            Ok(()) => {}
            Err(frontend::BindError::Conversion(source)) => {
                return Err(Error::ToSql {
                    index: failed.unwrap_or(0),
                    source,
                })
            }
            Err(frontend::BindError::Serialization(err)) => return Err(protocol(err)),
        }
        frontend::execute("", 0, &mut self.buf).map_err(protocol)?;
        frontend::sync(&mut self.buf);
        let reply = self.exchange(Some(statement.columns_arc()))?;
        match reply.error {
            Some(error) => {
                self.forget_statement_on(&error, statement);
                Err(error.into())
            }
            None => Ok(reply),
        }
    }

    /// A cached plan that can no longer be used is dropped from the cache,
    /// so that the next use prepares it again.
    fn forget_statement_on(&mut self, error: &DbError, statement: &Statement) {
        use crate::error::SqlState;
        if *error.code() == SqlState::FEATURE_NOT_SUPPORTED
            || *error.code() == SqlState::INVALID_SQL_STATEMENT_NAME
        {
            self.statements
                .retain(|_, cached| cached.name() != statement.name());
        }
    }

    /// Closes the oldest prepared statements once the cache is full.
    fn evict_statements(&mut self) -> Result<()> {
        if self.prepared_order.len() < STATEMENT_CACHE {
            return Ok(());
        }
        self.buf.clear();
        while self.prepared_order.len() >= STATEMENT_CACHE / 2 {
            let Some(name) = self.prepared_order.pop_front() else {
                break;
            };
            self.statements.retain(|_, cached| cached.name() != name);
            frontend::close(b'S', &name, &mut self.buf).map_err(protocol)?;
        }
        frontend::sync(&mut self.buf);
        self.exchange(None)?.into_result().map(drop)
    }

    /// Sends the encoded messages in `self.buf` and parses the reply.
    /// `columns` describes the rows of an Execute.
    pub(crate) fn exchange(&mut self, columns: Option<Arc<[Column]>>) -> Result<Reply> {
        let bytes = self.backend.send(self.id, &self.buf)?;
        self.parse_reply(bytes, columns)
    }

    /// Parses backend messages up to the final ReadyForQuery, delivering
    /// notices and notifications on the way.
    pub(crate) fn parse_reply(
        &mut self,
        bytes: Vec<u8>,
        columns: Option<Arc<[Column]>>,
    ) -> Result<Reply> {
        let mut buf = BytesMut::from(Bytes::from(bytes));
        let mut reply = Reply::default();
        while let Some(message) = Message::parse(&mut buf).map_err(protocol)? {
            match message {
                Message::DataRow(body) => {
                    // Rows of the simple query protocol (text values) have
                    // no described columns here; nobody reads them.
                    let Some(columns) = &columns else { continue };
                    let ranges = body.ranges().collect::<Vec<_>>().map_err(protocol)?;
                    reply.rows.push(Row {
                        columns: columns.clone(),
                        buffer: body.buffer_bytes().clone(),
                        ranges,
                    });
                }
                Message::RowDescription(body) => {
                    reply.columns = Some(describe_columns(&body)?);
                }
                Message::NoData => reply.columns = Some(Vec::new()),
                Message::ParameterDescription(body) => {
                    reply.parameters = Some(body.parameters().collect().map_err(protocol)?);
                }
                Message::CommandComplete(body) => {
                    reply.tag = Some(body.tag().map_err(protocol)?.to_owned());
                }
                Message::ErrorResponse(body) => {
                    let error = DbError::parse(&mut body.fields()).map_err(protocol)?;
                    // The first error of an exchange is the one that matters;
                    // later messages are skipped until Sync.
                    reply.error.get_or_insert(error);
                }
                Message::NoticeResponse(body) => {
                    let notice = DbError::parse(&mut body.fields()).map_err(protocol)?;
                    self.notices.deliver(notice);
                }
                Message::NotificationResponse(body) => {
                    self.notifications.push_back(Notification {
                        process_id: body.process_id(),
                        channel: body.channel().map_err(protocol)?.to_owned(),
                        payload: body.message().map_err(protocol)?.to_owned(),
                    });
                }
                Message::ParameterStatus(body) => {
                    self.backend.set_parameter(
                        body.name().map_err(protocol)?,
                        body.value().map_err(protocol)?,
                    );
                }
                Message::ReadyForQuery(body) => reply.status = Some(body.status()),
                Message::CopyInResponse(_) => reply.copy_in = true,
                Message::CopyOutResponse(_) => reply.copy_out = true,
                Message::CopyData(_) | Message::CopyDone => {}
                Message::ParseComplete
                | Message::BindComplete
                | Message::CloseComplete
                | Message::EmptyQueryResponse
                | Message::PortalSuspended => {}
                _ => return Err(Error::Protocol("unexpected message".into())),
            }
        }
        if reply.status.is_none() {
            return Err(Error::Protocol(
                "the reply ended without ReadyForQuery".into(),
            ));
        }
        Ok(reply)
    }

    /// The types of described columns, looking up types PostgreSQL does not
    /// build in (enums, domains, extension types) in the catalog.
    fn resolve_columns(&mut self, described: Vec<ColumnDescription>) -> Result<Arc<[Column]>> {
        described
            .into_iter()
            .map(|d| {
                Ok(Column {
                    type_: self.resolve_type(d.type_oid)?,
                    name: d.name,
                    table_oid: (d.table_oid != 0).then_some(d.table_oid),
                    column_id: (d.column_id != 0).then_some(d.column_id),
                })
            })
            .collect()
    }

    pub(crate) fn resolve_type(&mut self, oid: u32) -> Result<Type> {
        if let Some(ty) = Type::from_oid(oid) {
            return Ok(ty);
        }
        crate::types::lookup(self, oid)
    }

    /// Sends the encoded messages in `self.buf` through `peer` (COPY).
    pub(crate) fn exchange_with(&mut self, peer: &mut dyn pglite_runtime::Peer) -> Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let result = self.backend.send_with(self.id, &buf, peer).map(drop);
        self.buf = buf;
        result
    }

    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        self.buf.clear();
        &mut self.buf
    }
}

impl Reply {
    /// The reply, or the error PostgreSQL reported in it.
    pub fn into_result(mut self) -> Result<Self> {
        match self.error.take() {
            Some(error) => Err(error.into()),
            None => Ok(self),
        }
    }
}

/// A domain's values travel in its base type's format.
fn base_type(mut ty: &Type) -> &Type {
    while let postgres_types::Kind::Domain(base) = ty.kind() {
        ty = base;
    }
    ty
}

fn describe_columns(body: &backend::RowDescriptionBody) -> Result<Vec<ColumnDescription>> {
    body.fields()
        .map(|field| {
            Ok(ColumnDescription {
                name: field.name().to_owned(),
                type_oid: field.type_oid(),
                table_oid: field.table_oid(),
                column_id: field.column_id(),
            })
        })
        .collect()
        .map_err(protocol)
}

/// The row count at the end of a CommandComplete tag (`INSERT 0 5`,
/// `UPDATE 3`, `SELECT 2`, `COPY 10`...).
pub(crate) fn rows_affected(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn protocol(err: std::io::Error) -> Error {
    Error::Protocol(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::rows_affected;

    #[test]
    fn command_tags_give_row_counts() {
        assert_eq!(rows_affected("INSERT 0 5"), 5);
        assert_eq!(rows_affected("UPDATE 3"), 3);
        assert_eq!(rows_affected("CREATE TABLE"), 0);
        assert_eq!(rows_affected("COPY 10"), 10);
    }
}
