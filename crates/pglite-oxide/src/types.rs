//! Types beyond PostgreSQL's built-in ones (looked up in the catalog), and
//! [`Numeric`].

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;

use bytes::{BufMut, BytesMut};
use postgres_types::{accepts, to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};

use crate::error::{Error, Result};
use crate::session::Session;

/// Types looked up in the catalog, by OID.
#[derive(Default)]
pub(crate) struct TypeCache(HashMap<u32, Type>);

/// How deep a type may nest (arrays of domains of ...) before the lookup
/// gives up.
const MAX_TYPE_DEPTH: usize = 8;

/// Looks up a type that `postgres-types` does not know, as tokio-postgres
/// does: its name, schema and kind from `pg_type`.
pub(crate) fn lookup(session: &mut Session, oid: u32) -> Result<Type> {
    lookup_at(session, oid, 0)
}

fn lookup_at(session: &mut Session, oid: u32, depth: usize) -> Result<Type> {
    if let Some(ty) = Type::from_oid(oid) {
        return Ok(ty);
    }
    if let Some(ty) = session.types.0.get(&oid) {
        return Ok(ty.clone());
    }
    if depth > MAX_TYPE_DEPTH {
        return Err(Error::Protocol(format!("type {oid} nests too deeply")));
    }
    // Only built-in types appear in this query's own parameters and
    // results, so it cannot recurse into itself.
    let row = session.query_one(
        "SELECT t.typname::text, n.nspname::text, t.typtype::text, t.typelem::oid, \
                t.typbasetype::oid, t.typrelid::oid, t.typcategory::text \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.oid = $1",
        &[&oid],
    )?;
    let name: String = row.try_get(0)?;
    let schema: String = row.try_get(1)?;
    let typtype: String = row.try_get(2)?;
    let elem: u32 = row.try_get(3)?;
    let base: u32 = row.try_get(4)?;
    let relid: u32 = row.try_get(5)?;
    let category: String = row.try_get(6)?;
    let kind = match typtype.as_str() {
        "e" => {
            let labels = session.query(
                "SELECT enumlabel::text FROM pg_catalog.pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder",
                &[&oid],
            )?;
            Kind::Enum(labels.iter().map(|r| r.try_get(0)).collect::<Result<_>>()?)
        }
        "d" => Kind::Domain(lookup_at(session, base, depth + 1)?),
        "p" => Kind::Pseudo,
        "c" if relid != 0 => {
            let fields = session.query(
                "SELECT attname::text, atttypid::oid FROM pg_catalog.pg_attribute \
                 WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                &[&relid],
            )?;
            let mut members = Vec::new();
            for field in fields {
                let name: String = field.try_get(0)?;
                let ty = lookup_at(session, field.try_get(1)?, depth + 1)?;
                members.push(postgres_types::Field::new(name, ty));
            }
            Kind::Composite(members)
        }
        _ if category == "A" && elem != 0 => Kind::Array(lookup_at(session, elem, depth + 1)?),
        _ => Kind::Simple,
    };
    let ty = Type::new(name, oid, kind, schema);
    session.types.0.insert(oid, ty.clone());
    Ok(ty)
}

/// A `numeric` value as its exact decimal text (`"-12.3400"`, `"NaN"`,
/// `"Infinity"`), with no loss of precision and no extra dependency. With
/// the `decimal` feature, `rust_decimal::Decimal` works too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Numeric(String);

