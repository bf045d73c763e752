//! The bootstrap script: `share/postgres.bki` with its placeholders filled
//! in for this build and cluster.

use super::PG_MAJOR;

/// `postgres.bki` with its placeholders replaced by their values; `None`
/// when the file is not PostgreSQL [`PG_MAJOR`]'s.
///
/// As with PostgreSQL's initdb, only the first occurrence of a placeholder
/// on a line is replaced. Unlike it, values are never scanned for
/// placeholders, so a superuser named, say, `ENCODING` stays intact.
pub(super) fn substitute(bki: &str, superuser: &str) -> Option<String> {
    let header = format!("# PostgreSQL {PG_MAJOR}\n");
    if !bki.starts_with(&header) {
        return None;
    }
    let superuser = quote(superuser);
    let c_locale = quote("C");
    let values: [(&str, &str); 10] = [
        // pg_config_manual.h.
        ("NAMEDATALEN", "64"),
        // wasm32: 4-byte pointers aligned as int; float8 is passed by
        // reference on 32-bit platforms.
        ("SIZEOF_POINTER", "4"),
        ("ALIGNOF_POINTER", "i"),
        ("FLOAT8PASSBYVAL", "false"),
        ("POSTGRES", &superuser),
        // PG_UTF8 in pg_wchar.h's encoding enumeration.
        ("ENCODING", "6"),
        ("LC_COLLATE", &c_locale),
        ("LC_CTYPE", &c_locale),
        // No ICU in this build: the libc provider ('c').
        ("ICU_LOCALE", "_null_"),
        ("LOCALE_PROVIDER", "c"),
    ];
    let mut out = String::with_capacity(bki.len() + 1024);
    let mut found: Vec<(usize, &str, &str)> = Vec::with_capacity(values.len());
    for line in bki.split_inclusive('\n') {
        found.clear();
        for (placeholder, value) in values {
            if let Some(at) = line.find(placeholder) {
                found.push((at, placeholder, value));
            }
        }
        found.sort_unstable_by_key(|&(at, ..)| at);
        let mut copied = 0;
        for &(at, placeholder, value) in &found {
            if at < copied {
                continue; // inside an occurrence already replaced
            }
            out.push_str(&line[copied..at]);
            out.push_str(value);
            copied = at + placeholder.len();
        }
        out.push_str(&line[copied..]);
    }
    Some(out)
}

/// A BKI string literal: single quotes around the value, in which single
/// quotes and backslashes are doubled (the bootstrap scanner undoes that).
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_another_major_version() {
        assert!(substitute("# PostgreSQL 16\n", "postgres").is_none());
    }

    #[test]
    fn replaces_the_first_occurrence_per_line() {
        let bki = "# PostgreSQL 15\n\
                   insert ( 10 POSTGRES POSTGRES )\n\
                   n NAMEDATALEN p SIZEOF_POINTER ALIGNOF_POINTER FLOAT8PASSBYVAL\n\
                   d ENCODING LC_COLLATE LC_CTYPE ICU_LOCALE LOCALE_PROVIDER\n";
        let out = substitute(bki, "o'k ENCODING").unwrap();
        assert_eq!(
            out,
            "# PostgreSQL 15\n\
             insert ( 10 'o''k ENCODING' POSTGRES )\n\
             n 64 p 4 i false\n\
             d 6 'C' 'C' _null_ c\n"
        );
    }

    #[test]
    fn quotes_like_the_bootstrap_scanner_expects() {
        assert_eq!(quote("a'b\\c"), "'a''b\\\\c'");
    }
}
