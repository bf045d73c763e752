//! Protocol fuzzing: a server fed valid, mutated, truncated and oversized
//! frontend messages (startup packets, SSL, GSSAPI and cancel requests,
//! SASL responses, the simple and extended query protocols, COPY data in
//! and out of place) never panics and never hangs: each input is answered
//! with well-framed backend messages (an error, or the answers to what was
//! valid in it) or the connection is closed, within a bound, and a
//! well-behaved client is served right after it.
//!
//! Inputs come from a seeded generator, so a run is reproducible:
//! `PGLITE_FUZZ_SEED` picks the seed (default fixed), `PGLITE_FUZZ_INPUTS`
//! how many inputs to try (default 2000, a few seconds) and
//! `PGLITE_FUZZ_FIRST` the number of the first. A failure names the input's
//! number and bytes.

#[path = "support/raw.rs"]
mod raw;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pglite_oxide::PgliteServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::NoTls;

const DEFAULT_SEED: u64 = 0x5eed_f022_0009;
const DEFAULT_INPUTS: u64 = 2000;
/// The longest the server may take to answer an input or close.
const BOUND: Duration = Duration::from_secs(20);
const PASSWORD: &str = "fuzz";
/// Rows of the table no input may change.
const KEPT_ROWS: i64 = 100;

/// Panics anywhere in this process (the servers' tasks included).
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// SQL the generated Query and Parse messages carry: valid, invalid, and
/// the statements that change the protocol's state (transactions, COPY in
/// both directions, notifications, cursors). None writes `fuzz_kept`.
const SQL: &[&str] = &[
    "SELECT 1",
    "SELECT $1::int + 1",
    "SELECT $1::text, $2::bytea",
    "SELECT * FROM fuzz_scratch",
    "INSERT INTO fuzz_scratch VALUES ($1::int, $2::text)",
    "INSERT INTO fuzz_scratch VALUES (1, 'x')",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s",
    "ROLLBACK TO SAVEPOINT s",
    "COPY fuzz_scratch FROM STDIN",
    "COPY fuzz_scratch FROM STDIN (FORMAT binary)",
    "COPY fuzz_scratch TO STDOUT",
    "COPY (SELECT generate_series(1, 20)) TO STDOUT (FORMAT binary)",
    "SELEC broken",
    "SELECT 1/0",
    "SELECT * FROM no_such_table",
    "SET work_mem = '8MB'",
    "SET search_path = nowhere",
    "RESET ALL",
    "LISTEN fuzz",
    "NOTIFY fuzz, 'payload'",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "DEALLOCATE ALL",
    "DECLARE c CURSOR WITH HOLD FOR SELECT generate_series(1, 5)",
    "FETCH 2 FROM c",
    "CLOSE ALL",
    "SELECT repeat('x', 20000)",
    "SELECT generate_series(1, 200)",
    "SELECT pg_sleep(0.01)",
    "SHOW ALL",
    "DISCARD ALL",
    "SELECT 1; SELECT 2; COPY fuzz_scratch FROM STDIN",
    "",
    ";",
];

const NAMES: &[&[u8]] = &[b"", b"", b"s1", b"s2", b"p", b"c", b"pgl1_s1"];

struct Input {
    bytes: Vec<u8>,
    /// Whether the bytes end at a message boundary after a valid startup
    /// to a server without a password: a query sent after them must then
    /// be answered (or the connection closed).
    framed: bool,
    /// SSLRequest and GSSENCRequest packets sent (each answered `N`).
    encryption_requests: usize,
    password_server: bool,
}

fn cstring(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    out.push(0);
}

fn name(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(3) {
        return vec![b'n'; 100 + rng.below(200)];
    }
    rng.pick(NAMES).to_vec()
}

