//! `cargo xtask regress`: PostgreSQL's own regression suite
//! (`src/test/regress` of the pinned source, `parallel_schedule`) against
//! `PgliteServer`, through Debian's psql, compared with the expected files
//! as pg_regress compares them.
//!
//! Every failure is either unexpected (the command fails) or listed in
//! `regress/expected-failures.toml` with its reason; a listed test that
//! passes fails the command too, so the list stays true.

mod runner;
mod schedule;
mod variant;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::layout::Layout;
use runner::{Outcome, Runner};

const USAGE: &str = "cargo xtask regress [TEST...]: the whole parallel_schedule, or the named \
     tests (after test_setup, which they depend on)";

pub fn run(layout: &Layout, args: &[&str]) -> Result<()> {
    if let Some(flag) = args.iter().find(|a| a.starts_with('-')) {
        bail!("unknown flag `{flag}`\n{USAGE}");
    }
    // Debian's psql 15, the client pg_regress runs.
    let psql = native_postgres::program("psql")?;
    crate::assets::build_outputs(layout)?;
    let artifacts = variant::build(layout)?;
    let tests_dir = variant::tests_dir(layout);
    let proxy = crate::workspace_build::build(
        layout,
        crate::workspace_build::Program::Bin("pglite-proxy"),
        &[],
        false,
        &[],
    )?;

    let schedule = schedule::parse(&std::fs::read_to_string(
        tests_dir.join("parallel_schedule"),
    )?)?;
    let expected_path = layout.workspace.join("regress/expected-failures.toml");
    let expected = schedule::expected_failures(&expected_path)?;
    for name in expected.keys() {
        if !schedule.tests.contains(name) {
            bail!(
                "{}: {name} is not in parallel_schedule",
                expected_path.display()
            );
        }
    }
    let tests: Vec<String> = if args.is_empty() {
        schedule.tests.clone()
    } else {
        for name in args {
            if !schedule.tests.iter().any(|t| t == name) {
                bail!("{name} is not a test of parallel_schedule\n{USAGE}");
            }
        }
        let mut tests = vec!["test_setup".to_string()];
        tests.extend(
            args.iter()
                .filter(|a| **a != "test_setup")
                .map(|a| a.to_string()),
        );
        tests
    };

    let run_dir = layout.work.join("regress").join("run");
    crate::outputs::remove_dir_if_exists(&run_dir)?;
    std::fs::create_dir_all(&run_dir)?;
    let runner = Runner {
        proxy,
        artifacts,
        psql,
        tests: tests_dir,
        run: run_dir.clone(),
    };
    runner.create_database()?;

    let started = Instant::now();
    let mut report = Report::default();
    let mut diffs = String::new();
    for test in &tests {
        let test_started = Instant::now();
        let outcome = runner
            .run_test(test)
            .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}\n")));
        let ms = test_started.elapsed().as_millis();
        let line = match (&outcome, expected.get(test)) {
            (Outcome::Passed, None) => {
                report.passed += 1;
                format!("ok                    {test} ({ms} ms)")
            }
            (Outcome::Passed, Some(_)) => {
                report.unexpected_passes.push(test.clone());
                format!("ok (listed to FAIL)   {test} ({ms} ms)")
            }
            (Outcome::Failed(diff), reason) => {
                writeln!(diffs, "=== {test} ===\n{diff}")?;
                let ignored = schedule.ignored.contains(test);
                match reason {
                    None if ignored => {
                        report.ignored.push(test.clone());
                        format!("failed (ignored)      {test} ({ms} ms): the schedule ignores it")
                    }
                    Some(reason) => {
                        report
                            .expected_failures
                            .push((test.clone(), reason.clone()));
                        format!("failed (expected)     {test} ({ms} ms): {reason}")
                    }
                    None => {
                        report.unexpected_failures.push(test.clone());
                        format!("FAILED                {test} ({ms} ms)")
                    }
                }
            }
        };
        println!("{line}");
    }
    let diffs_path = run_dir.join("regression.diffs");
    std::fs::write(&diffs_path, &diffs)?;
    print!(
        "{}",
        report.summary(tests.len(), started.elapsed().as_secs_f64())
    );
    if !diffs.is_empty() {
        println!("diffs: {}", diffs_path.display());
    }
    report.verdict()
}

#[derive(Default)]
struct Report {
    passed: usize,
    expected_failures: Vec<(String, String)>,
    /// Failed, but the schedule says to ignore it (as pg_regress does).
    ignored: Vec<String>,
    unexpected_failures: Vec<String>,
    unexpected_passes: Vec<String>,
}

impl Report {
    fn summary(&self, total: usize, seconds: f64) -> String {
        let mut text = format!(
            "\nregress: {} passed / {total} total in {seconds:.0} s; {} failed as expected, \
             {} ignored by the schedule, {} failed unexpectedly, {} passed but are listed \
             to fail\n",
            self.passed,
            self.expected_failures.len(),
            self.ignored.len(),
            self.unexpected_failures.len(),
            self.unexpected_passes.len()
        );
        let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (test, reason) in &self.expected_failures {
            by_reason.entry(reason).or_default().push(test);
        }
        for (reason, tests) in by_reason {
            text.push_str(&format!("  expected: {}: {reason}\n", tests.join(", ")));
        }
        if !self.unexpected_failures.is_empty() {
            text.push_str(&format!(
                "  unexpected failures: {}\n",
                self.unexpected_failures.join(", ")
            ));
        }
        if !self.unexpected_passes.is_empty() {
            text.push_str(&format!(
                "  passing now, remove from regress/expected-failures.toml: {}\n",
                self.unexpected_passes.join(", ")
            ));
        }
        text
    }

    fn verdict(&self) -> Result<()> {
        if !self.unexpected_failures.is_empty() || !self.unexpected_passes.is_empty() {
            bail!(
                "{} unexpected failures, {} unexpected passes",
                self.unexpected_failures.len(),
                self.unexpected_passes.len()
            );
        }
        Ok(())
    }
}
