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
