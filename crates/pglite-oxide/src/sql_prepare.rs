//! SQL-level prepared statements (`PREPARE name AS ...` in a simple Query)
//! live in the one backend, not in a client's namespace: the front end
//! notes the names a client prepares and deallocates them when it leaves,
//! as the end of a native session would. pg_dump, for one, prepares
//! statements under fixed names; without this a second dump would fail.
//!
//! Only a PREPARE at the start of a Query message is seen (the form
//! clients, pg_dump among them, send); one further into a multi-statement
//! query stays until the backend ends.

/// The name a Query message's text prepares, as the backend stores it
/// (unquoted names folded to lower case), if it starts with PREPARE.
pub(crate) fn prepared_name(query: &[u8]) -> Option<Vec<u8>> {
    let text = trim_start(query);
    let keyword = text.get(..7)?;
    if !keyword.eq_ignore_ascii_case(b"prepare") {
        return None;
    }
    let rest = &text[7..];
    if !rest.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let rest = trim_start(rest);
    if let Some(quoted) = rest.strip_prefix(b"\"") {
        let mut name = Vec::new();
        let mut at = 0;
        while let Some(&b) = quoted.get(at) {
            if b == b'"' {
                // A doubled quote is one quote in the name.
                if quoted.get(at + 1) == Some(&b'"') {
                    name.push(b'"');
                    at += 2;
                    continue;
                }
                return (!name.is_empty()).then_some(name);
            }
            name.push(b);
            at += 1;
        }
        return None;
    }
    let end = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80))
        .unwrap_or(rest.len());
    let name = rest[..end].to_ascii_lowercase();
    (!name.is_empty() && !name[0].is_ascii_digit()).then_some(name)
}

/// A simple Query body that deallocates `name` (quoted).
pub(crate) fn deallocate(name: &[u8]) -> Vec<u8> {
    let mut sql = b"DEALLOCATE \"".to_vec();
    for &b in name {
        if b == b'"' {
            sql.push(b'"');
        }
        sql.push(b);
    }
    sql.extend_from_slice(b"\"\0");
    sql
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_prepare_statements() {
        let name = |sql: &str| prepared_name(sql.as_bytes()).map(|n| String::from_utf8(n).unwrap());
        assert_eq!(
            name("PREPARE getDomainConstraints(pg_catalog.oid) AS\nSELECT 1").as_deref(),
            Some("getdomainconstraints")
        );
        assert_eq!(name("  prepare\tq AS SELECT 1").as_deref(), Some("q"));
        assert_eq!(
            name(r#"PREPARE "Mixed ""q""" AS SELECT 1"#).as_deref(),
            Some(r#"Mixed "q""#)
        );
        assert_eq!(name("PREPARED x"), None);
        assert_eq!(name("SELECT 1; PREPARE q AS SELECT 1"), None);
        assert_eq!(name("PREPARE 1x AS SELECT 1"), None);
        assert_eq!(name("PREPARE"), None);
    }

    #[test]
    fn deallocate_quotes_the_name() {
        assert_eq!(deallocate(b"a\"b"), b"DEALLOCATE \"a\"\"b\"\0".to_vec());
    }
}