impl Numeric {
    /// A numeric from its text form; checked when sent to PostgreSQL.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Numeric {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

// The binary format (PostgreSQL's numeric_send): i16 number of base-10000
// digits, i16 weight of the first digit, u16 sign, u16 display scale, then
// the digits.
const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;

type BoxError = Box<dyn StdError + Sync + Send>;

fn read_u16(raw: &[u8], at: usize) -> Result<u16, BoxError> {
    raw.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "truncated numeric".into())
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let ndigits = read_u16(raw, 0)? as usize;
        let weight = read_u16(raw, 2)? as i16 as i32;
        let sign = read_u16(raw, 4)?;
        let dscale = read_u16(raw, 6)? as usize;
        match sign {
            SIGN_NAN => return Ok(Self::new("NaN")),
            SIGN_PINF => return Ok(Self::new("Infinity")),
            SIGN_NINF => return Ok(Self::new("-Infinity")),
            SIGN_POSITIVE | SIGN_NEGATIVE => {}
            other => return Err(format!("invalid numeric sign {other:#x}").into()),
        }
        let digits = (0..ndigits)
            .map(|i| read_u16(raw, 8 + 2 * i))
            .collect::<Result<Vec<u16>, _>>()?;
        if digits.iter().any(|&d| d > 9999) {
            return Err("invalid numeric digit".into());
        }
        let mut text = String::new();
        if sign == SIGN_NEGATIVE {
            text.push('-');
        }
        // Integer part: digit groups with weight >= 0.
        if weight < 0 {
            text.push('0');
        } else {
            for group in 0..=weight {
                let d = digits.get(group as usize).copied().unwrap_or(0);
                if group == 0 {
                    text.push_str(&d.to_string());
                } else {
                    text.push_str(&format!("{d:04}"));
                }
            }
        }
        if dscale > 0 {
            text.push('.');
            let mut fraction = String::new();
            let mut group = weight + 1;
            while fraction.len() < dscale {
                let d = if group < 0 {
                    0
                } else {
                    digits.get(group as usize).copied().unwrap_or(0)
                };
                fraction.push_str(&format!("{d:04}"));
                group += 1;
            }
            fraction.truncate(dscale);
            text.push_str(&fraction);
        }
        Ok(Self(text))
    }

    accepts!(NUMERIC);
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let text = self.0.trim();
        let special = match text.to_ascii_lowercase().as_str() {
            "nan" => Some(SIGN_NAN),
            "infinity" | "+infinity" | "inf" | "+inf" => Some(SIGN_PINF),
            "-infinity" | "-inf" => Some(SIGN_NINF),
            _ => None,
        };
        if let Some(sign) = special {
            for v in [0, 0, sign, 0] {
                out.put_u16(v);
            }
            return Ok(IsNull::No);
        }
        let invalid = || -> BoxError { format!("invalid numeric {:?}", self.0).into() };
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (
                &unsigned[..at],
                unsigned[at + 1..].parse::<i32>().map_err(|_| invalid())?,
            ),
            None => (unsigned, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part
                .bytes()
                .chain(frac_part.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        // All decimal digits, and the position of the decimal point in them.
        let mut all: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut point = int_part.len() as i64 + i64::from(exponent);
        let scale = (frac_part.len() as i64 - i64::from(exponent)).max(0);
        if scale > 16383 || point.abs() > 1_000_000 {
            return Err(invalid());
        }
        // Pad so that the point sits on a 4-digit group boundary.
        while point <= 0 {
            all.insert(0, 0);
            point += 1;
        }
        let lead = (4 - point % 4) % 4;
        for _ in 0..lead {
            all.insert(0, 0);
        }
        point += lead;
        while (all.len() as i64) < point || !all.len().is_multiple_of(4) {
            all.push(0);
        }
        let mut groups: Vec<u16> = all
            .chunks(4)
            .map(|c| c.iter().fold(0u16, |acc, &d| acc * 10 + u16::from(d)))
            .collect();
        let mut weight = point / 4 - 1;
        // Strip leading and trailing zero groups.
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let ndigits = u16::try_from(groups.len()).map_err(|_| invalid())?;
        let weight = i16::try_from(weight).map_err(|_| invalid())?;
        out.put_u16(ndigits);
        out.put_i16(weight);
        out.put_u16(if negative && !groups.is_empty() {
            SIGN_NEGATIVE
        } else {
            SIGN_POSITIVE
        });
        out.put_u16(scale as u16);
        for g in groups {
            out.put_u16(g);
        }
        Ok(IsNull::No)
    }

    accepts!(NUMERIC);
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut buf = BytesMut::new();
        Numeric::new(text).to_sql(&Type::NUMERIC, &mut buf).unwrap();
        Numeric::from_sql(&Type::NUMERIC, &buf).unwrap().0
    }

    #[test]
    fn numerics_keep_their_digits_and_scale() {
        for (input, expected) in [
            ("0", "0"),
            ("1", "1"),
            ("-12.3400", "-12.3400"),
            (
                "12345678901234567890.000000000123",
                "12345678901234567890.000000000123",
            ),
            ("0.0001", "0.0001"),
            ("10000", "10000"),
            ("1.5e3", "1500"),
            ("1.5e-3", "0.0015"),
            ("NaN", "NaN"),
            ("-Infinity", "-Infinity"),
            ("-0", "0"),
        ] {
            assert_eq!(round_trip(input), expected, "{input}");
        }
        let mut buf = BytesMut::new();
        assert!(Numeric::new("1.2.3")
            .to_sql(&Type::NUMERIC, &mut buf)
            .is_err());
        assert!(Numeric::new("").to_sql(&Type::NUMERIC, &mut buf).is_err());
    }
}
