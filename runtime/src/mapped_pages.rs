//! Takes a loaded module's serialized file out of the resident set (every
//! module loaded from a file: the backend, pg_dump, extensions, compiled
//! caches).
//!
//! Wasmer maps the serialized native code (`*.wasmu`, 26 MB for the
//! backend) and keeps the mapping for the module's lifetime; loading reads
//! all of it, so every page stays resident (24 MB of a 120 MB peak in the
//! speed suite) though the machine code has been copied out and only a few
//! metadata pages and the data segments are read again later. The mapping
//! is shared and read-only: its pages are clean page cache, so dropping
//! them from this process (`MADV_DONTNEED`) loses nothing, and a later read
//! faults the page back in from the file.

use std::path::Path;

/// Drops the resident pages of this process's read-only shared mappings of
/// `file`. Best effort: nothing happens where the mappings cannot be read.
#[cfg(target_os = "linux")]
pub(crate) fn release(file: &Path) {
    let Ok(file) = std::fs::canonicalize(file) else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, end) in maps
        .lines()
        .filter_map(|line| shared_read_only(line, &file))
    {
        // SAFETY: the range is a read-only shared file mapping of this
        // process (checked just above); MADV_DONTNEED on it only drops
        // clean pages, which the next access reads from the file again.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn release(_file: &Path) {}

/// The address range of a `/proc/self/maps` line, if it maps `file`
/// read-only and shared (`r--s`).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn shared_read_only(line: &str, file: &Path) -> Option<(usize, usize)> {
    // "start-end perms offset dev inode   path": only the path has a '/'.
    let path = &line[line.find('/')?..];
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    if fields.next()? != "r--s" || Path::new(path) != file {
        return None;
    }
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_only_shared_mappings_of_the_file_are_taken() {
        let file = Path::new("/cache/aot/postgres.wasmu");
        let line = "7fa2b2600000-7fa2b3ed1000 r--s 00000000 fe:01 1234   /cache/aot/postgres.wasmu";
        assert_eq!(
            shared_read_only(line, file),
            Some((0x7fa2b2600000, 0x7fa2b3ed1000))
        );
        let private = line.replace("r--s", "r--p");
        assert_eq!(shared_read_only(&private, file), None);
        let writable = line.replace("r--s", "rw-s");
        assert_eq!(shared_read_only(&writable, file), None);
        let other = line.replace("postgres.wasmu", "pg_dump.wasmu");
        assert_eq!(shared_read_only(&other, file), None);
        let deleted = format!("{line} (deleted)");
        assert_eq!(shared_read_only(&deleted, file), None);
        assert_eq!(
            shared_read_only("7fa2b1a41000-7fa2b2381000 r-xp 00000000 00:00 0", file),
            None
        );
    }
}
