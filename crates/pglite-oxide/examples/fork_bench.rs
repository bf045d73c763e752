//! What `cargo xtask bench fork` runs: forks, the per-test fixture, and one
//! suite of 200 tests (the body of tests/fixture.rs) run three ways, with
//! as many threads as the default test runner uses:
//! - `fixture`: `testing::Template` (migrations once, then a fork a test);
//! - `fresh`: a new temporary database a test, migrated by the test;
//! - `native`: native PostgreSQL 15, `CREATE DATABASE ... TEMPLATE` a test
//!   and `DROP DATABASE` after it, as sqlx's `#[sqlx::test]` does (with
//!   `--native <socket dir> <port>`).
//!
//! Set `PGLITE_OXIDE_TEST_TEMPLATES` to an empty directory so that the
//! fixture suite pays for building its template, as a first run does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pglite_oxide::testing::Template;
use pglite_oxide::Pglite;

const TESTS: usize = 200;
const SAMPLES: usize = 21;

fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/migrations")
}

fn migrations() -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(migrations_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The statements of one test (tests/fixture.rs's `isolated`).
const BODY: [&str; 4] = [
    "SELECT email FROM users ORDER BY id",
    "INSERT INTO users (email, display_name) VALUES ('same@example.org', 'me') RETURNING id",
    "INSERT INTO posts (user_id, title) VALUES (2, 'me') RETURNING updated_at IS NOT NULL",
    "CREATE TABLE scratch (test text); INSERT INTO scratch VALUES ('x')",
];

fn body(db: &mut Pglite) -> pglite_oxide::Result<()> {
    let users = db.query(BODY[0], &[])?;
    assert_eq!(users.len(), 1);
    let id: i64 = db.query_one(BODY[1], &[])?.get(0);
    assert_eq!(id, 2);
    db.query_one(BODY[2], &[])?;
    db.batch_execute(BODY[3])
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Runs `test(0..TESTS)` on `threads` threads; the wall time.
fn suite(threads: usize, test: impl Fn(usize) + Sync) -> Duration {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= TESTS {
                    break;
                }
                test(n);
            });
        }
    });
    started.elapsed()
}

