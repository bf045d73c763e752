//! A process killed without shutdown (SIGKILL) loses no committed row and
//! leaves no damage behind, whatever it was doing; while it runs, nobody
//! else can open its data directory.
//!
//! Each round starts a child that writes to a database until it is killed:
//! single-row inserts and COPY batches (each commit reported on stdout once
//! the backend acknowledged it), and between them a CHECKPOINT, a CREATE
//! INDEX, an UPDATE followed by VACUUM, or a VACUUM FULL. The round aims
//! its kill at one of these (round robin): after a varying number of
//! acknowledged commits it waits for the child to start that operation,
//! then for a varying delay, and kills. The parent then reopens the
//! directory and checks that every acknowledged row is there and nothing
//! else is missing, and that a full scan of the table and a scan of each of
//! its indexes find the same rows.
//!
//! Rounds alternate between a data directory made by initdb and a
//! copy-on-write root over the template, with fsync on.
//! `PGLITE_CRASH_KILL_POINTS` sets the number of rounds (default 36, about a
//! minute; the full run is 240).

mod support;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pglite_runtime::{initdb, BackendSession, Error, InitOptions, SessionOptions, TemplateCache};
use support::{artifacts, parse, query, scalar, Reply};

/// Set in the child process: the data directory it writes to.
const CHILD_DATA: &str = "PGLITE_CRASH_TEST_CHILD_DATA";
/// Set in the child process: its random seed.
const CHILD_SEED: &str = "PGLITE_CRASH_TEST_CHILD_SEED";
const TEST_NAME: &str = "killed_processes_keep_every_committed_row";
const DEFAULT_KILL_POINTS: u64 = 36;
/// Rows per COPY batch.
const COPY_ROWS: i64 = 100;

/// What the child does between its inserts; a round aims its kill at one.
const OPERATIONS: [&str; 6] = [
    "insert",
    "copy",
    "checkpoint",
    "create-index",
    "vacuum",
    "vacuum-full",
];

fn start(data: &Path) -> pglite_runtime::Result<BackendSession> {
    let (session, greeting) =
        BackendSession::start(&artifacts(), data, &SessionOptions::default())?;
    assert_eq!(parse(&greeting).status, b'I');
    Ok(session)
}

fn ok(reply: Reply, what: &str) -> Reply {
    assert_eq!(reply.error, None, "{what}: {:?}", reply.message);
    reply
}

/// A COPY FROM STDIN of rows `first..first + COPY_ROWS`, data and all.
fn copy_batch(first: i64) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut message = |kind: u8, body: &[u8]| {
        bytes.push(kind);
        bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        bytes.extend_from_slice(body);
    };
    message(b'Q', b"COPY t FROM STDIN\0");
    let mut data = String::new();
    for id in first..first + COPY_ROWS {
        data.push_str(&format!("{id}\t{}\n", "c".repeat(100)));
    }
    message(b'd', data.as_bytes());
    message(b'c', b"");
    bytes
}

