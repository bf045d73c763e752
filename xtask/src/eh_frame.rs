//! One `.eh_frame` object for a whole module instead of one per function.
//!
//! Wasmer's LLVM backend appends each function's `.eh_frame` (a CIE and
//! its FDEs) to the module's unwind section followed by a zero terminator,
//! and registers every piece that follows a terminator with the system
//! unwinder. With GCC's unwinder (libgcc 12 in Debian 12 and Ubuntu
//! 22.04) every registration is an object of its own, searched one after
//! the other for every frame of every unwind: with ~14,000 functions each
//! PostgreSQL `ERROR` (a wasm exception) cost 70-120 ms instead of 70 µs
//! (docs/decisions/0007-aot-backend.md).
//!
//! Dropping the inner terminators leaves one run of records that ends with
//! the last one: Wasmer then registers it once, and libgcc sorts its FDEs
//! on the first lookup and searches them by bisection. The records are not
//! changed: an FDE finds its CIE by an offset relative to itself, and both
//! move together; what points elsewhere (the function's address, its LSDA,
//! the personality routine) is written by relocations at load time, whose
//! offsets are moved with their records. A section that has one terminator
//! already (Cranelift's) comes out unchanged.

use anyhow::{bail, Result};
use wasmer_compiler::types::relocation::Relocation;

/// A record length of zero ends a run of records.
const TERMINATOR: [u8; 4] = [0; 4];

/// `section` without its inner terminators; moves `relocations` (offsets
/// into the section) with the records they belong to.
pub fn merge(section: &[u8], relocations: &mut [Relocation]) -> Result<Vec<u8>> {
    let mut merged = Vec::with_capacity(section.len());
    // Offsets (in `section`) of the terminators dropped so far, in order.
    let mut dropped: Vec<u32> = Vec::new();
    let mut at = 0usize;
    while at < section.len() {
        let Some(field) = section.get(at..at + 4) else {
            bail!(".eh_frame: a record length is cut off at offset {at}");
        };
        let len = u32::from_le_bytes(field.try_into().expect("four bytes"));
        if len == u32::MAX {
            bail!(".eh_frame: 64-bit DWARF records (at offset {at}) are not expected here");
        }
        if len == 0 {
            dropped.push(at as u32);
            at += 4;
            continue;
        }
        let end = at + 4 + len as usize;
        let Some(record) = section.get(at..end) else {
            bail!(".eh_frame: the record at offset {at} runs past the section's end");
        };
        merged.extend_from_slice(record);
        at = end;
    }
    if dropped.is_empty() {
        bail!(".eh_frame: no terminator at the end of the section");
    }
    // The last terminator stays; it is the one after the last record.
    merged.extend_from_slice(&TERMINATOR);
    for relocation in relocations {
        let before = dropped.partition_point(|&t| t < relocation.offset) as u32;
        if dropped.binary_search(&relocation.offset).is_ok() {
            bail!(
                ".eh_frame: a relocation at offset {} points into a terminator",
                relocation.offset
            );
        }
        relocation.offset -= 4 * before;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmer_compiler::types::relocation::{RelocationKind, RelocationTarget};
    use wasmer_types::LocalFunctionIndex;

    /// A record of `len` bytes after its length field, filled with `fill`.
    fn record(len: u32, fill: u8) -> Vec<u8> {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(fill, len as usize));
        bytes
    }

    fn relocation(offset: u32) -> Relocation {
        Relocation {
            kind: RelocationKind::PCRel4,
            reloc_target: RelocationTarget::LocalFunc(LocalFunctionIndex::from_u32(0)),
            offset,
            addend: 0,
        }
    }

    #[test]
    fn inner_terminators_go_and_relocations_follow_their_records() {
        // Two functions' pieces, each a CIE and an FDE then a terminator,
        // as Wasmer's LLVM backend lays them out.
        let mut section = Vec::new();
        section.extend(record(12, 1));
        section.extend(record(20, 2)); // FDE: relocation at its pc_begin, offset 16 + 8
        section.extend(TERMINATOR);
        let second = section.len() as u32;
        section.extend(record(12, 3));
        section.extend(record(20, 4));
        section.extend(TERMINATOR);
        let mut relocations = [relocation(24), relocation(second + 16 + 8)];

        let merged = merge(&section, &mut relocations).unwrap();

        let mut expected = Vec::new();
        expected.extend(record(12, 1));
        expected.extend(record(20, 2));
        expected.extend(record(12, 3));
        expected.extend(record(20, 4));
        expected.extend(TERMINATOR);
        assert_eq!(merged, expected);
        assert_eq!(relocations[0].offset, 24);
        assert_eq!(relocations[1].offset, second - 4 + 16 + 8);
        assert_eq!(merged[relocations[1].offset as usize], 4);
    }

    #[test]
    fn one_run_of_records_is_left_as_it_is() {
        let mut section = record(12, 1);
        section.extend(record(20, 2));
        section.extend(TERMINATOR);
        let mut relocations = [relocation(24)];
        assert_eq!(merge(&section, &mut relocations).unwrap(), section);
        assert_eq!(relocations[0].offset, 24);
    }

    #[test]
    fn damaged_sections_are_refused() {
        let mut cut = record(12, 1);
        cut.truncate(10);
        assert!(merge(&cut, &mut []).is_err());
        assert!(merge(&record(12, 1), &mut []).is_err(), "no terminator");
        let mut section = record(12, 1);
        section.extend(TERMINATOR);
        assert!(merge(&section, &mut [relocation(16)]).is_err());
    }
}
