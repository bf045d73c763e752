//! The artifacts embedded in the crates, unpacked once per machine into the
//! user's cache directory.
//!
//! The cache directory is named after the embedded archives' hashes, so two
//! versions never share one. Unpacking checks each archive against the
//! sha256 the manifest recorded (a mismatch is an [`Error::Integrity`]),
//! works in a temporary directory and renames it into place, so a crash
//! leaves nothing half-made under the final name. A receipt of every file
//! is written last; each later use checks the files against it (sizes, or
//! hashes on request) and unpacks again when anything is missing or wrong.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::receipt::{Receipt, Verification};
use crate::{Error, Result};

/// Overrides the cache root (default: `$XDG_CACHE_HOME/pglite-oxide`,
/// `~/.cache/pglite-oxide`, else a directory under the system's temp dir).
pub const CACHE_DIR_ENV: &str = "PGLITE_OXIDE_CACHE_DIR";

/// In an unpacked directory: what it holds, written last.
pub(crate) const RECEIPT_FILE: &str = "RECEIPT";

/// One archive compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbeddedArchive {
    /// Names it in messages.
    pub name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    pub bytes: &'static [u8],
    pub placement: Placement,
}

/// Where an archive's contents go in the unpacked directory.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placement {
    /// Unpacked (`.tar.zst`) into this subdirectory (`""`: the top).
    Unpack(&'static str),
    /// Written as it is, as this file (the template stays an archive).
    File(&'static str),
}

/// One extension compiled into the binary: its tree (`share/`, `lib/`) and
/// the native code of its modules for this target, if it has modules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmbeddedExtension {
    pub name: &'static str,
    pub files: EmbeddedArchive,
    pub native: Option<EmbeddedArchive>,
}

/// The root of everything this crate caches.
pub(crate) fn cache_root() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty(CACHE_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    let base = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("pglite-oxide"))
}

/// The directory holding the embedded artifacts, unpacked and checked.
pub(crate) fn unpacked(verification: Verification) -> Result<PathBuf> {
    #[cfg(feature = "embedded")]
    {
        use std::sync::{Mutex, OnceLock};
        // Checked once per process at the strongest level asked for.
        static DONE: OnceLock<Mutex<Option<(PathBuf, Verification)>>> = OnceLock::new();
        let done = DONE.get_or_init(Default::default);
        let mut done = done.lock().expect("embedded artifacts lock poisoned");
        if let Some((dir, level)) = done.as_ref() {
            if *level == Verification::Full || verification == Verification::Sizes {
                return Ok(dir.clone());
            }
        }
        let root = cache_root()
            .unwrap_or_else(|| std::env::temp_dir().join("pglite-oxide"))
            .join("artifacts");
        let dir = unpack_into(
            &root,
            crate::generated::embedded::ARCHIVES,
            verification,
            start_module_load,
        )?;
        *done = Some((dir.clone(), verification));
        Ok(dir)
    }
    #[cfg(not(feature = "embedded"))]
    {
        let _ = verification;
        Err(Error::Artifacts {
            dir: PathBuf::new(),
            problem: "pglite-runtime was built without its `embedded` feature; \
                      enable it or name a directory with PGLITE_OXIDE_ARTIFACTS"
                .into(),
        })
    }
}

/// The embedded extension `name`, unpacked on first use into a directory
/// of its own (checked like the other artifacts): its tree, and the
/// directory of its native code if it has some. `None`: not embedded.
pub(crate) fn extension(
    name: &str,
    verification: Verification,
) -> Result<Option<(PathBuf, Option<PathBuf>)>> {
    #[cfg(feature = "extensions")]
    {
        let Some(extension) = crate::generated::embedded::EXTENSIONS
            .iter()
            .find(|e| e.name == name)
        else {
            return Ok(None);
        };
        let root = cache_root()
            .unwrap_or_else(|| std::env::temp_dir().join("pglite-oxide"))
            .join("extensions");
        let archives: Vec<EmbeddedArchive> = std::iter::once(extension.files)
            .chain(extension.native)
            .collect();
        let dir = unpack_into(&root, &archives, verification, |_, _, _| {})?;
        let native = extension.native.map(|_| dir.join(NATIVE_SUBDIR));
        Ok(Some((dir.join(FILES_SUBDIR), native)))
    }
    #[cfg(not(feature = "extensions"))]
    {
        let _ = (name, verification);
        Ok(None)
    }
}

/// Where an unpacked extension's tree and native code go.
pub(crate) const FILES_SUBDIR: &str = "files";
pub(crate) const NATIVE_SUBDIR: &str = "native";

