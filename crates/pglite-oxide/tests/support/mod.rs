//! What the async-client tests share.

pub mod raw;

/// Exercises one tokio-postgres client: a table, a prepared insert run 20
/// times, 20 queries in flight at once on the connection, and an error
/// with its SQLSTATE. Leaves table `items` with ids 0..20.
pub async fn prepares_pipelines_and_reports_errors(client: &tokio_postgres::Client) {
    client
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO items VALUES ($1, $2)")
        .await
        .unwrap();
    for i in 0..20 {
        client
            .execute(&insert, &[&i, &format!("item {i}")])
            .await
            .unwrap();
    }
    // Pipelined: many queries in flight at once on one connection.
    let queries = (0..20).map(|i| {
        let client = &client;
        async move {
            let row = client
                .query_one("SELECT name FROM items WHERE id = $1", &[&i])
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    });
    let names = futures_util::future::join_all(queries).await;
    assert_eq!(names[7], "item 7");
    assert_eq!(names.len(), 20);
    // Errors arrive as tokio-postgres errors with their SQLSTATE.
    let err = client.execute(&insert, &[&1, &"dup"]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );
}
