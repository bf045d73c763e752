//! Running long commands: output to a log file, a spinner showing the current
//! step and its latest output line, and the log's tail on failure.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// Lines of a failed step's log shown on the terminal.
const TAIL_LINES: usize = 40;

/// Progress over a fixed number of steps.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {prefix} {wide_msg}")
                .expect("valid progress template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Prints a line above the bar (or plainly, when stderr is no terminal).
    pub fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Runs `command` as step `name`, its stdout and stderr appended to `log`
    /// (which is truncated first). Fails with the log's tail on a non-zero exit.
    pub fn run(&self, name: &str, mut command: Command, log: &Path) -> Result<()> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        writeln!(file, "$ {}", describe(&command))?;
        file.flush()?;
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file.try_clone()?);
        self.bar.set_prefix(name.to_string());
        self.bar.set_message("");
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("step {name}: starting `{}`", describe(&command)))?;
        let mut last_peek = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if last_peek.elapsed() >= Duration::from_millis(500) {
                last_peek = Instant::now();
                let line = last_line(log).unwrap_or_default();
                self.bar
                    .set_message(format!("{:>4}s  {line}", started.elapsed().as_secs()));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let elapsed = started.elapsed().as_secs_f32();
        self.bar.inc(1);
        if status.success() {
            self.note(&format!("  done  {name} ({elapsed:.1}s)"));
            return Ok(());
        }
        let tail = tail_lines(log, TAIL_LINES).unwrap_or_default();
        self.note(&format!(
            "  FAILED {name} ({status}) after {elapsed:.1}s; last lines of {}:\n{tail}",
            log.display()
        ));
        bail!("step {name} failed ({status}); full log: {}", log.display())
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A shell-like rendering of a command for logs and messages.
pub fn describe(command: &Command) -> String {
    let mut parts = Vec::new();
    if let Some(dir) = command.get_current_dir() {
        parts.push(format!("cd {} &&", dir.display()));
    }
    parts.push(command.get_program().to_string_lossy().into_owned());
    parts.extend(command.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

/// The last `n` lines of a file (reading at most its last 256 KiB).
pub fn tail_lines(path: &Path, n: usize) -> Result<String> {
    let text = read_end(path, 256 * 1024)?;
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    Ok(lines[start..].join("\n"))
}

fn last_line(path: &Path) -> Result<String> {
    let text = read_end(path, 4096)?;
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Ok(line.chars().take(160).collect())
}

fn read_end(path: &Path, max: u64) -> Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successful_step_logs_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/ok.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2"]);
        let progress = Progress::new(1);
        progress.run("ok", command, &log).unwrap();
        progress.finish();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.starts_with("$ sh -c"), "{text}");
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    }

    #[test]
    fn failed_step_names_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("bad.log");
        let mut command = Command::new("sh");
        command.args(["-c", "for i in $(seq 1 100); do echo line$i; done; exit 3"]);
        let err = Progress::new(1).run("bad", command, &log).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("step bad failed") && msg.contains("bad.log"),
            "{msg}"
        );
        let tail = tail_lines(&log, TAIL_LINES).unwrap();
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.ends_with("line100"));
    }
}