/// Bytes the files under `dir` take on disk (holes excluded).
fn tree_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                tree_size(&e.path())
            } else {
                std::os::unix::fs::MetadataExt::blocks(&meta) * 512
            }
        })
        .sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--no-suites`: forks and the fixture's overhead only.
    let suites = !args.iter().any(|a| a == "--no-suites");
    args.retain(|a| a != "--no-suites");
    let native = match args.as_slice() {
        [flag, dir, port] if flag == "--native" => Some((dir.clone(), port.parse::<u16>()?)),
        [] => None,
        _ => return Err("usage: fork_bench [--no-suites] [--native <socket dir> <port>]".into()),
    };
    // The default test runner's number of threads.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{TESTS} tests on {threads} threads; medians of {SAMPLES} samples");

    // The process's first database pays for the engine and artifacts:
    // not part of any figure below.
    drop(Pglite::temporary()?);

    // 1. The suite with the fixture; the first test builds the template.
    let fixture = suite(if suites { threads } else { 0 }, |_| {
        let template = Template::migrated(migrations_dir()).unwrap();
        let mut db = template.database().unwrap();
        body(&mut db).unwrap();
    });

    // 2. A new temporary database a test, migrated by the test.
    let migrations = migrations();
    let fresh = suite(if suites { threads } else { 0 }, |_| {
        let mut db = Pglite::temporary().unwrap();
        for sql in &migrations {
            db.batch_execute(sql).unwrap();
        }
        body(&mut db).unwrap();
    });

    // 3. Native PostgreSQL.
    let native_wall = match &native {
        Some((dir, port)) if suites => Some(native_suite(dir, *port, threads, &migrations)?),
        _ => None,
    };

    // Per-test fixture overhead: a fork of the template, and dropping it.
    let template = Template::migrated(migrations_dir())?;
    let (mut opens, mut drops) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let mut db = template.database()?;
        opens.push(started.elapsed());
        db.query_one("SELECT 1", &[])?;
        let started = Instant::now();
        drop(db);
        drops.push(started.elapsed());
    }

    // try_clone of a live database that has changed 100 rows, copy-on-write
    // over the template, and of one in a directory (a full copy).
    let mut source = template.database()?;
    source.batch_execute(
        "INSERT INTO users (email, display_name) \
         SELECT 'u' || i || '@example.org', 'u' || i FROM generate_series(1, 100) i",
    )?;
    let mut forks = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let fork = source.try_clone()?;
        forks.push(started.elapsed());
        drop(fork);
    }
    // Its parts: the checkpoint, the copy, a backend started on the copy
    // (recovering from the checkpoint), and dropping the fork.
    let (mut checkpoints, mut copies, mut starts, mut fork_drops) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut copied = 0;
    for _ in 0..SAMPLES {
        let started = Instant::now();
        source.batch_execute("CHECKPOINT")?;
        checkpoints.push(started.elapsed());
        let copy = tempfile::tempdir()?;
        let root = copy.path().join("root");
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&root)?;
        let started = Instant::now();
        pglite_runtime::copy_root(source.data_dir(), &root)?;
        copies.push(started.elapsed());
        copied = tree_size(&root);
        let started = Instant::now();
        let fork = Pglite::builder()
            .path(&root)
            .relaxed_durability(true)
            // As try_clone starts a fork with relaxed durability.
            .postgres_config("fsync", "off")
            .open()?;
        starts.push(started.elapsed());
        let started = Instant::now();
        drop(fork);
        fork_drops.push(started.elapsed());
    }
    drop(source);

    let scratch = tempfile::tempdir()?;
    let mut on_disk = Pglite::open(scratch.path().join("db"))?;
    on_disk.batch_execute(&migrations.join(";\n"))?;
    let mut full = Vec::new();
    for _ in 0..SAMPLES.min(7) {
        let started = Instant::now();
        let fork = on_disk.try_clone()?;
        full.push(started.elapsed());
        drop(fork);
    }

    println!(
        "fork (try_clone, copy-on-write root): {:.1} ms",
        median(forks)
    );
    println!(
        "  parts: CHECKPOINT {:.1} ms, copy {:.1} ms ({:.1} MB on disk), backend start with recovery {:.1} ms; \
         dropping a fork {:.1} ms",
        median(checkpoints),
        median(copies),
        copied as f64 / 1e6,
        median(starts),
        median(fork_drops)
    );
    println!(
        "fork (try_clone, database in a directory, full copy): {:.1} ms",
        median(full)
    );
    let (open, close) = (median(opens), median(drops));
    println!(
        "per-test fixture overhead: {:.1} ms (Template::database {open:.1} ms + drop {close:.1} ms)",
        open + close
    );
    if !suites {
        return Ok(());
    }
    println!(
        "suite of {TESTS} tests, wall: fixture {:.2} s, fresh temporary database {:.2} s{}",
        fixture.as_secs_f64(),
        fresh.as_secs_f64(),
        match native_wall {
            Some(wall) => format!(
                ", native CREATE DATABASE ... TEMPLATE {:.2} s",
                wall.as_secs_f64()
            ),
            None => ", native: not installed".into(),
        }
    );
    Ok(())
}

fn native_suite(
    dir: &str,
    port: u16,
    threads: usize,
    migrations: &[String],
) -> Result<Duration, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let dir = dir.to_owned();
    let connect = move |database: String| {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&dir)
            .port(port)
            .user("postgres")
            .dbname(&database);
        async move {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok::<_, tokio_postgres::Error>(client)
        }
    };
    let wall = runtime.block_on(async {
        let started = Instant::now();
        let admin = connect("postgres".into()).await?;
        admin
            .batch_execute("DROP DATABASE IF EXISTS migrated")
            .await?;
        admin.batch_execute("CREATE DATABASE migrated").await?;
        let template = connect("migrated".into()).await?;
        for sql in migrations {
            template.batch_execute(sql).await?;
        }
        drop(template);
        let next = std::sync::Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..threads {
            let next = next.clone();
            let connect = connect.clone();
            workers.push(tokio::spawn(async move {
                let admin = connect("postgres".into()).await?;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= TESTS {
                        break;
                    }
                    let name = format!("test_{n}");
                    admin
                        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE migrated"))
                        .await?;
                    let db = connect(name.clone()).await?;
                    let users = db.query(BODY[0], &[]).await?;
                    assert_eq!(users.len(), 1);
                    let id: i64 = db.query_one(BODY[1], &[]).await?.get(0);
                    assert_eq!(id, 2);
                    db.query_one(BODY[2], &[]).await?;
                    db.batch_execute(BODY[3]).await?;
                    drop(db);
                    admin
                        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                        .await?;
                }
                Ok::<_, tokio_postgres::Error>(())
            }));
        }
        for worker in workers {
            worker.await.expect("a native worker panicked")?;
        }
        let wall = started.elapsed();
        admin.batch_execute("DROP DATABASE migrated").await?;
        Ok::<_, tokio_postgres::Error>(wall)
    })?;
    Ok(wall)
}
