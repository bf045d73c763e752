//! The SQL of `bench speed`: the speed suite derived from SQLite's
//! speedtest, as PGlite's and pglite-oxide's published benchmarks run it,
//! generated here from its definitions with a fixed random seed (so every
//! run, on every machine, sends the same bytes).
//!
//! Each test is one query buffer, sent with the simple query protocol;
//! the tests run in order on one fresh database, and later ones use the
//! tables and indexes earlier ones made.

use std::fmt::Write;

/// One test: its id in the published suite (`2.1` is the single-statement
/// variant of `2`), what it does, and its SQL.
pub struct SpeedTest {
    pub id: &'static str,
    pub label: &'static str,
    pub sql: String,
}

/// The seed of the suite's random numbers.
const SEED: u64 = 0x5eed_5eed_2026;

/// Random values are below this (five digits, as the speedtest's).
const RANDOM_BELOW: u64 = 100_000;

/// The whole suite, in the order it runs.
pub fn suite() -> Vec<SpeedTest> {
    let mut random = SplitMix64(SEED);
    let mut tests = Vec::new();
    let mut push = |id, label, sql| tests.push(SpeedTest { id, label, sql });

    let mut sql = String::from("CREATE TABLE t1(a INTEGER, b INTEGER, c VARCHAR(100));\n");
    insert_rows(&mut sql, "t1", 1_000, &mut random);
    push("1", "1000 INSERTs", sql);

    // 2 and 2.1 insert the same rows: one statement per row, then one
    // statement for all of them.
    let rows2 = random_rows(25_000, &mut random);
    push(
        "2",
        "25000 INSERTs in a transaction",
        transaction(&format!(
            "{}{}",
            create_table("t2"),
            one_insert_per_row("t2", &rows2)
        )),
    );
    push(
        "2.1",
        "25000 INSERTs in one statement",
        transaction(&format!(
            "{}{}",
            create_table("t2_1"),
            one_insert_for_all("t2_1", &rows2)
        )),
    );

    let rows3 = random_rows(25_000, &mut random);
    push(
        "3",
        "25000 INSERTs into an indexed table",
        transaction(&format!(
            "{}CREATE INDEX i3 ON t3(c);\n{}",
            create_table("t3"),
            one_insert_per_row("t3", &rows3)
        )),
    );
    push(
        "3.1",
        "25000 INSERTs in one statement, indexed",
        transaction(&format!(
            "{}CREATE INDEX i3_1 ON t3_1(c);\n{}",
            create_table("t3_1"),
            one_insert_for_all("t3_1", &rows3)
        )),
    );

    let mut sql = String::new();
    for i in 0..100 {
        let low = i * 100;
        let _ = writeln!(
            sql,
            "SELECT count(*), avg(b) FROM t2 WHERE b>={low} AND b<{};",
            low + 1_000
        );
    }
    push("4", "100 SELECTs without an index", transaction(&sql));

    let mut sql = String::new();
    for n in 1..=100 {
        let _ = writeln!(
            sql,
            "SELECT count(*), avg(b) FROM t2 WHERE c LIKE '%{}%';",
            number_words(n)
        );
    }
    push("5", "100 SELECTs on a string comparison", transaction(&sql));

    push(
        "6",
        "Creating indexes",
        "CREATE INDEX i2a ON t2(a);\nCREATE INDEX i2b ON t2(b);\n".into(),
    );

    let mut sql = String::new();
    for i in 0..5_000 {
        let low = i * 100;
        let _ = writeln!(
            sql,
            "SELECT count(*), avg(b) FROM t2 WHERE b>={low} AND b<{};",
            low + 100
        );
    }
    push("7", "5000 SELECTs with an index", transaction(&sql));

    let mut sql = String::new();
    for i in 0..1_000 {
        let low = i * 10;
        let _ = writeln!(
            sql,
            "UPDATE t1 SET b=b*2 WHERE a>={low} AND a<{};",
            low + 10
        );
    }
    push("8", "1000 UPDATEs without an index", transaction(&sql));

    let mut sql = String::new();
    for a in 1..=25_000 {
        let _ = writeln!(
            sql,
            "UPDATE t2 SET b={} WHERE a={a};",
            random.below(RANDOM_BELOW)
        );
    }
    push("9", "25000 UPDATEs with an index", transaction(&sql));

    let mut sql = String::new();
    for a in 1..=25_000 {
        let words = number_words(random.below(RANDOM_BELOW));
        let _ = writeln!(sql, "UPDATE t2 SET c='{words}' WHERE a={a};");
    }
    push("10", "25000 text UPDATEs with an index", transaction(&sql));

    push(
        "11",
        "INSERTs from a SELECT",
        transaction("INSERT INTO t1 SELECT b,a,c FROM t2;\nINSERT INTO t2 SELECT b,a,c FROM t1;\n"),
    );
    push(
        "12",
        "DELETE without an index",
        "DELETE FROM t2 WHERE c LIKE '%fifty%';\n".into(),
    );
    push(
        "13",
        "DELETE with an index",
        "DELETE FROM t2 WHERE a>10 AND a<20000;\n".into(),
    );
    push(
        "14",
        "A big INSERT after a big DELETE",
        "INSERT INTO t2 SELECT * FROM t1;\n".into(),
    );

    let mut sql = String::from("DELETE FROM t1;\n");
    insert_rows(&mut sql, "t1", 12_000, &mut random);
    push(
        "15",
        "A big DELETE followed by 12000 small INSERTs",
        transaction(&sql),
    );
    push(
        "16",
        "DROP TABLE",
        "DROP TABLE t1;\nDROP TABLE t2;\nDROP TABLE t3;\n".into(),
    );
    tests
}

