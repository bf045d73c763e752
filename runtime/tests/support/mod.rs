//! Speaks just enough of the frontend/backend protocol to test a session:
//! messages are built and parsed with `postgres-protocol`.

#![allow(dead_code)]

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use pglite_runtime::{Artifacts, BackendSession};
use postgres_protocol::message::{backend, frontend};

/// The backend: the embedded artifacts, or the directory named by
/// `PGLITE_OXIDE_ARTIFACTS` (`cargo xtask test` names its build output).
pub fn artifacts() -> Artifacts {
    Artifacts::new().unwrap_or_else(|err| panic!("{err}"))
}

/// What one simple-query round trip returned.
#[derive(Debug, Default)]
pub struct Reply {
    /// Rows as text (None for NULL), of every result in order.
    pub rows: Vec<Vec<Option<String>>>,
    /// CommandComplete tags.
    pub tags: Vec<String>,
    /// SQLSTATE of the error, if one was reported.
    pub error: Option<String>,
    /// The error's message.
    pub message: Option<String>,
    /// The transaction status of the closing ReadyForQuery.
    pub status: u8,
}

/// Sends `sql` as a simple query and parses the reply.
pub fn query(session: &mut BackendSession, sql: &str) -> Reply {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf).expect("query message");
    let bytes = session.send(&buf).expect("backend answers");
    parse(&bytes)
}

/// Parses backend messages up to and including ReadyForQuery.
pub fn parse(bytes: &[u8]) -> Reply {
    let mut buf = BytesMut::from(bytes);
    let mut reply = Reply::default();
    while let Some(message) = backend::Message::parse(&mut buf).expect("valid backend message") {
        match message {
            backend::Message::DataRow(row) => {
                let mut values = Vec::new();
                let mut ranges = row.ranges();
                while let Some(range) = ranges.next().expect("data row") {
                    values.push(
                        range.map(|r| {
                            String::from_utf8(row.buffer()[r].to_vec()).expect("utf8 value")
                        }),
                    );
                }
                reply.rows.push(values);
            }
            backend::Message::CommandComplete(body) => {
                reply.tags.push(body.tag().expect("tag").to_string());
            }
            backend::Message::ErrorResponse(body) => {
                let mut fields = body.fields();
                while let Some(field) = fields.next().expect("error fields") {
                    let value = Some(String::from_utf8_lossy(field.value_bytes()).into_owned());
                    match field.type_() {
                        b'C' => reply.error = value,
                        b'M' => reply.message = value,
                        _ => {}
                    }
                }
            }
            backend::Message::ReadyForQuery(body) => {
                reply.status = body.status();
                return reply;
            }
            _ => {}
        }
    }
    panic!("no ReadyForQuery in the backend's reply");
}

/// The single text value of a one-row, one-column result.
pub fn scalar(reply: &Reply) -> String {
    assert_eq!(reply.error, None, "query failed");
    reply.rows[0][0].clone().expect("not null")
}
