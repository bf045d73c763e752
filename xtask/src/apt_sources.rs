//! Pure parsing of apt source lists, and the plan for the extra entries the
//! toolchain needs (`deb-src` for the base suite, binary entries for
//! backports), derived from the machine's own Debian archive entry so that no
//! host is ever hard-coded.
//!
//! Reading and writing files happens in `toolchain`; everything here works on
//! strings so it can be tested on sample texts.

use anyhow::{bail, Context, Result};

use crate::recipes::AptConfig;

/// One apt source entry (a deb822 stanza or a one-line `deb ...` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// A keyring path, or an inline key whose lines are joined with `\n`.
    pub signed_by: Option<String>,
    pub enabled: bool,
}

/// A source file's name (for messages and format detection) and text.
#[derive(Debug, Clone)]
pub struct SourcesText {
    pub path: String,
    pub text: String,
}

/// Parses a file by its name: `*.sources` is deb822, `*.list` is one-line
/// format; anything else (e.g. `*.disabled`) is not read by apt and yields
/// nothing.
pub fn parse_file(file: &SourcesText) -> Result<Vec<SourceEntry>> {
    let parsed = if file.path.ends_with(".sources") {
        parse_deb822(&file.text)
    } else if file.path.ends_with(".list") {
        parse_one_line(&file.text)
    } else {
        Ok(Vec::new())
    };
    parsed.with_context(|| format!("parsing {}", file.path))
}

/// Parses deb822 `.sources` text.
pub fn parse_deb822(text: &str) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                entries.push(stanza_entry(std::mem::take(&mut fields))?);
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            let Some((_, value)) = fields.last_mut() else {
                bail!("line {}: continuation line outside a field", index + 1);
            };
            value.push('\n');
            value.push_str(line.trim());
        } else {
            let Some((name, value)) = line.split_once(':') else {
                bail!("line {}: expected `Field: value`", index + 1);
            };
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !fields.is_empty() {
        entries.push(stanza_entry(fields)?);
    }
    Ok(entries)
}

fn stanza_entry(fields: Vec<(String, String)>) -> Result<SourceEntry> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let list = |name: &str| -> Vec<String> {
        field(name)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let entry = SourceEntry {
        types: list("types"),
        uris: list("uris"),
        suites: list("suites"),
        components: list("components"),
        signed_by: field("signed-by").map(str::to_string),
        enabled: !matches!(field("enabled"), Some(v) if v.eq_ignore_ascii_case("no")),
    };
    if entry.types.is_empty() || entry.uris.is_empty() || entry.suites.is_empty() {
        bail!("stanza lacks Types, URIs or Suites: {fields:?}");
    }
    Ok(entry)
}

/// Parses one-line `sources.list` text: `deb [opt=val ...] uri suite comp...`.
pub fn parse_one_line(text: &str) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind, mut rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                bail!("line {}: unterminated `[` options", index + 1);
            };
            for option in options.split_whitespace() {
                if let Some((key, value)) = option.split_once('=') {
                    if key.eq_ignore_ascii_case("signed-by") {
                        signed_by = Some(value.to_string());
                    }
                }
            }
            rest = after;
        }
        let mut words = rest.split_whitespace().map(str::to_string);
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            bail!(
                "line {}: expected `{kind} URI SUITE [COMPONENT...]`",
                index + 1
            );
        };
        entries.push(SourceEntry {
            types: vec![kind.to_string()],
            uris: vec![uri],
            suites: vec![suite],
            components: words.collect(),
            signed_by,
            enabled: true,
        });
    }
    Ok(entries)
}

/// A stanza of the file the toolchain installer writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    pub kind: &'static str,
    pub uris: Vec<String>,
    pub suite: String,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
}

/// The content of `cfg.sources_file` for these (other) source files, or
/// `None` when they already provide every entry the toolchain needs.
///
/// The URIs and Signed-By come from the first enabled `deb` entry whose Suites
/// include `cfg.base_suite` exactly (so `bookworm-security` does not match)
/// with all of `cfg.components`.
pub fn plan(files: &[SourcesText], cfg: &AptConfig) -> Result<Option<String>> {
    let mut entries = Vec::new();
    for file in files {
        entries.extend(parse_file(file)?);
    }
    let matches = |entry: &SourceEntry, kind: &str, suite: &str| {
        entry.enabled
            && entry.types.iter().any(|t| t == kind)
            && entry.suites.iter().any(|s| s == suite)
            && cfg.components.iter().all(|c| entry.components.contains(c))
    };
    let Some(base) = entries.iter().find(|e| matches(e, "deb", &cfg.base_suite)) else {
        let searched: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        bail!(
            "no enabled `deb` entry for suite {} with components {} in the apt sources ({})",
            cfg.base_suite,
            cfg.components.join(" "),
            searched.join(", ")
        );
    };
    let same_archive = |entry: &SourceEntry| {
        entry
            .uris
            .iter()
            .any(|u| base.uris.iter().any(|b| same_uri(u, b)))
    };
    let wanted = cfg
        .deb_src_suites
        .iter()
        .map(|s| ("deb-src", s))
        .chain(cfg.deb_suites.iter().map(|s| ("deb", s)));
    let stanzas: Vec<Stanza> = wanted
        .filter(|(kind, suite)| {
            !entries
                .iter()
                .any(|e| matches(e, kind, suite) && same_archive(e))
        })
        .map(|(kind, suite)| Stanza {
            kind,
            uris: base.uris.clone(),
            suite: suite.clone(),
            components: cfg.components.clone(),
            signed_by: base.signed_by.clone(),
        })
        .collect();
    Ok((!stanzas.is_empty()).then(|| render(&stanzas)))
}

