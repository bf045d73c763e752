//! A client that writes protocol bytes as they are, right or wrong, and
//! reads back what the server answered, message by message.

#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Appends a frontend message: type byte, length, body.
pub fn message(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
}

/// Appends a simple Query.
pub fn query(out: &mut Vec<u8>, sql: &str) {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    message(out, b'Q', &body);
}

/// A startup packet (protocol 3.0) with these parameters.
pub fn startup(parameters: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (name, value) in parameters {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = (body.len() as i32 + 4).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// One backend message.
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: u8,
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of a field of an ErrorResponse or NoticeResponse.
    pub fn field(&self, field: u8) -> Option<String> {
        let mut rest = &self.body[..];
        while let Some((&kind, tail)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            if kind == field {
                return Some(String::from_utf8_lossy(&tail[..end]).into_owned());
            }
            rest = &tail[(end + 1).min(tail.len())..];
        }
        None
    }
}

/// The message types a backend sends.
const BACKEND_TYPES: &[u8] = b"RSKZTDCEN1234nstGHWdcAVvI";

/// Splits `bytes` into backend messages. Fails when they are not framed as
/// backend messages; a last message cut short is allowed when `cut` (the
/// connection was reset, which can drop bytes in flight).
pub fn split(mut bytes: &[u8], cut: bool) -> Result<Vec<Reply>, String> {
    let mut replies = Vec::new();
    while !bytes.is_empty() {
        if !BACKEND_TYPES.contains(&bytes[0]) {
            return Err(format!(
                "unknown backend message type {:?}",
                bytes[0] as char
            ));
        }
        if bytes.len() < 5 {
            return if cut {
                Ok(replies)
            } else {
                Err("a message header cut short".into())
            };
        }
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        if len < 4 {
            return Err(format!("backend message length {len}"));
        }
        if bytes.len() < 1 + len {
            return if cut {
                Ok(replies)
            } else {
                Err(format!("a message of {len} bytes cut short"))
            };
        }
        replies.push(Reply {
            kind: bytes[0],
            body: bytes[5..1 + len].to_vec(),
        });
        bytes = &bytes[1 + len..];
    }
    Ok(replies)
}

/// Connects and starts a session as `postgres` in `postgres`; returns the
/// stream once the greeting's ReadyForQuery is read.
pub async fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&startup(&[("user", "postgres"), ("database", "postgres")]))
        .await
        .unwrap();
    let greeting = read_until(&mut stream, |r| r.kind == b'Z').await;
    assert_eq!(greeting.last().map(|r| r.kind), Some(b'Z'), "{greeting:?}");
    stream
}

/// Reads messages until one satisfies `done` or the server closes the
/// connection (within 30 seconds); returns them all.
pub async fn read_until(stream: &mut TcpStream, done: impl Fn(&Reply) -> bool) -> Vec<Reply> {
    let mut bytes = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            if split(&bytes, true).is_ok_and(|replies| replies.iter().any(&done)) {
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server answers within 30 s");
    split(&bytes, true).unwrap()
}
