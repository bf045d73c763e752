//! `cargo xtask build`: extract the pinned source, apply `patches/*.patch`,
//! run the recipe's steps, collect outputs; skipped when the input
//! fingerprint matches the last successful build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::fingerprint::{build_fingerprint, read_stamp, remove_stamp, write_stamp, BuildInputs};
use crate::hashing::verify_files;
use crate::layout::Layout;
use crate::outputs::{self, remove_dir_if_exists, Comparison};
use crate::placeholders::Placeholders;
use crate::recipes::{BuildRecipe, Source, SourcesRecipe, ToolchainRecipe};
use crate::steps::Progress;

/// What `cargo xtask build` was asked to do.
pub struct BuildOptions {
    /// The build recipe (normally `recipes/postgres.toml`).
    pub recipe: PathBuf,
    /// Build a second time from scratch in the same place and compare all
    /// outputs.
    pub verify_reproducible: bool,
}

/// One build: a build tree, where its outputs go, where its logs go.
pub(crate) struct BuildRun {
    pub dir: PathBuf,
    pub out: PathBuf,
    pub logs: PathBuf,
}

/// What goes into a build tree's `src/` before the steps run.
pub(crate) struct Prepare {
    /// The source archive, extracted with its top directory stripped.
    pub archive: PathBuf,
    /// Debian's packaging tarball, whose `debian/patches/series` is applied
    /// first, when the source says so (`debian_patches`).
    pub debian: Option<PathBuf>,
    /// Our patches, applied in order after Debian's.
    pub patches: Vec<PathBuf>,
}

/// Extracts Debian's packaging tarball (`$1`) into the source tree and
/// applies its quilt series in order with `patch -p1`.
const DEBIAN_PATCHES: &str = r#"set -e
tar -xf "$1" --no-same-owner
sed -e 's/#.*//' debian/patches/series | while read -r patch options; do
    [ -n "$patch" ] || continue
    case "$options" in
        ""|-p1) ;;
        *) echo "debian/patches/series: unsupported options for $patch: $options" >&2; exit 1 ;;
    esac
    echo "applying $patch"
    patch -p1 --forward --no-backup-if-mismatch -i "debian/patches/$patch"
done"#;

/// `cargo xtask build` with the installed toolchain's versions.
pub fn run(layout: &Layout, options: &BuildOptions) -> Result<()> {
    let toolchain = ToolchainRecipe::load(&layout.recipe("toolchain.toml"))?;
    let versions = crate::toolchain::installed_versions(&toolchain.package_names())?;
    build(layout, options, &versions)
}

/// Builds with the given toolchain versions (part of the fingerprint).
pub fn build(
    layout: &Layout,
    options: &BuildOptions,
    toolchain: &[(String, Option<String>)],
) -> Result<()> {
    let recipe =
        BuildRecipe::load_with_extensions(&options.recipe, &layout.recipe("extensions.toml"))?;
    let sources = SourcesRecipe::load(&layout.recipe("sources.toml"))?;
    recipe.validate_source(&sources)?;
    let source = sources.get(&recipe.source.name)?;
    ensure!(
        !source.debian_patches,
        "source {}: debian_patches = true is not supported",
        recipe.source.name
    );
    let fingerprint = build_fingerprint(&BuildInputs {
        recipes: &layout.recipes(),
        recipe: &options.recipe,
        patches: &layout.patches(),
        assets: &layout.assets(),
        workspace: &layout.workspace,
        workspace_inputs: &recipe.workspace_input,
        toolchain,
        xtask_version: env!("CARGO_PKG_VERSION"),
    })?;
    let short = &fingerprint[..16];
    let _lock = layout.lock("build")?;
    // The libraries extensions link, each only when its own inputs changed.
    crate::libraries::build_all(layout, toolchain)?;
    let stamp = layout.stamps().join("build.fingerprint");
    let outputs_present = layout.out().is_dir()
        && recipe
            .output
            .iter()
            .all(|o| layout.out().join(&o.to).exists());
    let up_to_date = outputs_present && read_stamp(&stamp).as_deref() == Some(fingerprint.as_str());
    if up_to_date && !options.verify_reproducible {
        println!("up to date (fingerprint {short})");
        return Ok(());
    }

    let archive = recipe.source_file(&sources, &recipe.source.name, &recipe.source.archive)?;
    verify_files(&layout.sources(), std::slice::from_ref(archive))
        .context("source archive not fetched or corrupt: run `cargo xtask fetch`")?;
    for (name, file) in &recipe.source_input {
        let file = recipe.source_file(&sources, name, file)?;
        verify_files(&layout.sources(), std::slice::from_ref(file))
            .with_context(|| format!("{name} not fetched or corrupt: run `cargo xtask fetch`"))?;
    }
    let prepare = Prepare {
        archive: layout.sources().join(&archive.name),
        debian: None,
        patches: sorted_patches(&layout.patches())?,
    };

    let primary = BuildRun {
        dir: layout.build().join("postgres"),
        out: layout.out(),
        logs: layout.logs(),
    };
    if up_to_date {
        println!("primary build up to date (fingerprint {short})");
    } else {
        println!("building (fingerprint {short})");
        remove_stamp(&stamp)?;
        build_once(layout, &recipe, source, &prepare, &primary)?;
        write_stamp(&stamp, &fingerprint)?;
        println!("built {}", primary.out.display());
    }
    if options.verify_reproducible {
        // Same place as the primary build: the paths PostgreSQL records are
        // part of the output (see FIXED_BUILD_ROOT).
        let second = BuildRun {
            dir: primary.dir.clone(),
            out: layout.work.join("out-verify"),
            logs: layout.logs().join("verify"),
        };
        println!("building again from scratch to compare");
        build_once(layout, &recipe, source, &prepare, &second)?;
        let roots: Vec<&str> = recipe.output.iter().map(|o| o.to.as_str()).collect();
        let comparison = Comparison::of(&primary.out, &second.out, &roots)?;
        print!("{}", comparison.table());
        let differences = comparison.differences();
        if !differences.is_empty() {
            bail!(
                "build is not reproducible; differing outputs:\n  {}",
                differences.join("\n  ")
            );
        }
        println!(
            "reproducible: {} output files identical",
            comparison.rows.len()
        );
    }
    Ok(())
}

