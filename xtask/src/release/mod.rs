//! `cargo xtask release`: the workspace's publishable crates, packaged and
//! verified as users will get them.
//!
//! Everything happens in a scratch copy of the committed tree
//! (`<work>/release/workspace`, from `git archive HEAD`): the lockstep
//! version bump, the changelog section, the license files and provenance
//! of the artifact-carrying crates, `cargo package` of every publishable
//! crate in dependency order (each verified by building it from its
//! packaged sources), the size gate, and a project outside the workspace
//! that depends on the packaged crates, has its dependency tree checked on
//! every AOT target and one without, and runs the quickstart offline.
//!
//! - `--dry-run`: only that; the work tree is not touched.
//! - no flag: then the bumped manifests, `Cargo.lock` and `CHANGELOG.md`
//!   are copied into the work tree, to be reviewed, committed and tagged.
//! - `--publish`: the committed, tagged version (no bump), prepared the same
//!   way, then uploaded by plain `cargo publish` from the scratch copy to the
//!   machine's configured registry, so what was verified is what is
//!   uploaded.

mod changelog;
mod provenance;
mod scratch;
mod size_gate;
mod version;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use crate::layout::Layout;
use crate::manifest::{Manifest, MANIFEST_PATH};
use crate::recipes::TargetsRecipe;

pub use version::{NextVersion, Part};
use workspace::Crate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    DryRun,
    Prepare,
    Publish,
}

#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    pub mode: Mode,
    pub next: NextVersion,
}

