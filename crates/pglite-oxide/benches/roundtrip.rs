//! Round trip of `SELECT $1::int4 + 1`: through the direct API, through an
//! in-process tokio-postgres client, and (when `--native HOST PORT` is
//! given) through tokio-postgres to a native PostgreSQL over a Unix socket.
//! Run by `cargo xtask bench api`, which starts the native server and pins
//! everything to one CPU.

use std::time::{Duration, Instant};

use pglite_oxide::Pglite;

const WARMUP: usize = 500;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 2_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let native = args
        .iter()
        .position(|a| a == "--native")
        .map(|at| (args[at + 1].clone(), args[at + 2].clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut db = Pglite::temporary().expect("opening a temporary database");
    let client = runtime.block_on(db.connect()).expect("in-process client");
    let native_client = native.map(|(host, port)| {
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::Config::new()
                .host(&host)
                .port(port.parse().expect("port"))
                .user("postgres")
                .dbname("postgres")
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connecting to native PostgreSQL");
            tokio::spawn(connection);
            client
        })
    });

    let mut direct = Vec::new();
    let mut in_process = Vec::new();
    let mut native_times = Vec::new();
    // Interleave the systems, round by round.
    for round in 0..=ROUNDS {
        let count = if round == 0 { WARMUP } else { PER_ROUND };
        let started = Instant::now();
        for i in 0..count as i32 {
            let n: i32 = db
                .query_one("SELECT $1::int4 + 1", &[&i])
                .expect("direct")
                .get(0);
            assert_eq!(n, i + 1);
        }
        let d = started.elapsed() / count as u32;
        let statement = runtime
            .block_on(client.prepare("SELECT $1::int4 + 1"))
            .expect("prepare");
        let started = Instant::now();
        runtime.block_on(async {
            for i in 0..count as i32 {
                let n: i32 = client
                    .query_one(&statement, &[&i])
                    .await
                    .expect("in-process")
                    .get(0);
                assert_eq!(n, i + 1);
            }
        });
        let p = started.elapsed() / count as u32;
        let mut n_time = None;
        if let Some(native) = &native_client {
            let statement = runtime
                .block_on(native.prepare("SELECT $1::int4 + 1"))
                .expect("prepare");
            let started = Instant::now();
            runtime.block_on(async {
                for i in 0..count as i32 {
                    let n: i32 = native
                        .query_one(&statement, &[&i])
                        .await
                        .expect("native")
                        .get(0);
                    assert_eq!(n, i + 1);
                }
            });
            n_time = Some(started.elapsed() / count as u32);
        }
        if round > 0 {
            direct.push(d);
            in_process.push(p);
            native_times.extend(n_time);
        }
    }
    println!("round trip of SELECT $1::int4 + 1, median of {ROUNDS} rounds x {PER_ROUND}:");
    let native_median = (!native_times.is_empty()).then(|| median(&mut native_times));
    for (name, times) in [
        ("pglite-oxide direct API", &mut direct),
        ("pglite-oxide in-process tokio-postgres", &mut in_process),
        (
            "native PostgreSQL 15, tokio-postgres, Unix socket",
            &mut native_times,
        ),
    ] {
        if times.is_empty() {
            println!("  {name:<52} (not measured)");
            continue;
        }
        let m = median(times);
        let ratio = native_median
            .map(|n| format!("  {:.2}x native", m.as_secs_f64() / n.as_secs_f64()))
            .unwrap_or_default();
        println!("  {name:<52} {:>8.1} µs{ratio}", m.as_secs_f64() * 1e6);
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
