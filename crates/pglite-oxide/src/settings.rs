//! Per-client session settings on the one shared backend.
//!
//! Every client of a server has settings of its own in PostgreSQL: those of
//! its startup packet (`client_encoding`, `DateStyle`, `options=-c ...`) and
//! whatever it `SET` since. The backend holds one set at a time, so when it
//! passes from one client to another the settings move with it: the
//! leaving client's are read back from `pg_settings` (only if it may have
//! changed them since they were last read), and the arriving client's are
//! put in place (only if they differ). Clients with equal settings (a pool)
//! pass the backend on at no cost.

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::error::{DbError, Error, Result};

/// Settings made in the session (`pg_settings.source = 'session'`), sorted
/// by name. Empty: the database's defaults.
pub(crate) type Settings = Vec<(String, String)>;

/// Startup parameters that are not settings.
const NOT_SETTINGS: [&str; 4] = ["user", "database", "options", "replication"];

/// The settings a startup packet asks for: its parameters that name
/// settings, and the `-c name=value` / `--name=value` switches of its
/// `options`.
/// An error is the message for the client (SQLSTATE 42601).
pub(crate) fn from_startup(
    parameters: &[(String, String)],
) -> std::result::Result<Settings, String> {
    let mut settings = Settings::new();
    for (name, value) in parameters {
        if name == "options" {
            settings.extend(parse_options(value)?);
        } else if !NOT_SETTINGS.contains(&name.as_str()) {
            settings.push((name.clone(), value.clone()));
        }
    }
    Ok(normalize(settings))
}

/// Sorts by lowercase name; a later value of the same setting wins.
fn normalize(settings: Settings) -> Settings {
    let mut out: Settings = Vec::new();
    for (name, value) in settings {
        let name = name.to_ascii_lowercase();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => out.push((name, value)),
        }
    }
    out.sort();
    out
}

/// Splits a startup `options` string as PostgreSQL does (whitespace
/// separates, a backslash escapes the next character) and reads its
/// `-c name=value`, `-cname=value` and `--name=value` switches.
fn parse_options(options: &str) -> std::result::Result<Settings, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut settings = Settings::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let setting = if word == "-c" {
            words.next()
        } else if let Some(rest) = word.strip_prefix("--") {
            Some(rest.to_owned())
        } else {
            word.strip_prefix("-c").map(str::to_owned)
        };
        let Some(setting) = setting else {
            return Err(format!(
                "unsupported startup option \"{word}\": only -c name=value and --name=value are"
            ));
        };
        let Some((name, value)) = setting.split_once('=') else {
            return Err(format!(
                "startup option \"{setting}\" needs a value (name=value)"
            ));
        };
        settings.push((name.replace('-', "_"), value.to_owned()));
    }
    Ok(settings)
}

/// Whether a batch of frontend messages may change settings: the SQL of
/// one of its Query or Parse messages mentions `set` (SET, RESET,
/// set_config()) or `discard`, in any case. Other messages (parameters,
/// COPY data) are not looked at. False positives only cost a read-back.
pub(crate) fn may_change(mut frontend: &[u8]) -> bool {
    while frontend.len() >= 5 {
        let len = u32::from_be_bytes([frontend[1], frontend[2], frontend[3], frontend[4]]) as usize;
        let end = (1 + len).clamp(5, frontend.len());
        let body = &frontend[5..end];
        if matches!(frontend[0], b'Q' | b'P')
            && (contains_ignore_case(body, b"set") || contains_ignore_case(body, b"discard"))
        {
            return true;
        }
        frontend = &frontend[end..];
    }
    false
}

pub(crate) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// A simple Query that reads the session's settings back: those made in
/// the session, and the user and role it runs as (which `pg_settings`
/// does not show) when they are not the defaults. A backend that has set
/// nothing reads back as no settings at all (a standalone backend's
/// session user is the bootstrap superuser, oid 10).
pub(crate) fn read_query() -> Vec<u8> {
    query(
        "SELECT name, setting FROM pg_catalog.pg_settings WHERE source = 'session' \
         UNION ALL SELECT 'session_authorization', session_user::text \
           WHERE session_user <> pg_catalog.pg_get_userbyid(10) \
         UNION ALL SELECT 'role', pg_catalog.current_setting('role') \
           WHERE pg_catalog.current_setting('role') <> 'none' \
         ORDER BY 1",
    )
}

