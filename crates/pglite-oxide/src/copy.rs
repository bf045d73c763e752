//! COPY FROM STDIN and COPY TO STDOUT, streamed: data moves between the
//! caller's reader or writer and the backend in chunks while the COPY runs,
//! never as one buffer.

use std::io::{Read, Write};

use bytes::BytesMut;
use pglite_runtime::Peer;
use postgres_protocol::message::frontend;

use crate::error::{Error, Result};
use crate::session::{protocol, rows_affected, Session};

/// Size of the CopyData messages sent to the backend.
const CHUNK: usize = 64 * 1024;

impl Session {
    /// Runs `COPY ... FROM STDIN` (`sql`), feeding it everything `reader`
    /// yields; returns the number of rows copied. A read error aborts the
    /// COPY (nothing of it is kept) and is returned.
    pub fn copy_in<R: Read>(&mut self, sql: &str, reader: R) -> Result<u64> {
        frontend::query(sql, self.buf()).map_err(protocol)?;
        let mut peer = CopyIn {
            reader,
            done: false,
            read_error: None,
            output: Vec::new(),
        };
        self.exchange_with(&mut peer)?;
        let reply = self.parse_reply(std::mem::take(&mut peer.output), None)?;
        if let Some(err) = peer.read_error {
            return Err(Error::Copy(err));
        }
        let reply = reply.into_result()?;
        if !reply.copy_in {
            return Err(Error::Protocol(format!("not a COPY FROM STDIN: {sql}")));
        }
        Ok(reply.tag.as_deref().map_or(0, rows_affected))
    }

    /// Runs `COPY ... TO STDOUT` (`sql`), writing its data to `writer` as it
    /// comes; returns the number of rows copied. A write error stops the
    /// output (the COPY itself finishes) and is returned.
    pub fn copy_out<W: Write>(&mut self, sql: &str, writer: W) -> Result<u64> {
        frontend::query(sql, self.buf()).map_err(protocol)?;
        let mut peer = CopyOut {
            writer,
            pending: BytesMut::new(),
            rest: Vec::new(),
            write_error: None,
        };
        self.exchange_with(&mut peer)?;
        let reply = self.parse_reply(std::mem::take(&mut peer.rest), None)?;
        let reply = reply.into_result()?;
        if let Some(err) = peer.write_error {
            return Err(Error::Copy(err));
        }
        if let Err(err) = peer.writer.flush() {
            return Err(Error::Copy(err));
        }
        if !reply.copy_out {
            return Err(Error::Protocol(format!("not a COPY TO STDOUT: {sql}")));
        }
        Ok(reply.tag.as_deref().map_or(0, rows_affected))
    }
}

/// Serves the backend's reads during COPY FROM STDIN from the reader.
struct CopyIn<R> {
    reader: R,
    done: bool,
    read_error: Option<std::io::Error>,
    output: Vec<u8>,
}

impl<R: Read> Peer for CopyIn<R> {
    fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        if self.done {
            // A second COPY FROM STDIN in the same SQL: it gets nothing.
            return refuse(buf, "copy_in feeds a single COPY FROM STDIN");
        }
        let start = buf.len();
        buf.extend_from_slice(&[b'd', 0, 0, 0, 0]);
        buf.resize(start + 5 + CHUNK, 0);
        let read = loop {
            match self.reader.read(&mut buf[start + 5..]) {
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                buf.truncate(start);
                buf.extend_from_slice(&[b'c', 0, 0, 0, 4]);
                self.done = true;
            }
            Ok(n) => {
                buf.truncate(start + 5 + n);
                let len = (n + 4) as u32;
                buf[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
            }
            Err(err) => {
                buf.truncate(start);
                let mut fail = BytesMut::new();
                frontend::copy_fail(&format!("reading the COPY data failed: {err}"), &mut fail)?;
                buf.extend_from_slice(&fail);
                self.read_error = Some(err);
                self.done = true;
            }
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.output.extend_from_slice(bytes);
        Ok(())
    }
}

/// Takes the backend's output during COPY TO STDOUT: CopyData payloads go
/// to the writer, every other message is kept for the reply.
struct CopyOut<W> {
    writer: W,
    /// Output not yet split into whole messages.
    pending: BytesMut,
    rest: Vec<u8>,
    write_error: Option<std::io::Error>,
}

impl<W: Write> Peer for CopyOut<W> {
    fn read_more(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        refuse(buf, "copy_out has no data for COPY FROM STDIN")
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= 5 {
            let len = u32::from_be_bytes([
                self.pending[1],
                self.pending[2],
                self.pending[3],
                self.pending[4],
            ]) as usize;
            if self.pending.len() < 1 + len {
                break;
            }
            let message = self.pending.split_to(1 + len);
            if message[0] == b'd' {
                if self.write_error.is_none() {
                    if let Err(err) = self.writer.write_all(&message[5..]) {
                        self.write_error = Some(err);
                    }
                }
            } else {
                self.rest.extend_from_slice(&message);
            }
        }
        Ok(())
    }
}

/// Answers a COPY FROM STDIN that has no data source with CopyFail: the
/// COPY fails with an error, the session goes on.
fn refuse(buf: &mut Vec<u8>, why: &str) -> std::io::Result<()> {
    let mut fail = BytesMut::new();
    frontend::copy_fail(why, &mut fail)?;
    buf.extend_from_slice(&fail);
    Ok(())
}
