//! A process killed without shutdown (SIGKILL) loses no committed row, and
//! while it runs, nobody else can open its data directory.
//!
//! Fifty kill points with fsync on, alternating between a data directory
//! made by initdb and a copy-on-write root over the template: each round
//! starts a child that commits one row per transaction, kills it after a
//! varying number of acknowledged commits (plus a varying delay, so the kill
//! lands anywhere in the next commit), reopens the directory and checks
//! that every acknowledged row is there and nothing else is missing.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pglite_runtime::{initdb, BackendSession, Error, InitOptions, SessionOptions, TemplateCache};
use support::{artifacts, parse, query, scalar};

/// Set in the child process: the data directory it writes to.
const CHILD_DATA: &str = "PGLITE_CRASH_TEST_CHILD_DATA";
const TEST_NAME: &str = "killed_processes_keep_every_committed_row";
const KILL_POINTS: u64 = 50;

fn start(data: &Path) -> pglite_runtime::Result<BackendSession> {
    let (session, greeting) =
        BackendSession::start(&artifacts(), data, &SessionOptions::default())?;
    assert_eq!(parse(&greeting).status, b'I');
    Ok(session)
}

/// The child: commits one row per transaction and reports each commit on
/// stdout once the backend has acknowledged it, until it is killed.
fn child(data: &str) {
    let mut session = start(Path::new(data)).expect("child starts");
    let first: i64 = scalar(&query(
        &mut session,
        "SELECT coalesce(max(id), 0) + 1 FROM t",
    ))
    .parse()
    .unwrap();
    for id in first..first + 100_000 {
        let reply = query(
            &mut session,
            &format!("INSERT INTO t VALUES ({id}, repeat('x', 100))"),
        );
        assert_eq!(reply.error, None);
        println!("committed {id}");
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
        query(
            &mut session,
            "CREATE TABLE t (id bigint PRIMARY KEY, pad text)",
        );
        session.shutdown().unwrap();
        Self {
            data,
            last_committed: 0,
        }
    }
}

#[test]
fn killed_processes_keep_every_committed_row() {
    if let Ok(data) = std::env::var(CHILD_DATA) {
        return child(&data);
    }
    let temp = tempfile::tempdir().unwrap();
    let made = temp.path().join("data");
    initdb(&artifacts(), &made, &InitOptions::default()).expect("initdb");
    let cache = TemplateCache::open(&artifacts()).expect("template");
    let root = cache.temporary_root().unwrap();
    let mut databases = [
        Database::new(made),
        Database::new(root.path().to_path_buf()),
    ];

    let mut random: u64 = 0x2545_f491_4f6c_dd1d;
    let mut unacknowledged = 0;
    for round in 0..KILL_POINTS {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let kill_after = 1 + random % 150;
        let delay = Duration::from_micros(random % 3000);
        let db = &mut databases[(round % 2) as usize];
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DATA, &db.data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("child reports commits").unwrap();
            if let Some(id) = line.strip_prefix("committed ") {
                db.last_committed = id.parse().unwrap();
                seen += 1;
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

        let mut session = start(&db.data).expect("reopens after the crash");
        let reply = query(&mut session, "SELECT count(*), max(id) FROM t");
        let count: i64 = reply.rows[0][0].as_deref().unwrap().parse().unwrap();
        let max: i64 = reply.rows[0][1].as_deref().unwrap().parse().unwrap();
        assert!(
            max >= db.last_committed && count == max,
            "round {round} ({}): committed up to {}, found {count} rows up to {max}",
            db.data.display(),
            db.last_committed
        );
        // Rows the child committed but had not reported yet.
        unacknowledged += max - db.last_committed;
        db.last_committed = max;
        session.shutdown().unwrap();
    }
    eprintln!(
        "{KILL_POINTS} kill points: {} and {} rows kept, {unacknowledged} of them \
         committed after the last acknowledgement seen",
        databases[0].last_committed, databases[1].last_committed
    );
    drop(root);
}
