//! The build driver on a tiny fake source: extraction, patches, steps,
//! placeholders, outputs, fingerprints and the reproducibility check.
//! Needs `tar`, `patch` and `sh`; no network, no root.

use std::fs;
use std::path::{Path, PathBuf};

use xtask::build::{build, BuildOptions};
use xtask::hashing::sha256_bytes;
use xtask::layout::Layout;

const GOOD_PATCH: &str = "\
--- a/hello.txt
+++ b/hello.txt
@@ -1 +1 @@
-hello
+hello, patched
";

const DETERMINISTIC: &str = r#"mkdir -p {build}/install/share && cp hello.txt {build}/result.txt && echo "$SOURCE_DATE_EPOCH $LC_ALL $TZ $GREETING" > {build}/install/share/env.txt"#;

struct Fixture {
    _dir: tempfile::TempDir,
    layout: Layout,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("repo");
        let layout = Layout::new(&workspace, dir.path().join("work"));
        fs::create_dir_all(layout.recipes()).unwrap();
        fs::create_dir_all(layout.patches()).unwrap();
        fs::create_dir_all(layout.assets()).unwrap();
        fs::create_dir_all(layout.sources()).unwrap();

        let archive = tarball(&[
            ("tiny-1.0/hello.txt", "hello\n"),
            ("tiny-1.0/sub/data.txt", "data\n"),
        ]);
        fs::write(layout.sources().join("tiny_1.0.orig.tar"), &archive).unwrap();
        fs::write(
            layout.recipe("sources.toml"),
            format!(
                r#"
[source.tiny]
version = "1.0-1"
source_date_epoch = 1700000000
debian_patches = false
debian_patches_reason = "test fixture"
files = [{{ name = "tiny_1.0.orig.tar", sha256 = "{}" }}]
"#,
                sha256_bytes(&archive)
            ),
        )
        .unwrap();
        fs::write(layout.patches().join("0001-greet.patch"), GOOD_PATCH).unwrap();
        fs::write(layout.assets().join("bridge.c"), "int bridge;\n").unwrap();
        let fixture = Self { _dir: dir, layout };
        fixture.recipe(DETERMINISTIC);
        fixture
    }

    fn recipe(&self, script: &str) {
        let text = format!(
            r#"
[source]
name = "tiny"
archive = "tiny_1.0.orig.tar"
[vars]
greeting = "hi-{{jobs}}"
[env]
GREETING = "{{greeting}}"
[[step]]
name = "compile"
cwd = "src"
argv = ["sh", "-c", '{script}']
[[output]]
from = "result.txt"
to = "result.txt"
[[output]]
from = "install/share"
to = "share"
"#
        );
        fs::write(self.recipe_path(), text).unwrap();
    }

    fn recipe_path(&self) -> PathBuf {
        self.layout.recipe("postgres.toml")
    }

    fn build(&self, verify_reproducible: bool) -> anyhow::Result<()> {
        let options = BuildOptions {
            recipe: self.recipe_path(),
            verify_reproducible,
        };
        build(
            &self.layout,
            &options,
            &[("tar".into(), Some("1.34".into()))],
        )
    }

    fn out(&self, rel: &str) -> String {
        fs::read_to_string(self.layout.out().join(rel)).unwrap()
    }

    fn marker(&self) -> PathBuf {
        self.layout.build().join("postgres/marker")
    }
}

fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

fn message(result: anyhow::Result<()>) -> String {
    format!("{:#}", result.expect_err("expected an error"))
}

#[test]
fn builds_with_patches_placeholders_and_clean_env() {
    let f = Fixture::new();
    f.build(false).unwrap();
    assert_eq!(f.out("result.txt"), "hello, patched\n");
    let jobs = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        f.out("share/env.txt"),
        format!("1700000000 C UTC hi-{jobs}\n")
    );
    assert!(f.layout.logs().join("compile.log").is_file());
    assert!(f.layout.stamps().join("build.fingerprint").is_file());
}

#[test]
fn unchanged_inputs_skip_the_build_and_changed_inputs_rebuild() {
    let f = Fixture::new();
    f.build(false).unwrap();
    fs::write(f.marker(), "").unwrap();
    f.build(false).unwrap();
    assert!(f.marker().exists(), "an up-to-date build must not rebuild");

    fs::remove_file(f.layout.out().join("result.txt")).unwrap();
    f.build(false).unwrap();
    assert!(!f.marker().exists(), "a missing output must rebuild");
    assert_eq!(f.out("result.txt"), "hello, patched\n");

    fs::write(f.marker(), "").unwrap();
    f.build(false).unwrap();
    assert!(f.marker().exists());
    fs::write(f.layout.assets().join("new.h"), "#define X 1\n").unwrap();
    f.build(false).unwrap();
    assert!(!f.marker().exists(), "a changed asset must rebuild");
}

#[test]
fn steps_may_write_to_out_and_stale_outputs_are_removed() {
    let f = Fixture::new();
    fs::create_dir_all(f.layout.out()).unwrap();
    fs::write(f.layout.out().join("stale"), "old").unwrap();
    f.recipe(&format!(
        "{DETERMINISTIC} && echo direct > {{out}}/direct.txt"
    ));
    f.build(false).unwrap();
    assert_eq!(f.out("direct.txt"), "direct\n");
    assert_eq!(f.out("result.txt"), "hello, patched\n");
    assert!(!f.layout.out().join("stale").exists());
}

#[test]
fn reproducible_build_passes_verification() {
    let f = Fixture::new();
    f.build(true).unwrap();
    assert_eq!(
        fs::read(f.layout.work.join("out-verify/result.txt")).unwrap(),
        fs::read(f.layout.out().join("result.txt")).unwrap()
    );
}

#[test]
fn unreproducible_output_is_named() {
    let f = Fixture::new();
    f.recipe(&format!(
        "{DETERMINISTIC} && date +%s%N > {{build}}/install/share/stamp"
    ));
    let err = message(f.build(true));
    assert!(err.contains("not reproducible"), "{err}");
    assert!(err.contains("share/stamp"), "{err}");
    assert!(!err.contains("result.txt"), "{err}");
}

#[test]
fn failing_patch_is_named() {
    let f = Fixture::new();
    let broken = GOOD_PATCH.replace("-hello", "-goodbye");
    fs::write(f.layout.patches().join("0002-broken.patch"), broken).unwrap();
    let err = message(f.build(false));
    assert!(err.contains("0002-broken.patch"), "{err}");
}

#[test]
fn failing_step_names_its_log_and_keeps_no_stamp() {
    let f = Fixture::new();
    f.recipe("echo about to fail; exit 7");
    let err = message(f.build(false));
    assert!(err.contains("step compile failed"), "{err}");
    assert!(
        err.contains(&display(&f.layout.logs().join("compile.log"))),
        "{err}"
    );
    assert!(!f.layout.stamps().join("build.fingerprint").exists());
}

#[test]
fn placeholder_typo_fails_before_any_work() {
    let f = Fixture::new();
    f.recipe("make -j{job}");
    let err = message(f.build(false));
    assert!(err.contains("unknown placeholder {job}"), "{err}");
    assert!(!f.layout.build().join("postgres").exists());
}

#[test]
fn tampered_archive_is_refused() {
    let f = Fixture::new();
    fs::write(f.layout.sources().join("tiny_1.0.orig.tar"), "junk").unwrap();
    let err = message(f.build(false));
    assert!(err.contains("tiny_1.0.orig.tar"), "{err}");
    assert!(err.contains(&sha256_bytes(b"junk")), "{err}");
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
