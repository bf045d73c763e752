//! The post-bootstrap script: everything after bootstrap that initdb does
//! in one single-user backend connected to template1, in initdb's order.
//!
//! The backend runs with `-j`: a statement ends at a semicolon followed by
//! a blank line, so every statement here ends with `;\n\n`, and so does
//! every file from the share tree after we append a blank line.

use std::fmt::Write as _;
use std::path::Path;

use crate::{Error, Result};

/// Where the guest sees the artifacts' share tree.
const GUEST_SHARE: &str = "/pglite/share/postgresql";

/// Optional parts of the share tree; initdb's matching steps run only when
/// they are there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    /// `extension/plpgsql.control`: `CREATE EXTENSION plpgsql`.
    pub plpgsql: bool,
    /// `snowball_create.sql`: the snowball dictionaries and the text search
    /// configurations for natural languages (`english`, ...).
    pub snowball: bool,
}

impl Features {
    pub fn detect(share: &Path) -> Self {
        Self {
            plpgsql: share.join("extension/plpgsql.control").is_file(),
            snowball: share.join("snowball_create.sql").is_file(),
        }
    }
}

/// The catalogs holding per-database objects with ACLs, and their ACL
/// column: what `pg_init_privs` records as the initial privileges.
const ACL_CATALOGS: &[(&str, &str)] = &[
    ("pg_proc", "proacl"),
    ("pg_type", "typacl"),
    ("pg_language", "lanacl"),
    ("pg_largeobject_metadata", "lomacl"),
    ("pg_namespace", "nspacl"),
    ("pg_foreign_data_wrapper", "fdwacl"),
    ("pg_foreign_server", "srvacl"),
];

/// Relation kinds that get ACLs: tables, views, materialized views,
/// sequences.
const RELKINDS_WITH_ACL: &str = "('r', 'v', 'm', 'S')";

/// The whole post-bootstrap script for a cluster whose superuser is
/// `superuser` (already checked by `check_superuser`).
pub(super) fn post_bootstrap(share: &Path, superuser: &str, features: &Features) -> Result<String> {
    let mut sql = String::with_capacity(512 * 1024);
    // pg_authid holds password hashes; it is read through pg_roles and
    // pg_shadow only.
    sql.push_str("REVOKE ALL ON pg_authid FROM public;\n\n");
    append_file(&mut sql, share, "system_constraints.sql")?;
    append_file(&mut sql, share, "system_functions.sql")?;
    // Objects made from here on are not pinned: a superuser may drop them.
    sql.push_str("SELECT pg_stop_making_pinned_objects();\n\n");
    append_file(&mut sql, share, "system_views.sql")?;

    describe_operator_functions(&mut sql);
    collations(&mut sql);
    if features.snowball {
        append_file(&mut sql, share, "snowball_create.sql")?;
    }
    privileges(&mut sql, superuser);
    information_schema(&mut sql, share)?;
    if features.plpgsql {
        sql.push_str("CREATE EXTENSION plpgsql;\n\n");
    }
    // ANALYZE first, so that VACUUM FREEZE freezes the statistics too.
    sql.push_str("ANALYZE;\n\nVACUUM FREEZE;\n\n");
    template0(&mut sql);
    sql.push_str(
        "CREATE DATABASE postgres OID = 5 STRATEGY = file_copy;\n\n\
         COMMENT ON DATABASE postgres IS 'default administrative connection database';\n\n",
    );
    // Last: the shutdown checkpoint then lands in a new WAL segment, and
    // the old one, whose records nothing needs after it, is removed
    // (`wal_recycle=off`). Every database's first write copies that
    // segment up from the template: a checkpoint record and zeros (holes
    // when unpacked), not initdb's 5 MB of WAL.
    sql.push_str("SELECT pg_switch_wal();\n\n");
    Ok(sql)
}

fn append_file(sql: &mut String, share: &Path, name: &str) -> Result<()> {
    let path = share.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    sql.push_str(&text);
    sql.push_str("\n\n");
    Ok(())
}

/// Functions that implement an operator and have no comment of their own
/// get "implementation of <op> operator" (unless the operator is
/// deprecated).
fn describe_operator_functions(sql: &mut String) {
    sql.push_str(
        "INSERT INTO pg_description (objoid, classoid, objsubid, description) \
         SELECT p.oid, 'pg_proc'::regclass, 0, \
                'implementation of ' || o.oprname || ' operator' \
         FROM pg_proc p JOIN pg_operator o ON o.oprcode = p.oid \
         WHERE NOT EXISTS (SELECT FROM pg_description d \
                           WHERE d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass) \
           AND NOT EXISTS (SELECT FROM pg_description d \
                           WHERE d.objoid = o.oid AND d.classoid = 'pg_operator'::regclass \
                             AND d.description LIKE 'deprecated%');\n\n",
    );
}

/// `default`, `C` and `POSIX` come from the bootstrap data. PostgreSQL 15's
/// initdb adds the SQL-standard `ucs_basic` here, then imports the
/// operating system's locales with `pg_import_system_collations`, which
/// runs `locale -a`: the sandbox cannot start processes, and wasi-libc has
/// no locales but C and C.UTF-8, so that import is left out.
fn collations(sql: &mut String) {
    sql.push_str(
        "INSERT INTO pg_collation (oid, collname, collnamespace, collowner, collprovider, \
                                   collisdeterministic, collencoding, collcollate, collctype) \
         VALUES (pg_nextoid('pg_catalog.pg_collation', 'oid', \
                            'pg_catalog.pg_collation_oid_index'), \
                 'ucs_basic', 'pg_catalog'::regnamespace, 10, 'c', true, 6, 'C', 'C');\n\n",
    );
}

