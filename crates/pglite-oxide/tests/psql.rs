//! The server with the real psql (Debian's PostgreSQL 15 client), over TCP
//! and the Unix socket: commands, a script with `\copy` in and out, and
//! passwords.
//!
//! psql must be installed (`apt-get install postgresql-client-15`; `.ci/run`
//! installs it): without it these tests fail rather than pass unseen.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pglite_oxide::PgliteServer;

/// Debian's PostgreSQL 15 psql, else whichever psql is on the PATH.
fn psql_binary() -> PathBuf {
    if let Ok(debian) = native_postgres::program("psql") {
        return debian;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("psql"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "psql is not installed, and these tests need it: install the PostgreSQL 15 \
             client with `apt-get install postgresql-client-15` (Debian bookworm; `.ci/run` \
             does it), or put a psql on the PATH"
        )
    })
}

/// Where psql connects.
#[derive(Clone, Copy)]
enum Via<'a> {
    Tcp(&'a PgliteServer),
    /// The socket's directory, as `-h` takes it.
    Unix(&'a PgliteServer),
}

/// A psql command for the server, isolated from the caller's environment
/// (no psqlrc, no PG* variables, no password file) and never prompting.
fn psql(via: Via<'_>, password: Option<&str>) -> Command {
    let mut command = Command::new(psql_binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
    command
        .env("PGPASSFILE", "/nonexistent/pgpass")
        .env("PGCONNECT_TIMEOUT", "60")
        .args(["--no-psqlrc", "--no-password", "--username", "postgres"])
        .args(["--dbname", "postgres"]);
    let (host, port) = match via {
        Via::Tcp(server) => (
            server.local_addr().unwrap().ip().to_string(),
            server.local_addr().unwrap().port(),
        ),
        Via::Unix(server) => {
            let socket = server.unix_socket().unwrap();
            let port = socket
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .trim_start_matches(".s.PGSQL.")
                .parse::<u16>()
                .unwrap();
            (socket.parent().unwrap().display().to_string(), port)
        }
    };
    command.args(["--host", &host, "--port", &port.to_string()]);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command
}

fn run(mut command: Command) -> Output {
    let output = command.output().expect("running psql");
    eprintln!(
        "psql exited with {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs psql and returns its stdout, which it must have exited 0 with.
fn run_ok(command: Command) -> String {
    let output = run(command);
    assert!(output.status.success(), "psql failed: {:?}", output.status);
    String::from_utf8(output.stdout).unwrap()
}

/// A server on a free TCP port and a Unix socket in `dir`.
fn server(dir: &Path, password: Option<&str>) -> PgliteServer {
    let mut builder = PgliteServer::builder()
        .temporary()
        .tcp(([127, 0, 0, 1], 0))
        .unix(dir);
    if let Some(password) = password {
        builder = builder.password(password);
    }
    builder.start().unwrap()
}

#[test]
fn psql_runs_commands_over_tcp_and_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), None);
    let version = run_ok({
        let mut c = Command::new(psql_binary());
        c.arg("--version");
        c
    });
    eprintln!("using {version}");

    // Several statements in one -c (one simple query), then several -c.
    let mut command = psql(Via::Tcp(&server), None);
    command
        .args(["--tuples-only", "--no-align", "--set", "ON_ERROR_STOP=1"])
        .args([
            "-c",
            "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL); \
             INSERT INTO notes (body) VALUES ('one'), ('two'); \
             INSERT INTO notes (body) VALUES ('three')",
        ])
        .args(["-c", "SELECT string_agg(body, ',' ORDER BY id) FROM notes"])
        .args(["-c", "SELECT current_database(), current_user"]);
    let out = run_ok(command);
    // psql 15 shows every statement's result of a multi-statement -c.
    assert_eq!(
        out,
        "CREATE TABLE\nINSERT 0 2\nINSERT 0 1\none,two,three\npostgres|postgres\n"
    );

    // The same data through the socket; and psql's own catalog queries.
    let mut command = psql(Via::Unix(&server), None);
    command
        .args(["--tuples-only", "--no-align"])
        .args(["-c", "SELECT count(*) FROM notes"])
        .args(["-c", r"\dt notes"]);
    let out = run_ok(command);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("3"));
    assert_eq!(lines.next(), Some("public|notes|table|postgres"));

    // An error: exit status 1 with -c, the message on stderr; the server
    // goes on.
    let mut command = psql(Via::Tcp(&server), None);
    command.args(["-c", "SELECT * FROM missing"]);
    let output = run(command);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"relation "missing" does not exist"#),
        "{stderr}"
    );
    let mut command = psql(Via::Unix(&server), None);
    command.args(["--tuples-only", "--no-align", "-c", "SELECT 6 * 7"]);
    assert_eq!(run_ok(command), "42\n");
    server.shutdown().unwrap();
}

