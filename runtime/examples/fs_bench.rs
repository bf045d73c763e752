//! One measurement of `cargo xtask bench fs`, which runs this repeatedly:
//! `fs_bench <case> <fs>` prints `ms=<milliseconds>` (and more `key=value`
//! fields) for one run of the case on one filesystem.
//!
//! Cases:
//! - `bootstrap`: initdb's bootstrap step (`postgres --boot`) on a new
//!   directory, instantiation included;
//! - `root`: a new database root from the template: the stock way unpacks
//!   the archive, ours makes a copy-on-write root over the unpacked template
//!   (`copy`: ours, a full persistent copy);
//! - `updates`: 25,000 `UPDATE t2 SET b = ? WHERE a = ?` on an indexed
//!   table of 25,000 rows, sent as one query in one transaction (the
//!   SQLite speedtest's case 9, as PGlite's benchmarks run it).
//!
//! Filesystems: `stock` (wasmer-wasix's host filesystem; PostgreSQL runs
//! with fsync=off over it, since its syncs do nothing and a directory sync
//! fails), `ours` (fsync on: every sync reaches the disk), `ours-relaxed`
//! (ours, syncs turned off).
//!
//! With `PGLITE_PERF_CTL` set to a perf control fifo, the timed part of
//! `updates` is bracketed with `enable`/`disable` for `perf record -D -1`.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pglite_runtime::bench::Bootstrap;
use pglite_runtime::{Artifacts, BackendSession, Error, SessionOptions, TemplateCache};
use postgres_protocol::message::{backend, frontend};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const ROWS: u32 = 25_000;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [case, fs] = args.as_slice() else {
        return Err("usage: fs_bench bootstrap|root|copy|updates stock|ours|ours-relaxed".into());
    };
    pglite_runtime::bench::use_stock_filesystem(fs == "stock");
    let artifacts = Artifacts::from_build_output()?;
    pglite_runtime::engine::module(&artifacts.wasm())?;
    let temp = tempfile::tempdir()?;
    match case.as_str() {
        "bootstrap" => {
            let boot = Bootstrap::prepare(&artifacts, &temp.path().join("boot"))?;
            let perf = perf_control();
            perf_command(&perf, "enable");
            let cpu = cpu_time();
            let started = Instant::now();
            boot.run()?;
            let took = started.elapsed();
            let cpu = cpu_time() - cpu;
            perf_command(&perf, "disable");
            drop(boot);
            println!("ms={:.3} cpu_ms={:.3}", ms(took), ms(cpu));
        }
        "root" if fs == "stock" => {
            let archive = template(&artifacts)?;
            let started = Instant::now();
            unpack(&archive, &temp.path().join("data"))?;
            println!("ms={:.3}", ms(started.elapsed()));
        }
        "root" => {
            let started = Instant::now();
            let cache = TemplateCache::open(&artifacts)?;
            let cache_ms = ms(started.elapsed());
            let started = Instant::now();
            let root = cache.temporary_root()?;
            let took = started.elapsed();
            drop(root);
            println!("ms={:.3} cache_open_ms={cache_ms:.3}", ms(took));
        }
        "copy" => {
            let cache = TemplateCache::open(&artifacts)?;
            let started = Instant::now();
            cache.create_data_dir(&temp.path().join("data"))?;
            println!("ms={:.3}", ms(started.elapsed()));
        }
        "updates" => updates(&artifacts, fs, temp.path())?,
        other => return Err(format!("unknown case {other}").into()),
    }
    Ok(())
}

fn updates(artifacts: &Artifacts, fs: &str, temp: &Path) -> Result<()> {
    let cache = TemplateCache::open(artifacts)?;
    let mut options = SessionOptions::default();
    let _root;
    let data = if fs == "stock" {
        let data = temp.join("data");
        cache.create_data_dir(&data)?;
        options.settings.push(("fsync".into(), "off".into()));
        data
    } else {
        options.relaxed_durability = fs == "ours-relaxed";
        let root = cache.temporary_root()?;
        let data = root.path().to_path_buf();
        _root = root;
        data
    };
    let (mut session, _) = BackendSession::start(artifacts, &data, &options)?;
    run(
        &mut session,
        &format!(
            "CREATE TABLE t2(a INTEGER, b INTEGER, c VARCHAR(100));
             INSERT INTO t2 SELECT g, (g * 7919) % 100000, 'row ' || g
                 FROM generate_series(1, {ROWS}) g;
             CREATE INDEX i2a ON t2(a);
             CREATE INDEX i2b ON t2(b);"
        ),
    )?;
    let mut sql = String::from("BEGIN;\n");
    let mut random: u64 = 42;
    for a in 1..=ROWS {
        random = random
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        sql.push_str(&format!(
            "UPDATE t2 SET b={} WHERE a={a};\n",
            (random >> 33) % 100_000
        ));
    }
    sql.push_str("COMMIT;\n");
    let syncs_before = session.sync_counts();
    let perf = perf_control();
    perf_command(&perf, "enable");
    let cpu = cpu_time();
    let started = Instant::now();
    run(&mut session, &sql)?;
    let took = started.elapsed();
    let cpu = cpu_time() - cpu;
    perf_command(&perf, "disable");
    let syncs = session.sync_counts().total() - syncs_before.total();
    session.shutdown()?;
    println!("ms={:.3} cpu_ms={:.3} syncs={syncs}", ms(took), ms(cpu));
    Ok(())
}

/// Sends `sql` as one simple query; fails on an ErrorResponse.
fn run(session: &mut BackendSession, sql: &str) -> Result<()> {
    let mut message = BytesMut::new();
    frontend::query(sql, &mut message)?;
    let reply = session.send(&message)?;
    let mut buf = BytesMut::from(&reply[..]);
    while let Some(message) = backend::Message::parse(&mut buf)? {
        if let backend::Message::ErrorResponse(_) = message {
            return Err(format!("the backend refused: {}", session.log()).into());
        }
    }
    Ok(())
}

fn template(artifacts: &Artifacts) -> Result<std::path::PathBuf> {
    artifacts.template().ok_or_else(|| {
        Box::new(Error::Artifacts {
            dir: artifacts.dir().to_path_buf(),
            problem: "no template.tar.zst; run `cargo xtask template`".into(),
        }) as _
    })
}

/// How a new root was made before the layer: decompress and untar.
fn unpack(archive: &Path, dest: &Path) -> Result<()> {
    let decoder = zstd::Decoder::new(std::fs::File::open(archive)?)?;
    tar::Archive::new(decoder).unpack(dest)?;
    Ok(())
}

fn perf_control() -> Option<std::fs::File> {
    let fifo = std::env::var_os("PGLITE_PERF_CTL")?;
    std::fs::OpenOptions::new().write(true).open(fifo).ok()
}

fn perf_command(fifo: &Option<std::fs::File>, command: &str) {
    if let Some(mut fifo) = fifo.as_ref() {
        let _ = writeln!(fifo, "{command}");
        // perf reads the fifo asynchronously; give it a moment.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CPU time of this process so far (user and system, every thread): on a
/// busy machine a steadier figure than wall time.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
