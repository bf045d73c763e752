//! A process killed without shutdown (SIGKILL) loses no committed row, and
//! while it runs, nobody else can open its data directory.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use pglite_runtime::{initdb, BackendSession, Error, InitOptions, SessionOptions};
use support::{artifacts, parse, query, scalar};

/// Set in the child process: the data directory it writes to.
const CHILD_DATA: &str = "PGLITE_CRASH_TEST_CHILD_DATA";
const TEST_NAME: &str = "killed_processes_keep_every_committed_row";

fn start(data: &std::path::Path) -> pglite_runtime::Result<BackendSession> {
    let (session, greeting) =
        BackendSession::start(&artifacts(), data, &SessionOptions::default())?;
    assert_eq!(parse(&greeting).status, b'I');
    Ok(session)
}

/// The child: commits one row per transaction and reports each commit on
/// stdout once the backend has acknowledged it, until it is killed.
fn child(data: &str) {
    let mut session = start(std::path::Path::new(data)).expect("child starts");
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

#[test]
fn killed_processes_keep_every_committed_row() {
    if let Ok(data) = std::env::var(CHILD_DATA) {
        return child(&data);
    }
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    initdb(&artifacts(), &data, &InitOptions::default()).expect("initdb");
    let mut session = start(&data).unwrap();
    query(
        &mut session,
        "CREATE TABLE t (id bigint PRIMARY KEY, pad text)",
    );
    session.shutdown().unwrap();

    let mut last_committed = 0;
    for (round, kill_after) in [7, 120, 1, 300, 45].into_iter().enumerate() {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DATA, &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("child reports commits").unwrap();
            if let Some(id) = line.strip_prefix("committed ") {
                last_committed = id.parse().unwrap();
                seen += 1;
            }
        }
        if round == 0 {
            assert!(
                matches!(start(&data), Err(Error::Locked { .. })),
                "a second open of a directory in use must fail as locked"
            );
        }
        process.kill().unwrap();
        process.wait().unwrap();

        let mut session = start(&data).expect("reopens after the crash");
        let reply = query(&mut session, "SELECT count(*), max(id) FROM t");
        let count: i64 = reply.rows[0][0].as_deref().unwrap().parse().unwrap();
        let max: i64 = reply.rows[0][1].as_deref().unwrap().parse().unwrap();
        assert!(
            max >= last_committed && count == max,
            "round {round}: committed up to {last_committed}, found {count} rows up to {max}"
        );
        last_committed = max;
        session.shutdown().unwrap();
    }
}
