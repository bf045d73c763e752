//! `cargo xtask <verb>`: command-line parsing and dispatch only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use xtask::aot::AotOptions;
use xtask::build::BuildOptions;
use xtask::layout::Layout;
use xtask::recipes::AotEngine;
use xtask::release::{Mode, NextVersion, Part, ReleaseOptions};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  toolchain check              report missing or wrong toolchain pieces
  toolchain install            install the toolchain (root; apt-get)
  fetch                        download and verify the pinned sources
  build [--verify-reproducible]
                               build PostgreSQL for wasm32-wasip1 into the work dir
  libraries                    only the libraries extensions link
                               (recipes/libraries), which `build` builds first
  template                     the initial data directory, made by the built
                               backend's initdb: out/template.tar.zst
  aot [--engine cranelift|llvm] [--out DIR] [--force]
                               native code for recipes/targets.toml (this
                               machine's targets): out/aot/<triple>/*.wasmu
  package [--verify]           deterministic .tar.zst archives of the runtime
                               files, template and AOT code into the crates,
                               manifests/assets.lock.toml, generated Rust;
                               --verify: write nothing, fail unless the
                               committed archives are byte-identical
  catalog                      the smoke test of every packaged extension;
                               manifests/extensions.toml and the constants
                               of the extensions that passed
  assets build                 fetch, build, aot, template, package, catalog
  check                        fast checks: recipes, committed artifacts
                               against the manifest, stale inputs, generated
                               Rust
  bench cold|cold-release      new temporary databases: spawn to first result,
                               a warm second one, native PostgreSQL beside
  bench api                    query round trip: direct API, in-process client, native PG
  bench fs                     wasmer-wasix's stock filesystem against ours
  bench fork                   forks, per-test fixture, 200 tests: fixture/fresh/native
  bench extensions             new temporary database to first query, with each
                               catalog extension and without
  bench engines|sizes          Cranelift and LLVM AOT code compared; sizes only
  bench speed [--quick] [--reps N] [--peer-sql DIR]
                               the speed suite (SQLite speedtest family) through
                               SQLx: our server, direct API, native PG; ratios
  bench vector                 the vector extension: first query, HNSW build,
                               latency and recall; native PG (PGXS) beside
  regress [TEST...]            PostgreSQL's regression suite (parallel_schedule)
                               against PgliteServer through psql; expected
                               failures in regress/expected-failures.toml
  release [--dry-run|--publish] [--version X.Y.Z | --bump major|minor|patch]
                               package every publishable crate in a copy of
                               HEAD (lockstep version, CHANGELOG.md, licenses,
                               provenance), size gate, a project outside the
                               workspace runs the quickstart from the .crate
                               files; --dry-run writes nothing here, no flag
                               writes the bump and changelog here, --publish
                               uploads the committed, tagged version
  test [ARGS...]               toolchain (if missing), fetch, build, aot,
                               template, then `cargo test --workspace ARGS...`
                               on the build output
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let layout = Layout::from_env()?;
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if !xtask::aot::HAS_LLVM && compiles_with(&layout, &words)? == Some(AotEngine::Llvm) {
        // Building xtask with LLVM needs LLVM's development files.
        match words.first() {
            Some(&"test") => xtask::test::ensure_toolchain(&layout)?,
            _ => xtask::toolchain::check(&layout)
                .context("this command compiles with LLVM, from the toolchain")?,
        }
        return xtask::aot::rerun_with_llvm(args);
    }
    match words.as_slice() {
        ["toolchain", "check"] => xtask::toolchain::check(&layout),
        ["toolchain", "install"] => xtask::toolchain::install(&layout),
        ["fetch"] => xtask::fetch::fetch(&layout),
        ["build", flags @ ..] => xtask::build::run(&layout, &build_options(&layout, flags)?),
        ["libraries"] => xtask::libraries::run(&layout),
        ["template"] => xtask::template::run(&layout),
        ["aot", flags @ ..] => xtask::aot::run(&layout, &aot_options(flags)?).map(|_| ()),
        ["package"] => xtask::package::run(&layout, false),
        ["package", "--verify"] => xtask::package::run(&layout, true),
        ["catalog"] => xtask::catalog::run(&layout),
        ["assets", "build"] => xtask::assets::build(&layout),
        ["check"] => xtask::check::check(&layout),
        // Hidden: one engine's measurements, in a process of its own.
        ["bench", "engine-worker", _engine, path] => {
            xtask::bench::engine_worker(&layout, std::path::Path::new(path))
        }
        ["bench", suite, flags @ ..] => xtask::bench::run(&layout, suite, flags),
        ["release", flags @ ..] => xtask::release::run(&layout, &release_options(flags)?),
        ["regress", rest @ ..] => xtask::regress::run(&layout, rest),
        ["test", rest @ ..] => xtask::test::run(
            &layout,
            &rest.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ),
        [] | ["help" | "-h" | "--help"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command `{}`\n\n{USAGE}", words.join(" ")),
    }
}

/// The engine a command compiles AOT code with, if it compiles any.
/// (LLVM is an optional feature of xtask: `check`, `toolchain install`
/// and the rest run before LLVM's development files are installed.)
fn compiles_with(layout: &Layout, words: &[&str]) -> Result<Option<AotEngine>> {
    let recipe = || -> Result<AotEngine> {
        Ok(xtask::recipes::TargetsRecipe::load(&layout.recipe("targets.toml"))?.engine)
    };
    Ok(match words {
        ["aot", flags @ ..] => Some(match aot_options(flags)?.engine {
            Some(engine) => engine,
            None => recipe()?,
        }),
        ["assets", "build"] | ["regress", ..] | ["test", ..] => Some(recipe()?),
        _ => None,
    })
}

fn aot_options(flags: &[&str]) -> Result<AotOptions> {
    let mut options = AotOptions::default();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        match *flag {
            "--engine" => match flags.next() {
                Some(name) => options.engine = Some(AotEngine::parse(name)?),
                None => bail!("--engine needs cranelift or llvm"),
            },
            "--out" => match flags.next() {
                Some(path) => options.out = Some(PathBuf::from(path)),
                None => bail!("--out needs a directory"),
            },
            "--force" => options.force = true,
            other => bail!("unknown aot option `{other}`\n\n{USAGE}"),
        }
    }
    Ok(options)
}

