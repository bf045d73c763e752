//! sha256 of files and verification of downloaded files against recipe pins.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::recipes::SourceFile;

/// Lowercase hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Lowercase hex sha256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The state of one pinned file in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Ok,
    Missing,
    Mismatch { expected: String, actual: String },
}

impl fmt::Display for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileState::Ok => write!(f, "ok"),
            FileState::Missing => write!(f, "missing"),
            FileState::Mismatch { expected, actual } => {
                write!(f, "sha256 mismatch: expected {expected}, actual {actual}")
            }
        }
    }
}

/// Checks each pinned file in `dir`, without failing on the first problem.
pub fn file_states(dir: &Path, files: &[SourceFile]) -> Result<Vec<(String, FileState)>> {
    files
        .iter()
        .map(|file| {
            let path = dir.join(&file.name);
            let state = match std::fs::metadata(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => FileState::Missing,
                Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
                Ok(_) => {
                    let actual = sha256_file(&path)?;
                    if actual == file.sha256 {
                        FileState::Ok
                    } else {
                        FileState::Mismatch {
                            expected: file.sha256.clone(),
                            actual,
                        }
                    }
                }
            };
            Ok((file.name.clone(), state))
        })
        .collect()
}

/// Verifies every pinned file in `dir`; any missing or mismatching file is an
/// error naming the file (and, for a mismatch, both hashes).
pub fn verify_files(dir: &Path, files: &[SourceFile]) -> Result<()> {
    let problems: Vec<String> = file_states(dir, files)?
        .into_iter()
        .filter(|(_, state)| *state != FileState::Ok)
        .map(|(name, state)| format!("{}: {state}", dir.join(name).display()))
        .collect();
    if !problems.is_empty() {
        bail!(
            "{} of {} files failed verification:\n  {}",
            problems.len(),
            files.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_known_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&path).unwrap(), want);
        assert_eq!(sha256_bytes(b"abc"), want);
    }

    #[test]
    fn reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = [SourceFile {
            name: "absent.tar".into(),
            sha256: "0".repeat(64),
        }];
        let states = file_states(dir.path(), &files).unwrap();
        assert_eq!(states[0].1, FileState::Missing);
        let err = verify_files(dir.path(), &files).unwrap_err().to_string();
        assert!(err.contains("absent.tar: missing"), "{err}");
    }
}