/// The built-in placeholders of one build run.
fn builtins(layout: &Layout, run: &BuildRun) -> BTreeMap<String, String> {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let path = |p: &Path| p.display().to_string();
    BTreeMap::from([
        ("jobs".to_string(), jobs.to_string()),
        ("build".to_string(), path(&run.dir)),
        ("src".to_string(), path(&run.dir.join("src"))),
        ("assets".to_string(), path(&run.dir.join("assets"))),
        ("patches".to_string(), path(&layout.patches())),
        ("sources".to_string(), path(&layout.sources())),
        ("out".to_string(), path(&run.out)),
        ("workspace".to_string(), path(&layout.workspace)),
        ("libraries".to_string(), path(&layout.libraries())),
    ])
}

/// A command with a clean, deterministic environment.
fn command(argv: &[String], cwd: &Path, env: &BTreeMap<String, String>) -> Command {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .env_clear()
        .envs(env);
    command
}

/// The environment of every step: only PATH, HOME and TMPDIR are inherited,
/// so stray CFLAGS or MAKEFLAGS never leak in.
fn environment(
    recipe: &BuildRecipe,
    source: &Source,
    placeholders: &Placeholders,
) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for name in ["PATH", "HOME", "TMPDIR"] {
        if let Ok(value) = std::env::var(name) {
            env.insert(name.to_string(), value);
        }
    }
    env.insert(
        "SOURCE_DATE_EPOCH".into(),
        source.source_date_epoch.to_string(),
    );
    env.insert("LC_ALL".into(), "C".into());
    env.insert("TZ".into(), "UTC".into());
    for (name, value) in &recipe.env {
        let value = placeholders
            .expand(value)
            .with_context(|| format!("env {name}"))?;
        env.insert(name.clone(), value);
    }
    Ok(env)
}

/// The `*.patch` files directly in `dir` (none if it does not exist), in
/// name order.
pub(crate) fn sorted_patches(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut patches = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "patch") {
                patches.push(path);
            }
        }
    }
    patches.sort();
    Ok(patches)
}

/// Expands every placeholder of `recipe` for a build in the usual place,
/// without running anything (for `cargo xtask check`).
pub fn dry_run(layout: &Layout, recipe: &BuildRecipe, source: &Source) -> Result<()> {
    let run = BuildRun {
        dir: layout.build().join("postgres"),
        out: layout.out(),
        logs: layout.logs(),
    };
    plan_steps(layout, recipe, source, &run).map(|_| ())
}

type PlannedSteps<'r> = (BTreeMap<String, String>, Vec<(&'r str, Command)>);

/// The environment and the fully expanded commands of a build run.
pub(crate) fn plan_steps<'r>(
    layout: &Layout,
    recipe: &'r BuildRecipe,
    source: &Source,
    run: &BuildRun,
) -> Result<PlannedSteps<'r>> {
    let placeholders = Placeholders::new(builtins(layout, run), &recipe.vars)?;
    let env = environment(recipe, source, &placeholders)?;
    let mut steps = Vec::new();
    for step in &recipe.step {
        let argv = step
            .argv
            .iter()
            .map(|a| placeholders.expand(a))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("step {}", step.name))?;
        let cwd = run.dir.join(
            placeholders
                .expand(&step.cwd)
                .with_context(|| format!("step {}", step.name))?,
        );
        steps.push((step.name.as_str(), command(&argv, &cwd, &env)));
    }
    Ok((env, steps))
}

