//! initdb checked through a single-user backend: independent of
//! [`BackendSession`](crate::BackendSession) (`tests/initdb.rs` checks
//! more through a session). Needs the output of `cargo xtask build`.

use super::*;

/// Runs `sql` (one statement per line) in a single-user backend on
/// `database`; returns the values the statements printed, in order.
fn single_user(artifacts: &Artifacts, dir: &Path, database: &str, sql: &str) -> Vec<String> {
    let args: Vec<String> = [
        "--single",
        "-O",
        "-c",
        "exit_on_error=true",
        "-D",
        GUEST_DATA,
        database,
    ]
    .map(String::from)
    .to_vec();
    let mut backend = BackendInstance::new(
        artifacts,
        dir,
        crate::fs::Durability::Full,
        &args,
        sql.as_bytes().to_vec(),
    )
    .unwrap_or_else(|err| panic!("starting a single-user backend: {err}"));
    let outcome = backend.call("pgl_main");
    let (stdout, stderr) = (backend.stdout.text(), backend.stderr.text());
    backend.close();
    match outcome {
        Ok(CallOutcome::Returned | CallOutcome::Exited(0)) => {}
        Ok(CallOutcome::Exited(code)) => {
            panic!("single-user backend exited with {code}:\n{stderr}")
        }
        Err(err) => panic!("single-user backend: {err}"),
    }
    // A value prints as `\t 1: name = "value"\t(typeid = ...)`.
    stdout
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(" = \"")?;
            let (value, _) = rest.rsplit_once("\"\t(typeid")?;
            Some(value.to_owned())
        })
        .collect()
}

#[test]
fn single_user_backend_sees_the_new_cluster() {
    let artifacts = Artifacts::new().unwrap_or_else(|err| panic!("{err}"));
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    initdb(&artifacts, &data, &InitOptions::default()).unwrap_or_else(|err| panic!("{err}"));

    let plpgsql = artifacts
        .share()
        .join("extension/plpgsql.control")
        .is_file();
    let mut sql = String::from(
        "SELECT count(*) FROM pg_database\n\
         SELECT string_agg(datname, ',' ORDER BY oid) FROM pg_database\n\
         SELECT count(*) > 0 FROM information_schema.tables WHERE table_schema = 'information_schema'\n\
         SELECT count(*) > 0 FROM information_schema.sql_features\n",
    );
    if plpgsql {
        sql.push_str(
            "DO $$ BEGIN CREATE TABLE from_plpgsql AS SELECT 6 * 7 AS answer; END $$\n\
             SELECT answer FROM from_plpgsql\n",
        );
    } else {
        eprintln!("NOTE: this build has no plpgsql; checking that initdb left it out");
        sql.push_str("SELECT count(*) FROM pg_language WHERE lanname = 'plpgsql'\n");
    }
    let values = single_user(&artifacts, &data, "postgres", &sql);
    let expected = [
        "3",
        "template1,template0,postgres",
        "t",
        "t",
        if plpgsql { "42" } else { "0" },
    ];
    assert_eq!(values, expected);
}