/// A simple Query that gives the session the settings `wanted` (as read
/// back, or the startup parameters over those).
pub(crate) fn apply_query(wanted: &Settings) -> Vec<u8> {
    let mut sql = String::from("RESET ALL;");
    // RESET ALL leaves the user and role alone; the user first, as the
    // role is checked against it. Settings without them mean the defaults.
    if !wanted.iter().any(|(n, _)| n == "session_authorization") {
        sql.push_str(" SET SESSION AUTHORIZATION DEFAULT;");
    }
    if !wanted.iter().any(|(n, _)| n == "role") {
        sql.push_str(" RESET ROLE;");
    }
    let mut ordered: Vec<&(String, String)> = wanted.iter().collect();
    ordered.sort_by_key(|(n, _)| match n.as_str() {
        "session_authorization" => 0,
        "role" => 1,
        _ => 2,
    });
    for (name, value) in ordered {
        sql.push_str(&format!(
            " SELECT pg_catalog.set_config({}, {}, false);",
            literal(name),
            literal(value)
        ));
    }
    query(&sql)
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn query(sql: &str) -> Vec<u8> {
    let mut buf = BytesMut::new();
    // A string without NUL bytes (ours) always encodes.
    frontend::query(sql, &mut buf).expect("query without NUL bytes");
    buf.to_vec()
}

/// What the backend answered to one of these queries (or its greeting):
/// the rows (name, value), the ParameterStatus reports, or its error.
pub(crate) struct Answer {
    pub rows: Settings,
    pub reported: Vec<(String, String)>,
}

pub(crate) fn parse_answer(reply: &[u8]) -> Result<Answer> {
    let protocol = |e: std::io::Error| Error::Protocol(e.to_string());
    let mut buf = BytesMut::from(reply);
    let mut answer = Answer {
        rows: Settings::new(),
        reported: Vec::new(),
    };
    let mut error = None;
    while let Some(message) = Message::parse(&mut buf).map_err(protocol)? {
        match message {
            Message::DataRow(row) => {
                let ranges: Vec<_> = row.ranges().collect().map_err(protocol)?;
                let text = |i: usize| {
                    ranges
                        .get(i)
                        .cloned()
                        .flatten()
                        .map(|r| String::from_utf8_lossy(&row.buffer()[r]).into_owned())
                        .unwrap_or_default()
                };
                answer.rows.push((text(0), text(1)));
            }
            Message::ParameterStatus(status) => {
                let name = status.name().map_err(protocol)?.to_owned();
                let value = status.value().map_err(protocol)?.to_owned();
                answer.reported.push((name, value));
            }
            Message::ErrorResponse(body) if error.is_none() => {
                error = Some(DbError::parse(&mut body.fields()).map_err(protocol)?);
            }
            _ => {}
        }
    }
    match error {
        Some(err) => Err(Error::Db(Box::new(err))),
        None => Ok(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn startup_parameters_and_options_become_settings() {
        let startup = pairs(&[
            ("user", "postgres"),
            ("database", "postgres"),
            ("DateStyle", "ISO, MDY"),
            ("client_encoding", "UTF8"),
            (
                "options",
                "-c search_path=a,b --statement-timeout=5s -cwork_mem=8MB -c x.y=with\\ space",
            ),
        ]);
        assert_eq!(
            from_startup(&startup).unwrap(),
            pairs(&[
                ("client_encoding", "UTF8"),
                ("datestyle", "ISO, MDY"),
                ("search_path", "a,b"),
                ("statement_timeout", "5s"),
                ("work_mem", "8MB"),
                ("x.y", "with space"),
            ])
        );
        assert!(from_startup(&pairs(&[("options", "-D /etc")])).is_err());
        assert!(from_startup(&pairs(&[("options", "-c novalue")])).is_err());
    }

    #[test]
    fn batches_that_may_change_settings_are_noticed() {
        let message = |kind: u8, body: &[u8]| {
            let mut m = vec![kind];
            m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            m.extend_from_slice(body);
            m
        };
        assert!(may_change(&message(b'Q', b"Set x = 1\0")));
        let mut batch = message(b'P', b"\0SELECT 1\0\0\0");
        batch.extend(message(b'P', b"s1\0select set_config('a','b',false)\0\0\0"));
        assert!(may_change(&batch));
        assert!(may_change(&message(b'Q', b"DISCARD ALL\0")));
        assert!(!may_change(&message(b'Q', b"SELECT 1\0")));
        // Data is not SQL.
        assert!(!may_change(&message(b'd', b"set\tdiscard\n")));
        assert!(!may_change(&message(
            b'B',
            b"\0\0\0\0\0\x01\0\0\0\x03set\0\0"
        )));
    }
}
