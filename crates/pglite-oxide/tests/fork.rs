//! Forks (`Pglite::try_clone`) and data directory archives
//! (`dump_data_dir`, `Builder::load_data_dir`).

use std::fs;
use std::path::Path;

use pglite_oxide::{Error, Pglite};

fn rows(db: &mut Pglite, sql: &str) -> Vec<String> {
    db.query(sql, &[])
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect()
}

/// Table `notes` with two rows, a sequence advanced to 2, an index.
fn seed(db: &mut Pglite) {
    db.batch_execute(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text UNIQUE);
         INSERT INTO notes (body) VALUES ('one'), ('two');",
    )
    .unwrap();
}

#[test]
fn a_fork_has_the_contents_and_then_goes_its_own_way() {
    let mut db = Pglite::temporary().unwrap();
    seed(&mut db);
    // Settings of the source's session do not stop the fork.
    db.batch_execute("SET search_path = pg_catalog, public")
        .unwrap();

    let mut fork = db.try_clone().unwrap();
    assert_ne!(fork.data_dir(), db.data_dir());
    assert_eq!(
        rows(&mut fork, "SELECT body FROM notes ORDER BY id"),
        ["one", "two"]
    );

    // Each writes its own rows; the other does not see them.
    fork.execute("INSERT INTO notes (body) VALUES ('fork')", &[])
        .unwrap();
    db.execute("INSERT INTO notes (body) VALUES ('source')", &[])
        .unwrap();
    assert_eq!(
        rows(&mut fork, "SELECT body || ' ' || id FROM notes ORDER BY id"),
        ["one 1", "two 2", "fork 3"]
    );
    assert_eq!(
        rows(&mut db, "SELECT body || ' ' || id FROM notes ORDER BY id"),
        ["one 1", "two 2", "source 3"]
    );
    // The index came along and is used for the unique check.
    let err = fork
        .execute("INSERT INTO notes (body) VALUES ('one')", &[])
        .unwrap_err();
    assert_eq!(err.code(), Some(&pglite_oxide::SqlState::UNIQUE_VIOLATION));

    // A fork of a fork, and forks outliving their source.
    let mut grandchild = fork.try_clone().unwrap();
    drop(db);
    drop(fork);
    assert_eq!(
        rows(&mut grandchild, "SELECT body FROM notes ORDER BY id"),
        ["one", "two", "fork"]
    );
    let dir = grandchild.data_dir().to_path_buf();
    drop(grandchild);
    assert!(!dir.exists());
}

#[test]
fn a_fork_waits_for_open_transactions() {
    let mut db = Pglite::builder()
        .busy_timeout(std::time::Duration::from_millis(300))
        .open()
        .unwrap();
    seed(&mut db);

    // This client inside a transaction: refused at once.
    db.batch_execute("BEGIN; INSERT INTO notes (body) VALUES ('uncommitted')")
        .unwrap();
    let err = db.try_clone().map(drop).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("inside a transaction"), "{err}");

    // Another client inside one: the fork waits for it (here, past the
    // busy timeout).
    let mut other = db.session();
    db.batch_execute("COMMIT").unwrap();
    other
        .batch_execute("BEGIN; INSERT INTO notes (body) VALUES ('open')")
        .unwrap();
    let err = db.try_clone().map(drop).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    other.batch_execute("ROLLBACK").unwrap();

    let mut fork = db.try_clone().unwrap();
    assert_eq!(
        rows(&mut fork, "SELECT body FROM notes ORDER BY id"),
        ["one", "two", "uncommitted"]
    );
}

#[test]
fn a_database_in_a_directory_forks_into_a_temporary_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Pglite::builder()
        .path(dir.path().join("db"))
        .database("app")
        .username("alice")
        .open()
        .unwrap();
    seed(&mut db);
    let mut fork = db.try_clone().unwrap();
    assert!(!fork.data_dir().starts_with(dir.path()));
    assert_eq!(fork.database(), "app");
    let (user, database): (String, String) = {
        let row = fork
            .query_one("SELECT current_user::text, current_database()::text", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((user.as_str(), database.as_str()), ("alice", "app"));
    assert_eq!(
        rows(&mut fork, "SELECT body FROM notes ORDER BY id"),
        ["one", "two"]
    );
    fork.execute("DELETE FROM notes", &[]).unwrap();
    assert_eq!(
        rows(&mut db, "SELECT body FROM notes ORDER BY id"),
        ["one", "two"]
    );
}

#[test]
fn a_dump_loads_into_a_temporary_database_and_into_a_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("db.tar.zst");
    let mut db = Pglite::temporary().unwrap();
    seed(&mut db);
    db.dump_data_dir(&archive).unwrap();
    // The source goes on.
    db.execute("INSERT INTO notes (body) VALUES ('later')", &[])
        .unwrap();

    let mut loaded = Pglite::builder().load_data_dir(&archive).open().unwrap();
    assert_eq!(
        rows(&mut loaded, "SELECT body FROM notes ORDER BY id"),
        ["one", "two"]
    );
    loaded
        .execute("INSERT INTO notes (body) VALUES ('three')", &[])
        .unwrap();

    let path = scratch.path().join("restored");
    {
        let mut restored = Pglite::builder()
            .path(&path)
            .load_data_dir(&archive)
            .open()
            .unwrap();
        assert_eq!(
            rows(&mut restored, "SELECT body FROM notes ORDER BY id"),
            ["one", "two"]
        );
        restored
            .execute("INSERT INTO notes (body) VALUES ('kept')", &[])
            .unwrap();
    }
    // An ordinary database now: it opens again by path.
    let mut reopened = Pglite::open(&path).unwrap();
    assert_eq!(
        rows(&mut reopened, "SELECT body FROM notes ORDER BY id"),
        ["one", "two", "kept"]
    );
    // Not over a database that is there.
    drop(reopened);
    let err = Pglite::builder()
        .path(&path)
        .load_data_dir(&archive)
        .open()
        .map(drop)
        .unwrap_err();
    assert!(
        err.to_string().contains("holds a database already"),
        "{err}"
    );
}

