//! Reads `global/pg_control`, to tell whether a data directory from
//! elsewhere (an archive) can run on this build.
//!
//! PostgreSQL refuses a data directory whose control file was written by
//! another version or for another layout of its structures, but only once a
//! backend reads it, and with a FATAL that ends the process. The host checks
//! first, against the build's own template, and says what differs.

use std::fmt;

/// The offsets below are those of PostgreSQL 15's `ControlFileData` as
/// compiled for wasm32 (8-byte alignment of 64-bit integers); a unit test
/// checks them against the template this build ships.
const PG_CONTROL_VERSION: usize = 8;
const CATALOG_VERSION: usize = 12;
const MAX_ALIGN: usize = 204;
const FLOAT_FORMAT: usize = 208;
const BLCKSZ: usize = 216;
const FLOAT8_BY_VAL: usize = 248;
/// `offsetof(ControlFileData, crc)`: the CRC-32C covers what precedes it.
const CRC: usize = 288;

/// The fields that must match for a backend to read a data directory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Compatibility {
    pub pg_control_version: u32,
    pub catalog_version: u32,
    pub max_align: u32,
    pub float_format: f64,
    /// blcksz, relseg_size, xlog_blcksz, xlog_seg_size, nameDataLen,
    /// indexMaxKeys, toast_max_chunk_size, loblksize.
    pub sizes: [u32; 8],
    pub float8_by_val: bool,
}

const SIZE_NAMES: [&str; 8] = [
    "block size",
    "segment size",
    "WAL block size",
    "WAL segment size",
    "maximum identifier length",
    "maximum index columns",
    "TOAST chunk size",
    "large object chunk size",
];

/// Why a control file cannot be used.
#[derive(Debug)]
pub(crate) enum ControlProblem {
    TooShort(usize),
    Checksum { stored: u32, computed: u32 },
}

impl fmt::Display for ControlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlProblem::TooShort(len) => {
                write!(f, "global/pg_control is {len} bytes, too short")
            }
            ControlProblem::Checksum { stored, computed } => write!(
                f,
                "global/pg_control is corrupt (CRC {stored:#010x} stored, {computed:#010x} computed)"
            ),
        }
    }
}

impl Compatibility {
    /// Parses a control file, checking its CRC.
    pub fn parse(bytes: &[u8]) -> Result<Self, ControlProblem> {
        if bytes.len() < CRC + 4 {
            return Err(ControlProblem::TooShort(bytes.len()));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
        let stored = u32_at(CRC);
        let computed = crc32c(&bytes[..CRC]);
        if stored != computed {
            return Err(ControlProblem::Checksum { stored, computed });
        }
        let mut sizes = [0; 8];
        for (i, size) in sizes.iter_mut().enumerate() {
            *size = u32_at(BLCKSZ + 4 * i);
        }
        Ok(Self {
            pg_control_version: u32_at(PG_CONTROL_VERSION),
            catalog_version: u32_at(CATALOG_VERSION),
            max_align: u32_at(MAX_ALIGN),
            float_format: f64::from_le_bytes(
                bytes[FLOAT_FORMAT..FLOAT_FORMAT + 8]
                    .try_into()
                    .unwrap_or([0; 8]),
            ),
            sizes,
            float8_by_val: bytes[FLOAT8_BY_VAL] != 0,
        })
    }

    /// What differs between `self` (a data directory from elsewhere) and
    /// `ours` (this build's), as a sentence; `None` when it can run here.
    pub fn mismatch(&self, ours: &Self) -> Option<String> {
        if self.pg_control_version != ours.pg_control_version
            || self.catalog_version != ours.catalog_version
        {
            return Some(format!(
                "it was made by another PostgreSQL version (control file version {}, catalog \
                 version {}; this build has {} and {})",
                self.pg_control_version,
                self.catalog_version,
                ours.pg_control_version,
                ours.catalog_version
            ));
        }
        let mut differences = Vec::new();
        if self.max_align != ours.max_align {
            differences.push(format!(
                "maximum alignment {} (here {})",
                self.max_align, ours.max_align
            ));
        }
        if self.float_format != ours.float_format {
            differences.push("another floating-point format".into());
        }
        for ((name, theirs), mine) in SIZE_NAMES.iter().zip(self.sizes).zip(ours.sizes) {
            if theirs != mine {
                differences.push(format!("{name} {theirs} (here {mine})"));
            }
        }
        if self.float8_by_val != ours.float8_by_val {
            differences.push(format!(
                "float8 passed {} (here {})",
                by(self.float8_by_val),
                by(ours.float8_by_val)
            ));
        }
        (!differences.is_empty()).then(|| {
            format!(
                "it was made for another architecture or build: {}",
                differences.join(", ")
            )
        })
    }
}

fn by(by_val: bool) -> &'static str {
    if by_val {
        "by value"
    } else {
        "by reference"
    }
}

/// CRC-32C (Castagnoli), as PostgreSQL's `COMP_CRC32C`.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Rewrites the CRC after `bytes` were changed (tests of refusals).
#[cfg(test)]
pub(crate) fn reseal(bytes: &mut [u8]) {
    let crc = crc32c(&bytes[..CRC]);
    bytes[CRC..CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn the_offsets_fit_the_template_of_this_build() {
        let artifacts = crate::Artifacts::new().unwrap();
        let template = crate::TemplateCache::open(&artifacts).unwrap();
        let bytes = std::fs::read(template.dir().join("global/pg_control")).unwrap();
        let ours = Compatibility::parse(&bytes).unwrap();
        assert_eq!(ours.pg_control_version, 1300);
        assert_eq!(ours.catalog_version / 1000, 202209);
        assert_eq!(ours.float_format, 1234567.0);
        assert_eq!(ours.sizes[0], 8192);
        assert_eq!(ours.sizes[3], 16 * 1024 * 1024);
        assert_eq!(ours.sizes[4], 64);
        assert_eq!(ours.mismatch(&ours), None);

        let mut foreign = bytes.clone();
        foreign[FLOAT8_BY_VAL] = 1;
        reseal(&mut foreign);
        let theirs = Compatibility::parse(&foreign).unwrap();
        let why = theirs.mismatch(&ours).unwrap();
        assert!(why.contains("another architecture"), "{why}");
        assert!(why.contains("float8 passed by value"), "{why}");

        let mut corrupt = bytes;
        corrupt[CATALOG_VERSION] ^= 1;
        assert!(matches!(
            Compatibility::parse(&corrupt),
            Err(ControlProblem::Checksum { .. })
        ));
    }
}
