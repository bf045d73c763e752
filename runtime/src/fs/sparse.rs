//! File copies that keep holes. A hole reads as zeros, so a copy with the
//! same holes reads the same; a WAL segment that is mostly an unwritten
//! tail (PostgreSQL fills a new one with zeros) then costs only its data to
//! copy up, fork or freeze.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// How finely [`copy_punching_zeros`] looks for zeros: the filesystem's
/// usual block.
const BLOCK: usize = 4096;

/// Copies `from` to the new file `to` (mode `mode`), keeping `from`'s
/// holes; the data between them goes through `copy_file_range` (in the
/// kernel, a reflink where the filesystem can).
pub(crate) fn copy_keeping_holes(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let src = File::open(from)?;
    let len = src.metadata()?.len();
    let dst = create(to, mode)?;
    let mut at = 0u64;
    while at < len {
        let Some(data) = seek(&src, at, libc::SEEK_DATA)? else {
            break;
        };
        let end = seek(&src, data, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        copy_range(&src, &dst, data, end - data)?;
        at = end;
    }
    dst.set_len(len)
}

/// Copies `from` to the new file `to` (mode `mode`), leaving a hole for
/// every block of zeros: for frozen snapshots, copied once and forked
/// often.
pub(crate) fn copy_punching_zeros(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let src = File::open(from)?;
    let len = src.metadata()?.len();
    let dst = create(to, mode)?;
    let mut buf = vec![0u8; 256 * BLOCK];
    let mut at = 0u64;
    while at < len {
        let n = src.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        for (i, block) in buf[..n].chunks(BLOCK).enumerate() {
            if block.iter().any(|&b| b != 0) {
                dst.write_all_at(block, at + (i * BLOCK) as u64)?;
            }
        }
        at += n as u64;
    }
    dst.set_len(len)
}

/// Turns every block of zeros in the file at `path` into a hole, in place:
/// for files unpacked once and copied up often (the template's WAL segment
/// is mostly a zero-filled tail). A filesystem that cannot punch holes
/// keeps the zeros; the file reads the same either way.
pub(crate) fn punch_zeros(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; 256 * BLOCK];
    let mut zeros: Option<u64> = None;
    let mut at = 0u64;
    while at < len {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        for (i, block) in buf[..n].chunks(BLOCK).enumerate() {
            let offset = at + (i * BLOCK) as u64;
            // Only whole blocks: a short last block keeps its bytes.
            let zero = block.len() == BLOCK && block.iter().all(|&b| b == 0);
            match (zero, zeros) {
                (true, None) => zeros = Some(offset),
                (false, Some(start)) => {
                    zeros = None;
                    if !punch(&file, start, offset - start)? {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        at += n as u64;
    }
    if let Some(start) = zeros {
        punch(&file, start, at - start)?;
    }
    Ok(())
}

/// Deallocates `len` bytes at `at` (the size stays); `false` when the
/// filesystem cannot.
fn punch(file: &File, at: u64, len: u64) -> io::Result<bool> {
    // SAFETY: fallocate on a descriptor we own; no memory is passed.
    let done = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            at as libc::off_t,
            len as libc::off_t,
        )
    };
    if done == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::ENOSYS) => Ok(false),
        _ => Err(err),
    }
}

fn create(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// `lseek` for SEEK_DATA/SEEK_HOLE: `None` past the last data (ENXIO).
/// A filesystem without them reports the whole file as data.
fn seek(file: &File, from: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: lseek on a descriptor we own; no memory is passed.
    let at = unsafe { libc::lseek(file.as_raw_fd(), from as libc::off_t, whence) };
    if at >= 0 {
        return Ok(Some(at as u64));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENXIO) => Ok(None),
        Some(libc::EINVAL) if whence == libc::SEEK_DATA => Ok(Some(from)),
        Some(libc::EINVAL) => Ok(None),
        _ => Err(err),
    }
}

/// Copies `len` bytes at `at` from `src` to the same place in `dst`.
fn copy_range(src: &File, dst: &File, at: u64, len: u64) -> io::Result<()> {
    let mut done = 0u64;
    while done < len {
        let mut from = (at + done) as libc::off64_t;
        let mut to = from;
        // SAFETY: both descriptors are open; the offsets are locals.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut from,
                dst.as_raw_fd(),
                &mut to,
                (len - done) as usize,
                0,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                // Not between these files (another filesystem, old kernel):
                // through user space.
                Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) => {
                    copy_range_by_hand(src, dst, at + done, len - done)
                }
                _ => Err(err),
            };
        }
        if n == 0 {
            // The source is shorter than it was: what is there is copied.
            break;
        }
        done += n as u64;
    }
    Ok(())
}

fn copy_range_by_hand(src: &File, dst: &File, at: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * BLOCK];
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = src.read_at(&mut buf[..want], at + done)?;
        if n == 0 {
            break;
        }
        dst.write_all_at(&buf[..n], at + done)?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn copies_read_the_same_and_keep_or_make_holes() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("segment");
        // Data, a megabyte of written zeros, data, then a hole.
        let file = create(&original, 0o600).unwrap();
        file.write_all_at(&[1u8; 8192], 0).unwrap();
        file.write_all_at(&vec![0u8; 1 << 20], 8192).unwrap();
        file.write_all_at(&[2u8; 100], 8192 + (1 << 20)).unwrap();
        file.set_len(16 << 20).unwrap();
        let expected = std::fs::read(&original).unwrap();

        let punched = dir.path().join("punched");
        copy_punching_zeros(&original, &punched, 0o400).unwrap();
        assert_eq!(std::fs::read(&punched).unwrap(), expected);
        let meta = std::fs::metadata(&punched).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o400);
        // Two data blocks' worth, not the megabyte of zeros.
        assert!(
            meta.blocks() * 512 < 64 * 1024,
            "{} bytes",
            meta.blocks() * 512
        );

        let kept = dir.path().join("kept");
        copy_keeping_holes(&punched, &kept, 0o600).unwrap();
        assert_eq!(std::fs::read(&kept).unwrap(), expected);
        assert!(std::fs::metadata(&kept).unwrap().blocks() * 512 < 64 * 1024);
    }

    #[test]
    fn punching_in_place_keeps_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        let file = create(&path, 0o600).unwrap();
        // Data, written zeros, data in a block with zeros, written zeros to
        // the end, and a short last block of zeros.
        file.write_all_at(&[3u8; 5000], 0).unwrap();
        file.write_all_at(&vec![0u8; 2 << 20], 5000).unwrap();
        file.write_all_at(&[4u8; 10], 3 << 20).unwrap();
        file.write_all_at(&vec![0u8; (5 << 20) + 100], (3 << 20) + 10)
            .unwrap();
        drop(file);
        let expected = std::fs::read(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap().blocks();
        punch_zeros(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let after = std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(
            after < 64 * 1024,
            "{after} bytes allocated, {} before",
            before * 512
        );
    }
}