fn build_options(layout: &Layout, flags: &[&str]) -> Result<BuildOptions> {
    let mut options = BuildOptions {
        recipe: layout.recipe("postgres.toml"),
        verify_reproducible: false,
    };
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        match *flag {
            "--verify-reproducible" => options.verify_reproducible = true,
            // Hidden: build from another recipe (experiments, driver tests).
            "--recipe" => match flags.next() {
                Some(path) => options.recipe = PathBuf::from(path),
                None => bail!("--recipe needs a path"),
            },
            other => bail!("unknown build option `{other}`\n\n{USAGE}"),
        }
    }
    Ok(options)
}

fn release_options(flags: &[&str]) -> Result<ReleaseOptions> {
    let mut mode = Mode::Prepare;
    let mut next = NextVersion::Current;
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        match *flag {
            "--dry-run" if mode == Mode::Prepare => mode = Mode::DryRun,
            "--publish" if mode == Mode::Prepare => mode = Mode::Publish,
            "--dry-run" | "--publish" => bail!("--dry-run and --publish exclude each other"),
            "--version" | "--bump" if next != NextVersion::Current => {
                bail!("give one of --version and --bump")
            }
            "--version" => match flags.next() {
                Some(v) => {
                    next = NextVersion::Exact(
                        semver::Version::parse(v).with_context(|| format!("--version {v}"))?,
                    )
                }
                None => bail!("--version needs X.Y.Z"),
            },
            "--bump" => match flags.next() {
                Some(part) => next = NextVersion::Bump(Part::parse(part)?),
                None => bail!("--bump needs major, minor or patch"),
            },
            other => bail!("unknown release option `{other}`\n\n{USAGE}"),
        }
    }
    Ok(ReleaseOptions { mode, next })
}