pub fn run(layout: &Layout, options: &ReleaseOptions) -> Result<()> {
    let ws = &layout.workspace;
    ensure_clean(ws)?;
    crate::check::check(layout).context("`cargo xtask check` fails: nothing is released")?;
    if options.mode == Mode::Publish && options.next != NextVersion::Current {
        bail!(
            "--publish uploads the committed version: bump it first with \
             `cargo xtask release --bump ...`, commit and tag, then publish"
        );
    }

    let root = layout.work.join("release");
    let staging = root.join("workspace");
    copy_committed_tree(ws, &staging)?;
    let members = workspace::load(&staging)?;
    let current = version::current_version(&members.crates)?;
    let next = version::next_version(&current, &options.next)?;
    let tag = format!("v{next}");
    check_tag(ws, &tag, options.mode == Mode::Publish)?;
    println!(
        "release {next} (now {current}) of {}",
        members
            .crates
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut changed = Vec::new();
    if next != current {
        changed.extend(version::set_versions(&members.crates, &next)?);
        cargo(&staging, &["update", "--workspace", "--offline"])?;
        changed.push(staging.join("Cargo.lock"));
    }
    if options.mode != Mode::Publish {
        changed.push(write_changelog(ws, &staging, &next.to_string())?);
    }
    // Reload: the versions are the new ones now.
    let members = workspace::load(&staging)?;
    write_provenance(layout, &staging, &members.crates, &next.to_string())?;

    let crate_files = package(&staging, &members)?;
    let unpacked = unpack(&root.join("crates"), &members.crates, &crate_files)?;
    let targets = TargetsRecipe::load(&staging.join("recipes/targets.toml"))?;
    let project = scratch::Scratch::create(
        &root.join("quickstart"),
        &unpacked,
        &staging.join("Cargo.lock"),
    )?;
    for line in project.check_dependencies(&targets)? {
        println!("dependencies on {line}");
    }
    println!(
        "quickstart, built from the packaged crates in {}:",
        project.dir.display()
    );
    for line in project.run_quickstart()?.lines() {
        println!("  | {line}");
    }

    match options.mode {
        Mode::DryRun => println!(
            "dry run: nothing written to the work tree; the release copy is {}",
            staging.display()
        ),
        Mode::Prepare => {
            for path in &changed {
                let rel = path
                    .strip_prefix(&staging)
                    .context("changed file outside the copy")?;
                std::fs::copy(path, ws.join(rel))
                    .with_context(|| format!("writing {}", rel.display()))?;
                println!("wrote {}", rel.display());
            }
            println!(
                "next: review, `git commit -am \"Release {next}\"`, `git tag {tag}`, then \
                 `cargo xtask release --publish`"
            );
        }
        Mode::Publish => {
            let mut args = vec!["publish".to_string()];
            for krate in &members.crates {
                args.extend(["-p".to_string(), krate.name.clone()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cargo(&staging, &args)?;
            println!("published {tag}");
        }
    }
    Ok(())
}

/// Errors unless `git status` shows nothing: a release is made from
/// committed sources only.
fn ensure_clean(ws: &Path) -> Result<()> {
    let sh = Shell::new()?;
    let _cwd = sh.push_dir(ws);
    let status = cmd!(sh, "git status --porcelain").quiet().read()?;
    ensure!(
        status.trim().is_empty(),
        "the work tree has uncommitted changes; a release is made from committed sources:\n{status}"
    );
    Ok(())
}

/// For a new release, `tag` must not exist yet; to publish, it must name
/// the commit being published.
fn check_tag(ws: &Path, tag: &str, publish: bool) -> Result<()> {
    let sh = Shell::new()?;
    let _cwd = sh.push_dir(ws);
    let exists = cmd!(sh, "git rev-parse -q --verify refs/tags/{tag}")
        .quiet()
        .ignore_stdout()
        .run()
        .is_ok();
    if publish {
        let at_head = cmd!(sh, "git tag --points-at HEAD").quiet().read()?;
        ensure!(
            at_head.lines().any(|t| t == tag),
            "--publish needs HEAD tagged {tag} (the release commit)"
        );
    } else {
        ensure!(
            !exists,
            "{tag} is already released: pass --bump patch|minor|major or --version X.Y.Z"
        );
    }
    Ok(())
}

/// `git archive HEAD` into `to` (the tree is clean: HEAD is what is there).
fn copy_committed_tree(ws: &Path, to: &Path) -> Result<()> {
    crate::outputs::remove_dir_if_exists(to)?;
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let archive = to.with_extension("tar");
    let sh = Shell::new()?;
    let _cwd = sh.push_dir(ws);
    cmd!(sh, "git archive --format=tar -o {archive} HEAD")
        .quiet()
        .run()?;
    cmd!(sh, "tar -xf {archive} -C {to}").quiet().run()?;
    std::fs::remove_file(&archive)?;
    Ok(())
}

fn write_changelog(ws: &Path, staging: &Path, version: &str) -> Result<PathBuf> {
    let (since, commits) = changelog::commits_since_release(ws)?;
    let date = {
        let sh = Shell::new()?;
        cmd!(sh, "date -u +%Y-%m-%d").quiet().read()?
    };
    let section = changelog::section(version, &date, &commits);
    let path = staging.join(changelog::CHANGELOG);
    let existing = std::fs::read_to_string(&path).ok();
    let text = changelog::insert_section(existing.as_deref(), version, &section)?;
    std::fs::write(&path, text)?;
    println!(
        "{}: {} commits since {}, section {version}",
        changelog::CHANGELOG,
        commits.len(),
        since.as_deref().unwrap_or("the start (no release tag yet)")
    );
    Ok(path)
}

fn write_provenance(
    layout: &Layout,
    staging: &Path,
    crates: &[Crate],
    version: &str,
) -> Result<()> {
    let manifest = Manifest::load(&staging.join(MANIFEST_PATH))?;
    let components = provenance::components(layout, &manifest)?;
    let git_commit = {
        let sh = Shell::new()?;
        let _cwd = sh.push_dir(&layout.workspace);
        cmd!(sh, "git rev-parse HEAD").quiet().read()?
    };
    let mut carried = 0;
    for krate in crates {
        let rel = krate
            .dir
            .strip_prefix(staging)
            .context("crate outside the workspace")?;
        let release = provenance::CrateRelease {
            name: &krate.name,
            version,
            rel_dir: &crate::tree::rel_string(rel),
            git_commit: &git_commit,
        };
        let count = provenance::write(layout, &manifest, &components, &release, &krate.dir)?;
        if count > 0 {
            println!(
                "{}: {count} artifacts, {} and licenses of {}",
                krate.name,
                provenance::PROVENANCE_FILE,
                components
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        carried += count;
    }
    ensure!(
        carried == manifest.artifact.len(),
        "{} of the {} artifacts of {MANIFEST_PATH} are in no publishable crate",
        manifest.artifact.len() - carried,
        manifest.artifact.len()
    );
    Ok(())
}

/// Removes what an earlier `cargo package` of the same versions left in
/// cargo's home for its temporary local registry: cargo unpacks a crate
/// there once per name and version, and would verify a later package of
/// different contents against the old sources. Only local registries
/// (directories named `-<hash>`, no host) are touched.
fn forget_verified_sources(members: &workspace::Workspace) -> Result<()> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME")?;
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for krate in &members.crates {
                let stem = format!("{}-{}", krate.name, krate.version);
                let dir = registry.path().join(&stem);
                if dir.is_dir() {
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("removing {}", dir.display()))?;
                }
                let file = registry.path().join(format!("{stem}.crate"));
                if file.is_file() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("removing {}", file.display()))?;
                }
            }
        }
    }
    Ok(())
}