/// Catalog relations become readable by everyone; the initial privileges of
/// all per-database objects are recorded in `pg_init_privs` (pg_dump keeps
/// later changes to them).
fn privileges(sql: &mut String, superuser: &str) {
    // An aclitem `=r/"name"` in an SQL string literal: the name's double
    // quotes protect it in the aclitem, doubling single quotes protects it
    // in the literal.
    let grantor = superuser.replace('\'', "''");
    let _ = write!(
        sql,
        "UPDATE pg_class SET relacl = (\
           SELECT array_agg(acl) FROM (\
             SELECT '=r/\"{grantor}\"'::aclitem AS acl \
             UNION \
             SELECT unnest(acldefault(CASE WHEN relkind = 'S' THEN 's' ELSE 'r' END::\"char\", \
                                      10::oid))) AS acls) \
         WHERE relkind IN {RELKINDS_WITH_ACL} AND relacl IS NULL;\n\n"
    );
    sql.push_str(
        "GRANT USAGE ON SCHEMA pg_catalog, public TO PUBLIC;\n\n\
         REVOKE ALL ON pg_largeobject FROM PUBLIC;\n\n",
    );
    let _ = write!(
        sql,
        "INSERT INTO pg_init_privs (objoid, classoid, objsubid, initprivs, privtype) \
         SELECT oid, 'pg_class'::regclass, 0, relacl, 'i' FROM pg_class \
         WHERE relacl IS NOT NULL AND relkind IN {RELKINDS_WITH_ACL};\n\n\
         INSERT INTO pg_init_privs (objoid, classoid, objsubid, initprivs, privtype) \
         SELECT c.oid, 'pg_class'::regclass, a.attnum, a.attacl, 'i' \
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
         WHERE a.attacl IS NOT NULL AND c.relkind IN {RELKINDS_WITH_ACL};\n\n"
    );
    for (catalog, column) in ACL_CATALOGS {
        let _ = write!(
            sql,
            "INSERT INTO pg_init_privs (objoid, classoid, objsubid, initprivs, privtype) \
             SELECT oid, '{catalog}'::regclass, 0, {column}, 'i' FROM {catalog} \
             WHERE {column} IS NOT NULL;\n\n"
        );
    }
}

/// The information_schema, its version string (`15.18.0000` for 15.18:
/// major, minor and a micro of zero, each zero-padded) and the SQL features
/// table read from the share tree.
fn information_schema(sql: &mut String, share: &Path) -> Result<()> {
    append_file(sql, share, "information_schema.sql")?;
    sql.push_str(
        "UPDATE information_schema.sql_implementation_info \
         SET character_value = (\
           SELECT lpad((v / 10000)::text, 2, '0') || '.' || lpad((v % 10000)::text, 2, '0') \
                  || '.0000' \
           FROM (SELECT current_setting('server_version_num')::int AS v) AS version) \
         WHERE implementation_info_name = 'DBMS VERSION';\n\n",
    );
    let _ = write!(
        sql,
        "COPY information_schema.sql_features \
         (feature_id, feature_name, sub_feature_id, sub_feature_name, is_supported, comments) \
         FROM '{GUEST_SHARE}/sql_features.txt';\n\n"
    );
    Ok(())
}

/// template0: a pristine copy of template1 that nobody connects to. Its OID
/// is fixed (4, as postgres's is 5) so that every cluster agrees, which
/// pg_upgrade relies on; `file_copy` because a checkpoint costs little here
/// and the WAL stays small.
fn template0(sql: &mut String) {
    sql.push_str(
        "CREATE DATABASE template0 IS_TEMPLATE = true ALLOW_CONNECTIONS = false \
         OID = 4 STRATEGY = file_copy;\n\n\
         UPDATE pg_database SET datcollversion = NULL WHERE datname = 'template0';\n\n\
         UPDATE pg_database SET datcollversion = pg_database_collation_actual_version(oid) \
         WHERE datname = 'template1';\n\n\
         REVOKE CREATE, TEMPORARY ON DATABASE template1 FROM public;\n\n\
         REVOKE CREATE, TEMPORARY ON DATABASE template0 FROM public;\n\n\
         COMMENT ON DATABASE template0 IS 'unmodifiable empty database';\n\n\
         VACUUM pg_database;\n\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_ends_with_a_blank_line() {
        let mut sql = String::new();
        describe_operator_functions(&mut sql);
        collations(&mut sql);
        privileges(&mut sql, "o'k");
        template0(&mut sql);
        for chunk in sql.split(";\n\n").filter(|c| !c.trim().is_empty()) {
            assert!(!chunk.contains(";\n\n"), "{chunk}");
            assert!(!chunk.contains("\n\n"), "a blank line inside: {chunk}");
        }
        assert!(sql.ends_with(";\n\n"));
        assert!(sql.contains("'=r/\"o''k\"'::aclitem"));
    }
}
