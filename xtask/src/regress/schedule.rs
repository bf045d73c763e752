//! What to run and what to expect: PostgreSQL's `parallel_schedule` and
//! our `regress/expected-failures.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A schedule file: its tests in order, and those whose failure
/// pg_regress reports but ignores (`ignore:` lines).
#[derive(Debug, Default)]
pub struct Schedule {
    pub tests: Vec<String>,
    pub ignored: Vec<String>,
}

/// Each `test:` line is a group that pg_regress runs in parallel (one
/// backend each); here every test gets a backend of its own in turn, which
/// gives each the same isolation.
pub fn parse(text: &str) -> Result<Schedule> {
    let mut schedule = Schedule::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(names) = line.strip_prefix("test:") {
            schedule
                .tests
                .extend(names.split_whitespace().map(str::to_string));
        } else if let Some(names) = line.strip_prefix("ignore:") {
            schedule
                .ignored
                .extend(names.split_whitespace().map(str::to_string));
        } else {
            bail!(
                "schedule line {}: expected `test:` or `ignore:`: {line}",
                number + 1
            );
        }
    }
    Ok(schedule)
}

/// A test known to fail here, and why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFailure {
    name: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFailuresFile {
    #[serde(default)]
    test: Vec<ExpectedFailure>,
}

/// Test name -> the reason it is expected to fail.
pub fn expected_failures(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ExpectedFailuresFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut failures = BTreeMap::new();
    for entry in file.test {
        if entry.reason.trim().is_empty() {
            bail!("{}: test {} has no reason", path.display(), entry.name);
        }
        if failures.insert(entry.name.clone(), entry.reason).is_some() {
            bail!("{}: test {} is listed twice", path.display(), entry.name);
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_flatten_in_order_and_comments_are_skipped() {
        let text =
            "# first\ntest: tablespace\n\n# a group\ntest: boolean char  name\nignore: char\n";
        let schedule = parse(text).unwrap();
        assert_eq!(schedule.tests, ["tablespace", "boolean", "char", "name"]);
        assert_eq!(schedule.ignored, ["char"]);
    }

    #[test]
    fn a_line_that_is_not_a_test_line_is_an_error() {
        let err = parse("test: a\nskip: b\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn expected_failures_need_a_reason_and_one_entry_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            "[[test]]\nname = \"stats\"\nreason = \"two backends\"\n",
        )
        .unwrap();
        assert_eq!(expected_failures(&path).unwrap()["stats"], "two backends");
        std::fs::write(&path, "[[test]]\nname = \"stats\"\nreason = \" \"\n").unwrap();
        assert!(expected_failures(&path).is_err());
        std::fs::write(
            &path,
            "[[test]]\nname = \"a\"\nreason = \"x\"\n[[test]]\nname = \"a\"\nreason = \"y\"\n",
        )
        .unwrap();
        assert!(expected_failures(&path).is_err());
    }
}