/// The child: writes until it is killed. Reports `committed <id>` once a
/// commit of rows up to `id` is acknowledged, and `begin <operation>`
/// before each operation.
fn child(data: &str, seed: u64) {
    let mut session = start(Path::new(data)).expect("child starts");
    let mut next: i64 = scalar(&query(
        &mut session,
        "SELECT coalesce(max(id), 0) + 1 FROM t",
    ))
    .parse()
    .unwrap();
    let mut random = seed | 1;
    let mut out = std::io::stdout().lock();
    let mut report = |line: String| {
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    loop {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        // Mostly inserts, so that every operation meets a growing table.
        let operation = if random.is_multiple_of(3) {
            OPERATIONS[(random / 3) as usize % OPERATIONS.len()]
        } else {
            "insert"
        };
        report(format!("begin {operation}"));
        match operation {
            "insert" => {
                ok(
                    query(
                        &mut session,
                        &format!("INSERT INTO t VALUES ({next}, repeat('x', 100))"),
                    ),
                    "insert",
                );
                report(format!("committed {next}"));
                next += 1;
            }
            "copy" => {
                let reply = parse(&session.send(&copy_batch(next)).expect("backend answers"));
                ok(reply, "copy");
                next += COPY_ROWS;
                report(format!("committed {}", next - 1));
            }
            "checkpoint" => {
                ok(query(&mut session, "CHECKPOINT"), "checkpoint");
            }
            "create-index" => {
                ok(
                    query(
                        &mut session,
                        "DROP INDEX IF EXISTS t_pad; CREATE INDEX t_pad ON t (pad, id)",
                    ),
                    "create index",
                );
            }
            "vacuum" => {
                // Dead rows for VACUUM to clear.
                let low = (next - 300).max(0);
                ok(
                    query(
                        &mut session,
                        &format!("UPDATE t SET pad = repeat('u', 100) WHERE id >= {low}"),
                    ),
                    "update",
                );
                ok(query(&mut session, "VACUUM t"), "vacuum");
            }
            _ => {
                ok(query(&mut session, "VACUUM FULL t"), "vacuum full");
            }
        }
    }
}

/// A database with table `t`, and the highest id acknowledged in it.
struct Database {
    data: PathBuf,
    last_committed: i64,
}

impl Database {
    fn new(data: PathBuf) -> Self {
        let mut session = start(&data).unwrap();
        ok(
            query(
                &mut session,
                "CREATE TABLE t (id bigint PRIMARY KEY, pad text)",
            ),
            "create table",
        );
        session.shutdown().unwrap();
        Self {
            data,
            last_committed: 0,
        }
    }
}

/// A count from `sql` (one bigint) in `session`.
fn count(session: &mut BackendSession, sql: &str) -> i64 {
    scalar(&ok(query(session, sql), sql)).parse().unwrap()
}

/// Checks a reopened database: every acknowledged row is there, ids have
/// no gaps, and a full scan and each index agree. Returns the highest id.
fn check(session: &mut BackendSession, last_committed: i64, what: &str) -> i64 {
    ok(
        query(
            session,
            "SET enable_indexscan = off; SET enable_indexonlyscan = off; \
             SET enable_bitmapscan = off",
        ),
        "settings",
    );
    let reply = ok(
        query(session, "SELECT count(*), max(id), sum(length(pad)) FROM t"),
        "full scan",
    );
    let heap: i64 = reply.rows[0][0].as_deref().unwrap().parse().unwrap();
    let max: i64 = reply.rows[0][1].as_deref().unwrap_or("0").parse().unwrap();
    assert!(
        max >= last_committed && heap == max,
        "{what}: committed up to {last_committed}, found {heap} rows up to {max}"
    );
    ok(
        query(
            session,
            "RESET ALL; SET enable_seqscan = off; SET enable_bitmapscan = off",
        ),
        "settings",
    );
    let by_key = count(session, "SELECT count(*) FROM t WHERE id > 0");
    assert_eq!(
        by_key, heap,
        "{what}: the primary key disagrees with the table"
    );
    let has_pad_index = count(
        session,
        "SELECT count(*) FROM pg_class WHERE relname = 't_pad'",
    ) == 1;
    if has_pad_index {
        let by_pad = count(session, "SELECT count(*) FROM t WHERE pad > ''");
        assert_eq!(by_pad, heap, "{what}: index t_pad disagrees with the table");
    }
    ok(query(session, "RESET ALL"), "reset");
    max
}

#[test]
fn killed_processes_keep_every_committed_row() {
    if let Ok(data) = std::env::var(CHILD_DATA) {
        let seed = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
        return child(&data, seed);
    }
    let kill_points: u64 = std::env::var("PGLITE_CRASH_KILL_POINTS")
        .map(|v| v.parse().expect("PGLITE_CRASH_KILL_POINTS: a number"))
        .unwrap_or(DEFAULT_KILL_POINTS);
    let temp = tempfile::tempdir().unwrap();
    let made = temp.path().join("data");
    initdb(&artifacts(), &made, &InitOptions::default()).expect("initdb");
    let cache = TemplateCache::open(&artifacts()).expect("template");
    let root = cache.temporary_root().unwrap();
    let mut databases = [
        Database::new(made),
        Database::new(root.path().to_path_buf()),
    ];

    let started = Instant::now();
    let mut random: u64 = 0x2545_f491_4f6c_dd1d;
    let mut unacknowledged = 0;
    let mut aimed_at = [0u64; OPERATIONS.len()];
    for round in 0..kill_points {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let min_commits = 1 + random % 40;
        let target = (round as usize) % OPERATIONS.len();
        let delay = Duration::from_micros(random % 4000);
        let db = &mut databases[(round % 2) as usize];
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DATA, &db.data)
            .env(CHILD_SEED, (random >> 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut seen = 0;
        loop {
            let line = lines.next().expect("child reports its work").unwrap();
            if let Some(id) = line.strip_prefix("committed ") {
                db.last_committed = id.parse().unwrap();
                seen += 1;
            } else if line.strip_prefix("begin ") == Some(OPERATIONS[target]) && seen >= min_commits
            {
                break;
            }
        }
        if round == 0 {
            assert!(
                matches!(start(&db.data), Err(Error::Locked { .. })),
                "a second open of a directory in use must fail as locked"
            );
        }
        std::thread::sleep(delay);
        process.kill().unwrap();
        process.wait().unwrap();
        aimed_at[target] += 1;

        let what = format!(
            "round {round} (killed in or after {}, {}) ",
            OPERATIONS[target],
            db.data.display()
        );
        let mut session = start(&db.data).expect("reopens after the crash");
        let max = check(&mut session, db.last_committed, &what);
        // Rows the child committed but had not reported yet.
        unacknowledged += max - db.last_committed;
        db.last_committed = max;
        session.shutdown().unwrap();
    }
    let aimed: Vec<String> = OPERATIONS
        .iter()
        .zip(aimed_at)
        .map(|(operation, n)| format!("{operation} {n}"))
        .collect();
    eprintln!(
        "crash: {kill_points} kill points ({}) in {:.1?}, 0 anomalies: {} and {} rows kept, \
         {unacknowledged} of them committed after the last acknowledgement seen",
        aimed.join(", "),
        started.elapsed(),
        databases[0].last_committed,
        databases[1].last_committed
    );
    drop(root);
}
