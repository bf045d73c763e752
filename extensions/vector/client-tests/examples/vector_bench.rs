//! `cargo xtask bench vector` runs this: the vector extension in our
//! runtime (the artifacts `PGLITE_OXIDE_ARTIFACTS` names, with their AOT
//! code) and in native PostgreSQL 15 (the extension built with PGXS and
//! installed by xtask before), measured in the same run:
//! - a new temporary database's first query, with the extension enabled
//!   (installed, created, a vector query) and without (`SELECT 1`);
//! - the HNSW build of 10,000 random 128-d vectors (m 16, ef_construction
//!   64), and k = 10 queries at two `hnsw.ef_search` values: median and
//!   p95 latency, recall@10 against exact search.
//!
//! Prints the figures; `--json <file>` also writes them there.

use std::time::{Duration, Instant};

use native_postgres::NativePostgres;
use pglite_oxide::Pglite;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use vector_client_tests::{
    fill_recall_items, nearest_ids, recall, recall_queries, APPROXIMATE, CREATE_INDEX, EXACT,
};

/// Runs of each first-query measurement (the medians are over these).
const RUNS: usize = 10;
const EF_SEARCH: [i32; 2] = [40, 100];
/// A query of the extension's: its type's input, its operator.
const VECTOR_QUERY: &str = "SELECT '[1,2,3]'::vector <-> '[3,2,1]'";

type Error = Box<dyn std::error::Error>;

/// One system's figures, in milliseconds.
#[derive(Default)]
struct Figures {
    first_query_without: f64,
    first_query_with: f64,
    build: f64,
    searches: Vec<Search>,
}

struct Search {
    ef_search: i32,
    median: f64,
    p95: f64,
    recall: f64,
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = match args.as_slice() {
        [] => None,
        [flag, path] if flag == "--json" => Some(path.clone()),
        _ => return Err("usage: vector_bench [--json <file>]".into()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // One database first, unmeasured: the module and the extension's
    // native code load once per process.
    drop(open_with_vector()?);
    let mut ours = Figures::default();
    (ours.first_query_without, ours.first_query_with) = medians_of_first_queries(
        || {
            let mut db = Pglite::temporary()?;
            db.batch_execute("SELECT 1")?;
            Ok(())
        },
        || {
            let mut db = open_with_vector()?;
            db.batch_execute(VECTOR_QUERY)?;
            Ok(())
        },
    )?;
    let dir = tempfile::tempdir()?;
    let server = Pglite::builder()
        .path(dir.path().join("db"))
        .extension("vector")
        .server()
        .tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()?;
    let url = server.database_url().to_string();
    runtime.block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        hnsw(&pool, &mut ours).await
    })?;
    server.shutdown()?;

    let native = if NativePostgres::available() {
        let mut native = Figures::default();
        (native.first_query_without, native.first_query_with) = medians_of_first_queries(
            || native_first_query(&runtime, None),
            || native_first_query(&runtime, Some(VECTOR_QUERY)),
        )?;
        let server = NativePostgres::start(&[], None)?;
        runtime.block_on(async {
            let pool = native_pool(&server).await?;
            sqlx::query("CREATE EXTENSION vector")
                .execute(&pool)
                .await?;
            hnsw(&pool, &mut native).await
        })?;
        Some(native)
    } else {
        println!(
            "native PostgreSQL 15 is not installed (apt-get install postgresql-15): not compared"
        );
        None
    };

    print_figures(&ours, native.as_ref());
    if let Some(path) = json {
        std::fs::write(&path, to_json(&ours, native.as_ref()))?;
        println!("saved {path}");
    }
    Ok(())
}

fn open_with_vector() -> pglite_oxide::Result<Pglite> {
    Pglite::builder().temporary().extension("vector").open()
}

/// The medians of `without` and `with`, run alternately `RUNS` times each
/// and timed from start to end.
fn medians_of_first_queries(
    mut without: impl FnMut() -> Result<(), Error>,
    mut with: impl FnMut() -> Result<(), Error>,
) -> Result<(f64, f64), Error> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        a.push(time(&mut without)?);
        b.push(time(&mut with)?);
    }
    Ok((median(&mut a), median(&mut b)))
}

fn time(f: &mut impl FnMut() -> Result<(), Error>) -> Result<f64, Error> {
    let start = Instant::now();
    f()?;
    Ok(millis(start.elapsed()))
}

/// A new native server (initdb, start), connect, and `SELECT 1`, or the
/// extension created and `query`.
fn native_first_query(runtime: &tokio::runtime::Runtime, query: Option<&str>) -> Result<(), Error> {
    let server = NativePostgres::start(&[], None)?;
    runtime.block_on(async {
        let pool = native_pool(&server).await?;
        match query {
            Some(query) => {
                sqlx::query("CREATE EXTENSION vector")
                    .execute(&pool)
                    .await?;
                sqlx::query(query).execute(&pool).await?;
            }
            None => {
                sqlx::query("SELECT 1").execute(&pool).await?;
            }
        }
        pool.close().await;
        Ok::<_, Error>(())
    })
}

