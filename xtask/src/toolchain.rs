//! `cargo xtask toolchain check|install`: the Debian packages, apt sources and
//! wasi sysroot files from `recipes/toolchain.toml`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::apt_sources::{self, SourcesText};
use crate::hashing::sha256_file;
use crate::layout::Layout;
use crate::recipes::{AptConfig, Package, ToolchainRecipe};

const FIX: &str = "cargo xtask toolchain install";
const APT_SOURCES_LIST: &str = "/etc/apt/sources.list";
const APT_SOURCES_DIR: &str = "/etc/apt/sources.list.d";
const APT_ARCHIVES: &str = "/var/cache/apt/archives";

/// Installed versions of `names` (`None`: not installed), in the given order.
pub fn installed_versions(names: &[String]) -> Result<Vec<(String, Option<String>)>> {
    let sh = Shell::new()?;
    let format = "${Package}\t${Version}\t${db:Status-Abbrev}\n";
    let output = cmd!(sh, "dpkg-query -W -f {format} {names...}")
        .quiet()
        .ignore_status()
        .ignore_stderr()
        .output()
        .context("running dpkg-query")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(names
        .iter()
        .map(|name| {
            let version = stdout.lines().find_map(|line| {
                let mut fields = line.split('\t');
                let (package, version, status) = (fields.next()?, fields.next()?, fields.next()?);
                (package == name && status.starts_with("ii")).then(|| version.to_string())
            });
            (name.clone(), version)
        })
        .collect())
}

/// Everything wrong with the toolchain, one line each; empty when complete.
pub fn problems(recipe: &ToolchainRecipe, layout: &Layout) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let installed = installed_versions(&recipe.package_names())?;
    for (package, (_, have)) in recipe.package.iter().zip(&installed) {
        match (have, &package.version) {
            (None, Some(want)) => problems.push(format!("missing: {} (want {want})", package.name)),
            (None, None) => problems.push(format!("missing: {}", package.name)),
            (Some(have), Some(want)) if have != want => problems.push(format!(
                "wrong version: {} (have {have}, want {want})",
                package.name
            )),
            (Some(_), _) => {
                if let Some(problem) = deb_hash_problem(package, layout)? {
                    problems.push(problem);
                }
            }
        }
    }
    if let Some(problem) = apt_sources_problem(&recipe.apt)? {
        problems.push(problem);
    }
    for path in &recipe.sysroot.required {
        if !path.exists() {
            problems.push(format!("missing sysroot path: {}", path.display()));
        }
    }
    Ok(problems)
}

/// `toolchain check`: prints the problems and the fixing command.
pub fn check(layout: &Layout) -> Result<()> {
    let recipe = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    let problems = problems(&recipe, layout)?;
    if problems.is_empty() {
        println!(
            "toolchain ok: {} packages, apt sources, {} sysroot paths",
            recipe.package.len(),
            recipe.sysroot.required.len()
        );
        return Ok(());
    }
    for problem in &problems {
        println!("  {problem}");
    }
    println!("fix: {FIX}");
    bail!("toolchain incomplete ({} problems)", problems.len())
}

/// `toolchain install`: enables the apt sources, downloads and verifies pinned
/// `.deb`s, installs what is missing or wrong. Idempotent.
pub fn install(layout: &Layout) -> Result<()> {
    let recipe = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    let sh = Shell::new()?;
    let uid = cmd!(sh, "id -u").quiet().read()?;
    if uid.trim() != "0" {
        bail!("`{FIX}` runs apt-get and writes {APT_SOURCES_DIR}: run it as root");
    }
    let sources_changed = write_apt_sources(&recipe.apt)?;
    let installed = installed_versions(&recipe.package_names())?;
    let todo: Vec<&Package> = recipe
        .package
        .iter()
        .zip(&installed)
        .filter(|(p, (_, have))| have.is_none() || (p.version.is_some() && *have != p.version))
        .map(|(p, _)| p)
        .collect();
    if !todo.is_empty() || sources_changed {
        cmd!(sh, "apt-get update").run()?;
    }
    for package in recipe.package.iter().filter(|p| p.deb_sha256.is_some()) {
        download_and_verify(&sh, package, &layout.toolchain_debs())?;
    }
    let mut groups: Vec<(Option<&str>, Vec<String>)> = Vec::new();
    for package in &todo {
        let spec = match &package.version {
            Some(version) => format!("{}={version}", package.name),
            None => package.name.clone(),
        };
        let suite = package.suite.as_deref();
        match groups.iter_mut().find(|(s, _)| *s == suite) {
            Some((_, specs)) => specs.push(spec),
            None => groups.push((suite, vec![spec])),
        }
    }
    // A target release raises every package of the command to that suite, so
    // packages from different suites are installed by separate commands.
    for (suite, specs) in groups {
        let target: Vec<String> = suite
            .map(|s| vec!["-t".into(), s.into()])
            .unwrap_or_default();
        cmd!(
            sh,
            "apt-get install -y --no-install-recommends {target...} {specs...}"
        )
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    }
    let problems = problems(&recipe, layout)?;
    if !problems.is_empty() {
        bail!(
            "toolchain still incomplete after install:\n  {}",
            problems.join("\n  ")
        );
    }
    println!("toolchain ok");
    Ok(())
}

