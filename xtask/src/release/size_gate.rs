//! The size gate: a registry refuses a `.crate` above its upload limit, so
//! every packaged crate is measured before anything is published.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// 10 MiB: the default upload limit of the usual public registry. A crate
/// above it cannot be published there without the registry raising it for
/// this crate.
pub const MAX_CRATE_BYTES: u64 = 10 * 1024 * 1024;

/// How many of the largest files an oversized crate's error names.
const LARGEST_SHOWN: usize = 5;

/// The compressed size of `crate_file`; an error past `limit` names the
/// largest files inside it.
pub fn check(crate_file: &Path, limit: u64) -> Result<u64> {
    let size = std::fs::metadata(crate_file)
        .with_context(|| format!("reading {}", crate_file.display()))?
        .len();
    if size <= limit {
        return Ok(size);
    }
    let largest = largest_files(crate_file)?
        .into_iter()
        .take(LARGEST_SHOWN)
        .map(|(path, bytes)| format!("  {bytes:>12} bytes  {path}"))
        .collect::<Vec<_>>()
        .join("\n");
    bail!(
        "{} is {size} bytes compressed, over the {limit}-byte limit; its largest files \
         (uncompressed):\n{largest}",
        crate_file.display()
    )
}

/// The files of a `.crate` (a gzip-compressed tar), largest first.
fn largest_files(crate_file: &Path) -> Result<Vec<(String, u64)>> {
    let file = std::fs::File::open(crate_file)
        .with_context(|| format!("opening {}", crate_file.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .with_context(|| format!("reading {}", crate_file.display()))?
    {
        let entry = entry.with_context(|| format!("reading {}", crate_file.display()))?;
        files.push((entry.path()?.display().to_string(), entry.size()));
    }
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.crate` holding files of the given sizes (incompressible bytes).
    fn crate_file(dir: &Path, files: &[(&str, usize)]) -> std::path::PathBuf {
        let path = dir.join("demo-0.1.0.crate");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut state = 0x2545_f491_u32;
        for (name, size) in files {
            // xorshift: bytes that do not compress.
            let bytes: Vec<u8> = (0..*size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("demo-0.1.0/{name}"), bytes.as_slice())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    #[test]
    fn a_crate_under_the_limit_passes_with_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate_file(dir.path(), &[("src/lib.rs", 100), ("big.bin", 4000)]);
        let size = check(&path, MAX_CRATE_BYTES).unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn a_crate_over_the_limit_names_its_largest_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate_file(
            dir.path(),
            &[
                ("src/lib.rs", 100),
                ("artifacts/big.bin", 6000),
                ("mid.bin", 3000),
            ],
        );
        let err = check(&path, 4096).unwrap_err().to_string();
        assert!(err.contains("over the 4096-byte limit"), "{err}");
        let big = err.find("demo-0.1.0/artifacts/big.bin").expect(&err);
        let mid = err.find("demo-0.1.0/mid.bin").expect(&err);
        assert!(big < mid, "largest first: {err}");
        assert!(err.contains("6000 bytes"), "{err}");
    }
}
