//! Receipts: what a cache entry held when it was written (each file's size
//! and sha256), so that a later process can check it cheaply (sizes) or
//! fully (hashes) before trusting it.
//!
//! A receipt is a text file, one line per file: `<sha256> <size> <path>`,
//! sorted by path, after a header line naming the format.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

const HEADER: &str = "pglite-oxide receipt 1";

/// How thoroughly artifacts and cache entries are checked before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verification {
    /// Every file is present with its recorded size (a few stat calls).
    #[default]
    Sizes,
    /// Every file's sha256 matches (reads everything once).
    Full,
}

impl Verification {
    /// [`Verification::Full`] when the environment variable
    /// `PGLITE_OXIDE_VERIFY` is `full`, else [`Verification::Sizes`].
    pub fn from_env() -> Self {
        match std::env::var("PGLITE_OXIDE_VERIFY") {
            Ok(value) if value.eq_ignore_ascii_case("full") => Verification::Full,
            _ => Verification::Sizes,
        }
    }
}

/// One recorded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The recorded contents of a directory (or of a single file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Receipt {
    pub entries: Vec<Entry>,
}

impl Receipt {
    /// Records every regular file under `root` (paths relative to it, `/`
    /// separated), skipping the receipt file itself.
    pub fn of_dir(root: &Path, skip: &str) -> Result<Self> {
        let mut entries = Vec::new();
        let mut pending = vec![PathBuf::new()];
        while let Some(rel) = pending.pop() {
            let dir = root.join(&rel);
            let listing = std::fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
            for entry in listing {
                let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
                let child = rel.join(entry.file_name());
                let kind = entry
                    .file_type()
                    .map_err(|e| Error::io("stat", entry.path(), e))?;
                if kind.is_dir() {
                    pending.push(child);
                } else if kind.is_file() {
                    let path = slash_path(&child);
                    if path != skip {
                        entries.push(Entry::of_file(&root.join(&child), path)?);
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { entries })
    }

    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\n");
        for e in &self.entries {
            text.push_str(&format!("{} {} {}\n", e.sha256, e.size, e.path));
        }
        text
    }

    /// Parses a receipt; `None` if it is not one (truncated, edited).
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut entries = Vec::new();
        for line in lines {
            let mut fields = line.splitn(3, ' ');
            let sha256 = fields.next()?;
            let size = fields.next()?.parse().ok()?;
            let path = fields.next()?;
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            if path.is_empty() || path.split('/').any(|c| c.is_empty() || c == "..") {
                return None;
            }
            entries.push(Entry {
                path: path.to_string(),
                size,
                sha256: sha256.to_string(),
            });
        }
        if !text.ends_with('\n') || entries.is_empty() {
            return None;
        }
        Some(Self { entries })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_text()).map_err(|e| Error::io("writing", path, e))
    }

    /// Reads the receipt at `path`; `Ok(None)` when it is missing or not a
    /// receipt.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// The entry recorded for `path` (relative, `/` separated).
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Checks the files under `root` against this receipt; the first
    /// problem found, if any, as a sentence.
    pub fn check(&self, root: &Path, level: Verification) -> Option<String> {
        for entry in &self.entries {
            let path = root.join(&entry.path);
            let size = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => meta.len(),
                Ok(_) => return Some(format!("{} is not a file", entry.path)),
                Err(_) => return Some(format!("{} is missing", entry.path)),
            };
            if size != entry.size {
                return Some(format!(
                    "{} has {size} bytes, {} expected (truncated or changed)",
                    entry.path, entry.size
                ));
            }
            if level == Verification::Full {
                match sha256_file(&path) {
                    Ok(sha) if sha == entry.sha256 => {}
                    Ok(sha) => {
                        return Some(format!(
                            "{} has sha256 {sha}, {} expected (corrupt)",
                            entry.path, entry.sha256
                        ))
                    }
                    Err(e) => return Some(e.to_string()),
                }
            }
        }
        None
    }
}

impl Entry {
    pub fn of_file(file: &Path, path: String) -> Result<Self> {
        let size = std::fs::metadata(file)
            .map_err(|e| Error::io("stat", file, e))?
            .len();
        Ok(Self {
            path,
            size,
            sha256: sha256_file(file)?,
        })
    }
}

/// Lowercase hex sha256 of a file.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("share/tz")).unwrap();
        std::fs::write(dir.path().join("postgres.wasm"), b"module").unwrap();
        std::fs::write(dir.path().join("share/tz/UTC"), b"utc").unwrap();
        dir
    }

    #[test]
    fn a_receipt_round_trips_and_skips_itself() {
        let dir = tree();
        std::fs::write(dir.path().join("RECEIPT"), "old").unwrap();
        let receipt = Receipt::of_dir(dir.path(), "RECEIPT").unwrap();
        let paths: Vec<&str> = receipt.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["postgres.wasm", "share/tz/UTC"]);
        assert_eq!(Receipt::parse(&receipt.to_text()), Some(receipt));
    }

    #[test]
    fn damaged_receipts_are_not_receipts() {
        let dir = tree();
        let text = Receipt::of_dir(dir.path(), "").unwrap().to_text();
        assert!(Receipt::parse(&text[..text.len() - 3]).is_none());
        assert!(Receipt::parse(&text.replace(HEADER, "receipt 0")).is_none());
        assert!(Receipt::parse(&text.replace("share/tz/UTC", "../etc/passwd")).is_none());
        assert!(Receipt::parse(&format!("{HEADER}\n")).is_none());
    }

    #[test]
    fn sizes_catch_truncation_and_full_catches_same_size_corruption() {
        let dir = tree();
        let receipt = Receipt::of_dir(dir.path(), "").unwrap();
        assert_eq!(receipt.check(dir.path(), Verification::Full), None);
        std::fs::write(dir.path().join("postgres.wasm"), b"modulX").unwrap();
        assert_eq!(receipt.check(dir.path(), Verification::Sizes), None);
        let problem = receipt.check(dir.path(), Verification::Full).unwrap();
        assert!(
            problem.contains("postgres.wasm") && problem.contains("corrupt"),
            "{problem}"
        );
        std::fs::write(dir.path().join("postgres.wasm"), b"mod").unwrap();
        let problem = receipt.check(dir.path(), Verification::Sizes).unwrap();
        assert!(problem.contains("truncated"), "{problem}");
        std::fs::remove_file(dir.path().join("share/tz/UTC")).unwrap();
        std::fs::write(dir.path().join("postgres.wasm"), b"module").unwrap();
        let problem = receipt.check(dir.path(), Verification::Sizes).unwrap();
        assert!(problem.contains("missing"), "{problem}");
    }
}
