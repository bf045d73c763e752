//! The server: real drivers over TCP and Unix sockets, many connections on
//! the one backend, disconnects, shutdown, and the pglite-proxy binary.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pglite_oxide::{Pglite, PgliteServer};
use tokio_postgres::NoTls;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_over_tcp_pipelines_prepares_and_copies() {
    let server = PgliteServer::temporary_tcp().unwrap();
    let url = server.database_url().to_owned();
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    let client = connect(&url).await;
    support::prepares_pipelines_and_reports_errors(&client).await;

    // COPY in and out.
    let sink = client.copy_in("COPY items FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    let mut data = String::new();
    for i in 100..1100 {
        data.push_str(&format!("{i}\tcopied {i}\n"));
    }
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1000);
    let stream = client.copy_out("COPY items TO STDOUT").await.unwrap();
    futures_util::pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1020);

    // Binary COPY: out of one table, into another, unchanged.
    let stream = client
        .copy_out("COPY items TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    futures_util::pin_mut!(stream);
    let mut binary = Vec::new();
    while let Some(chunk) = stream.next().await {
        binary.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        binary.starts_with(b"PGCOPY\n\xff\r\n\0"),
        "binary COPY header"
    );
    client
        .batch_execute("CREATE TABLE copied (LIKE items)")
        .await
        .unwrap();
    let sink = client
        .copy_in("COPY copied FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    futures_util::pin_mut!(sink);
    // In pieces, as a client streaming a file would send it.
    for piece in binary.chunks(1000) {
        sink.feed(bytes::Bytes::copy_from_slice(piece))
            .await
            .unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 1020);
    let differing: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT * FROM items EXCEPT SELECT * FROM copied) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(differing, 0);
    drop(client);
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_single_connection_and_a_pool_of_ten_with_fifty_tasks() {
    use sqlx::{Connection, Row};
    let server = PgliteServer::temporary_tcp().unwrap();
    let url = server.database_url().to_owned();

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO counters VALUES (1, 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    let row = sqlx::query("SELECT $1::int4 + 1 AS x, $2::text AS t")
        .bind(41)
        .bind("hi")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<i32, _>("x"), 42);
    assert_eq!(row.get::<String, _>("t"), "hi");
    conn.close().await.unwrap();

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(60))
        .connect(&url)
        .await
        .unwrap();
    let tasks = (0..50).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let n: i32 = sqlx::query_scalar("SELECT n FROM counters WHERE id = 1")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            sqlx::query("UPDATE counters SET n = $1 WHERE id = 1")
                .bind(n + 1)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("INSERT INTO counters VALUES ($1, $2)")
                .bind(100 + i)
                .bind(i)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        })
    });
    for task in futures_util::future::join_all(tasks).await {
        task.unwrap();
    }
    // Transactions ran one after another: no update was lost.
    let n: i32 = sqlx::query_scalar("SELECT n FROM counters WHERE id = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 50);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM counters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 51);
    pool.close().await;
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_with_row_limits_notifications_and_a_copy_cut_short() {
    use tokio::io::AsyncWriteExt;
    let server = PgliteServer::temporary_tcp().unwrap();
    let url = server.database_url().to_owned();
    let (mut client, mut connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let (tx, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let mut messages = futures_util::stream::poll_fn(move |cx| {
        connection.poll_message(cx).map_err(|e| panic!("{e}"))
    });
    tokio::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });

    // A portal read a few rows at a time (Execute with a row limit).
    let transaction = client.transaction().await.unwrap();
    let statement = transaction
        .prepare("SELECT n FROM generate_series(1, 10) n")
        .await
        .unwrap();
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = transaction.query_portal(&portal, 4).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 4);
        seen.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    transaction.commit().await.unwrap();

    // NOTIFY reaches the listening connection.
    client
        .batch_execute("LISTEN events; NOTIFY events, 'over tcp'")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), notifications.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(("events".to_owned(), "over tcp".to_owned())));

    // A client gone in the middle of COPY FROM STDIN: the COPY fails, the
    // backend is free and clean for the others.
    client
        .batch_execute("UNLISTEN *; CREATE TABLE sink (n int)")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut startup = Vec::new();
    let body = b"\0\x03\0\0user\0postgres\0database\0postgres\0\0";
    startup.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    startup.extend_from_slice(body);
    raw.write_all(&startup).await.unwrap();
    let sql = b"COPY sink FROM STDIN\0";
    let mut query = vec![b'Q'];
    query.extend_from_slice(&((sql.len() + 4) as u32).to_be_bytes());
    query.extend_from_slice(sql);
    raw.write_all(&query).await.unwrap();
    let data = b"1\n2\n";
    let mut copy = vec![b'd'];
    copy.extend_from_slice(&((data.len() + 4) as u32).to_be_bytes());
    copy.extend_from_slice(data);
    raw.write_all(&copy).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(raw);
    let count: i64 = tokio::time::timeout(
        Duration::from_secs(10),
        client.query_one("SELECT count(*) FROM sink", &[]),
    )
    .await
    .expect("the backend was given back")
    .unwrap()
    .get(0);
    assert_eq!(count, 0, "a COPY cut short stores nothing");
    let status: String = client
        .query_one(
            "SELECT pg_catalog.current_setting('transaction_isolation')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "read committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_dropped_mid_transaction_is_rolled_back() {
    let server = PgliteServer::builder()
        .database_options(Pglite::builder().busy_timeout(Duration::from_secs(10)))
        .start()
        .unwrap();
    let url = server.database_url().to_owned();
    let first = connect(&url).await;
    first.batch_execute("CREATE TABLE t (n int)").await.unwrap();
    first
        .batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    // Gone without COMMIT or Terminate.
    drop(first);

    let second = connect(&url).await;
    let n: i64 = second
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    second
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    drop(second);
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_clients_and_data_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sockets = dir.path().join("sockets");
    std::fs::create_dir(&sockets).unwrap();
    let server = PgliteServer::builder()
        .path(&data)
        .unix(&sockets)
        .start()
        .unwrap();
    assert_eq!(server.unix_socket().unwrap(), sockets.join(".s.PGSQL.5432"));
    let url = server.database_url().to_owned();
    assert!(url.contains("%2F"), "{url}");
    let client = connect(&url).await;
    client
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
        .await
        .unwrap();
    drop(client);
    server.shutdown().unwrap();
    assert!(!sockets.join(".s.PGSQL.5432").exists());

    // The same data, served again over TCP and the socket.
    let server = PgliteServer::builder()
        .path(&data)
        .tcp(([127, 0, 0, 1], 0))
        .unix(&sockets)
        .start()
        .unwrap();
    let port = server.local_addr().unwrap().port();
    assert_eq!(
        server.unix_socket().unwrap(),
        sockets.join(format!(".s.PGSQL.{port}"))
    );
    let mut config = tokio_postgres::Config::new();
    config.host_path(&sockets).port(port).user("postgres");
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    let v: String = client
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_idle_connections_and_refuses_new_ones() {
    let server = PgliteServer::temporary_tcp().unwrap();
    let url = server.database_url().to_owned();
    let client = connect(&url).await;
    client.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let started = std::time::Instant::now();
    // Off the async worker: shutdown blocks until the backend is closed.
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(client.batch_execute("SELECT 1").await.is_err());
    assert!(tokio_postgres::connect(&url, NoTls).await.is_err());
}

async fn show(client: &tokio_postgres::Client, setting: &str) -> String {
    client
        .query_one("SELECT pg_catalog.current_setting($1)", &[&setting])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_keeps_its_own_settings() {
    let server = Pglite::builder()
        .temporary()
        .username("alice")
        .server()
        .start()
        .unwrap();
    let url = server.database_url().to_owned();
    let a = connect(&url).await;
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config
        .options("-c search_path=from_options,public --statement-timeout=5s")
        .application_name("client b");
    let (b, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);

    // Startup parameters are B's alone.
    assert_eq!(show(&b, "search_path").await, "from_options,public");
    assert_eq!(show(&b, "statement_timeout").await, "5s");
    assert_eq!(show(&b, "application_name").await, "client b");
    assert_eq!(show(&a, "search_path").await, "\"$user\", public");
    assert_eq!(show(&a, "statement_timeout").await, "0");

    // SET stays with the connection that ran it, across turns of others.
    a.batch_execute("SET TimeZone = 'Asia/Tokyo'; SET ROLE NONE")
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(show(&a, "TimeZone").await, "Asia/Tokyo");
        assert_ne!(show(&b, "TimeZone").await, "Asia/Tokyo");
    }
    b.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(show(&b, "statement_timeout").await, "0");
    assert_eq!(show(&b, "search_path").await, "from_options,public");
    // Everyone runs as the database's user.
    for client in [&a, &b] {
        let row = client
            .query_one("SELECT session_user::text, current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "alice");
        assert_eq!(row.get::<_, String>(1), "alice");
    }
    // A new connection starts from the defaults, not from anyone's SET.
    let c = connect(&url).await;
    assert_ne!(show(&c, "TimeZone").await, "Asia/Tokyo");

    // A setting that cannot be set refuses the connection, cleanly.
    let mut bad: tokio_postgres::Config = url.parse().unwrap();
    bad.options("-c work_mem=banana");
    let Err(err) = bad.connect(NoTls).await else {
        panic!("an invalid startup setting was accepted");
    };
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE),
        "{err}"
    );
    assert_eq!(show(&c, "work_mem").await, "4MB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_ends_the_query_and_the_connection_goes_on() {
    let server = PgliteServer::temporary_tcp().unwrap();
    let client = connect(server.database_url()).await;
    let other = connect(server.database_url()).await;
    let token = client.cancel_token();
    // A wrong key (another connection's) cancels nothing.
    let wrong = other.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        wrong.cancel_query(NoTls).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    let started = std::time::Instant::now();
    let err = client
        .batch_execute("SELECT pg_sleep(30)")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "the wrong key cancelled"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.await.unwrap();
    let row = client.query_one("SELECT 41 + 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    other.batch_execute("SELECT 1").await.unwrap();

    // statement_timeout, per statement.
    client
        .batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let err = client
        .batch_execute("SELECT pg_sleep(30)")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
    );
    client
        .batch_execute("RESET statement_timeout")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_startup_and_wrong_database_get_errors_not_hangs() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = PgliteServer::temporary_tcp().unwrap();
    let addr = server.local_addr().unwrap();

    // Garbage length: an ErrorResponse, then the connection closes.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    // (Only the length: bytes the server never reads would turn its close
    // into a reset that can swallow the error.)
    raw.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.first(), Some(&b'E'));

    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(addr.port())
        .user("postgres")
        .dbname("nope");
    let Err(err) = config.connect(NoTls).await else {
        panic!("a database the server does not serve was accepted");
    };
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
    );
    // The server still works.
    let client = connect(server.database_url()).await;
    client.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_end_the_connection_not_the_backend() {
    use support::raw;
    use tokio::io::AsyncWriteExt;
    let server = PgliteServer::temporary_tcp().unwrap();
    let addr = server.local_addr().unwrap();
    let client = connect(server.database_url()).await;
    client
        .batch_execute("CREATE TABLE t (v text)")
        .await
        .unwrap();

    // What each client sends after its startup, and the error it gets.
    // (Only the header of a message refused for its header: bytes the
    // server never reads would turn its close into a reset that can
    // swallow the error.)
    let mut query_in_copy = Vec::new();
    raw::query(&mut query_in_copy, "COPY t FROM STDIN");
    raw::message(&mut query_in_copy, b'd', b"not kept\n");
    raw::query(&mut query_in_copy, "SELECT 1");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "a password message after startup",
            vec![b'p', 0, 0, 0, 13],
            "invalid frontend message type 112",
        ),
        (
            "a second startup packet",
            raw::startup(&[("user", "postgres")])[..5].to_vec(),
            "invalid frontend message type 0",
        ),
        (
            "a Sync longer than PostgreSQL reads",
            vec![b'S', 0, 0, 0x4e, 0x24],
            "invalid message length 20004",
        ),
        (
            "a Query in the middle of COPY FROM STDIN",
            query_in_copy,
            "unexpected message type 0x51 during COPY from stdin",
        ),
    ];
    for (case, sent, expected) in cases {
        let mut stream = raw::connect(addr).await;
        stream.write_all(&sent).await.unwrap();
        let replies = raw::read_until(&mut stream, |_| false).await;
        let fatal = replies
            .iter()
            .find(|r| r.kind == b'E' && r.field(b'S').as_deref() == Some("FATAL"))
            .unwrap_or_else(|| panic!("{case}: no FATAL error in {replies:?}"));
        assert_eq!(fatal.field(b'C').as_deref(), Some("08P01"), "{case}");
        let message = fatal.field(b'M').unwrap();
        assert!(message.contains(expected), "{case}: {message}");
        // The backend goes on for everyone else.
        let row = client.query_one("SELECT count(*) FROM t", &[]).await;
        assert_eq!(row.unwrap().get::<_, i64>(0), 0, "{case}");
    }

    // COPY data sent with the COPY and a query after it, all at once.
    let mut pipelined = Vec::new();
    raw::query(&mut pipelined, "COPY t FROM STDIN");
    raw::message(&mut pipelined, b'd', b"a\nb\n");
    raw::message(&mut pipelined, b'c', b"");
    raw::query(&mut pipelined, "SELECT count(*) FROM t");
    let mut stream = raw::connect(addr).await;
    stream.write_all(&pipelined).await.unwrap();
    let replies = raw::read_until(&mut stream, |r| r.kind == b'D').await;
    let row = replies.iter().find(|r| r.kind == b'D').unwrap();
    assert_eq!(row.body, b"\0\x01\0\0\0\x012");
}