/// The archive's entries, unpacked into memory.
fn entries(archive: &Path) -> Vec<(tar::Header, Vec<u8>)> {
    let decoder = zstd::Decoder::new(fs::File::open(archive).unwrap()).unwrap();
    let mut tar = tar::Archive::new(decoder);
    tar.entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (entry.header().clone(), data)
        })
        .collect()
}

fn repack(entries: &[(tar::Header, Vec<u8>)], out: &Path) {
    let encoder = zstd::Encoder::new(fs::File::create(out).unwrap(), 3).unwrap();
    let mut tar = tar::Builder::new(encoder);
    for (header, data) in entries {
        let mut header = header.clone();
        let path = header.path().unwrap().into_owned();
        tar.append_data(&mut header, path, &data[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// PostgreSQL's CRC-32C, to forge a control file that passes its check.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn refusal(archive: &Path, into: Option<&Path>) -> String {
    let mut builder = Pglite::builder().load_data_dir(archive);
    if let Some(path) = into {
        builder = builder.path(path);
    }
    let err = builder.open().map(drop).unwrap_err();
    assert!(
        matches!(err, Error::Runtime(pglite_runtime::Error::Archive { .. })),
        "{err:?}"
    );
    err.to_string()
}

#[test]
fn corrupt_and_foreign_archives_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let good = scratch.path().join("good.tar.zst");
    let mut db = Pglite::temporary().unwrap();
    seed(&mut db);
    db.dump_data_dir(&good).unwrap();
    drop(db);
    let bytes = fs::read(&good).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = scratch.path().join(name);
        fs::write(&path, bytes).unwrap();
        path
    };

    // Not an archive at all.
    let why = refusal(&write("junk.tar.zst", b"hello, not zstd"), None);
    assert!(why.contains("junk.tar.zst"), "{why}");
    // Cut short.
    refusal(&write("cut.tar.zst", &bytes[..bytes.len() / 2]), None);
    // A flipped byte in the middle of the stream (zstd's checksum, or the
    // stream's structure, catches it).
    let mut flipped = bytes.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 0x40;
    refusal(&write("flipped.tar.zst", &flipped), None);

    let original = entries(&good);
    let control_at = original
        .iter()
        .position(|(h, _)| h.path().unwrap() == Path::new("global/pg_control"))
        .unwrap();

    // A control file whose CRC does not match.
    let mut corrupt = original.clone();
    corrupt[control_at].1[12] ^= 1;
    let path = scratch.path().join("crc.tar.zst");
    repack(&corrupt, &path);
    let why = refusal(&path, None);
    assert!(why.contains("pg_control is corrupt"), "{why}");

    // Made for another architecture: float8 passed by value, as on 64-bit
    // native builds (a valid CRC, so only the layout check can tell).
    let mut foreign = original.clone();
    let control = &mut foreign[control_at].1;
    control[248] = 1;
    let crc = crc32c(&control[..288]);
    control[288..292].copy_from_slice(&crc.to_le_bytes());
    let path = scratch.path().join("foreign.tar.zst");
    repack(&foreign, &path);
    let into = scratch.path().join("target");
    let why = refusal(&path, Some(&into));
    assert!(why.contains("another architecture"), "{why}");
    assert!(why.contains("float8 passed by value"), "{why}");
    // Nothing left behind where it was to go, nor beside it.
    assert!(!into.exists());
    let leftovers: Vec<_> = fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pglite"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Another PostgreSQL version.
    let mut other = original.clone();
    for (header, data) in &mut other {
        if header.path().unwrap() == Path::new("PG_VERSION") {
            *data = b"16\n".to_vec();
            header.set_size(3);
            header.set_cksum();
        }
    }
    let path = scratch.path().join("pg16.tar.zst");
    repack(&other, &path);
    let why = refusal(&path, None);
    assert!(why.contains("PostgreSQL 16 data directory"), "{why}");

    // Not a data directory: no PG_VERSION.
    let path = scratch.path().join("empty.tar.zst");
    repack(&original[..0], &path);
    let why = refusal(&path, None);
    assert!(why.contains("no PostgreSQL data directory"), "{why}");

    // A path that climbs out.
    let mut climbing = tar::Header::new_gnu();
    climbing.set_size(1);
    climbing.set_mode(0o600);
    climbing.set_entry_type(tar::EntryType::Regular);
    climbing.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    climbing.set_cksum();
    let mut escaping = original.clone();
    escaping.insert(0, (climbing, vec![b'x']));
    let path = scratch.path().join("escape.tar.zst");
    let encoder = zstd::Encoder::new(fs::File::create(&path).unwrap(), 3).unwrap();
    let mut tar = tar::Builder::new(encoder);
    for (header, data) in &escaping {
        tar.append(header, &data[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    refusal(&path, None);
    assert!(!scratch.path().join("escape").exists());

    // The good one still loads.
    let mut loaded = Pglite::builder().load_data_dir(&good).open().unwrap();
    assert_eq!(
        rows(&mut loaded, "SELECT body FROM notes ORDER BY id"),
        ["one", "two"]
    );
}
