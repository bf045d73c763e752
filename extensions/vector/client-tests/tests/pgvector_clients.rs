//! The `pgvector` crate against our `vector` extension: values round-trip
//! through SQLx and tokio-postgres in the binary format, errors raised in
//! the module's code are ordinary SQL errors, and an HNSW index on 10,000
//! random 128-d vectors reaches recall@10 >= 0.95 and is chosen by the
//! planner.
//!
//! Each check runs against two servers:
//! - `embedded_*`: a `PgliteServer` (our runtime) with the extension
//!   installed as a WebAssembly side module, from the artifacts
//!   `PGLITE_OXIDE_ARTIFACTS` names (a build output, until the extension is
//!   packaged with the embedded artifacts);
//! - `native_*`: the server `VECTOR_TEST_DATABASE_URL` names, with the
//!   extension built by PGXS (see src/lib.rs).

use std::path::Path;
use std::time::{Duration, Instant};

use pglite_oxide::{Pglite, PgliteServer};
use pgvector::Vector;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use vector_client_tests::{
    fill_recall_items, nearest_ids, recall, recall_queries, APPROXIMATE, CREATE_INDEX, EXACT,
};

fn native_database_url() -> String {
    std::env::var("VECTOR_TEST_DATABASE_URL")
        .expect("VECTOR_TEST_DATABASE_URL must name a server with the vector extension installed")
}

/// A server of our runtime on `path` (a new database there the first
/// time), with the vector extension installed and created.
fn embedded_server(path: &Path) -> PgliteServer {
    Pglite::builder()
        .path(path)
        .extension("vector")
        .server()
        .tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .expect("a server with the vector extension (is PGLITE_OXIDE_ARTIFACTS a build output?)")
}

/// One connection, so session settings (`SET`) hold for every query.
async fn connect(url: &str) -> PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect");
    // tests run concurrently; CREATE EXTENSION IF NOT EXISTS is not atomic
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(7007)")
        .execute(&mut *tx)
        .await
        .expect("lock");
    sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(&mut *tx)
        .await
        .expect("create extension");
    tx.commit().await.expect("commit");
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_vector_round_trips_through_sqlx() {
    let dir = tempfile::tempdir().unwrap();
    let server = embedded_server(&dir.path().join("db"));
    round_trips_through_sqlx(&connect(server.database_url()).await).await;
    module_errors_are_sql_errors(&connect(server.database_url()).await).await;
    server.shutdown().unwrap();
}

/// New temporary databases after the first start from an image of that
/// start (decision 0009); the extension is installed into each before its
/// backend starts, and is no part of the image.
#[test]
fn embedded_temporary_databases_with_the_extension() {
    for _ in 0..3 {
        let mut db = Pglite::builder()
            .temporary()
            .extension("vector")
            .open()
            .unwrap();
        let distance: f64 = db
            .query_one("SELECT '[1,2,3]'::vector <-> '[1,2,5]'", &[])
            .unwrap()
            .get(0);
        assert_eq!(distance, 2.0);
    }
}

#[tokio::test]
#[ignore = "needs VECTOR_TEST_DATABASE_URL: a server with the vector extension"]
async fn native_vector_round_trips_through_sqlx() {
    let pool = connect(&native_database_url()).await;
    round_trips_through_sqlx(&pool).await;
    module_errors_are_sql_errors(&pool).await;
}

