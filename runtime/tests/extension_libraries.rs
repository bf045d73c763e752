//! Extensions that link a library of their own into their side module
//! (docs/decisions/0014-extension-libraries.md): uuid-ossp with libuuid,
//! pgcrypto with OpenSSL's libcrypto. Their answers are the known values of
//! the RFCs and algorithms, their randomness comes from the host, their
//! errors (also those raised around libcrypto's calls) are ordinary SQL
//! errors, and both load again after a restart.

mod support;

use pglite_runtime::{initdb, BackendSession, ExtensionFiles, InitOptions, SessionOptions};
use support::{artifacts, query, scalar, Reply};

/// Seconds between the Gregorian epoch of RFC 4122 timestamps (1582-10-15)
/// and the Unix epoch.
const GREGORIAN_TO_UNIX_SECONDS: i64 = 12_219_292_800;

fn single_column(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.error, None, "query failed: {:?}", reply.message);
    reply
        .rows
        .iter()
        .map(|row| row[0].clone().expect("not null"))
        .collect()
}

/// A data directory with `name` installed, and a backend on it.
fn start_with(name: &str) -> (tempfile::TempDir, std::path::PathBuf, BackendSession) {
    let artifacts = artifacts();
    let extension = ExtensionFiles::from_artifacts(&artifacts, name)
        .unwrap_or_else(|err| panic!("{name} is built: {err}"));
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    initdb(&artifacts, &data, &InitOptions::default()).expect("initdb");
    extension.install(&data).expect("install");
    let (session, _) =
        BackendSession::start(&artifacts, &data, &SessionOptions::default()).expect("start");
    (temp, data, session)
}

#[test]
fn uuid_ossp_generates_rfc_4122_uuids() {
    let (_temp, data, mut session) = start_with("uuid-ossp");
    let create = query(&mut session, "CREATE EXTENSION \"uuid-ossp\"");
    assert_eq!(create.message, None);

    // Name-based UUIDs (RFC 4122 4.3) are known values.
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT uuid_generate_v5(uuid_ns_url(), 'x')::text"
        )),
        "4cd605e7-afa2-5360-b5b9-c5e9fb5c76f4"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT uuid_generate_v3(uuid_ns_url(), 'x')::text"
        )),
        "60a7f89c-e446-309c-8b4f-460bfdfd0dee"
    );

    // Random UUIDs: version 4, variant 10, all distinct (libuuid draws
    // them from WASI's random_get).
    let v4 = single_column(&query(
        &mut session,
        "SELECT uuid_generate_v4()::text FROM generate_series(1, 1000)",
    ));
    let distinct: std::collections::BTreeSet<&String> = v4.iter().collect();
    assert_eq!(distinct.len(), 1000, "random UUIDs repeat");
    for uuid in &v4 {
        assert_eq!(&uuid[14..15], "4", "version of {uuid}");
        assert!("89ab".contains(&uuid[19..20]), "variant of {uuid}");
    }

    // Time-based UUIDs: version 1, distinct, the host's clock in the
    // timestamp, and a random node with the multicast bit set (WASI has
    // no MAC address; RFC 4122 4.5).
    let v1 = single_column(&query(
        &mut session,
        "SELECT uuid_generate_v1()::text FROM generate_series(1, 100)",
    ));
    let distinct: std::collections::BTreeSet<&String> = v1.iter().collect();
    assert_eq!(distinct.len(), 100, "time-based UUIDs repeat");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    for uuid in &v1 {
        assert_eq!(&uuid[14..15], "1", "version of {uuid}");
        assert!("89ab".contains(&uuid[19..20]), "variant of {uuid}");
        let node = u8::from_str_radix(&uuid[24..26], 16).expect("hex");
        assert_eq!(node & 1, 1, "multicast bit of the node of {uuid}");
        let hex = format!("{}{}{}", &uuid[15..18], &uuid[9..13], &uuid[0..8]);
        let ticks = i64::from_str_radix(&hex, 16).expect("hex timestamp");
        let seconds = ticks / 10_000_000 - GREGORIAN_TO_UNIX_SECONDS;
        assert!(
            (seconds - now).abs() < 24 * 3600,
            "timestamp of {uuid} is {seconds}, now is {now}"
        );
    }
    let v1mc = scalar(&query(&mut session, "SELECT uuid_generate_v1mc()::text"));
    assert_eq!(&v1mc[14..15], "1", "version of {v1mc}");

    assert_eq!(
        scalar(&query(&mut session, "SELECT uuid_nil()::text")),
        "00000000-0000-0000-0000-000000000000"
    );
    let keep = query(
        &mut session,
        "CREATE TABLE ids (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), n int);
         INSERT INTO ids (n) SELECT i FROM generate_series(1, 10) i",
    );
    assert_eq!(keep.message, None);
    session.shutdown().expect("clean shutdown");

    // After a restart the library loads again on first use.
    let (mut session, _) =
        BackendSession::start(&artifacts(), &data, &SessionOptions::default()).expect("restart");
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT uuid_generate_v5(uuid_ns_url(), 'x')::text"
        )),
        "4cd605e7-afa2-5360-b5b9-c5e9fb5c76f4"
    );
    let more = query(&mut session, "INSERT INTO ids (n) VALUES (11)");
    assert_eq!(more.message, None);
    assert_eq!(
        scalar(&query(&mut session, "SELECT count(DISTINCT id) FROM ids")),
        "11"
    );
    session.shutdown().expect("clean shutdown");
}

