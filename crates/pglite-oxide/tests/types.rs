//! Every common type goes in as a parameter and comes back out unchanged,
//! NULL included.

use std::fmt::Debug;

use pglite_oxide::{FromSql, Numeric, Pglite, ToSql};

fn round_trip<T>(db: &mut Pglite, sql_type: &str, value: T)
where
    T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
{
    let row = db
        .query_one(&format!("SELECT $1::{sql_type}"), &[&value])
        .unwrap_or_else(|e| panic!("{sql_type}: {e}"));
    let back: T = row.get(0);
    assert_eq!(back, value, "{sql_type}");
    // NULL of the same type reads as None.
    let none: Option<T> = None;
    let row = db
        .query_one(&format!("SELECT $1::{sql_type}"), &[&none])
        .unwrap();
    assert_eq!(row.get::<_, Option<T>>(0), None, "NULL {sql_type}");
}

#[test]
fn values_round_trip_unchanged() {
    let mut db = Pglite::temporary().unwrap();
    round_trip(&mut db, "bool", true);
    round_trip(&mut db, "int2", -12_345_i16);
    round_trip(&mut db, "int4", i32::MIN);
    round_trip(&mut db, "int8", i64::MAX);
    round_trip(&mut db, "float4", 1.5_f32);
    round_trip(&mut db, "float8", -2.25e300_f64);
    round_trip(&mut db, "text", "héllo, wörld".to_string());
    round_trip(&mut db, "varchar", "short".to_string());
    round_trip(&mut db, "bytea", vec![0_u8, 1, 2, 255]);
    round_trip(&mut db, "oid", 4242_u32);
    round_trip(&mut db, "\"char\"", 7_i8);
    round_trip(&mut db, "int4[]", vec![1_i32, 2, 3]);
    round_trip(&mut db, "text[]", vec!["a".to_string(), "b c".to_string()]);
    round_trip(&mut db, "int8[]", vec![Some(1_i64), None, Some(3)]);
    round_trip(
        &mut db,
        "numeric",
        Numeric::new("-12345678901234567890.000000000123"),
    );
    round_trip(&mut db, "numeric", Numeric::new("NaN"));
    let document = serde_json::json!({"a": [1, 2, {"b": null}], "c": "d"});
    round_trip(&mut db, "jsonb", document.clone());
    round_trip(&mut db, "json", document);
    round_trip(
        &mut db,
        "uuid",
        uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
    );
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let time = chrono::NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    round_trip(&mut db, "date", date);
    round_trip(&mut db, "time", time);
    round_trip(&mut db, "timestamp", date.and_time(time));
    round_trip(&mut db, "timestamptz", date.and_time(time).and_utc());
}

#[test]
fn rows_read_by_name_and_report_bad_reads() {
    let mut db = Pglite::temporary().unwrap();
    let row = db
        .query_one(
            "SELECT 1::int4 AS one, 'x'::text AS \"Name\", NULL::int4 AS nothing",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i32>("one"), 1);
    assert_eq!(row.get::<_, &str>("Name"), "x");
    assert_eq!(row.get::<_, Option<i32>>("nothing"), None);
    assert_eq!(row.columns()[1].name(), "Name");
    // Wrong type, missing column, NULL into a non-Option: errors, not panics.
    assert!(row.try_get::<_, String>("one").is_err());
    assert!(row.try_get::<_, i32>("missing").is_err());
    assert!(row.try_get::<_, i32>(7).is_err());
    assert!(row.try_get::<_, i32>("nothing").is_err());
}

#[test]
fn enums_and_domains_are_looked_up_in_the_catalog() {
    let mut db = Pglite::temporary().unwrap();
    db.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN positive AS int4 CHECK (VALUE > 0);",
    )
    .unwrap();
    let row = db
        .query_one("SELECT 'happy'::mood, 5::positive", &[])
        .unwrap();
    assert_eq!(row.columns()[0].type_().name(), "mood");
    let n: i32 = row.get(1);
    assert_eq!(n, 5);
    let error = db.query_one("SELECT $1::positive", &[&-1_i32]).unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("23514"));
}

#[cfg(feature = "decimal")]
#[test]
fn decimals_round_trip() {
    use std::str::FromStr;
    let mut db = Pglite::temporary().unwrap();
    round_trip(
        &mut db,
        "numeric",
        rust_decimal::Decimal::from_str("-1234.5678").unwrap(),
    );
}

#[cfg(feature = "time")]
#[test]
fn time_crate_values_round_trip() {
    let mut db = Pglite::temporary().unwrap();
    let date = time::Date::from_calendar_date(2026, time::Month::November, 26).unwrap();
    let t = time::Time::from_hms_micro(23, 59, 58, 123_456).unwrap();
    round_trip(&mut db, "date", date);
    round_trip(&mut db, "timestamp", time::PrimitiveDateTime::new(date, t));
    round_trip(
        &mut db,
        "timestamptz",
        time::PrimitiveDateTime::new(date, t).assume_utc(),
    );
}
