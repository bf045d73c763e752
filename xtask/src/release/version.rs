//! Lockstep versions: every publishable crate carries the same version, and
//! the dependencies between them are pinned with `=`, so a user always gets
//! a runtime, AOT code and API made from one commit.

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use semver::Version;
use toml_edit::{DocumentMut, Item, Table};

use super::workspace::Crate;

/// How the next version is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextVersion {
    /// Release the current version as it is (the first release).
    Current,
    Exact(Version),
    Bump(Part),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Major,
    Minor,
    Patch,
}

impl Part {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "major" => Ok(Self::Major),
            "minor" => Ok(Self::Minor),
            "patch" => Ok(Self::Patch),
            other => bail!("unknown version part `{other}`: expected major, minor or patch"),
        }
    }
}

/// The version all crates share now; an error names the crates that differ.
pub fn current_version(crates: &[Crate]) -> Result<Version> {
    let first = crates
        .first()
        .context("the workspace has no publishable crate")?;
    let differing: Vec<String> = crates
        .iter()
        .filter(|c| c.version != first.version)
        .map(|c| format!("{} {}", c.name, c.version))
        .collect();
    ensure!(
        differing.is_empty(),
        "publishable crates are released in lockstep, but {} is {} and {}",
        first.name,
        first.version,
        differing.join(", ")
    );
    Version::parse(&first.version)
        .with_context(|| format!("{}: version `{}`", first.name, first.version))
}

/// The version to release after `current`.
pub fn next_version(current: &Version, next: &NextVersion) -> Result<Version> {
    Ok(match next {
        NextVersion::Current => current.clone(),
        NextVersion::Exact(version) => {
            ensure!(
                version > current,
                "--version {version} is not greater than the current {current}"
            );
            version.clone()
        }
        NextVersion::Bump(part) => {
            let (major, minor, patch) = match part {
                Part::Major => (current.major + 1, 0, 0),
                Part::Minor => (current.major, current.minor + 1, 0),
                // 1.2.3-rc.1 -> 1.2.3: the release the pre-release led to.
                Part::Patch if !current.pre.is_empty() => {
                    (current.major, current.minor, current.patch)
                }
                Part::Patch => (current.major, current.minor, current.patch + 1),
            };
            Version::new(major, minor, patch)
        }
    })
}

/// Sets `version` in every publishable crate's manifest and every `=` pin
/// between them; returns the manifests changed. A dependency on a
/// publishable crate without an exact pin is an error: lockstep needs it.
pub fn set_versions(crates: &[Crate], version: &Version) -> Result<Vec<PathBuf>> {
    let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    let mut changed = Vec::new();
    for krate in crates {
        let path = krate.dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let new = set_manifest_versions(&text, &names, version)
            .with_context(|| format!("updating {}", path.display()))?;
        if new != text {
            std::fs::write(&path, new).with_context(|| format!("writing {}", path.display()))?;
            changed.push(path);
        }
    }
    Ok(changed)
}

/// [`set_versions`] on one manifest's text, keeping its layout and comments.
pub fn set_manifest_versions(text: &str, crates: &[&str], version: &Version) -> Result<String> {
    let mut doc: DocumentMut = text.parse().context("parsing the manifest")?;
    let package = doc
        .get_mut("package")
        .and_then(Item::as_table_like_mut)
        .context("no [package]")?;
    let slot = package.get_mut("version").context("no package.version")?;
    ensure!(
        slot.is_str(),
        "package.version must be a literal version (lockstep releases set it)"
    );
    set_keeping_decor(slot, version.to_string());
    let pin = format!("={version}");
    for_each_dependency_table(doc.as_table_mut(), &mut |table, section| {
        for (key, item) in table.iter_mut() {
            let Some(dep) = item.as_table_like_mut() else {
                // `name = "1"`: a registry dependency.
                continue;
            };
            let name = dep
                .get("package")
                .and_then(Item::as_str)
                .unwrap_or(key.get())
                .to_string();
            if !crates.contains(&name.as_str()) {
                continue;
            }
            let dev = section.ends_with("dev-dependencies");
            match dep.get("version").and_then(Item::as_str) {
                Some(old) if old.starts_with('=') => {
                    let slot = dep.get_mut("version").expect("matched above");
                    set_keeping_decor(slot, pin.clone());
                }
                // Dev-dependencies on path only are dropped when packaging.
                None if dev => {}
                other => bail!(
                    "[{section}] {name}: must be pinned with `version = \"={{version}}\"` \
                     (lockstep), found {other:?}"
                ),
            }
        }
        Ok(())
    })?;
    Ok(doc.to_string())
}

