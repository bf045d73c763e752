//! In-process async clients: real tokio-postgres clients on the embedded
//! backend, beside the direct API.

mod support;

use futures_util::{SinkExt, StreamExt};
use pglite_oxide::Pglite;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_queries_through_an_in_memory_pipe() {
    let db = Pglite::temporary().unwrap();
    let client = db.connect().await.unwrap();
    support::prepares_pipelines_and_reports_errors(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_have_private_statement_names_and_transactions() {
    let db = Pglite::temporary().unwrap();
    let a = db.connect().await.unwrap();
    let b = db.connect().await.unwrap();
    a.batch_execute("CREATE TABLE t (n int)").await.unwrap();
    // Both clients name their first statement the same way (s0, s1...).
    let sa = a.prepare("SELECT 1::int4").await.unwrap();
    let sb = b.prepare("SELECT 2::int4").await.unwrap();
    assert_eq!(a.query_one(&sa, &[]).await.unwrap().get::<_, i32>(0), 1);
    assert_eq!(b.query_one(&sb, &[]).await.unwrap().get::<_, i32>(0), 2);

    // A transaction of one client is invisible to, and not joined by, the
    // other: b waits until a commits.
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let waiter = tokio::spawn(async move {
        let n: i64 = b
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        n
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "b must wait for a's transaction");
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(waiter.await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_transaction_makes_others_wait_with_a_bound() {
    let db = Pglite::builder()
        .busy_timeout(Duration::from_millis(500))
        .open()
        .unwrap();
    let a = db.connect().await.unwrap();
    let b = db.connect().await.unwrap();
    a.batch_execute("BEGIN").await.unwrap();
    let started = std::time::Instant::now();
    let err = b.query_one("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("55P03"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    a.batch_execute("ROLLBACK").await.unwrap();
    // b works again, and so does the direct API.
    assert_eq!(
        b.query_one("SELECT 1::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_client_leaves_nothing_behind() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute("CREATE TABLE t (n int)").unwrap();
    {
        let a = db.connect().await.unwrap();
        a.prepare("SELECT 42").await.unwrap();
        a.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        // Dropped inside its transaction.
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let count: i64 =
        tokio::task::block_in_place(|| db.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0));
    assert_eq!(count, 0, "the abandoned transaction is rolled back");
    let statements: i64 = tokio::task::block_in_place(|| {
        db.query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pgl%\\_s%'",
            &[],
        )
        .unwrap()
        .get(0)
    });
    assert_eq!(statements, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_out_through_tokio_postgres() {
    let db = Pglite::temporary().unwrap();
    let client = db.connect().await.unwrap();
    client
        .batch_execute("CREATE TABLE c (id int, v text)")
        .await
        .unwrap();
    let sink = client.copy_in("COPY c FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    for chunk in 0..10 {
        let mut data = String::new();
        for i in 0..1000 {
            data.push_str(&format!("{}\tv{}\n", chunk * 1000 + i, i));
        }
        sink.send(bytes::Bytes::from(data)).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 10_000);
    let stream = client.copy_out("COPY c TO STDOUT").await.unwrap();
    futures_util::pin_mut!(stream);
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert!(total > 10_000 * 4);
    let n: i64 = client
        .query_one("SELECT count(*) FROM c", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_a_polling_connection() {
    let db = Pglite::temporary().unwrap();
    let (client, mut connection) = db.connect_raw().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    tokio::spawn(stream.for_each(move |message| {
        if let Ok(tokio_postgres::AsyncMessage::Notification(n)) = message {
            let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
        }
        futures_util::future::ready(())
    }));
    client
        .batch_execute("LISTEN events; NOTIFY events, 'ping'")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(("events".to_owned(), "ping".to_owned())));
}
