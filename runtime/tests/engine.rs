//! Where the backend's native code comes from: AOT code, a compilation
//! cached on disk (feature `cranelift`), or an error naming that feature.

mod support;

use pglite_runtime::{engine, Error};

#[test]
fn the_embedded_artifacts_carry_aot_code_for_this_host() {
    let artifacts = support::artifacts();
    if cfg!(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    )) {
        assert!(artifacts.aot().is_some_and(|p| p.is_file()));
    }
    engine::module(&artifacts).unwrap();
}

#[test]
#[cfg(not(feature = "cranelift"))]
fn without_aot_code_and_without_a_compiler_the_error_names_the_feature() {
    let artifacts = support::artifacts().with_aot(None);
    let err = engine::module(&artifacts).unwrap_err();
    assert!(matches!(err, Error::NoCompiler { .. }), "{err}");
    assert!(err.to_string().contains("`cranelift` feature"), "{err}");
}

#[test]
fn damaged_aot_code_is_refused_or_replaced() {
    let artifacts = support::artifacts();
    let Some(aot) = artifacts.aot() else { return };
    let temp = tempfile::tempdir().unwrap();
    let truncated = temp.path().join("postgres.wasmu");
    let bytes = std::fs::read(aot).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let damaged = artifacts.clone().with_aot(Some(truncated));
    match engine::module(&damaged) {
        // Without a compiler: a clear error naming the file.
        Err(Error::Module(message)) => {
            assert!(!engine::can_compile());
            assert!(message.contains("cannot be used"), "{message}");
        }
        // With one: compiled from the wasm module instead.
        Ok(_) => assert!(engine::can_compile()),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// An smaps line that starts a mapping: "start-end perms offset ...".
#[cfg(target_os = "linux")]
fn is_mapping_header(line: &str) -> bool {
    line.split_whitespace().next().is_some_and(|range| {
        range.contains('-') && range.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
    })
}

/// Kilobytes of `file` that this process's mappings of it hold resident.
#[cfg(target_os = "linux")]
fn resident_kb(file: &std::path::Path) -> u64 {
    let file = std::fs::canonicalize(file).unwrap();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut mapped_here = false;
    let mut kb = 0;
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            if mapped_here {
                kb += rss
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
        } else if is_mapping_header(line) {
            mapped_here = line
                .find('/')
                .is_some_and(|at| std::path::Path::new(&line[at..]) == file);
        }
    }
    kb
}

#[test]
#[cfg(target_os = "linux")]
fn the_native_code_file_leaves_the_resident_set_once_loaded() {
    use pglite_runtime::{create_data_dir_from_template, BackendSession, SessionOptions};
    let artifacts = support::artifacts();
    let Some(aot) = artifacts.aot() else { return };
    let size_kb = std::fs::metadata(aot).unwrap().len() / 1024;
    engine::module(&artifacts).unwrap();
    // A backend runs, reading the data segments and metadata it needs
    // from the mapping again.
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    create_data_dir_from_template(&artifacts.template().unwrap(), &data).unwrap();
    let (mut session, _) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).unwrap();
    support::query(&mut session, "SELECT count(*) FROM pg_class");
    let resident = resident_kb(aot);
    assert!(
        resident < size_kb / 2,
        "{resident} kB of the {size_kb} kB file are resident"
    );
}
