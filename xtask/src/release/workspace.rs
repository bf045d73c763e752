//! The publishable crates of a workspace, from `cargo metadata`: every
//! member that may be published, ordered so that each crate comes after the
//! workspace crates it depends on (the order `cargo package` and
//! `cargo publish` need). New members are picked up without a list here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One publishable workspace member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// The directory holding its `Cargo.toml`.
    pub dir: PathBuf,
    /// Publishable workspace crates it depends on (normal and build
    /// dependencies; dev-dependencies are not packaged).
    pub depends_on: Vec<String>,
}

/// A workspace's publishable crates and where cargo puts what it builds.
#[derive(Debug)]
pub struct Workspace {
    pub crates: Vec<Crate>,
    /// `cargo package` writes `package/<name>-<version>.crate` here.
    pub target_dir: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    workspace_members: Vec<String>,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    version: String,
    manifest_path: PathBuf,
    /// `None`: any registry; `Some([])`: `publish = false`.
    publish: Option<Vec<String>>,
    dependencies: Vec<MetaDependency>,
}

#[derive(Deserialize)]
struct MetaDependency {
    name: String,
    kind: Option<String>,
    path: Option<PathBuf>,
}

/// The publishable crates of the workspace at `root`, in dependency order.
pub fn load(root: &Path) -> Result<Workspace> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed in {}:\n{}",
            root.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata's output")?;
    let target_dir = metadata.target_directory.clone();
    Ok(Workspace {
        crates: from_metadata(metadata)?,
        target_dir,
    })
}

fn from_metadata(metadata: Metadata) -> Result<Vec<Crate>> {
    let members: BTreeSet<&str> = metadata
        .workspace_members
        .iter()
        .map(String::as_str)
        .collect();
    let publishable: Vec<&MetaPackage> = metadata
        .packages
        .iter()
        .filter(|p| members.contains(p.id.as_str()))
        .filter(|p| {
            p.publish
                .as_ref()
                .is_none_or(|registries| !registries.is_empty())
        })
        .collect();
    let names: BTreeSet<&str> = publishable.iter().map(|p| p.name.as_str()).collect();
    let mut crates = BTreeMap::new();
    for package in &publishable {
        let mut depends_on = Vec::new();
        for dep in &package.dependencies {
            if dep.kind.as_deref() == Some("dev") {
                continue;
            }
            if names.contains(dep.name.as_str()) {
                depends_on.push(dep.name.clone());
            } else if dep.path.is_some() {
                bail!(
                    "{} depends on {}, a path dependency that cannot be published \
                     (`publish = false` or outside the workspace)",
                    package.name,
                    dep.name
                );
            }
        }
        let dir = package
            .manifest_path
            .parent()
            .context("manifest path has no directory")?
            .to_path_buf();
        crates.insert(
            package.name.clone(),
            Crate {
                name: package.name.clone(),
                version: package.version.clone(),
                dir,
                depends_on,
            },
        );
    }
    dependency_order(crates)
}

/// Orders `crates` so that each follows its dependencies; ties by name, so
/// the order is the same on every run.
fn dependency_order(mut pending: BTreeMap<String, Crate>) -> Result<Vec<Crate>> {
    let mut ordered: Vec<Crate> = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .values()
            .find(|c| {
                c.depends_on
                    .iter()
                    .all(|d| ordered.iter().any(|o| &o.name == d))
            })
            .map(|c| c.name.clone());
        match ready {
            Some(name) => ordered.push(pending.remove(&name).expect("found above")),
            None => bail!(
                "the workspace crates {} depend on each other in a cycle",
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, publish: Option<Vec<String>>, deps: &[(&str, &str)]) -> MetaPackage {
        MetaPackage {
            id: format!("{name}-id"),
            name: name.into(),
            version: "0.1.0".into(),
            manifest_path: PathBuf::from(format!("/ws/{name}/Cargo.toml")),
            publish,
            dependencies: deps
                .iter()
                .map(|(dep, kind)| MetaDependency {
                    name: dep.to_string(),
                    kind: (!kind.is_empty()).then(|| kind.to_string()),
                    path: Some(PathBuf::from(format!("/ws/{dep}"))),
                })
                .collect(),
        }
    }

    #[test]
    fn publishable_members_come_after_their_dependencies() {
        let metadata = Metadata {
            packages: vec![
                package("api", None, &[("runtime", ""), ("tests-only", "dev")]),
                package("runtime", None, &[("aot", "")]),
                package("aot", None, &[]),
                package("tests-only", Some(vec![]), &[]),
            ],
            workspace_members: ["api", "runtime", "aot", "tests-only"]
                .iter()
                .map(|n| format!("{n}-id"))
                .collect(),
            target_directory: PathBuf::from("/ws/target"),
        };
        let names: Vec<String> = from_metadata(metadata)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["aot", "runtime", "api"]);
    }

    #[test]
    fn an_unpublishable_normal_dependency_is_an_error() {
        let metadata = Metadata {
            packages: vec![
                package("api", None, &[("helper", "")]),
                package("helper", Some(vec![]), &[]),
            ],
            workspace_members: vec!["api-id".into(), "helper-id".into()],
            target_directory: PathBuf::from("/ws/target"),
        };
        let err = from_metadata(metadata).unwrap_err().to_string();
        assert!(err.contains("api depends on helper"), "{err}");
    }
}
