//! Helpers for the tests in `tests/`, which check the `pgvector` crate's
//! SQLx and tokio-postgres types and the HNSW index of our `vector`
//! extension against a running server.
//!
//! The tests are `#[ignore]`d because they need a server with the extension
//! installed; point them at one with `VECTOR_TEST_DATABASE_URL` and run
//! `cargo test -p vector-client-tests -- --ignored --nocapture`.

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
