//! What a serialized Wasmer module is made of: machine code, relocations,
//! trap and address maps, unwind tables, the module's data segments, and
//! the rest (module metadata, names, archive overhead). Sizes of lists are
//! element counts times their archived element size.

use std::mem::size_of;

use anyhow::{bail, Context, Result};
use wasmer_compiler::serialize::{SerializableCompilation, SerializableModule};
use wasmer_compiler::types::address_map::ArchivedInstructionAddressMap;
use wasmer_compiler::types::relocation::ArchivedRelocation;
use wasmer_types::TrapInformation;

/// One line of the breakdown.
pub struct Part {
    pub name: &'static str,
    pub bytes: u64,
    pub count: u64,
}

/// The parts of the serialized module in `bytes`.
pub fn anatomy(bytes: &[u8]) -> Result<Vec<Part>> {
    const MAGIC: usize = 16;
    const HEADER: usize = 16;
    if bytes.len() < MAGIC + HEADER || !bytes.starts_with(b"wasmer-universal") {
        bail!("not a serialized Wasmer module");
    }
    let len =
        wasmer_types::MetadataHeader::parse(&bytes[MAGIC..]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = bytes
        .get(MAGIC + HEADER..MAGIC + HEADER + len)
        .context("truncated module")?;
    let archived =
        SerializableModule::archive_from_slice_checked(body).map_err(|e| anyhow::anyhow!("{e}"))?;
    let module = SerializableModule::deserialize_from_archive(archived)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let SerializableCompilation::Rkyv(c) = &module.compilation else {
        bail!("an ELF artifact; no breakdown");
    };
    let mut parts = Vec::new();
    let mut part = |name, bytes: usize, count: usize| {
        parts.push(Part {
            name,
            bytes: bytes as u64,
            count: count as u64,
        })
    };
    let bodies = c.function_bodies.values();
    part(
        "machine code (functions)",
        bodies.clone().map(|b| b.body.len()).sum(),
        c.function_bodies.len(),
    );
    let relocations: usize = c.function_relocations.values().map(Vec::len).sum::<usize>()
        + c.custom_section_relocations
            .values()
            .map(Vec::len)
            .sum::<usize>();
    part(
        "relocations",
        relocations * size_of::<ArchivedRelocation>(),
        relocations,
    );
    let traps: usize = c.function_frame_info.values().map(|f| f.traps.len()).sum();
    part("trap sites", traps * size_of::<TrapInformation>(), traps);
    let addresses: usize = c
        .function_frame_info
        .values()
        .map(|f| f.address_map.instructions.len())
        .sum();
    part(
        "address map (wasm offset per instruction)",
        addresses * size_of::<ArchivedInstructionAddressMap>(),
        addresses,
    );
    part(
        "custom sections (unwind tables, constants)",
        c.custom_sections.values().map(|s| s.bytes.len()).sum(),
        c.custom_sections.len(),
    );
    part(
        "trampolines",
        c.function_call_trampolines
            .values()
            .chain(c.dynamic_function_trampolines.values())
            .map(|b| b.body.len())
            .sum(),
        c.function_call_trampolines.len() + c.dynamic_function_trampolines.len(),
    );
    part(
        "data segments",
        module.data_initializers.iter().map(|d| d.data.len()).sum(),
        module.data_initializers.len(),
    );
    let known: u64 = parts.iter().map(|p| p.bytes).sum();
    parts.push(Part {
        name: "the rest (module info, names, archive)",
        bytes: (bytes.len() as u64).saturating_sub(known),
        count: 0,
    });
    Ok(parts)
}