/// The machine's apt source files apart from the one we write.
fn read_apt_sources(cfg: &AptConfig) -> Result<Vec<SourcesText>> {
    let mut paths = vec![PathBuf::from(APT_SOURCES_LIST)];
    if let Ok(entries) = std::fs::read_dir(APT_SOURCES_DIR) {
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        paths.extend(names);
    }
    let mut files = Vec::new();
    for path in paths {
        if path == cfg.sources_file || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        files.push(SourcesText {
            path: path.display().to_string(),
            text,
        });
    }
    Ok(files)
}

/// Whether the file we manage already says what `planned` says (comments
/// and layout aside, so an equivalent hand-written file is accepted).
fn sources_file_is_current(path: &Path, planned: Option<&str>) -> Result<bool> {
    let existing = std::fs::read_to_string(path).ok();
    Ok(match (existing, planned) {
        (None, None) => true,
        (Some(existing), Some(planned)) => {
            apt_sources::parse_deb822(&existing).ok() == Some(apt_sources::parse_deb822(planned)?)
        }
        _ => false,
    })
}

fn apt_sources_problem(cfg: &AptConfig) -> Result<Option<String>> {
    let planned = match apt_sources::plan(&read_apt_sources(cfg)?, cfg) {
        Ok(planned) => planned,
        Err(e) => return Ok(Some(format!("apt sources: {e:#}"))),
    };
    let path = &cfg.sources_file;
    Ok(
        (!sources_file_is_current(path, planned.as_deref())?).then(|| match planned {
            Some(_) => format!(
                "apt sources: {} missing or stale (needs deb-src {} and deb {})",
                path.display(),
                cfg.deb_src_suites.join(" "),
                cfg.deb_suites.join(" ")
            ),
            None => format!("apt sources: {} is redundant", path.display()),
        }),
    )
}

/// Writes (or removes) the managed apt sources file; true if it changed.
fn write_apt_sources(cfg: &AptConfig) -> Result<bool> {
    let planned = apt_sources::plan(&read_apt_sources(cfg)?, cfg)?;
    let path = &cfg.sources_file;
    if sources_file_is_current(path, planned.as_deref())? {
        return Ok(false);
    }
    match planned {
        Some(text) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => {
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
            println!("removed redundant {}", path.display());
        }
    }
    Ok(true)
}

/// The file name prefix apt uses for a package version's `.deb`.
fn deb_prefix(package: &Package) -> Option<String> {
    let version = package.version.as_ref()?;
    Some(format!("{}_{}_", package.name, version.replace(':', "%3a")))
}

fn cached_debs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
        })
        .collect();
    found.sort();
    found
}

/// Checks a pinned `.deb` hash against the archive's signed index and any
/// cached copy; `None` when verified.
fn deb_hash_problem(package: &Package, layout: &Layout) -> Result<Option<String>> {
    let (Some(want), Some(prefix)) = (&package.deb_sha256, deb_prefix(package)) else {
        return Ok(None);
    };
    let mut evidence = Vec::new();
    let sh = Shell::new()?;
    let spec = format!(
        "{}={}",
        package.name,
        package.version.as_deref().unwrap_or("")
    );
    let show = cmd!(sh, "apt-cache show {spec}")
        .quiet()
        .ignore_status()
        .ignore_stderr()
        .read()?;
    for line in show.lines() {
        if let Some(sha) = line.strip_prefix("SHA256:") {
            evidence.push(("apt index".to_string(), sha.trim().to_string()));
        }
    }
    for dir in [layout.toolchain_debs(), PathBuf::from(APT_ARCHIVES)] {
        for path in cached_debs(&dir, &prefix) {
            evidence.push((path.display().to_string(), sha256_file(&path)?));
        }
    }
    if evidence.is_empty() {
        return Ok(Some(format!(
            "unverified: {} .deb sha256 (not in the apt index or a cache)",
            package.name
        )));
    }
    Ok(evidence
        .into_iter()
        .find(|(_, actual)| actual != want)
        .map(|(source, actual)| {
            format!(
                "sha256 mismatch: {} .deb from {source}: expected {want}, actual {actual}",
                package.name
            )
        }))
}

/// Downloads a pinned `.deb` into `dir` (unless present) and verifies it.
fn download_and_verify(sh: &Shell, package: &Package, dir: &Path) -> Result<()> {
    let (Some(want), Some(prefix), Some(version)) =
        (&package.deb_sha256, deb_prefix(package), &package.version)
    else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    if cached_debs(dir, &prefix).is_empty() {
        let spec = format!("{}={version}", package.name);
        let _cwd = sh.push_dir(dir);
        cmd!(sh, "apt-get download {spec}").run()?;
    }
    for path in cached_debs(dir, &prefix) {
        let actual = sha256_file(&path)?;
        if &actual != want {
            bail!(
                "sha256 mismatch for {}: expected {want}, actual {actual}",
                path.display()
            );
        }
        println!("verified {} (sha256 {want})", path.display());
    }
    Ok(())
}
