//! A process killed (SIGKILL) while it creates a new data directory leaves
//! nothing the next open would take for a database: that open creates the
//! database afresh and works, and nothing half-made stays behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use pglite_oxide::Pglite;

/// Set in the child process: the data directory it creates.
const CHILD_DATA: &str = "PGLITE_CREATE_TEST_CHILD_DATA";
const TEST_NAME: &str = "a_creation_killed_midway_is_redone_on_the_next_open";
const ROUNDS: u64 = 12;

fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "data")
        .collect()
}

#[test]
fn a_creation_killed_midway_is_redone_on_the_next_open() {
    if let Ok(data) = std::env::var(CHILD_DATA) {
        let db = Pglite::open(&data).expect("child creates the database");
        drop(db);
        println!("created");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let child = || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DATA, &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole creation takes here: kills land across it.
    let started = Instant::now();
    let output = child().wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("created"));
    let whole = started.elapsed();
    std::fs::remove_dir_all(&data).unwrap();

    let mut random: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut interrupted = 0;
    for round in 0..ROUNDS {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let delay = whole.mul_f64((random % 1000) as f64 / 1000.0);
        let mut process = child();
        std::thread::sleep(delay);
        process.kill().unwrap();
        let status = process.wait().unwrap();
        interrupted += u64::from(!status.success());

        // Whatever the kill left, the next open gives a working database.
        let mut db = Pglite::open(&data)
            .unwrap_or_else(|err| panic!("round {round} (killed after {delay:?}): {err}"));
        let tables: i64 = db
            .query_one("SELECT count(*) FROM pg_class", &[])
            .unwrap()
            .get(0);
        assert!(tables > 100, "round {round}: {tables} relations");
        db.close().unwrap();
        assert_eq!(
            leftovers(temp.path()),
            Vec::<String>::new(),
            "round {round}: left beside the data directory"
        );
        std::fs::remove_dir_all(&data).unwrap();
    }
    eprintln!(
        "creation killed {interrupted} times in {ROUNDS} rounds over {whole:?}; \
         every next open worked"
    );
    assert!(interrupted > 0, "no kill landed during a creation");
}