async fn round_trips_through_sqlx(pool: &PgPool) {
    sqlx::query("DROP TABLE IF EXISTS sqlx_items")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE sqlx_items (id int PRIMARY KEY, embedding vector(3))")
        .execute(pool)
        .await
        .unwrap();

    let value = Vector::from(vec![1.0, 2.5, -3.0]);
    sqlx::query("INSERT INTO sqlx_items VALUES (1, $1), (2, NULL)")
        .bind(&value)
        .execute(pool)
        .await
        .unwrap();

    let row = sqlx::query("SELECT embedding, embedding::text FROM sqlx_items WHERE id = 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let back: Vector = row.try_get(0).unwrap();
    let text: String = row.try_get(1).unwrap();
    assert_eq!(back, value);
    assert_eq!(text, "[1,2.5,-3]");

    let null: Option<Vector> = sqlx::query_scalar("SELECT embedding FROM sqlx_items WHERE id = 2")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(null, None);

    // text in, binary out
    let parsed: Vector = sqlx::query_scalar("SELECT '[0.1, -0, 1e-7]'::vector")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(parsed.to_vec(), vec![0.1f32, -0.0, 1e-7]);

    let nearest: i32 =
        sqlx::query_scalar("SELECT id FROM sqlx_items ORDER BY embedding <-> $1 LIMIT 1")
            .bind(Vector::from(vec![1.0, 2.0, -3.0]))
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(nearest, 1);

    let (l2, ip, cosine, l1): (f64, f64, f64, f64) =
        sqlx::query_as("SELECT $1 <-> $2, $1 <#> $2, $1 <=> $2, $1 <+> $2")
            .bind(Vector::from(vec![0.0, 3.0]))
            .bind(Vector::from(vec![4.0, 0.0]))
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((l2, ip, cosine, l1), (5.0, 0.0, 1.0, 7.0));

    // the largest vector the type allows survives the binary format
    let big = Vector::from((0..16000).map(|i| i as f32 / 7.0).collect::<Vec<_>>());
    let big_back: Vector = sqlx::query_scalar("SELECT $1::vector")
        .bind(&big)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(big_back, big);

    let err = sqlx::query("INSERT INTO sqlx_items VALUES (3, $1)")
        .bind(Vector::from(vec![1.0, 2.0]))
        .execute(pool)
        .await
        .unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.message(), "expected 3 dimensions, not 2");
    assert_eq!(db.code().as_deref(), Some("22000"));

    sqlx::query("DROP TABLE sqlx_items")
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_vector_round_trips_through_tokio_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let server = embedded_server(&dir.path().join("db"));
    round_trips_through_tokio_postgres(server.database_url()).await;
    server.shutdown().unwrap();
}

#[tokio::test]
#[ignore = "needs VECTOR_TEST_DATABASE_URL: a server with the vector extension"]
async fn native_vector_round_trips_through_tokio_postgres() {
    round_trips_through_tokio_postgres(&native_database_url()).await;
}

async fn round_trips_through_tokio_postgres(url: &str) {
    connect(url).await;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);

    let value = Vector::from(vec![0.5, -1.0, 3.25, 1e10]);
    let row = client
        .query_one(
            "SELECT $1::vector, $1::vector::text, vector_dims($1)",
            &[&value],
        )
        .await
        .unwrap();
    let back: Vector = row.get(0);
    let text: String = row.get(1);
    let dims: i32 = row.get(2);
    assert_eq!(back, value);
    assert_eq!(text, "[0.5,-1,3.25,1e+10]");
    assert_eq!(dims, 4);

    let arrays = client
        .query_one(
            "SELECT ARRAY[1,2]::vector, ARRAY[1.5,2]::real[]::vector, \
             ARRAY[0.25]::float8[]::vector, '[3,4]'::vector::real[]",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(arrays.get::<_, Vector>(0).to_vec(), vec![1.0, 2.0]);
    assert_eq!(arrays.get::<_, Vector>(1).to_vec(), vec![1.5, 2.0]);
    assert_eq!(arrays.get::<_, Vector>(2).to_vec(), vec![0.25]);
    assert_eq!(arrays.get::<_, Vec<f32>>(3), vec![3.0, 4.0]);

    let null: Option<Vector> = client
        .query_one("SELECT NULL::vector", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(null, None);
}

/// Errors raised while the module's code is on the stack (its input
/// function, its operators, its index build) are ordinary SQL errors: the
/// session goes on, also inside a transaction rolled back to a savepoint.
async fn module_errors_are_sql_errors(pool: &PgPool) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("CREATE TEMP TABLE error_items (v vector)")
        .execute(&mut *tx)
        .await
        .unwrap();
    for (sql, code) in [
        ("SELECT '[1,nan]'::vector", "22000"),
        ("SELECT '[1,2'::vector", "22P02"),
        ("SELECT '[1e99]'::vector", "22003"),
        ("SELECT '[1,2]'::vector <-> '[1,2,3]'::vector", "22000"),
        ("SELECT '[]'::vector", "22000"),
        // an index needs declared dimensions: the error comes from the
        // access method's build
        (
            "CREATE INDEX ON error_items USING hnsw (v vector_l2_ops)",
            "22023",
        ),
    ] {
        sqlx::query("SAVEPOINT s").execute(&mut *tx).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        let db = err.as_database_error().expect("a database error");
        assert_eq!(db.code().as_deref(), Some(code), "{sql}: {}", db.message());
        sqlx::query("ROLLBACK TO SAVEPOINT s")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    // aggregates of the module, after the errors, in the same transaction
    let (avg, sum): (Vector, Vector) =
        sqlx::query_as("SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::vector), ('[3,6]')) AS t(v)")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(avg.to_vec(), vec![2.0, 4.0]);
    assert_eq!(sum.to_vec(), vec![4.0, 8.0]);
    tx.rollback().await.unwrap();
}

/// Uniform random 128-d data is the hardest case for a graph index: the
/// nearest neighbors are barely nearer than the rest, so recall needs a
/// wide search. m and ef_construction stay at their defaults; recall is
/// printed for each step and asserted for the last.
const EF_SEARCH_STEPS: [i32; 4] = [40, 100, 200, 400];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_hnsw_recall_on_10k_random_128d_vectors_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let server = embedded_server(&path);
    let pool = connect(server.database_url()).await;
    let found = hnsw_recall(&pool).await;
    pool.close().await;
    server.shutdown().unwrap();

    // After a restart the catalog names the library, which loads again on
    // first use; the setting is a placeholder until then, and the module's
    // definition takes its value.
    let server = PgliteServer::builder()
        .path(&path)
        .tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(server.database_url())
        .await
        .unwrap();
    let last = EF_SEARCH_STEPS[EF_SEARCH_STEPS.len() - 1];
    sqlx::query(&format!("SET hnsw.ef_search = {last}"))
        .execute(&pool)
        .await
        .unwrap();
    let queries = recall_queries();
    assert_index_scan(&pool, &queries[0], last).await;
    let (again, _) = nearest_ids(&pool, APPROXIMATE, &queries).await.unwrap();
    assert_eq!(again, found, "the same neighbors after a restart");
    let setting: String = sqlx::query_scalar("SHOW hnsw.ef_search")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(setting, last.to_string());
    pool.close().await;
    server.shutdown().unwrap();
}