#[test]
fn psql_runs_a_script_with_copy_from_and_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("sockets");
    std::fs::create_dir(&sockets).unwrap();
    let server = server(&sockets, None);

    let input = dir.path().join("people.csv");
    let mut csv = String::from("id,name,born\n");
    csv.push_str("3,\"Hopper, Grace\",1906-12-09\n");
    for i in 4..2004 {
        csv.push_str(&format!("{i},person {i},2000-01-01\n"));
    }
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("out.csv");
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        format!(
            r#"\set ON_ERROR_STOP on
CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, born date);
INSERT INTO people VALUES (1, 'Lovelace, Ada', '1815-12-10');
INSERT INTO people VALUES (2, 'Dijkstra', '1930-05-11');
\copy people FROM '{input}' WITH (FORMAT csv, HEADER true)
\copy (SELECT id, name, born FROM people WHERE id < 5 ORDER BY id) TO '{output}' WITH (FORMAT csv)
SELECT count(*), max(id) FROM people;
"#,
            input = input.display(),
            output = output.display()
        ),
    )
    .unwrap();

    let mut command = psql(Via::Tcp(&server), None);
    command
        .args(["--tuples-only", "--no-align", "-f"])
        .arg(&script);
    let out = run_ok(command);
    assert_eq!(
        out,
        "CREATE TABLE\nINSERT 0 1\nINSERT 0 1\nCOPY 2001\nCOPY 4\n2003|2003\n"
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "1,\"Lovelace, Ada\",1815-12-10\n\
         2,Dijkstra,1930-05-11\n\
         3,\"Hopper, Grace\",1906-12-09\n\
         4,person 4,2000-01-01\n"
    );

    // ON_ERROR_STOP: the script stops at the first error (exit status 3)
    // and nothing after it runs; over the socket this time, with \copy
    // from a file again.
    let more = dir.path().join("more.tsv");
    std::fs::write(&more, "5000\tlate\t\\N\n").unwrap();
    std::fs::write(
        &script,
        format!(
            r#"\set ON_ERROR_STOP on
\copy people FROM '{more}'
INSERT INTO people VALUES (1, 'duplicate', NULL);
INSERT INTO people VALUES (6000, 'never', NULL);
"#,
            more = more.display()
        ),
    )
    .unwrap();
    let mut command = psql(Via::Unix(&server), None);
    command.arg("-f").arg(&script);
    let result = run(command);
    assert_eq!(result.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("duplicate key value"), "{stderr}");
    let mut command = psql(Via::Unix(&server), None);
    command.args([
        "--tuples-only",
        "--no-align",
        "-c",
        "SELECT string_agg(id::text || ':' || coalesce(born::text, 'null'), ',' ORDER BY id) \
         FROM people WHERE id >= 5000",
    ]);
    assert_eq!(run_ok(command), "5000:null\n");
    server.shutdown().unwrap();
}

#[test]
fn psql_with_a_password_over_tcp_and_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let password = "correct horse battery staple";
    let server = server(dir.path(), Some(password));

    for via in [Via::Tcp(&server), Via::Unix(&server)] {
        let mut command = psql(via, Some(password));
        command.args(["--tuples-only", "--no-align", "-c", "SELECT current_user"]);
        assert_eq!(run_ok(command), "postgres\n");

        // A wrong password.
        let mut command = psql(via, Some("wrong"));
        command.args(["-c", "SELECT 1"]);
        let output = run(command);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(r#"password authentication failed for user "postgres""#),
            "{stderr}"
        );
        // None at all: psql does not prompt (--no-password) and gives up.
        let mut command = psql(via, None);
        command.args(["-c", "SELECT 1"]);
        let output = run(command);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no password supplied"), "{stderr}");
    }

    // The server is fine after the failures.
    let mut command = psql(Via::Tcp(&server), Some(password));
    command.args(["--tuples-only", "--no-align", "-c", "SELECT 1 + 1"]);
    assert_eq!(run_ok(command), "2\n");
    server.shutdown().unwrap();
}