/// A password with characters a URL must escape.
const PASSWORD: &str = "s3cret p@ss:wörd/%";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_password_tokio_postgres_and_sqlx_connect_with_it() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let server = PgliteServer::builder()
        .tcp(([127, 0, 0, 1], 0))
        .unix(dir.path())
        .password(PASSWORD)
        .start()
        .unwrap();
    let url = server.database_url().to_owned();
    assert!(
        url.starts_with("postgres://postgres:s3cret%20p%40ss%3Aw%C3%B6rd%2F%25@127.0.0.1:"),
        "{url}"
    );
    // Debug output does not show it.
    assert!(!format!("{server:?}").contains("s3cret"));

    let client = connect(&url).await;
    let row = client.query_one("SELECT current_user", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let n: i32 = sqlx::query_scalar("SELECT 40 + 2")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 42);
    conn.close().await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_class")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(n > 0);
    pool.close().await;

    // Over the Unix socket too.
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(dir.path())
        .port(server.local_addr().unwrap().port())
        .user("postgres")
        .password(PASSWORD);
    let (unix_client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    unix_client.batch_execute("SELECT 1").await.unwrap();
    drop((client, unix_client));
    server.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_28p01_and_a_missing_one_fails_cleanly() {
    use tokio_postgres::error::SqlState;
    let server = PgliteServer::builder().password(PASSWORD).start().unwrap();
    let port = server.local_addr().unwrap().port();
    // Someone already connected is not affected by the failures below.
    let connected = connect(server.database_url()).await;
    connected
        .batch_execute("CREATE TABLE t (n int); BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();

    let config = |password: Option<&str>| {
        let mut config = tokio_postgres::Config::new();
        config.host("127.0.0.1").port(port).user("postgres");
        if let Some(password) = password {
            config.password(password);
        }
        config
    };
    for wrong in ["s3cret", "", "S3CRET P@SS:WÖRD/%"] {
        let Err(err) = config(Some(wrong)).connect(NoTls).await else {
            panic!("the password {wrong:?} was accepted");
        };
        assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{err}");
        let db = err.as_db_error().unwrap();
        assert_eq!(db.severity(), "FATAL");
        assert_eq!(
            db.message(),
            "password authentication failed for user \"postgres\""
        );
    }
    // SQLx sends an empty password when it has none.
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let err = sqlx::PgPool::connect(&url).await.unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("28P01"), "{err}");
    let err = sqlx::PgPool::connect(&url.replace("postgres@", "postgres:nope@"))
        .await
        .unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("28P01"), "{err}");
    // tokio-postgres without one gives up by itself, as libpq does.
    let Err(err) = config(None).connect(NoTls).await else {
        panic!("connected without a password");
    };
    assert!(err.code().is_none(), "{err}");
    let cause = std::error::Error::source(&err).map(|e| e.to_string());
    assert_eq!(cause.as_deref(), Some("password missing"), "{err:?}");

    // The first client's transaction went on undisturbed.
    connected.batch_execute("COMMIT").await.unwrap();
    let again = connect(server.database_url()).await;
    let n: i64 = again
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    drop((connected, again));
    server.shutdown().unwrap();

    // An empty password is a mistake, not "no password".
    let err = PgliteServer::builder().password("").start().unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_skips_the_sasl_exchange_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = PgliteServer::builder().password("pw").start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608i32.to_be_bytes());
    startup.extend_from_slice(b"user\0postgres\0\0");
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    raw.write_all(&packet).await.unwrap();

    // AuthenticationSASL offering SCRAM-SHA-256 only.
    let mut header = [0u8; 5];
    raw.read_exact(&mut header).await.unwrap();
    assert_eq!(header[0], b'R');
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0; len - 4];
    raw.read_exact(&mut body).await.unwrap();
    assert_eq!(body, b"\0\0\0\x0aSCRAM-SHA-256\0\0");

    // A query instead of a SASLInitialResponse.
    raw.write_all(b"Q\0\0\0\x0dSELECT 1\0").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), raw.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.first(), Some(&b'E'));
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("C08P01"), "{text}");
    assert!(text.contains("expected SASL response"), "{text}");
    drop(server);
}