pub(crate) fn build_once(
    layout: &Layout,
    recipe: &BuildRecipe,
    source: &Source,
    prepare: &Prepare,
    run: &BuildRun,
) -> Result<()> {
    // Expand everything first, so a placeholder typo fails before any work.
    let (env, steps) = plan_steps(layout, recipe, source, run)?;
    let patches = &prepare.patches;

    remove_dir_if_exists(&run.dir)?;
    remove_dir_if_exists(&run.out)?;
    std::fs::create_dir_all(&run.out)?;
    let src = run.dir.join("src");
    std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
    let debian_steps = usize::from(prepare.debian.is_some());
    let progress = Progress::new(1 + debian_steps + patches.len() + steps.len());
    let prepare_logs = run.logs.join("prepare");
    // Steps see the assets inside the build tree (see FIXED_BUILD_ROOT).
    match &recipe.assets {
        None => outputs::copy_any(&layout.assets(), &run.dir.join("assets"))?,
        Some(parts) => {
            for part in parts {
                outputs::copy_any(
                    &layout.assets().join(part),
                    &run.dir.join("assets").join(part),
                )?;
            }
        }
    }
    for input in &recipe.workspace_input {
        outputs::copy_dir_filtered(
            &layout.workspace.join(&input.from),
            &run.dir.join(&input.to),
            |rel| input.includes(rel),
        )
        .with_context(|| format!("copying {} into the build tree", input.from))?;
    }

    let extract = [
        "tar".to_string(),
        "-xf".into(),
        prepare.archive.display().to_string(),
        "--strip-components=1".into(),
        "--no-same-owner".into(),
    ];
    progress.run(
        "extract",
        command(&extract, &src, &env),
        &prepare_logs.join("extract.log"),
    )?;
    if let Some(debian) = &prepare.debian {
        let argv = [
            "sh".to_string(),
            "-c".into(),
            DEBIAN_PATCHES.into(),
            "sh".into(),
            debian.display().to_string(),
        ];
        progress
            .run(
                "debian patches",
                command(&argv, &src, &env),
                &prepare_logs.join("debian-patches.log"),
            )
            .context("applying Debian's patches failed")?;
    }
    for patch in patches {
        let name = patch.file_name().unwrap_or_default().to_string_lossy();
        let argv = [
            "patch".to_string(),
            "-p1".into(),
            "--forward".into(),
            "--no-backup-if-mismatch".into(),
            "-i".into(),
            patch.display().to_string(),
        ];
        progress
            .run(
                &format!("patch {name}"),
                command(&argv, &src, &env),
                &prepare_logs.join(format!("{name}.log")),
            )
            .with_context(|| format!("applying patches/{name} failed"))?;
    }
    for (name, command) in steps {
        progress.run(name, command, &run.logs.join(format!("{name}.log")))?;
    }
    progress.finish();
    outputs::collect(&run.dir, &run.out, &recipe.output)
}

/// Runs the steps of `recipe` from `first` to `last` (inclusive, in the
/// recipe's order) in an existing, already built tree `dir`, with logs
/// under `logs`: how a variant of a finished build (`cargo xtask regress`)
/// redoes only the steps its change affects.
pub(crate) fn rerun_steps(
    layout: &Layout,
    recipe: &BuildRecipe,
    dir: &Path,
    logs: &Path,
    (first, last): (&str, &str),
) -> Result<()> {
    let sources = SourcesRecipe::load(&layout.recipe("sources.toml"))?;
    let source = sources.get(&recipe.source.name)?;
    let run = BuildRun {
        dir: dir.to_path_buf(),
        out: dir.join("out"),
        logs: logs.to_path_buf(),
    };
    let (_, steps) = plan_steps(layout, recipe, source, &run)?;
    let position = |wanted: &str| {
        steps
            .iter()
            .position(|(name, _)| *name == wanted)
            .with_context(|| format!("the recipe has no step named {wanted}"))
    };
    let range = position(first)?..=position(last)?;
    ensure!(!range.is_empty(), "step {first} comes after step {last}");
    let steps: Vec<_> = steps
        .into_iter()
        .take(*range.end() + 1)
        .skip(*range.start())
        .collect();
    let progress = Progress::new(steps.len());
    for (name, command) in steps {
        progress.run(name, command, &logs.join(format!("{name}.log")))?;
    }
    progress.finish();
    Ok(())
}