/// One connection to a native server (over its Unix socket, as user
/// `postgres`); the server refuses connections while it starts up.
async fn native_pool(server: &NativePostgres) -> Result<PgPool, Error> {
    let options = PgConnectOptions::new()
        .socket(server.socket_dir())
        .port(server.port)
        .username("postgres")
        .database("postgres");
    let started = Instant::now();
    loop {
        match PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => return Ok(pool),
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The HNSW figures on `pool`, whose database has the extension.
async fn hnsw(pool: &PgPool, figures: &mut Figures) -> Result<(), Error> {
    fill_recall_items(pool).await?;
    let start = Instant::now();
    sqlx::query(CREATE_INDEX).execute(pool).await?;
    figures.build = millis(start.elapsed());
    sqlx::query("ANALYZE recall_items").execute(pool).await?;
    let queries = recall_queries();
    let (exact, _) = nearest_ids(pool, EXACT, &queries).await?;
    for ef_search in EF_SEARCH {
        sqlx::query(&format!("SET hnsw.ef_search = {ef_search}"))
            .execute(pool)
            .await?;
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {APPROXIMATE}"))
            .bind(&queries[0])
            .fetch_all(pool)
            .await?;
        if !plan.iter().any(|line| line.contains("recall_items_hnsw")) {
            return Err(format!("the index is not used:\n{}", plan.join("\n")).into());
        }
        let (found, times) = nearest_ids(pool, APPROXIMATE, &queries).await?;
        let mut times: Vec<f64> = times.into_iter().map(millis).collect();
        figures.searches.push(Search {
            ef_search,
            median: median(&mut times),
            p95: percentile(&times, 0.95),
            recall: recall(&exact, &found),
        });
    }
    Ok(())
}

/// A line of the table: its label, and its figure of one system.
type Row = (&'static str, fn(&Figures) -> f64);

fn print_figures(ours: &Figures, native: Option<&Figures>) {
    let column = |f: Option<&Figures>, value: fn(&Figures) -> f64| match f {
        Some(f) => format!("{:>12.2}", value(f)),
        None => format!("{:>12}", "-"),
    };
    println!("vector extension (ms; first queries: medians of {RUNS} new temporary databases)");
    println!("{:<44}{:>12}{:>12}", "", "pglite-oxide", "native 15");
    let rows: [Row; 4] = [
        ("first query, without vector (SELECT 1)", |f| {
            f.first_query_without
        }),
        ("first query, vector enabled", |f| f.first_query_with),
        ("  difference", |f| {
            f.first_query_with - f.first_query_without
        }),
        ("hnsw build, 10,000 x 128-d (m 16, ef_c 64)", |f| f.build),
    ];
    for (label, value) in rows {
        println!(
            "{label:<44}{}{}",
            column(Some(ours), value),
            column(native, value)
        );
    }
    for (i, search) in ours.searches.iter().enumerate() {
        let line = |f: &Figures| {
            let s = &f.searches[i];
            format!("{:>7.2} {:>6.2} {:>5.3}", s.median, s.p95, s.recall)
        };
        println!(
            "k=10, ef_search {:>3}: median p95 recall@10  {}   {}",
            search.ef_search,
            line(ours),
            native.map(line).unwrap_or_else(|| "-".into())
        );
    }
}

fn to_json(ours: &Figures, native: Option<&Figures>) -> String {
    let system = |f: &Figures| {
        let searches: Vec<String> = f
            .searches
            .iter()
            .map(|s| {
                format!(
                    "{{\"ef_search\": {}, \"median_ms\": {:.3}, \"p95_ms\": {:.3}, \"recall_at_10\": {:.4}}}",
                    s.ef_search, s.median, s.p95, s.recall
                )
            })
            .collect();
        format!(
            "{{\"first_query_without_ms\": {:.3}, \"first_query_with_vector_ms\": {:.3}, \
             \"hnsw_build_ms\": {:.3}, \"searches\": [{}]}}",
            f.first_query_without,
            f.first_query_with,
            f.build,
            searches.join(", ")
        )
    };
    format!(
        "{{\"runs\": {RUNS}, \"rows\": 10000, \"dimensions\": 128, \"m\": 16, \
         \"ef_construction\": 64, \"k\": 10,\n \"pglite_oxide\": {},\n \"native\": {}}}\n",
        system(ours),
        native.map(system).unwrap_or_else(|| "null".into())
    )
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    (values[(n - 1) / 2] + values[n / 2]) / 2.0
}

/// The nearest-rank percentile `p` of `sorted`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