#[test]
fn pglite_proxy_takes_a_password_from_the_environment_or_an_option() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (env, args) in [
        (Some(PASSWORD), vec![]),
        (Some("overridden"), vec!["--password", PASSWORD]),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pglite-proxy"));
        command
            .args(["--temporary", "--listen", "127.0.0.1:0"])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(env) = env {
            command.env("PGLITE_PASSWORD", env);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("postgres://postgres:s3cret%20p%40ss"),
            "{url}"
        );
        let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
        runtime.block_on(async {
            let client = connect(&url).await;
            client.batch_execute("SELECT 1").await.unwrap();
            let wrong = format!("postgres://postgres:overridden@127.0.0.1:{port}/postgres");
            let Err(err) = tokio_postgres::connect(&wrong, NoTls).await else {
                panic!("connected with the wrong password");
            };
            assert_eq!(
                err.code(),
                Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD)
            );
        });
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn pglite_proxy_prints_its_url_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_pglite-proxy"))
        .args(["--temporary", "--listen", "127.0.0.1:0"])
        .args(["--config", "work_mem=8MB"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work_mem: String = runtime.block_on(async {
        let client = connect(&url).await;
        client.query_one("SHOW work_mem", &[]).await.unwrap().get(0)
    });
    assert_eq!(work_mem, "8MB");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // Without a location it refuses to start.
    let output = Command::new(env!("CARGO_BIN_EXE_pglite-proxy"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