/// The sha256 the manifest records for the embedded template archive,
/// which the unpacked directory holds as it is (checked by size on use).
pub(crate) fn template_sha256() -> Option<&'static str> {
    #[cfg(feature = "embedded")]
    {
        crate::generated::embedded::ARCHIVES
            .iter()
            .find(|a| matches!(a.placement, Placement::File(name) if name == crate::roots::TEMPLATE_FILE))
            .map(|a| a.sha256)
    }
    #[cfg(not(feature = "embedded"))]
    {
        None
    }
}

/// The name of the directory for `archives`: a digest of their hashes.
fn bundle_name(archives: &[EmbeddedArchive]) -> String {
    let mut hasher = Sha256::new();
    for archive in archives {
        hasher.update(archive.name.as_bytes());
        hasher.update([0]);
        hasher.update(archive.sha256.as_bytes());
    }
    hex::encode(&hasher.finalize()[..10])
}

/// Makes sure `archives` are unpacked and sound under `root`; returns the
/// directory.
pub(crate) fn unpack_into(
    root: &Path,
    archives: &[EmbeddedArchive],
    verification: Verification,
    before_check: fn(&Path, &Receipt, Verification),
) -> Result<PathBuf> {
    let dir = root.join(bundle_name(archives));
    let receipt = Receipt::read(&dir.join(RECEIPT_FILE))?;
    if let Some(receipt) = &receipt {
        before_check(&dir, receipt, verification);
    }
    let problem = match receipt {
        None if dir.exists() => Some("its receipt is missing or damaged".into()),
        None => Some("not unpacked yet".into()),
        Some(receipt) => receipt.check(&dir, verification),
    };
    match problem {
        None => return Ok(dir),
        Some(problem) if dir.exists() => {
            tracing::warn!(
                dir = %dir.display(),
                %problem,
                "unpacked artifacts are damaged; unpacking them again"
            );
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io("removing", &dir, e))?;
        }
        Some(_) => {}
    }
    std::fs::create_dir_all(root).map_err(|e| Error::io("creating", root, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(root)
        .map_err(|e| Error::io("creating a directory in", root, e))?;
    for archive in archives {
        verify_embedded(archive)?;
        place(archive, staging.path())?;
    }
    Receipt::of_dir(staging.path(), RECEIPT_FILE)?.write(&staging.path().join(RECEIPT_FILE))?;
    let staged = staging.keep();
    if let Err(err) = std::fs::rename(&staged, &dir) {
        // Another process may have finished first; its copy is as good.
        let _ = std::fs::remove_dir_all(&staged);
        if check(&dir, Verification::Sizes)?.is_some() {
            return Err(Error::io("renaming into", &dir, err));
        }
    }
    Ok(dir)
}

/// Starts loading the backend's native code in `dir` before the rest is
/// checked, when `receipt` vouches for that file as the check would (by
/// size): the load takes longer than the check of 700 files, and overlaps
/// it. A later problem elsewhere unpacks the same bytes again.
fn start_module_load(dir: &Path, receipt: &Receipt, verification: Verification) {
    let Some(triple) = crate::generated::AOT_TARGET else {
        return;
    };
    let path = format!("aot/{triple}/{}", crate::artifacts::AOT_MODULE_FILE);
    let aot = dir.join(&path);
    let sound = receipt.entry(&path).is_some_and(|entry| {
        std::fs::metadata(&aot).is_ok_and(|meta| meta.is_file() && meta.len() == entry.size)
    });
    if sound && verification == Verification::Sizes {
        crate::engine::preload_files(crate::engine::ModuleFiles {
            wasm: dir.join("postgres.wasm"),
            aot: Some(aot),
            verified: true,
        });
    }
}

/// The first problem with the unpacked directory, if any.
fn check(dir: &Path, verification: Verification) -> Result<Option<String>> {
    Ok(match Receipt::read(&dir.join(RECEIPT_FILE))? {
        None if dir.exists() => Some("its receipt is missing or damaged".into()),
        None => Some("not unpacked yet".into()),
        Some(receipt) => receipt.check(dir, verification),
    })
}

fn verify_embedded(archive: &EmbeddedArchive) -> Result<()> {
    let size = archive.bytes.len() as u64;
    let sha256 = hex::encode(Sha256::digest(archive.bytes));
    if size != archive.size || sha256 != archive.sha256 {
        return Err(Error::Integrity {
            what: format!("embedded archive `{}`", archive.name),
            problem: format!(
                "{size} bytes with sha256 {sha256}; the manifest says {} bytes with sha256 {} \
                 (an AOT crate and pglite-runtime from different releases?)",
                archive.size, archive.sha256
            ),
        });
    }
    Ok(())
}

fn place(archive: &EmbeddedArchive, staging: &Path) -> Result<()> {
    match archive.placement {
        Placement::File(name) => {
            let path = staging.join(name);
            std::fs::write(&path, archive.bytes).map_err(|e| Error::io("writing", &path, e))
        }
        Placement::Unpack(subdir) => {
            let dest = staging.join(subdir);
            std::fs::create_dir_all(&dest).map_err(|e| Error::io("creating", &dest, e))?;
            let corrupt = |e: std::io::Error| Error::Integrity {
                what: format!("embedded archive `{}`", archive.name),
                problem: format!("unpacking failed: {e}"),
            };
            let decoder = zstd::Decoder::new(archive.bytes).map_err(corrupt)?;
            // tar refuses entries that would land outside `dest`.
            tar::Archive::new(decoder).unpack(&dest).map_err(corrupt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_zst(files: &[(&str, &[u8])]) -> &'static [u8] {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, *bytes).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        Vec::leak(zstd::encode_all(tar.as_slice(), 3).unwrap())
    }

    fn archive(name: &'static str, bytes: &'static [u8], placement: Placement) -> EmbeddedArchive {
        EmbeddedArchive {
            name,
            sha256: String::leak(hex::encode(Sha256::digest(bytes))),
            size: bytes.len() as u64,
            bytes,
            placement,
        }
    }

    fn archives() -> Vec<EmbeddedArchive> {
        vec![
            archive(
                "runtime",
                tar_zst(&[("postgres.wasm", b"wasm"), ("share/postgres.bki", b"bki")]),
                Placement::Unpack(""),
            ),
            archive(
                "template",
                b"template bytes",
                Placement::File("template.tar.zst"),
            ),
            archive(
                "aot",
                tar_zst(&[("postgres.wasmu", b"native")]),
                Placement::Unpack("aot/x86_64-unknown-linux-gnu"),
            ),
        ]
    }

    #[test]
    fn unpacks_once_and_reuses() {
        let root = tempfile::tempdir().unwrap();
        let archives = archives();
        let dir = unpack_into(root.path(), &archives, Verification::Full, |_, _, _| {}).unwrap();
        assert_eq!(
            std::fs::read(dir.join("share/postgres.bki")).unwrap(),
            b"bki"
        );
        assert_eq!(
            std::fs::read(dir.join("template.tar.zst")).unwrap(),
            b"template bytes"
        );
        assert!(dir
            .join("aot/x86_64-unknown-linux-gnu/postgres.wasmu")
            .is_file());
        let marker = dir.join("marker");
        std::fs::write(&marker, "").unwrap();
        assert_eq!(
            unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap(),
            dir
        );
        assert!(marker.exists(), "a sound directory is not unpacked again");
        let leftovers = std::fs::read_dir(root.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no staging directories are left behind");
    }

    #[test]
    fn damaged_caches_are_unpacked_again() {
        let root = tempfile::tempdir().unwrap();
        let archives = archives();
        let dir = unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap();
        let wasmu = dir.join("aot/x86_64-unknown-linux-gnu/postgres.wasmu");

        std::fs::write(&wasmu, b"nat").unwrap(); // truncated
        unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap();
        assert_eq!(std::fs::read(&wasmu).unwrap(), b"native");

        std::fs::write(&wasmu, b"NATIVE").unwrap(); // same size, other bytes
        unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap();
        assert_eq!(
            std::fs::read(&wasmu).unwrap(),
            b"NATIVE",
            "sizes cannot see it"
        );
        unpack_into(root.path(), &archives, Verification::Full, |_, _, _| {}).unwrap();
        assert_eq!(std::fs::read(&wasmu).unwrap(), b"native", "hashes can");

        std::fs::remove_file(dir.join(RECEIPT_FILE)).unwrap();
        std::fs::remove_file(dir.join("postgres.wasm")).unwrap();
        unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap();
        assert!(dir.join("postgres.wasm").is_file());
    }

    #[test]
    fn embedded_bytes_that_do_not_match_the_manifest_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let mut archives = archives();
        archives[2].sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
        let err =
            unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{err}");
        assert!(err.to_string().contains("`aot`"), "{err}");

        let mut archives = self::archives();
        archives[0] = archive("runtime", b"not zstd", Placement::Unpack(""));
        let err =
            unpack_into(root.path(), &archives, Verification::Sizes, |_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("unpacking failed"), "{err}");
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert!(
            names.is_empty(),
            "nothing is left after a failure: {names:?}"
        );
    }
}
