//! `pglite-dump`: dumps an embedded database directory with pg_dump (plain
//! SQL or a custom-format archive), or restores a custom-format archive
//! into one with pg_restore. Both run in this process; no server, no
//! socket.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pglite_oxide::{DumpOptions, Pglite, RestoreOptions};

const USAGE: &str = "\
usage: pglite-dump --path DIR [options]             dump the database in DIR
       pglite-dump --path DIR --restore FILE [...]  restore an archive into DIR

  --path DIR             the database directory (for a restore, created if
                         absent or empty)
  --user NAME            the role to run as (default postgres)
  --database NAME        the database (default postgres)
  -F, --format FORMAT    plain (SQL, the default) or custom (an archive for
                         pg_restore or --restore)
  -f, --file FILE        write the dump to FILE (default: standard output)
  -s, --schema-only      definitions only
  -a, --data-only        data only
  -n, --schema PATTERN   only schemas matching PATTERN (repeatable)
  -N, --exclude-schema PATTERN
  -t, --table PATTERN    only tables matching PATTERN (repeatable)
  -T, --exclude-table PATTERN
  -O, --no-owner         no ownership commands (dump and restore)
  -x, --no-privileges    no GRANT/REVOKE (dump and restore)
  -c, --clean            DROP objects before creating them (dump and restore)
  --if-exists            with --clean: DROP ... IF EXISTS
  --restrict-key KEY     the key of a plain dump's \\restrict lines (default:
                         random)
  --restore FILE         restore the custom-format archive FILE (- for
                         standard input), in one transaction
  -h, --help             this text
";

enum Format {
    Plain,
    Custom,
}

enum Action {
    Dump {
        format: Format,
        file: Option<PathBuf>,
        options: DumpOptions,
    },
    Restore {
        archive: String,
        options: RestoreOptions,
    },
}

struct Command {
    path: PathBuf,
    database: pglite_oxide::Builder,
    action: Action,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Command>, String> {
    let mut args = args.into_iter();
    let mut database = Pglite::builder();
    let mut path = None;
    let mut format = Format::Plain;
    let mut file = None;
    let mut restore = None;
    let mut dump = DumpOptions::new();
    let mut restore_options = RestoreOptions::default();
    let (mut clean, mut if_exists) = (false, false);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--path" => path = Some(PathBuf::from(value("--path")?)),
            "--user" => database = database.username(&value("--user")?),
            "--database" => database = database.database(&value("--database")?),
            "-F" | "--format" => {
                format = match value("--format")?.as_str() {
                    "plain" | "p" => Format::Plain,
                    "custom" | "c" => Format::Custom,
                    other => return Err(format!("--format {other}: expected plain or custom")),
                }
            }
            "-f" | "--file" => file = Some(PathBuf::from(value("--file")?)),
            "-s" | "--schema-only" => dump = dump.schema_only(),
            "-a" | "--data-only" => dump = dump.data_only(),
            "-n" | "--schema" => dump = dump.schema(value("--schema")?),
            "-N" | "--exclude-schema" => dump = dump.exclude_schema(value("--exclude-schema")?),
            "-t" | "--table" => dump = dump.table(value("--table")?),
            "-T" | "--exclude-table" => dump = dump.exclude_table(value("--exclude-table")?),
            "-O" | "--no-owner" => {
                dump = dump.no_owner();
                restore_options = restore_options.no_owner();
            }
            "-x" | "--no-privileges" => {
                dump = dump.no_privileges();
                restore_options = restore_options.no_privileges();
            }
            "-c" | "--clean" => clean = true,
            "--if-exists" => if_exists = true,
            "--restrict-key" => dump = dump.restrict_key(value("--restrict-key")?),
            "--restore" => restore = Some(value("--restore")?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    let path = path.ok_or("give --path DIR")?;
    if if_exists && !clean {
        return Err("--if-exists needs --clean".into());
    }
    if clean {
        dump = dump.clean(if_exists);
        restore_options = restore_options.clean(if_exists);
    }
    let action = match restore {
        Some(archive) => {
            if file.is_some() {
                return Err("--file is for dumps; --restore reads its archive".into());
            }
            Action::Restore {
                archive,
                options: restore_options,
            }
        }
        None => Action::Dump {
            format,
            file,
            options: dump,
        },
    };
    Ok(Some(Command {
        database: database.path(&path),
        path,
        action,
    }))
}

fn run(command: Command) -> Result<(), String> {
    if matches!(command.action, Action::Dump { .. }) && !command.path.join("PG_VERSION").is_file() {
        return Err(format!(
            "{} is not a database directory (no PG_VERSION)",
            command.path.display()
        ));
    }
    let db = command.database.open().map_err(|e| e.to_string())?;
    let done = match command.action {
        Action::Dump {
            format,
            file,
            options,
        } => match file {
            Some(file) => dump_to_file(&db, &format, &options, &file),
            None => {
                let mut out = std::io::stdout().lock();
                dump(&db, &format, &options, &mut out)
            }
        },
        Action::Restore { archive, options } => {
            let restored = if archive == "-" {
                db.restore_archive(std::io::stdin().lock(), &options)
            } else {
                let file = File::open(&archive).map_err(|e| format!("{archive}: {e}"))?;
                db.restore_archive(BufReader::new(file), &options)
            };
            restored.map_err(|e| e.to_string())
        }
    };
    let closed = db.close().map_err(|e| e.to_string());
    done.and(closed)
}

fn dump(
    db: &Pglite,
    format: &Format,
    options: &DumpOptions,
    out: impl Write,
) -> Result<(), String> {
    match format {
        Format::Plain => db.dump_sql_to(options, out),
        Format::Custom => db.dump_archive(options, out),
    }
    .map_err(|e| e.to_string())
}

/// Writes the dump beside `file` and renames it into place once complete,
/// so a failed dump never leaves a truncated file under the name.
fn dump_to_file(
    db: &Pglite,
    format: &Format,
    options: &DumpOptions,
    file: &Path,
) -> Result<(), String> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let partial =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = BufWriter::new(partial);
    dump(db, format, options, &mut out)?;
    let partial = out
        .into_inner()
        .map_err(|e| format!("{}: {}", file.display(), e.error()))?;
    partial
        .persist(file)
        .map_err(|e| format!("{}: {}", file.display(), e.error))?;
    Ok(())
}

fn main() -> ExitCode {
    let command = match parse(std::env::args().skip(1)) {
        Ok(Some(command)) => command,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("pglite-dump: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pglite-dump: {message}");
            ExitCode::FAILURE
        }
    }
}