fn same_uri(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Renders stanzas as deb822 text.
pub fn render(stanzas: &[Stanza]) -> String {
    let mut out =
        String::from("# Written by `cargo xtask toolchain install` (recipes/toolchain.toml).\n");
    for stanza in stanzas {
        out.push('\n');
        out.push_str(&format!("Types: {}\n", stanza.kind));
        out.push_str(&format!("URIs: {}\n", stanza.uris.join(" ")));
        out.push_str(&format!("Suites: {}\n", stanza.suite));
        out.push_str(&format!("Components: {}\n", stanza.components.join(" ")));
        if let Some(signed_by) = &stanza.signed_by {
            let mut lines = signed_by.split('\n');
            let first = lines.next().unwrap_or("");
            out.push_str("Signed-By:");
            if !first.is_empty() {
                out.push(' ');
                out.push_str(first);
            }
            out.push('\n');
            for line in lines {
                out.push(' ');
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const KEYRING: &str = "/usr/share/keyrings/archive-keyring-for-tests.pgp";

    fn cfg() -> AptConfig {
        AptConfig {
            base_suite: "bookworm".into(),
            components: vec!["main".into()],
            deb_src_suites: vec!["bookworm".into()],
            deb_suites: vec!["bookworm-backports".into()],
            sources_file: PathBuf::from("/etc/apt/sources.list.d/pglite-oxide.sources"),
        }
    }

    fn file(path: &str, text: &str) -> SourcesText {
        SourcesText {
            path: path.into(),
            text: text.into(),
        }
    }

    const DEB822: &str = "\
Types: deb
# a comment inside the stanza
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/archive-keyring-for-tests.pgp

Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/archive-keyring-for-tests.pgp
";

    #[test]
    fn deb822_is_parsed() {
        let entries = parse_deb822(DEB822).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(entries[0].uris, ["http://archive.example/debian"]);
        assert_eq!(entries[0].signed_by.as_deref(), Some(KEYRING));
        assert!(entries[1].enabled);
    }

    #[test]
    fn plan_from_deb822_matches_hand_written_file() {
        let planned = plan(&[file("/x/debian.sources", DEB822)], &cfg())
            .unwrap()
            .unwrap();
        let expected = "\
Types: deb-src
URIs: http://archive.example/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/archive-keyring-for-tests.pgp

Types: deb
URIs: http://archive.example/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/archive-keyring-for-tests.pgp
";
        assert_eq!(
            parse_deb822(&planned).unwrap(),
            parse_deb822(expected).unwrap()
        );
        assert!(planned.starts_with("# Written by"));
    }

    #[test]
    fn security_suite_alone_is_not_the_base() {
        let only_security = "\
Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
";
        let err = plan(&[file("/x/s.sources", only_security)], &cfg()).unwrap_err();
        assert!(err.to_string().contains("no enabled `deb` entry"), "{err}");
    }

    #[test]
    fn one_line_format_is_parsed_and_planned() {
        let list = "\
# comment
deb [arch=amd64 signed-by=/etc/apt/keyrings/k.gpg] http://archive.example/debian bookworm main contrib
deb http://archive.example/debian-security bookworm-security main # trailing
deb-src http://archive.example/debian bookworm main
";
        let entries = parse_one_line(list).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].components, ["main", "contrib"]);
        assert_eq!(
            entries[0].signed_by.as_deref(),
            Some("/etc/apt/keyrings/k.gpg")
        );
        // deb-src is already there: only backports is added.
        let planned = plan(&[file("/etc/apt/sources.list", list)], &cfg())
            .unwrap()
            .unwrap();
        let stanzas = parse_deb822(&planned).unwrap();
        assert_eq!(stanzas.len(), 1);
        assert_eq!(stanzas[0].types, ["deb"]);
        assert_eq!(stanzas[0].suites, ["bookworm-backports"]);
        assert_eq!(stanzas[0].uris, ["http://archive.example/debian"]);
        assert_eq!(
            stanzas[0].signed_by.as_deref(),
            Some("/etc/apt/keyrings/k.gpg")
        );
    }

    #[test]
    fn nothing_needed_when_everything_is_enabled() {
        let full = "\
Types: deb deb-src
URIs: http://archive.example/debian/
Suites: bookworm bookworm-backports
Components: main
";
        assert_eq!(plan(&[file("a.sources", full)], &cfg()).unwrap(), None);
    }

    #[test]
    fn disabled_stanzas_and_other_archives_do_not_count() {
        let text = "\
Types: deb
URIs: http://archive.example/debian
Suites: bookworm
Components: main

Types: deb-src
URIs: http://archive.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://elsewhere.example/debian
Suites: bookworm-backports
Components: main
";
        let planned = plan(&[file("a.sources", text)], &cfg()).unwrap().unwrap();
        let stanzas = parse_deb822(&planned).unwrap();
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[0].signed_by, None);
    }

    #[test]
    fn inline_signed_by_round_trips() {
        let text = "\
Types: deb
URIs: http://archive.example/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGQ
 -----END PGP PUBLIC KEY BLOCK-----
";
        let base = &parse_deb822(text).unwrap()[0];
        let planned = plan(&[file("a.sources", text)], &cfg()).unwrap().unwrap();
        assert!(planned.contains("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n"));
        let stanzas = parse_deb822(&planned).unwrap();
        assert_eq!(stanzas[0].signed_by, base.signed_by);
    }

    #[test]
    fn plan_is_stable_and_ignores_unread_files() {
        let files = [
            file("/x/debian.sources", DEB822),
            file(
                "/x/cloud.list.disabled-by-farm",
                "deb https://x.example/apt y main",
            ),
        ];
        let a = plan(&files, &cfg()).unwrap();
        let b = plan(&files, &cfg()).unwrap();
        assert_eq!(a, b);
        assert!(a.is_some());
    }
}
