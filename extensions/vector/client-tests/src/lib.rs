//! Helpers for the tests in `tests/`, which check the `pgvector` crate's
//! SQLx and tokio-postgres types and the HNSW index of our `vector`
//! extension, in our runtime and in a native server.
//!
//! - `embedded_*` run our runtime with the embedded artifacts (the
//!   packaged `vector` extension), in every `cargo test`;
//! - `native_*` are `#[ignore]`d: they need a server with the extension
//!   installed (PGXS), named by `VECTOR_TEST_DATABASE_URL`:
//!   `cargo test -p vector-client-tests -- --ignored native_`.

use std::time::{Duration, Instant};

use pgvector::Vector;
use sqlx::PgPool;

/// The recall workload: `ROWS` random vectors of `DIMENSIONS` in table
/// `recall_items`, `QUERIES` random query vectors.
pub const ROWS: usize = 10_000;
pub const DIMENSIONS: usize = 128;
pub const QUERIES: usize = 100;
/// The 10 nearest rows by exact search: the distance function, which no
/// index serves. (Toggling enable_indexscan instead would not work: sqlx
/// prepares statements, and a cached generic plan ignores later SETs.)
pub const EXACT: &str = "SELECT id FROM recall_items ORDER BY l2_distance(embedding, $1) LIMIT 10";
/// The 10 nearest rows by the operator the HNSW index serves.
pub const APPROXIMATE: &str = "SELECT id FROM recall_items ORDER BY embedding <-> $1 LIMIT 10";
/// The index, with pgvector's default m and ef_construction spelled out.
pub const CREATE_INDEX: &str = "CREATE INDEX recall_items_hnsw ON recall_items \
    USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)";

/// Creates `recall_items` (again) and fills it with the workload's rows,
/// 1,000 per statement through the binary format.
pub async fn fill_recall_items(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("DROP TABLE IF EXISTS recall_items")
        .execute(pool)
        .await?;
    sqlx::query(&format!(
        "CREATE TABLE recall_items (id int PRIMARY KEY, embedding vector({DIMENSIONS}))"
    ))
    .execute(pool)
    .await?;
    let data = random_vectors(42, ROWS, DIMENSIONS);
    for (chunk_index, chunk) in data.chunks(1000).enumerate() {
        let ids: Vec<i32> = (0..chunk.len())
            .map(|i| (chunk_index * 1000 + i) as i32)
            .collect();
        let vectors: Vec<Vector> = chunk.iter().cloned().map(Vector::from).collect();
        sqlx::query("INSERT INTO recall_items SELECT * FROM UNNEST($1::int[], $2::vector[])")
            .bind(&ids)
            .bind(&vectors)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The workload's query vectors.
pub fn recall_queries() -> Vec<Vector> {
    random_vectors(4242, QUERIES, DIMENSIONS)
        .into_iter()
        .map(Vector::from)
        .collect()
}

/// Ids of the rows `sql` (with `$1` the query vector) returns for each
/// query, with the time each query took.
pub async fn nearest_ids(
    pool: &PgPool,
    sql: &str,
    queries: &[Vector],
) -> sqlx::Result<(Vec<Vec<i32>>, Vec<Duration>)> {
    let mut ids = Vec::with_capacity(queries.len());
    let mut times = Vec::with_capacity(queries.len());
    for query in queries {
        let start = Instant::now();
        let found: Vec<i32> = sqlx::query_scalar(sql).bind(query).fetch_all(pool).await?;
        times.push(start.elapsed());
        ids.push(found);
    }
    Ok((ids, times))
}

/// Deterministic pseudo-random vectors with components in `[0, 1)`
/// (SplitMix64), so every run indexes and queries the same data.
pub fn random_vectors(seed: u64, count: usize, dimensions: usize) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // the top 24 bits are exactly representable in an f32
        (z >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..count)
        .map(|_| (0..dimensions).map(|_| next()).collect())
        .collect()
}

/// The fraction of `exact` neighbors that `approximate` found, over all
/// queries (recall@k when each list holds k ids).
pub fn recall(exact: &[Vec<i32>], approximate: &[Vec<i32>]) -> f64 {
    let wanted: usize = exact.iter().map(Vec::len).sum();
    let found: usize = exact
        .iter()
        .zip(approximate)
        .map(|(e, a)| a.iter().filter(|id| e.contains(id)).count())
        .sum();
    if wanted == 0 {
        return 1.0;
    }
    found as f64 / wanted as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_vectors_are_deterministic_and_in_range() {
        let a = random_vectors(7, 3, 5);
        assert_eq!(a, random_vectors(7, 3, 5));
        assert_ne!(a, random_vectors(8, 3, 5));
        assert!(a.iter().flatten().all(|x| (0.0..1.0).contains(x)));
    }

    #[test]
    fn recall_counts_found_neighbors() {
        let exact = vec![vec![1, 2], vec![3, 4]];
        assert_eq!(recall(&exact, &[vec![2, 1], vec![3, 9]]), 0.75);
        assert_eq!(recall(&[], &[]), 1.0);
    }
}
