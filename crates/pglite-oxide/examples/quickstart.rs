//! Opens a temporary database, creates a table, inserts rows with
//! parameters and reads them back as typed values.
//!
//! cargo run -p pglite-oxide --example quickstart

use pglite_oxide::Pglite;

fn main() -> Result<(), pglite_oxide::Error> {
    let started = std::time::Instant::now();
    let mut db = Pglite::temporary()?;
    println!("opened a temporary database in {:?}", started.elapsed());

    db.batch_execute(
        "CREATE TABLE crates (
             id serial PRIMARY KEY,
             name text NOT NULL,
             downloads bigint,
             tags text[] NOT NULL DEFAULT '{}'
         )",
    )?;
    for (name, downloads, tags) in [
        ("tokio", Some(380_000_000_i64), vec!["async", "runtime"]),
        ("serde", Some(520_000_000), vec!["serialization"]),
        (
            "pglite-oxide",
            None,
            vec!["database", "postgres", "embedded"],
        ),
    ] {
        db.execute(
            "INSERT INTO crates (name, downloads, tags) VALUES ($1, $2, $3)",
            &[&name, &downloads, &tags],
        )?;
    }

    let version: String = db.query_one("SELECT version()", &[])?.get(0);
    println!("{version}");
    for row in db.query(
        "SELECT id, name, downloads, tags FROM crates ORDER BY id",
        &[],
    )? {
        let id: i32 = row.get("id");
        let name: &str = row.get("name");
        let downloads: Option<i64> = row.get("downloads");
        let tags: Vec<String> = row.get("tags");
        let downloads = downloads.map_or("unknown".to_string(), |d| d.to_string());
        println!(
            "{id} {name:<13} downloads: {downloads:<10} tags: {}",
            tags.join(", ")
        );
    }
    db.close()
}
