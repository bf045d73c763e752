//! pg_dump and pg_restore as WASI commands (`run_program`), without a
//! database: their standard streams, exit codes and a connection the host
//! refuses. The round trips with a real backend are in pglite-oxide's
//! tests/dump.rs.

mod support;

use pglite_runtime::{run_program, ClientConnector, ClientStream, Error, Program, ProgramIo};

/// Refuses every connection.
struct Refuse;

impl ClientConnector for Refuse {
    fn connect(&mut self) -> std::io::Result<Box<dyn ClientStream>> {
        Err(std::io::ErrorKind::ConnectionRefused.into())
    }
}

fn run(program: Program, args: &[&str], io: ProgramIo<'_>) -> pglite_runtime::Result<String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_program(&support::artifacts(), program, &args, io, Box::new(Refuse))
}

#[test]
fn argv0_picks_the_program_and_stdout_reaches_the_caller() {
    for (program, name) in [
        (Program::PgDump, "pg_dump"),
        (Program::PgRestore, "pg_restore"),
    ] {
        let mut out = Vec::new();
        let warnings = run(program, &["--version"], ProgramIo::Output(&mut out)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{name} (PostgreSQL) 15.18\n")
        );
        assert_eq!(warnings, "");
    }

    // A failing writer is the caller's error.
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = run(
        Program::PgDump,
        &["--version"],
        ProgramIo::Output(&mut Broken),
    )
    .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[test]
fn a_refused_connection_is_the_programs_error() {
    let mut out = Vec::new();
    let err = run(
        Program::PgDump,
        &["--dbname=postgres"],
        ProgramIo::Output(&mut out),
    )
    .unwrap_err();
    match &err {
        Error::ProgramFailed {
            program,
            code,
            stderr,
        } => {
            assert_eq!((*program, *code), ("pg_dump", 1));
            assert!(
                stderr.contains("could not connect to the embedding host"),
                "{stderr}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(out.is_empty());
}

#[test]
fn stdin_streams_to_the_program_and_bad_input_is_reported() {
    // pg_restore reads the archive from stdin before it connects: a text
    // that is no archive stops it there.
    let mut input: &[u8] = b"not an archive at all";
    let err = run(
        Program::PgRestore,
        &["--dbname=postgres"],
        ProgramIo::Input(&mut input),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("pg_restore exited with code 1"),
        "{message}"
    );
    assert!(
        message.contains("input file does not appear to be a valid archive"),
        "{message}"
    );

    // A failing reader is the caller's error, not the program's.
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let err = run(
        Program::PgRestore,
        &["--dbname=postgres"],
        ProgramIo::Input(&mut Broken),
    )
    .unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
}