#[test]
fn pgcrypto_runs_on_libcrypto() {
    let (_temp, data, mut session) = start_with("pgcrypto");
    let create = query(&mut session, "CREATE EXTENSION pgcrypto");
    assert_eq!(create.message, None);

    // Digests and MACs through libcrypto's EVP interface: FIPS 180-2's
    // "abc" vector, RFC 2104 HMAC-SHA-256.
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT encode(digest('abc', 'sha256'), 'hex')"
        )),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT encode(hmac('data', 'key', 'sha256'), 'hex')"
        )),
        "5031fe3d989c6d1537a013fa6e739da23463fdaec3b70137d828e36ace221bd0"
    );

    // Password hashing (pgcrypto's own bcrypt, salted from the host's
    // randomness): the hash verifies, another password does not.
    let setup = query(
        &mut session,
        "CREATE TABLE users (name text PRIMARY KEY, hash text);
         INSERT INTO users VALUES ('alice', crypt('secret', gen_salt('bf')))",
    );
    assert_eq!(setup.message, None);
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT hash = crypt('secret', hash) AND hash <> crypt('wrong', hash)
                    AND hash LIKE '$2a$06$%' FROM users"
        )),
        "t"
    );

    // OpenPGP symmetric encryption (AES through libcrypto) round trips;
    // the session keys and salts are random: two encryptions differ.
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT pgp_sym_decrypt(pgp_sym_encrypt('hello', 'pw'), 'pw')"
        )),
        "hello"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT pgp_sym_decrypt(pgp_sym_encrypt('hello', 'pw', 'cipher-algo=aes256'), 'pw')"
        )),
        "hello"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT pgp_sym_encrypt('hello', 'pw') <> pgp_sym_encrypt('hello', 'pw')"
        )),
        "t"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT encode(decrypt(encrypt('data', 'key', 'aes'), 'key', 'aes'), 'escape')"
        )),
        "data"
    );

    // Random bytes from the host: the right length, never repeating.
    let random = single_column(&query(
        &mut session,
        "SELECT encode(gen_random_bytes(16), 'hex') FROM generate_series(1, 200)",
    ));
    let distinct: std::collections::BTreeSet<&String> = random.iter().collect();
    assert_eq!(distinct.len(), 200, "random bytes repeat");
    assert!(random.iter().all(|r| r.len() == 32));

    // Errors raised in pgcrypto's code around libcrypto are ordinary SQL
    // errors and the session goes on: bad ASCII armor, a digest libcrypto
    // does not know, a wrong key, a cipher this libcrypto does not provide
    // (Blowfish lives in OpenSSL 3's legacy provider, not loaded, as on a
    // Debian system), also inside a transaction rolled back to a savepoint.
    let armor = query(&mut session, "SELECT dearmor('not armor')");
    assert_eq!(armor.error.as_deref(), Some("39000"), "{:?}", armor.message);
    let unknown = query(&mut session, "SELECT digest('abc', 'no-such-digest')");
    assert_eq!(
        unknown.error.as_deref(),
        Some("22023"),
        "{:?}",
        unknown.message
    );
    let blowfish = query(&mut session, "SELECT encrypt('data', 'key', 'bf')");
    assert_eq!(
        blowfish.error.as_deref(),
        Some("39000"),
        "{:?}",
        blowfish.message
    );
    let savepoint = query(
        &mut session,
        "BEGIN; SAVEPOINT s; SELECT pgp_sym_decrypt(pgp_sym_encrypt('hello', 'pw'), 'other')",
    );
    assert_eq!(
        savepoint.error.as_deref(),
        Some("39000"),
        "{:?}",
        savepoint.message
    );
    let rollback = query(
        &mut session,
        "ROLLBACK TO SAVEPOINT s; SELECT digest('abc', 'sha1'); COMMIT",
    );
    assert_eq!(rollback.message, None);
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT encode(digest('abc', 'sha1'), 'hex')"
        )),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    session.shutdown().expect("clean shutdown");

    // After a restart the library loads again on first use and the stored
    // hash still verifies.
    let (mut session, _) =
        BackendSession::start(&artifacts(), &data, &SessionOptions::default()).expect("restart");
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT hash = crypt('secret', hash) FROM users"
        )),
        "t"
    );
    assert_eq!(
        scalar(&query(
            &mut session,
            "SELECT encode(digest('abc', 'sha256'), 'hex')"
        )),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    session.shutdown().expect("clean shutdown");
}