/// A parameter value: text, binary junk, NULL, or a length that lies.
fn parameter(rng: &mut Rng, out: &mut Vec<u8>) {
    match rng.below(6) {
        0 => out.extend_from_slice(&(-1i32).to_be_bytes()),
        1 => {
            let junk = {
                let len = rng.below(16);
                rng.bytes(len)
            };
            out.extend_from_slice(&(junk.len() as i32).to_be_bytes());
            out.extend_from_slice(&junk);
        }
        2 => out.extend_from_slice(&(rng.next() as i32).to_be_bytes()),
        _ => {
            let text = rng.below(1000).to_string();
            out.extend_from_slice(&(text.len() as i32).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// One frontend message after startup, mostly valid.
fn frontend_message(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut body = Vec::new();
    let kind = match rng.below(17) {
        0..=2 => {
            cstring(&mut body, rng.pick(SQL).as_bytes());
            b'Q'
        }
        3 | 4 => {
            cstring(&mut body, &name(rng));
            cstring(&mut body, rng.pick(SQL).as_bytes());
            let types = rng.below(3);
            body.extend_from_slice(&(types as i16).to_be_bytes());
            for _ in 0..types {
                let oid: u32 = rng.pick(&[0, 23, 25, 17, 16, 0xffff_ffff]);
                body.extend_from_slice(&oid.to_be_bytes());
            }
            b'P'
        }
        5 | 6 => {
            cstring(&mut body, &name(rng));
            cstring(&mut body, &name(rng));
            let formats = rng.below(3);
            body.extend_from_slice(&(formats as i16).to_be_bytes());
            for _ in 0..formats {
                body.extend_from_slice(&(rng.below(3) as i16).to_be_bytes());
            }
            let values = rng.below(4);
            body.extend_from_slice(&(values as i16).to_be_bytes());
            for _ in 0..values {
                parameter(rng, &mut body);
            }
            let results = rng.below(2);
            body.extend_from_slice(&(results as i16).to_be_bytes());
            for _ in 0..results {
                body.extend_from_slice(&(rng.below(3) as i16).to_be_bytes());
            }
            b'B'
        }
        7 => {
            body.push(rng.pick(b"SPX"));
            cstring(&mut body, &name(rng));
            b'D'
        }
        8 | 9 => {
            cstring(&mut body, &name(rng));
            let max_rows: i32 = rng.pick(&[0, 1, 2, -1, i32::MAX]);
            body.extend_from_slice(&max_rows.to_be_bytes());
            b'E'
        }
        10 => {
            body.push(rng.pick(b"SPX"));
            cstring(&mut body, &name(rng));
            b'C'
        }
        11 | 12 => b'S',
        13 => b'H',
        14 => {
            // COPY data, in place or not: text rows, binary junk.
            if rng.chance(50) {
                body.extend_from_slice(format!("{}\trow\n", rng.below(100)).as_bytes());
            } else {
                body = {
                    let len = rng.below(40);
                    rng.bytes(len)
                };
            }
            b'd'
        }
        15 => {
            if rng.chance(50) {
                b'c'
            } else {
                cstring(&mut body, b"fuzz says no");
                b'f'
            }
        }
        _ => {
            // A function call: an oid, argument formats and values.
            let any = rng.next() as u32;
            let oid: u32 = rng.pick(&[1, 1242, 2287, 0xffff_ffff, any]);
            body.extend_from_slice(&oid.to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            body.extend_from_slice(&0i16.to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            parameter(rng, &mut body);
            body.extend_from_slice(&0i16.to_be_bytes());
            b'F'
        }
    };
    raw::message(out, kind, &body);
}

/// Breaks the last message of `out` (which starts at `start`); returns
/// whether the bytes still end at a message boundary.
fn mutate(rng: &mut Rng, out: &mut Vec<u8>, start: usize) -> bool {
    let len = out.len() - start;
    match rng.below(8) {
        // Flip bytes of the body (its framing stays).
        0..=2 if len > 5 => {
            for _ in 0..1 + rng.below(4) {
                let at = start + 5 + rng.below(len - 5);
                out[at] ^= 1 << rng.below(8);
            }
            true
        }
        // Another type byte: often one a client may not send.
        3 => {
            out[start] = rng.next() as u8;
            true
        }
        // A length that lies: shorter (the rest reads as more messages),
        // longer, below the minimum, or enormous.
        4 | 5 => {
            let claimed = rng.pick(&[
                0u32,
                3,
                (len as u32).saturating_sub(2),
                len as u32 + 3,
                10_001,
                0x3fff_ffff,
                0x7fff_ffff,
                u32::MAX,
            ]);
            out[start + 1..start + 5].copy_from_slice(&claimed.to_be_bytes());
            false
        }
        // Cut short.
        6 => {
            out.truncate(start + rng.below(len));
            false
        }
        // Oversized: a body longer than PostgreSQL takes for small types.
        _ => {
            let extra = 10_000 + rng.below(2_000);
            out.resize(out.len() + extra, b'z');
            let total = (out.len() - start - 1) as u32;
            out[start + 1..start + 5].copy_from_slice(&total.to_be_bytes());
            true
        }
    }
}

const STARTUP_EXTRAS: &[(&str, &str)] = &[
    ("application_name", "fuzz"),
    ("client_encoding", "UTF8"),
    ("client_encoding", "LATIN1"),
    ("client_encoding", "no-such-encoding"),
    ("DateStyle", "ISO, MDY"),
    ("options", "-c work_mem=8MB"),
    ("options", "-c bogus"),
    ("options", "--search_path=public -cstatement_timeout=5s"),
    ("options", "-x"),
    ("foo", "bar"),
    ("work_mem", "not a size"),
    ("extra_float_digits", "3"),
    ("replication", "database"),
    ("database", "elsewhere"),
];

fn valid_startup(rng: &mut Rng) -> Vec<u8> {
    let mut parameters = vec![("user", "postgres"), ("database", "postgres")];
    for _ in 0..rng.below(3) {
        parameters.push(rng.pick(STARTUP_EXTRAS));
    }
    raw::startup(&parameters)
}

/// The SASL messages of a client that does not know the password, or
/// does not follow the exchange.
fn sasl_attempt(rng: &mut Rng, out: &mut Vec<u8>) {
    const CLIENT_FIRSTS: &[&[u8]] = &[
        b"n,,n=,r=fuzznonce",
        b"y,,n=,r=fuzznonce",
        b"p=tls-server-end-point,,n=,r=x",
        b"n,a=someone,n=,r=x",
        b"n,,",
        b"",
        b"\xff\xfe",
        b"n,,n=,r=",
    ];
    const MECHANISMS: &[&[u8]] = &[b"SCRAM-SHA-256", b"SCRAM-SHA-256-PLUS", b""];
    let client_first = rng.pick(CLIENT_FIRSTS);
    let mut body = Vec::new();
    cstring(&mut body, rng.pick(MECHANISMS));
    let declared = match rng.below(4) {
        0 => -1,
        1 => client_first.len() as i32 + 1,
        _ => client_first.len() as i32,
    };
    body.extend_from_slice(&declared.to_be_bytes());
    body.extend_from_slice(client_first);
    let start = out.len();
    raw::message(out, b'p', &body);
    if rng.chance(25) {
        mutate(rng, out, start);
    }
    if rng.chance(60) {
        // A client-final message with a proof that cannot be right.
        let start = out.len();
        let finals: &[&[u8]] = &[
            b"c=biws,r=fuzznonce,p=AAAA",
            b"c=biws,r=fuzznonce",
            b"c=eSws,r=x,p=not base64!",
            b"",
        ];
        raw::message(out, b'p', rng.pick(finals));
        if rng.chance(25) {
            mutate(rng, out, start);
        }
    }
}

fn generate(rng: &mut Rng) -> Input {
    let mut input = Input {
        bytes: Vec::new(),
        framed: false,
        encryption_requests: 0,
        password_server: rng.chance(10),
    };
    let out = &mut input.bytes;
    let mode = rng.below(100);
    if mode < 65 {
        for _ in 0..rng.below(3) {
            if rng.chance(15) {
                let code: i32 = rng.pick(&[80877103, 80877104]);
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
                input.encryption_requests += 1;
            }
        }
        out.extend_from_slice(&valid_startup(rng));
        if input.password_server {
            sasl_attempt(rng, out);
            return input;
        }
        let mut framed = true;
        for _ in 0..1 + rng.below(10) {
            let start = out.len();
            frontend_message(rng, out);
            if rng.chance(15) {
                framed &= mutate(rng, out, start);
            }
            if rng.chance(2) {
                raw::message(out, b'X', b"");
            }
        }
        input.framed = framed;
    } else if mode < 80 {
        // A startup packet with its bytes, length or version broken.
        let mut packet = valid_startup(rng);
        match rng.below(4) {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(packet.len());
                    packet[at] ^= 1 << rng.below(8);
                }
            }
            1 => packet.truncate(rng.below(packet.len())),
            2 => {
                let version: i32 = rng.pick(&[0x0003_0001, 0x0002_0000, 0x0004_0000, 1234]);
                packet[4..8].copy_from_slice(&version.to_be_bytes());
            }
            _ => {
                // Parameters without their terminator, or cut at a name.
                packet.pop();
                let len = packet.len() as i32;
                packet[..4].copy_from_slice(&len.to_be_bytes());
            }
        }
        out.extend_from_slice(&packet);
        if rng.chance(50) {
            frontend_message(rng, out);
        }
    } else if mode < 87 {
        // A cancel request for a client that may or may not exist.
        out.extend_from_slice(&16i32.to_be_bytes());
        out.extend_from_slice(&80877102i32.to_be_bytes());
        out.extend_from_slice(&(rng.below(40) as i32).to_be_bytes());
        out.extend_from_slice(&(rng.next() as i32).to_be_bytes());
        if rng.chance(30) {
            out.truncate(8 + rng.below(8));
        }
    } else if mode < 94 {
        let len: i32 = rng.pick(&[0, 4, 7, 10_001, -1, i32::MAX, 9]);
        out.extend_from_slice(&len.to_be_bytes());
        let junk = {
            let len = rng.below(12);
            rng.bytes(len)
        };
        out.extend_from_slice(&junk);
    } else {
        let junk = {
            let len = 1 + rng.below(64);
            rng.bytes(len)
        };
        out.extend_from_slice(&junk);
    }
    input
}

/// Why an input failed.
type Failure = String;

/// Sends one input and reads what the server answers until it closes
/// the connection (or answers a query sent after a framed input).
async fn exchange(addr: SocketAddr, input: &Input) -> Result<(), Failure> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut bytes = input.bytes.clone();
    let sentinel = input.framed;
    if sentinel {
        // Out of whatever extended-protocol error and transaction the
        // input left open, then a query that must be answered.
        raw::message(&mut bytes, b'S', b"");
        raw::query(&mut bytes, "ROLLBACK");
        raw::query(&mut bytes, "SELECT 'fuzz-sentinel'");
    }
    let write = async move {
        // The server may close on a violation before reading everything.
        let _ = writer.write_all(&bytes).await;
        if !sentinel {
            let _ = writer.shutdown().await;
        }
        writer
    };
    let read = async {
        let mut got = Vec::new();
        let mut chunk = [0u8; 16384];
        let reset = loop {
            match reader.read(&mut chunk).await {
                Ok(0) => break false,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(_) => break true,
            }
            if sentinel && answered_sentinel(&got, input.encryption_requests) {
                break false;
            }
        };
        (got, reset)
    };
    let both = async { tokio::join!(write, read) };
    let Ok((_writer, (got, reset))) = tokio::time::timeout(BOUND, both).await else {
        return Err(format!("no answer and no close within {BOUND:?}"));
    };
    let skip = input.encryption_requests.min(got.len());
    if got[..skip].iter().any(|&b| b != b'N') {
        return Err("an encryption request not answered N".into());
    }
    raw::split(&got[skip..], reset).map_err(|e| format!("garbled answer: {e}"))?;
    Ok(())
}

fn answered_sentinel(got: &[u8], skip: usize) -> bool {
    let Some(rest) = got.get(skip..) else {
        return false;
    };
    let Ok(replies) = raw::split(rest, true) else {
        return false;
    };
    let sentinel = replies
        .iter()
        .rposition(|r| r.kind == b'D' && r.body.ends_with(b"fuzz-sentinel"));
    sentinel.is_some_and(|at| replies[at..].iter().any(|r| r.kind == b'Z'))
}

/// A well-behaved client gets served, and the kept table is whole.
async fn next_client_works(url: &str) -> Result<(), Failure> {
    let check = async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        let connection = tokio::spawn(connection);
        let row = client
            .query_one("SELECT count(*), sum(id)::bigint FROM fuzz_kept", &[])
            .await?;
        drop(client);
        let _ = connection.await;
        Ok::<_, tokio_postgres::Error>((row.get::<_, i64>(0), row.get::<_, i64>(1)))
    };
    match tokio::time::timeout(BOUND, check).await {
        Err(_) => Err(format!("the next client got no answer within {BOUND:?}")),
        Ok(Err(err)) => Err(format!("the next client failed: {err}")),
        Ok(Ok((KEPT_ROWS, sum))) if sum == KEPT_ROWS * (KEPT_ROWS + 1) / 2 => Ok(()),
        Ok(Ok(found)) => Err(format!("fuzz_kept is now {found:?}")),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => {
            let value = value.trim();
            let parsed = match value.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => value.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={value}: not a number"))
        }
        Err(_) => default,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_frontend_bytes_get_errors_or_a_close_never_a_crash() {
    let seed = env_number("PGLITE_FUZZ_SEED", DEFAULT_SEED);
    let inputs = env_number("PGLITE_FUZZ_INPUTS", DEFAULT_INPUTS);
    let first = env_number("PGLITE_FUZZ_FIRST", 0);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let trusting = PgliteServer::temporary_tcp().unwrap();
    let guarded = PgliteServer::builder()
        .temporary()
        .password(PASSWORD)
        .start()
        .unwrap();
    let url = trusting.database_url().to_owned();
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE TABLE fuzz_kept AS SELECT generate_series(1, {KEPT_ROWS})::bigint AS id;
             CREATE TABLE fuzz_scratch (id int, v text)"
        ))
        .await
        .unwrap();
    drop(client);

    let started = Instant::now();
    let mut tried = 0;
    let mut failure = None;
    for index in first..first + inputs {
        let mut rng = Rng::new(seed ^ index.wrapping_mul(0x1000_0000_01b3));
        let input = generate(&mut rng);
        let server = if input.password_server {
            &guarded
        } else {
            &trusting
        };
        tried += 1;
        let mut result = exchange(server.local_addr().unwrap(), &input).await;
        if result.is_ok() {
            result = next_client_works(&url).await;
        }
        if result.is_ok() && PANICS.load(Ordering::SeqCst) > 0 {
            result = Err("a panic (see above)".into());
        }
        if let Err(err) = result {
            failure = Some((index, err, input.bytes));
            break;
        }
    }
    // The server with a password still lets in a client that has it.
    if failure.is_none() {
        let (client, connection) = tokio_postgres::connect(guarded.database_url(), NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute("SELECT 1").await.unwrap();
    }
    let crashes = PANICS.load(Ordering::SeqCst) + usize::from(failure.is_some());
    eprintln!(
        "protocol fuzz: {tried} inputs tried (seed {seed:#x}) in {:.1?}, {crashes} crashes found",
        started.elapsed()
    );
    if let Some((index, err, bytes)) = failure {
        let shown = &bytes[..bytes.len().min(512)];
        panic!(
            "input {index} (PGLITE_FUZZ_SEED={seed:#x}): {err}\n{} bytes: {shown:02x?}",
            bytes.len()
        );
    }
    trusting.shutdown().unwrap();
    guarded.shutdown().unwrap();
}
