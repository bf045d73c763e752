//! Started-backend images on disk, so that a new process starts its first
//! temporary database from the image an earlier process took.
//!
//! One file per image, written to a temporary name and renamed into place:
//! a magic line, the key it was taken for (a file found under another key's
//! name is refused), the image's parts as length-prefixed little-endian
//! fields, and an xxh64 checksum of all that. A damaged file is reported
//! and taken again; it is never partly applied.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh64::xxh64;

use super::{Runs, StartedImage};

/// Format 2: images of format 1 could hold the host's reserved entries
/// (installed extensions), which a later start finds in place already.
const MAGIC: &[u8] = b"pglite-oxide started image 2\n";

/// Writes `image` as `dir/name`.
pub(super) fn save(image: &StartedImage, dir: &Path, name: &str, key: &str) -> std::io::Result<()> {
    let mut out =
        Vec::with_capacity(MAGIC.len() + image.runs.total() + 16 * image.runs.len() + 4096);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, key.as_bytes());
    out.extend_from_slice(&image.memory_pages.to_le_bytes());
    put_bytes(&mut out, &image.output);
    out.extend_from_slice(&(image.files.len() as u64).to_le_bytes());
    for (path, contents) in &image.files {
        put_bytes(&mut out, path.as_os_str().as_encoded_bytes());
        match contents {
            None => out.push(0),
            Some(bytes) => {
                out.push(1);
                put_bytes(&mut out, bytes);
            }
        }
    }
    out.extend_from_slice(&(image.runs.len() as u64).to_le_bytes());
    for (offset, bytes) in image.runs.iter() {
        out.extend_from_slice(&offset.to_le_bytes());
        put_bytes(&mut out, bytes);
    }
    let sum = xxh64(&out, 0);
    out.extend_from_slice(&sum.to_le_bytes());

    fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(&format!("{name}.partial-"))
        .tempfile_in(dir)?;
    temp.write_all(&out)?;
    temp.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

/// Reads the image stored at `path` for `key`: `None` if there is none,
/// an error if the file is not a whole image of that key.
pub(super) fn load(path: &Path, key: &str) -> Result<Option<StartedImage>, String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let body_len = bytes
        .len()
        .checked_sub(8)
        .ok_or("shorter than its checksum")?;
    let (body, sum) = bytes.split_at(body_len);
    if xxh64(body, 0).to_le_bytes() != sum {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader {
        bytes: body,
        pos: 0,
    };
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not a started-backend image of this format".into());
    }
    if r.bytes()? != key.as_bytes() {
        return Err("taken for another module, template or arguments".into());
    }
    let memory_pages = r.u64()?;
    let output = r.bytes()?.to_vec();
    let mut files = Vec::new();
    for _ in 0..r.u64()? {
        let path =
            PathBuf::from(std::str::from_utf8(r.bytes()?).map_err(|_| "a file name is not UTF-8")?);
        if path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
            return Err(format!("file name {} leaves the root", path.display()));
        }
        let contents = match r.take(1)?[0] {
            0 => None,
            1 => Some(r.bytes()?.to_vec()),
            kind => return Err(format!("unknown entry kind {kind}")),
        };
        files.push((path, contents));
    }
    let mut ranges = Vec::new();
    for _ in 0..r.u64()? {
        let offset = r.u64()?;
        ranges.push((offset, r.range()?));
    }
    if r.pos != body.len() {
        return Err("trailing bytes".into());
    }
    Ok(Some(StartedImage {
        memory_pages,
        // The runs stay where they were read.
        runs: Runs::over(bytes, ranges),
        files,
        output,
    }))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let range = self.advance(n)?;
        Ok(&self.bytes[range])
    }

    fn advance(&mut self, n: usize) -> Result<std::ops::Range<usize>, String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("truncated")?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    /// A length-prefixed field's position.
    fn range(&mut self) -> Result<std::ops::Range<usize>, String> {
        let len = usize::try_from(self.u64()?).map_err(|_| "length overflows")?;
        self.advance(len)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let range = self.range()?;
        Ok(&self.bytes[range])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> StartedImage {
        StartedImage {
            memory_pages: 700,
            runs: {
                let mut runs = Runs::default();
                runs.push(65536, &[7; 65536]);
                runs.push(2 * 65536, &[8; 65536]);
                runs.push(40 << 20, &[1, 2, 3]);
                runs
            },
            files: vec![
                (PathBuf::from("global"), None),
                (PathBuf::from("global/pg_control"), Some(vec![9; 8192])),
            ],
            output: b"R\0\0\0\x08\0\0\0\0".to_vec(),
        }
    }

    #[test]
    fn an_image_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        save(&image(), dir.path(), "a.image", "key").unwrap();
        let back = load(&dir.path().join("a.image"), "key").unwrap().unwrap();
        let want = image();
        assert_eq!(back.memory_pages, want.memory_pages);
        assert_eq!(back.runs.len(), 2, "adjacent runs are merged");
        assert!(back.runs.iter().eq(want.runs.iter()));
        assert_eq!(back.files, want.files);
        assert_eq!(back.output, want.output);
        assert!(load(&dir.path().join("none.image"), "key")
            .unwrap()
            .is_none());
    }

    #[test]
    fn damaged_or_foreign_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        save(&image(), dir.path(), "a.image", "key").unwrap();
        let path = dir.path().join("a.image");
        assert!(load(&path, "other key").unwrap_err().contains("another"));

        let whole = fs::read(&path).unwrap();
        let mut flipped = whole.clone();
        flipped[whole.len() / 2] ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(load(&path, "key").unwrap_err().contains("checksum"));

        fs::write(&path, &whole[..whole.len() - 100]).unwrap();
        assert!(load(&path, "key").is_err());
        fs::write(&path, b"").unwrap();
        assert!(load(&path, "key").is_err());
    }
}
