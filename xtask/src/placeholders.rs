//! `{name}` placeholders in recipe strings.
//!
//! `{name}` is replaced by the value of `name`; `{{` and `}}` stand for
//! literal braces. An unknown name or an unbalanced brace is an error, so a
//! typo never reaches a compiler command line.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

/// Resolved placeholder values.
#[derive(Debug, Clone)]
pub struct Placeholders {
    values: BTreeMap<String, String>,
}

impl Placeholders {
    /// Built-ins plus recipe `vars`; vars may reference built-ins and each
    /// other (not cyclically) and must not redefine a built-in.
    pub fn new(
        builtins: BTreeMap<String, String>,
        vars: &BTreeMap<String, String>,
    ) -> Result<Self> {
        for name in vars.keys() {
            if builtins.contains_key(name) {
                bail!("var {{{name}}} redefines a built-in placeholder");
            }
        }
        let mut resolved = builtins;
        for name in vars.keys() {
            resolve(name, vars, &mut resolved, &mut Vec::new())?;
        }
        Ok(Self { values: resolved })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Expands all placeholders in `text`.
    pub fn expand(&self, text: &str) -> Result<String> {
        expand_with(text, |name| {
            self.values
                .get(name)
                .cloned()
                .with_context(|| format!("unknown placeholder {{{name}}}"))
        })
        .with_context(|| format!("expanding {text:?}"))
    }
}

fn resolve(
    name: &str,
    vars: &BTreeMap<String, String>,
    resolved: &mut BTreeMap<String, String>,
    stack: &mut Vec<String>,
) -> Result<String> {
    if let Some(value) = resolved.get(name) {
        return Ok(value.clone());
    }
    let Some(raw) = vars.get(name) else {
        bail!("unknown placeholder {{{name}}}");
    };
    if stack.iter().any(|s| s == name) {
        bail!("placeholder cycle: {} -> {name}", stack.join(" -> "));
    }
    stack.push(name.to_string());
    let value = expand_with(raw, |inner| resolve(inner, vars, resolved, stack))
        .with_context(|| format!("in var {name}"))?;
    stack.pop();
    resolved.insert(name.to_string(), value.clone());
    Ok(value)
}

fn expand_with(text: &str, mut lookup: impl FnMut(&str) -> Result<String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &text[start + 1..];
                let Some(end) = rest.find('}') else {
                    bail!("unclosed `{{` at byte {start}");
                };
                let name = &rest[..end];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    bail!("invalid placeholder {{{name}}} (use {{{{ for a literal brace)");
                }
                out.push_str(&lookup(name)?);
                for _ in 0..=name.len() {
                    chars.next();
                }
            }
            '}' => bail!("unmatched `}}` at byte {start} (use }}}} for a literal brace)"),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_builtins_and_vars() {
        let p = Placeholders::new(
            map(&[("build", "/b"), ("jobs", "2")]),
            &map(&[
                ("cc", "clang {cflags}"),
                ("cflags", "-ffile-prefix-map={build}=/pg"),
            ]),
        )
        .unwrap();
        assert_eq!(
            p.expand("make -j{jobs} CC='{cc}'").unwrap(),
            "make -j2 CC='clang -ffile-prefix-map=/b=/pg'"
        );
        assert_eq!(p.expand("{{literal}} {jobs}").unwrap(), "{literal} 2");
    }

    #[test]
    fn errors_are_clear() {
        let p = Placeholders::new(map(&[("jobs", "2")]), &BTreeMap::new()).unwrap();
        let err = format!("{:#}", p.expand("-j{job}").unwrap_err());
        assert!(err.contains("unknown placeholder {job}"), "{err}");
        assert!(p.expand("{jobs").is_err());
        assert!(p.expand("a}b").is_err());
        assert!(p.expand("{a b}").is_err());
    }

    #[test]
    fn cycles_and_shadowing_are_rejected() {
        let err =
            Placeholders::new(BTreeMap::new(), &map(&[("a", "{b}"), ("b", "{a}")])).unwrap_err();
        assert!(format!("{err:#}").contains("cycle"), "{err:#}");
        assert!(Placeholders::new(map(&[("jobs", "2")]), &map(&[("jobs", "3")])).is_err());
    }

    #[test]
    fn multibyte_text_is_kept() {
        let p = Placeholders::new(map(&[("x", "é")]), &BTreeMap::new()).unwrap();
        assert_eq!(p.expand("ü{x}ü").unwrap(), "üéü");
    }
}