#[tokio::test]
#[ignore = "needs VECTOR_TEST_DATABASE_URL: a server with the vector extension"]
async fn native_hnsw_recall_on_10k_random_128d_vectors() {
    let pool = connect(&native_database_url()).await;
    hnsw_recall(&pool).await;
    sqlx::query("DROP TABLE recall_items")
        .execute(&pool)
        .await
        .unwrap();
}

async fn assert_index_scan(pool: &PgPool, query: &Vector, ef_search: i32) {
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {APPROXIMATE}"))
        .bind(query)
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("Index Scan using recall_items_hnsw")),
        "at ef_search {ef_search} the planner did not choose the hnsw index:\n{}",
        plan.join("\n")
    );
}

/// Fills `recall_items` with 10,000 random 128-d vectors, indexes them,
/// and checks recall@10 against exact search at each `EF_SEARCH_STEPS`
/// (the last must reach 0.95). Leaves the table, and returns the
/// neighbors found at the last step.
async fn hnsw_recall(pool: &PgPool) -> Vec<Vec<i32>> {
    fill_recall_items(pool).await.unwrap();
    let start = Instant::now();
    sqlx::query(CREATE_INDEX).execute(pool).await.unwrap();
    let build = start.elapsed();
    sqlx::query("ANALYZE recall_items")
        .execute(pool)
        .await
        .unwrap();

    let queries = recall_queries();
    let (exact, exact_times) = nearest_ids(pool, EXACT, &queries).await.unwrap();

    let mean = |t: &[Duration]| t.iter().sum::<Duration>() / t.len() as u32;
    println!(
        "hnsw 10k x 128-d (m 16, ef_construction 64): build {build:.2?}; \
         exact scan {:.2?} per query",
        mean(&exact_times)
    );
    let mut found = Vec::new();
    let mut final_recall = 0.0;
    for ef_search in EF_SEARCH_STEPS {
        sqlx::query(&format!("SET hnsw.ef_search = {ef_search}"))
            .execute(pool)
            .await
            .unwrap();
        assert_index_scan(pool, &queries[0], ef_search).await;
        let (approximate, times) = nearest_ids(pool, APPROXIMATE, &queries).await.unwrap();
        final_recall = recall(&exact, &approximate);
        println!(
            "  ef_search {ef_search:>3}: recall@10 {final_recall:.3}, {:.2?} per query",
            mean(&times)
        );
        found = approximate;
    }
    assert!(
        final_recall >= 0.95,
        "recall@10 {final_recall:.3} is below 0.95"
    );
    found
}