/// `cargo package` of every publishable crate together (cargo verifies
/// each against the others through a temporary local registry, in
/// dependency order), then the size gate; returns the `.crate` files.
fn package(staging: &Path, members: &workspace::Workspace) -> Result<Vec<PathBuf>> {
    let mut args = vec!["package".to_string(), "--offline".to_string()];
    for krate in &members.crates {
        args.extend(["-p".to_string(), krate.name.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    forget_verified_sources(members)?;
    cargo(staging, &args)?;
    let mut files = Vec::new();
    let mut oversized = Vec::new();
    println!("{:<48} {:>12}", "crate", "compressed");
    for krate in &members.crates {
        let file = members
            .target_dir
            .join("package")
            .join(format!("{}-{}.crate", krate.name, krate.version));
        match size_gate::check(&file, size_gate::MAX_CRATE_BYTES) {
            Ok(size) => println!(
                "{:<48} {:>12}  ({:.2} MiB)",
                format!("{} {}", krate.name, krate.version),
                size,
                size as f64 / (1024.0 * 1024.0)
            ),
            Err(err) => oversized.push(format!("{err:#}")),
        }
        files.push(file);
    }
    if !oversized.is_empty() {
        bail!("crates over the size limit:\n{}", oversized.join("\n"));
    }
    Ok(files)
}

/// Each `.crate` unpacked under `dir`, as a registry would give it.
fn unpack(dir: &Path, crates: &[Crate], files: &[PathBuf]) -> Result<Vec<(Crate, PathBuf)>> {
    crate::outputs::remove_dir_if_exists(dir)?;
    let mut unpacked = Vec::new();
    for (krate, file) in crates.iter().zip(files) {
        let reader =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        tar::Archive::new(flate2::read::GzDecoder::new(reader))
            .unpack(dir)
            .with_context(|| format!("unpacking {}", file.display()))?;
        let path = dir.join(format!("{}-{}", krate.name, krate.version));
        ensure!(
            path.join("Cargo.toml").is_file(),
            "{} holds no Cargo.toml",
            file.display()
        );
        let carries_artifacts = krate.dir.join(provenance::PROVENANCE_FILE).is_file();
        ensure!(
            !carries_artifacts || path.join(provenance::PROVENANCE_FILE).is_file(),
            "{}: {} was written but is not in the package (its `include` list?)",
            krate.name,
            provenance::PROVENANCE_FILE
        );
        unpacked.push((krate.clone(), path));
    }
    Ok(unpacked)
}

/// Runs cargo in `dir`, its output shown; an error on failure.
fn cargo(dir: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    ensure!(
        status.success(),
        "cargo {} failed in {}",
        args.join(" "),
        dir.display()
    );
    Ok(())
}
