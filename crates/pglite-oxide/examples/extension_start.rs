//! What `cargo xtask bench extensions` runs: a new temporary database and
//! its first query, without an extension and with each extension of the
//! catalog (`Builder::extension`: unpacked once per machine, installed,
//! `CREATE EXTENSION`, whose C functions load and link the side module).
//! The variants are interleaved, after one unmeasured round that unpacks
//! every extension and stores the started-backend image. Prints one line
//! per variant: `extension=NAME median_ms=... min_ms=...`.

use std::time::Instant;

use pglite_oxide::{extensions, Pglite};

const ROUNDS: usize = 11;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let variants: Vec<Option<&str>> = std::iter::once(None)
        .chain(extensions::ALL.iter().map(|e| Some(e.name())))
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..=ROUNDS {
        for (variant, samples) in variants.iter().zip(&mut samples) {
            let started = Instant::now();
            let mut builder = Pglite::builder();
            if let Some(name) = variant {
                builder = builder.extension(name);
            }
            let mut db = builder.open()?;
            let one: i32 = db.query_one("SELECT 1", &[])?.get(0);
            assert_eq!(one, 1);
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            drop(db);
            if round > 0 {
                samples.push(elapsed);
            }
        }
    }
    for (variant, samples) in variants.iter().zip(&mut samples) {
        samples.sort_by(f64::total_cmp);
        println!(
            "extension={} median_ms={:.1} min_ms={:.1}",
            variant.unwrap_or("none"),
            samples[samples.len() / 2],
            samples[0]
        );
    }
    Ok(())
}