fn create_table(name: &str) -> String {
    format!("CREATE TABLE {name}(a INTEGER, b INTEGER, c VARCHAR(100));\n")
}

fn transaction(body: &str) -> String {
    format!("BEGIN;\n{body}COMMIT;\n")
}

/// Rows `(a, b)`: `a` counts from 1, `b` is random; `c` is `b` in words.
fn random_rows(count: u64, random: &mut SplitMix64) -> Vec<(u64, u64)> {
    (1..=count)
        .map(|a| (a, random.below(RANDOM_BELOW)))
        .collect()
}

fn insert_rows(sql: &mut String, table: &str, count: u64, random: &mut SplitMix64) {
    sql.push_str(&one_insert_per_row(table, &random_rows(count, random)));
}

fn one_insert_per_row(table: &str, rows: &[(u64, u64)]) -> String {
    let mut sql = String::new();
    for &(a, b) in rows {
        let _ = writeln!(
            sql,
            "INSERT INTO {table} VALUES({a}, {b}, '{}');",
            number_words(b)
        );
    }
    sql
}

fn one_insert_for_all(table: &str, rows: &[(u64, u64)]) -> String {
    let mut sql = format!("INSERT INTO {table} VALUES\n");
    for (i, &(a, b)) in rows.iter().enumerate() {
        let end = if i + 1 == rows.len() { ";" } else { "," };
        let _ = writeln!(sql, "({a}, {b}, '{}'){end}", number_words(b));
    }
    sql
}

/// `n` in English words, as the speedtest spells its text column:
/// `forty-six thousand five hundred eighty-two`.
pub fn number_words(n: u64) -> String {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let below_thousand = |n: u64, words: &mut Vec<String>| {
        if n >= 100 {
            words.push(format!("{} hundred", ONES[(n / 100) as usize]));
        }
        let rest = n % 100;
        match rest {
            0 => {}
            1..=19 => words.push(ONES[rest as usize].into()),
            _ if rest.is_multiple_of(10) => words.push(TENS[(rest / 10) as usize].into()),
            _ => words.push(format!(
                "{}-{}",
                TENS[(rest / 10) as usize],
                ONES[(rest % 10) as usize]
            )),
        }
    };
    if n == 0 {
        return ONES[0].into();
    }
    let mut words = Vec::new();
    if n >= 1_000 {
        below_thousand(n / 1_000, &mut words);
        words.push("thousand".into());
    }
    below_thousand(n % 1_000, &mut words);
    words.join(" ")
}

/// A small, fixed pseudo-random sequence (SplitMix64): the suite must not
/// change with a dependency's version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform below `n` (the modulo bias is far below what matters here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_the_speedtest_spells_them() {
        assert_eq!(number_words(0), "zero");
        assert_eq!(number_words(8), "eight");
        assert_eq!(number_words(40), "forty");
        assert_eq!(number_words(100), "one hundred");
        assert_eq!(number_words(26_008), "twenty-six thousand eight");
        assert_eq!(
            number_words(46_582),
            "forty-six thousand five hundred eighty-two"
        );
        assert_eq!(number_words(69_001), "sixty-nine thousand one");
    }

    #[test]
    fn the_suite_has_the_published_shape() {
        let suite = suite();
        let ids: Vec<&str> = suite.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            [
                "1", "2", "2.1", "3", "3.1", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
                "14", "15", "16"
            ]
        );
        let statements = |id: &str| {
            let test = suite.iter().find(|t| t.id == id).unwrap();
            test.sql.matches(";\n").count()
        };
        assert_eq!(statements("1"), 1 + 1_000);
        assert_eq!(statements("2"), 2 + 1 + 25_000);
        assert_eq!(statements("2.1"), 2 + 1 + 1);
        assert_eq!(statements("7"), 2 + 5_000);
        assert_eq!(statements("15"), 2 + 1 + 12_000);
        // Fixed seed: the same SQL every time.
        assert_eq!(suite[1].sql, super::suite()[1].sql);
    }
}
