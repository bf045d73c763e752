//! Per-test databases: the migrations in tests/migrations applied once
//! per process into a template, then a private fork of it for each of the
//! 200 tests below, which the default test runner runs in parallel (and
//! nextest each in a process of its own, sharing the template on disk).

use std::path::PathBuf;
use std::process::Command;

use pglite_oxide::testing::{Template, TEMPLATES_DIR_ENV};

fn migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/migrations")
}

fn template() -> Template {
    Template::migrated(migrations()).unwrap()
}

/// What every test does: checks it starts from the migrated contents, and
/// writes where every other test writes too (the same table, the same
/// unique key, a table of the same name), which only works if no test sees
/// another's database.
fn isolated(name: &str) {
    let mut db = template().database().unwrap();
    let emails: Vec<String> = db
        .query("SELECT email FROM users ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(emails, ["admin@example.org"], "{name}");

    let id: i64 = db
        .query_one(
            "INSERT INTO users (email, display_name) VALUES ('same@example.org', $1) RETURNING id",
            &[&name],
        )
        .unwrap()
        .get(0);
    // Every test gets the same next id: the sequence is private too.
    assert_eq!(id, 2, "{name}");
    let touched: bool = db
        .query_one(
            "INSERT INTO posts (user_id, title) VALUES ($1, $2) RETURNING updated_at IS NOT NULL",
            &[&id, &name],
        )
        .unwrap()
        .get(0);
    assert!(touched, "the migrated trigger runs");
    db.batch_execute("CREATE TABLE scratch (test text); INSERT INTO scratch VALUES ('x')")
        .unwrap();
    let mine: String = db
        .query_one("SELECT display_name FROM users WHERE id = 2", &[])
        .unwrap()
        .get(0);
    assert_eq!(mine, name);
}

macro_rules! isolated_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                isolated(stringify!($name));
            }
        )*
    };
}

isolated_tests!(
    t000, t001, t002, t003, t004, t005, t006, t007, t008, t009, t010, t011, t012, t013, t014, t015,
    t016, t017, t018, t019, t020, t021, t022, t023, t024, t025, t026, t027, t028, t029, t030, t031,
    t032, t033, t034, t035, t036, t037, t038, t039, t040, t041, t042, t043, t044, t045, t046, t047,
    t048, t049, t050, t051, t052, t053, t054, t055, t056, t057, t058, t059, t060, t061, t062, t063,
    t064, t065, t066, t067, t068, t069, t070, t071, t072, t073, t074, t075, t076, t077, t078, t079,
    t080, t081, t082, t083, t084, t085, t086, t087, t088, t089, t090, t091, t092, t093, t094, t095,
    t096, t097, t098, t099, t100, t101, t102, t103, t104, t105, t106, t107, t108, t109, t110, t111,
    t112, t113, t114, t115, t116, t117, t118, t119, t120, t121, t122, t123, t124, t125, t126, t127,
    t128, t129, t130, t131, t132, t133, t134, t135, t136, t137, t138, t139, t140, t141, t142, t143,
    t144, t145, t146, t147, t148, t149, t150, t151, t152, t153, t154, t155, t156, t157, t158, t159,
    t160, t161, t162, t163, t164, t165, t166, t167, t168, t169, t170, t171, t172, t173, t174, t175,
    t176, t177, t178, t179, t180, t181, t182, t183, t184, t185, t186, t187, t188, t189, t190, t191,
    t192, t193, t194, t195, t196, t197, t198, t199
);

#[test]
fn the_template_is_the_same_for_every_test_of_the_process() {
    let first = template();
    let second = template();
    assert_eq!(first.path(), second.path());
    // Read-only: forks layer over it, nothing writes into it.
    let mode = std::fs::metadata(first.path().join("PG_VERSION"))
        .unwrap()
        .permissions();
    assert!(mode.readonly());
}

/// Run by `a_template_is_built_once_for_processes_that_start_together`
/// in processes of its own, as nextest runs tests.
#[test]
#[ignore = "a child process of another test"]
fn child_process_uses_the_template() {
    let template = template();
    let mut db = template.database().unwrap();
    let users: i64 = db
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0);
    assert_eq!(users, 1);
    println!("template at {}", template.path().display());
}

#[test]
fn a_template_is_built_once_for_processes_that_start_together() {
    let cache = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_process_uses_the_template",
                    "--ignored",
                    "--nocapture",
                ])
                .env(TEMPLATES_DIR_ENV, cache.path())
                .output_spawned()
        })
        .collect();
    let mut paths = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = stdout
            .lines()
            .find_map(|line| line.strip_prefix("template at "))
            .unwrap()
            .to_owned();
        paths.push(path);
    }
    assert!(paths.iter().all(|p| *p == paths[0]), "{paths:?}");
    // One template, its lock file, and nothing half-made.
    let mut names: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[1].ends_with(".lock"), "{names:?}");
    // The frozen template is read-only: let the temporary directory go.
    make_writable(cache.path());
}

fn make_writable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            make_writable(&entry.path());
        }
    }
}

trait SpawnPiped {
    fn output_spawned(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn output_spawned(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
