//! The `pgvector` crate against our `vector` extension: values round-trip
//! through SQLx and tokio-postgres in the binary format, and an HNSW index on
//! 10,000 random 128-d vectors reaches recall@10 >= 0.95 and is chosen by the
//! planner.  Needs `VECTOR_TEST_DATABASE_URL` (see src/lib.rs).

use std::time::{Duration, Instant};

use pgvector::Vector;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use vector_client_tests::{random_vectors, recall};

fn database_url() -> String {
    std::env::var("VECTOR_TEST_DATABASE_URL")
        .expect("VECTOR_TEST_DATABASE_URL must name a server with the vector extension installed")
}

/// One connection, so session settings (`SET`) hold for every query.
async fn connect() -> PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url())
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

#[tokio::test]
#[ignore = "needs VECTOR_TEST_DATABASE_URL: a server with the vector extension"]
async fn vector_round_trips_through_sqlx() {
    let pool = connect().await;
    sqlx::query("DROP TABLE IF EXISTS sqlx_items")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE sqlx_items (id int PRIMARY KEY, embedding vector(3))")
        .execute(&pool)
        .await
        .unwrap();

    let value = Vector::from(vec![1.0, 2.5, -3.0]);
    sqlx::query("INSERT INTO sqlx_items VALUES (1, $1), (2, NULL)")
        .bind(&value)
        .execute(&pool)
        .await
        .unwrap();

    let row = sqlx::query("SELECT embedding, embedding::text FROM sqlx_items WHERE id = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let back: Vector = row.try_get(0).unwrap();
    let text: String = row.try_get(1).unwrap();
    assert_eq!(back, value);
    assert_eq!(text, "[1,2.5,-3]");

    let null: Option<Vector> = sqlx::query_scalar("SELECT embedding FROM sqlx_items WHERE id = 2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(null, None);

    // text in, binary out
    let parsed: Vector = sqlx::query_scalar("SELECT '[0.1, -0, 1e-7]'::vector")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(parsed.to_vec(), vec![0.1f32, -0.0, 1e-7]);

    let nearest: i32 =
        sqlx::query_scalar("SELECT id FROM sqlx_items ORDER BY embedding <-> $1 LIMIT 1")
            .bind(Vector::from(vec![1.0, 2.0, -3.0]))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(nearest, 1);

    let (l2, ip, cosine, l1): (f64, f64, f64, f64) =
        sqlx::query_as("SELECT $1 <-> $2, $1 <#> $2, $1 <=> $2, $1 <+> $2")
            .bind(Vector::from(vec![0.0, 3.0]))
            .bind(Vector::from(vec![4.0, 0.0]))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((l2, ip, cosine, l1), (5.0, 0.0, 1.0, 7.0));

    // the largest vector the type allows survives the binary format
    let big = Vector::from((0..16000).map(|i| i as f32 / 7.0).collect::<Vec<_>>());
    let big_back: Vector = sqlx::query_scalar("SELECT $1::vector")
        .bind(&big)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(big_back, big);

    let err = sqlx::query("INSERT INTO sqlx_items VALUES (3, $1)")
        .bind(Vector::from(vec![1.0, 2.0]))
        .execute(&pool)
        .await
        .unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.message(), "expected 3 dimensions, not 2");
    assert_eq!(db.code().as_deref(), Some("22000"));

    sqlx::query("DROP TABLE sqlx_items")
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs VECTOR_TEST_DATABASE_URL: a server with the vector extension"]
async fn vector_round_trips_through_tokio_postgres() {
    connect().await;
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
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

/// Ids of the 10 nearest rows to each query by `sql` (with `$1` the query
/// vector), with the time each query took.
async fn nearest_ids(
    pool: &PgPool,
    sql: &str,
    queries: &[Vector],
) -> (Vec<Vec<i32>>, Vec<Duration>) {
    let mut ids = Vec::with_capacity(queries.len());
    let mut times = Vec::with_capacity(queries.len());
    for query in queries {
        let start = Instant::now();
        let found: Vec<i32> = sqlx::query_scalar(sql)
            .bind(query)
            .fetch_all(pool)
            .await
            .unwrap();
        times.push(start.elapsed());
        ids.push(found);
    }
    (ids, times)
}

#[tokio::test]
#[ignore = "needs VECTOR_TEST_DATABASE_URL: a server with the vector extension"]
async fn hnsw_recall_on_10k_random_128d_vectors() {
    const ROWS: usize = 10_000;
    const DIMENSIONS: usize = 128;
    const QUERIES: usize = 100;
    // Uniform random 128-d data is the hardest case for a graph index: the
    // nearest neighbors are barely nearer than the rest, so recall needs a
    // wide search.  m and ef_construction stay at their defaults; recall is
    // printed for each step and asserted for the last.
    const EF_SEARCH_STEPS: [i32; 4] = [40, 100, 200, 400];
    const EXACT: &str = "SELECT id FROM recall_items ORDER BY l2_distance(embedding, $1) LIMIT 10";
    const APPROXIMATE: &str = "SELECT id FROM recall_items ORDER BY embedding <-> $1 LIMIT 10";

    let pool = connect().await;
    sqlx::query("DROP TABLE IF EXISTS recall_items")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE recall_items (id int PRIMARY KEY, embedding vector(128))")
        .execute(&pool)
        .await
        .unwrap();

    let data = random_vectors(42, ROWS, DIMENSIONS);
    for (chunk_index, chunk) in data.chunks(1000).enumerate() {
        let ids: Vec<i32> = (0..chunk.len())
            .map(|i| (chunk_index * 1000 + i) as i32)
            .collect();
        let vectors: Vec<Vector> = chunk.iter().cloned().map(Vector::from).collect();
        sqlx::query("INSERT INTO recall_items SELECT * FROM UNNEST($1::int[], $2::vector[])")
            .bind(&ids)
            .bind(&vectors)
            .execute(&pool)
            .await
            .unwrap();
    }

    let start = Instant::now();
    sqlx::query(
        "CREATE INDEX recall_items_hnsw ON recall_items USING hnsw (embedding vector_l2_ops)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let build = start.elapsed();
    sqlx::query("ANALYZE recall_items")
        .execute(&pool)
        .await
        .unwrap();

    let queries: Vec<Vector> = random_vectors(4242, QUERIES, DIMENSIONS)
        .into_iter()
        .map(Vector::from)
        .collect();

    // The exact query calls the distance function, which no index can serve.
    // (Toggling enable_indexscan instead would not work: sqlx prepares
    // statements, and a cached generic plan ignores later SETs.)
    let (exact, exact_times) = nearest_ids(&pool, EXACT, &queries).await;

    let mean = |t: &[Duration]| t.iter().sum::<Duration>() / t.len() as u32;
    println!(
        "hnsw 10k x 128-d (m 16, ef_construction 64): build {build:.2?}; \
         exact scan {:.2?} per query",
        mean(&exact_times)
    );
    let mut final_recall = 0.0;
    for ef_search in EF_SEARCH_STEPS {
        sqlx::query(&format!("SET hnsw.ef_search = {ef_search}"))
            .execute(&pool)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {APPROXIMATE}"))
            .bind(&queries[0])
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(
            plan.iter()
                .any(|line| line.contains("Index Scan using recall_items_hnsw")),
            "at ef_search {ef_search} the planner did not choose the hnsw index:\n{}",
            plan.join("\n")
        );

        let (approximate, times) = nearest_ids(&pool, APPROXIMATE, &queries).await;
        final_recall = recall(&exact, &approximate);
        println!(
            "  ef_search {ef_search:>3}: recall@10 {final_recall:.3}, {:.2?} per query",
            mean(&times)
        );
    }
    assert!(
        final_recall >= 0.95,
        "recall@10 {final_recall:.3} is below 0.95"
    );

    sqlx::query("DROP TABLE recall_items")
        .execute(&pool)
        .await
        .unwrap();
}
