//! What `cargo xtask bench cold` runs to time the server: a new temporary
//! database served over TCP, a SQLx connection and its first `SELECT 1`,
//! twice in one process. Prints one line per server:
//!
//! `server=N start_ms=... connect_query_ms=... total_ms=...`

use std::time::Instant;

use pglite_oxide::PgliteServer;
use sqlx::Connection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for n in 1..=2 {
        let started = Instant::now();
        let server = PgliteServer::temporary_tcp()?;
        let start = started.elapsed();
        let url = server.database_url().to_owned();
        let connected = Instant::now();
        let one: i32 = runtime.block_on(async {
            let mut connection = sqlx::PgConnection::connect(&url).await?;
            let one = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut connection)
                .await?;
            connection.close().await?;
            Ok::<_, sqlx::Error>(one)
        })?;
        let connect_query = connected.elapsed();
        let total = started.elapsed();
        assert_eq!(one, 1);
        println!(
            "server={n} start_ms={:.2} connect_query_ms={:.2} total_ms={:.2}",
            ms(start),
            ms(connect_query),
            ms(total)
        );
        // Not part of the figures: the shutdown checkpoint.
        server.shutdown()?;
    }
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
