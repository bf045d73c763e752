//! SQLx's migrations (`sqlx::migrate!`, embedded at compile time from
//! tests/migrations) against the server: applied once, recorded in
//! `_sqlx_migrations`, a no-op when run again, also after a restart.

use std::time::Duration;

use pglite_oxide::PgliteServer;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations");

async fn connect(server: &PgliteServer) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(60))
        .connect(server.database_url())
        .await
        .unwrap()
}

/// `_sqlx_migrations`: version, description, success, checksum and when,
/// in order.
async fn applied(pool: &PgPool) -> Vec<(i64, String, bool, Vec<u8>, String)> {
    sqlx::query(
        "SELECT version, description, success, checksum, installed_on::text \
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        (
            row.get("version"),
            row.get("description"),
            row.get("success"),
            row.get("checksum"),
            row.get("installed_on"),
        )
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_migrate_applies_the_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = PgliteServer::builder()
        .path(dir.path())
        .password("migrations")
        .start()
        .unwrap();
    let pool = connect(&server).await;
    assert_eq!(MIGRATOR.iter().count(), 3);
    MIGRATOR.run(&pool).await.unwrap();

    // The schema the migrations describe.
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name IN ('users', 'posts') \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected = [
        ("posts", "id", "NO"),
        ("posts", "user_id", "NO"),
        ("posts", "title", "NO"),
        ("posts", "updated_at", "YES"),
        ("users", "id", "NO"),
        ("users", "email", "NO"),
        ("users", "created_at", "NO"),
        ("users", "display_name", "NO"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(t, c, n)| (t.to_string(), c.to_string(), n.to_string()))
        .collect();
    assert_eq!(columns, expected);
    let admin: (i64, String) =
        sqlx::query_as("SELECT id, display_name FROM users WHERE email = 'admin@example.org'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(admin.1, "admin");
    // The unique index on lower(email) and the plpgsql trigger work.
    let err =
        sqlx::query("INSERT INTO users (email, display_name) VALUES ('ADMIN@example.org', 'x')")
            .execute(&pool)
            .await
            .unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().code().as_deref(),
        Some("23505")
    );
    let touched: bool = sqlx::query_scalar(
        "INSERT INTO posts (user_id, title) VALUES ($1, 'hello') RETURNING updated_at IS NOT NULL",
    )
    .bind(admin.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(touched);

    // What SQLx recorded: every migration, succeeded, with its checksum.
    let recorded = applied(&pool).await;
    let expected: Vec<(i64, String, bool, Vec<u8>)> = MIGRATOR
        .iter()
        .map(|m| {
            (
                m.version,
                m.description.to_string(),
                true,
                m.checksum.to_vec(),
            )
        })
        .collect();
    assert_eq!(
        recorded
            .iter()
            .map(|(v, d, s, c, _)| (*v, d.clone(), *s, c.clone()))
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        recorded.iter().map(|r| r.0).collect::<Vec<_>>(),
        [20240101000000, 20240102000000, 20240103000000]
    );
    assert_eq!(recorded[1].1, "posts");

    // Again: nothing to do, nothing changes.
    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(applied(&pool).await, recorded);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
    pool.close().await;
    server.shutdown().unwrap();

    // And after a restart on the same data.
    let server = PgliteServer::builder()
        .path(dir.path())
        .password("migrations")
        .start()
        .unwrap();
    let pool = connect(&server).await;
    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(applied(&pool).await, recorded);
    pool.close().await;
    server.shutdown().unwrap();
}