/// Replaces a string value, keeping the spaces and comment around it.
fn set_keeping_decor(item: &mut Item, text: String) {
    let mut value = toml_edit::Value::from(text);
    if let Some(old) = item.as_value() {
        *value.decor_mut() = old.decor().clone();
    }
    *item = Item::Value(value);
}

/// Calls `f` on `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]` and their `[target.'cfg(..)'.*]` forms.
fn for_each_dependency_table(
    root: &mut Table,
    f: &mut dyn FnMut(&mut dyn toml_edit::TableLike, &str) -> Result<()>,
) -> Result<()> {
    const SECTIONS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    for section in SECTIONS {
        if let Some(table) = root.get_mut(section).and_then(Item::as_table_like_mut) {
            f(table, section)?;
        }
    }
    if let Some(targets) = root.get_mut("target").and_then(Item::as_table_like_mut) {
        for (cfg, target) in targets.iter_mut() {
            let Some(target) = target.as_table_like_mut() else {
                continue;
            };
            for section in SECTIONS {
                if let Some(table) = target.get_mut(section).and_then(Item::as_table_like_mut) {
                    f(table, &format!("target.{}.{section}", cfg.get()))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn bumps_reset_the_lower_parts() {
        let current = v("0.3.7");
        let bump = |part| next_version(&current, &NextVersion::Bump(part)).unwrap();
        assert_eq!(bump(Part::Patch), v("0.3.8"));
        assert_eq!(bump(Part::Minor), v("0.4.0"));
        assert_eq!(bump(Part::Major), v("1.0.0"));
        assert_eq!(
            next_version(&v("1.2.3-rc.1"), &NextVersion::Bump(Part::Patch)).unwrap(),
            v("1.2.3")
        );
        assert_eq!(
            next_version(&current, &NextVersion::Current).unwrap(),
            current
        );
    }

    #[test]
    fn an_exact_version_must_move_forward() {
        let current = v("0.3.7");
        assert_eq!(
            next_version(&current, &NextVersion::Exact(v("0.10.0"))).unwrap(),
            v("0.10.0")
        );
        let err = next_version(&current, &NextVersion::Exact(v("0.3.7"))).unwrap_err();
        assert!(err.to_string().contains("not greater"), "{err}");
        assert!(Part::parse("huge").is_err());
    }

    #[test]
    fn versions_differing_between_crates_are_named() {
        let krate = |name: &str, version: &str| Crate {
            name: name.into(),
            version: version.into(),
            dir: PathBuf::new(),
            depends_on: vec![],
        };
        let err = current_version(&[krate("a", "0.1.0"), krate("b", "0.2.0")]).unwrap_err();
        assert!(err.to_string().contains("b 0.2.0"), "{err}");
        assert_eq!(
            current_version(&[krate("a", "0.1.0"), krate("b", "0.1.0")]).unwrap(),
            v("0.1.0")
        );
    }

    #[test]
    fn manifests_get_the_version_and_the_pins_keeping_the_rest() {
        let text = r#"[package]
name = "runtime"
version = "0.1.0" # lockstep

[dependencies]
serde = "1"
other = { path = "../other", version = "=0.1.0" }

[target.'cfg(unix)'.dependencies]
aot = { path = "../aot", version = "=0.1.0", optional = true }

[dev-dependencies]
helper = { path = "../helper" }
other = { path = "../other" }
"#;
        let new = set_manifest_versions(text, &["runtime", "other", "aot"], &v("0.2.0")).unwrap();
        assert_eq!(
            new,
            text.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
                .replace("=0.1.0", "=0.2.0")
        );
    }

    #[test]
    fn an_unpinned_dependency_on_a_released_crate_is_an_error() {
        let text = "[package]\nname = \"api\"\nversion = \"0.1.0\"\n\n\
                    [dependencies]\nruntime = { path = \"../runtime\", version = \"0.1\" }\n";
        let err = set_manifest_versions(text, &["api", "runtime"], &v("0.2.0")).unwrap_err();
        assert!(err.to_string().contains("runtime"), "{err}");
    }
}
