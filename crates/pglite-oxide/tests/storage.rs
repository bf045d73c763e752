//! Storage that fails under the database: a full disk and a read-only one.
//!
//! - Full: the write that finds no room fails with a clear error (SQLSTATE
//!   53100, or the backend stops as PostgreSQL does when WAL cannot be
//!   written), nothing reported committed is lost, and the database works
//!   again once there is room.
//! - Read-only: opening is refused with an error that says why, and the
//!   data directory opens again, whole, once it is writable.
//!
//! The disks are small tmpfs mounts made for each test, which needs root
//! (as CI runs); elsewhere the tests say they were skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use pglite_oxide::{Error, Pglite};

/// A tmpfs of a fixed size, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u64) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m"),
                "pglite-disk-full",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the disk with a file of our own, then frees `room` bytes of it.
fn fill_leaving(disk: &Path, room: usize) -> PathBuf {
    let path = disk.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 1 << 20];
    let mut written = 0usize;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    file.set_len(written.saturating_sub(room) as u64).unwrap();
    file.sync_all().unwrap();
    path
}

const ROWS_PER_INSERT: i64 = 200;

fn insert_batch(db: &mut Pglite, batch: i64) -> Result<u64, Error> {
    db.execute(
        "INSERT INTO t SELECT $1 * 1000 + g, repeat(md5(g::text), 16) \
         FROM generate_series(1, $2::int8) g",
        &[&batch, &ROWS_PER_INSERT],
    )
}

fn count(db: &mut Pglite) -> i64 {
    db.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0)
}

#[test]
fn a_full_disk_fails_writes_clearly_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount(160) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let path = disk.path().join("db");
    let mut db = Pglite::open(&path).unwrap();
    db.batch_execute("CREATE TABLE t (id int8 PRIMARY KEY, pad text)")
        .unwrap();
    let filler = fill_leaving(disk.path(), 6 << 20);

    let mut committed = 0i64;
    let failure = loop {
        assert!(committed < 10_000, "the disk never filled up");
        match insert_batch(&mut db, committed) {
            Ok(n) => {
                assert_eq!(n, ROWS_PER_INSERT as u64);
                committed += 1;
            }
            Err(e) => break e,
        }
    };
    let message = failure.to_string();
    let disk_full = failure.code().is_some_and(|c| c.code() == "53100");
    assert!(
        disk_full || message.contains("No space left on device"),
        "the error does not say the disk is full: {failure:?}"
    );
    assert!(committed > 0, "nothing fitted: {failure}");

    // Room again: the database (reopened if the backend stopped) has every
    // committed row, and takes new ones.
    std::fs::remove_file(&filler).unwrap();
    if disk_full {
        assert_eq!(count(&mut db), committed * ROWS_PER_INSERT);
        insert_batch(&mut db, committed).unwrap();
        committed += 1;
        db.close().unwrap();
    } else {
        // The backend ended like a native one on a WAL write failure.
        let _ = db.close();
    }
    let mut db = Pglite::open(&path).unwrap();
    let rows = count(&mut db);
    // A failed statement is never half there; one whose commit record was
    // written before the failure may be whole.
    assert!(
        rows == committed * ROWS_PER_INSERT || rows == (committed + 1) * ROWS_PER_INSERT,
        "{rows} rows after {committed} committed inserts of {ROWS_PER_INSERT}"
    );
    let checked: i64 = db
        .query_one("SELECT count(*) FROM t WHERE length(pad) = 512", &[])
        .unwrap()
        .get(0);
    assert_eq!(checked, rows);
    insert_batch(&mut db, 100_000).unwrap();
    db.close().unwrap();
}

#[test]
fn a_read_only_data_directory_is_refused_clearly_and_kept() {
    let Some(disk) = SmallDisk::mount(160) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let path = disk.path().join("db");
    let mut db = Pglite::open(&path).unwrap();
    db.batch_execute("CREATE TABLE kept AS SELECT g FROM generate_series(1, 500) g")
        .unwrap();
    db.close().unwrap();

    disk.remount("ro");
    let err = Pglite::open(&path).map(drop).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("Read-only file system") || message.contains("read-only"),
        "the error does not say why: {err:?}"
    );
    disk.remount("rw");
    let mut db = Pglite::open(&path).unwrap();
    let rows: i64 = db
        .query_one("SELECT count(*) FROM kept", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 500);
    db.close().unwrap();
}
