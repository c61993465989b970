"""The catalog queries DBeaver's PostgreSQL driver sends when it connects and opens the
navigator (schemas, tables, columns, types, roles), answered from the policy."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.server.conftest import Running

QUERIES = [
    "SELECT current_schema(), session_user",
    "SHOW search_path",
    "select string_agg(word, ',') from pg_catalog.pg_get_keywords() "
    "where word <> ALL ('{a,abs,absolute,action}'::text[])",
    "SELECT db.oid, db.* FROM pg_catalog.pg_database db WHERE datname = %s",
    "SELECT db.oid, db.* FROM pg_catalog.pg_database db WHERE NOT datistemplate AND datallowconn "
    "ORDER BY db.datname",
    "select * from pg_catalog.pg_settings where name = %s",
    "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n "
    "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = n.oid AND d.objsubid = 0 "
    "AND d.classoid = 'pg_namespace'::regclass ORDER BY nspname",
    "SELECT c.oid, c.*, t.relname as tabrelname, rt.relnamespace as refnamespace, d.description, "
    "case when c.relkind in ('c','r') then c.relhasoids else false end as relhasoids "
    "FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid "
    "LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid = c.relrewrite "
    "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 "
    "AND d.classoid = 'pg_class'::regclass WHERE c.relnamespace = %s "
    "AND c.relkind not in ('i','I','c')",
    "select c.oid, pg_catalog.pg_total_relation_size(c.oid) as total_rel_size, "
    "pg_catalog.pg_relation_size(c.oid) as rel_size FROM pg_class c WHERE c.relnamespace = %s",
    "SELECT c.relname, a.*, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value, "
    "dsc.description, dep.objid FROM pg_catalog.pg_attribute a "
    "INNER JOIN pg_catalog.pg_class c ON (a.attrelid = c.oid) "
    "LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid = ad.adrelid AND a.attnum = ad.adnum) "
    "LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid = dsc.objoid "
    "AND a.attnum = dsc.objsubid) LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid "
    "AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid "
    "WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid = %s "
    "ORDER BY a.attnum",
    "SELECT t.oid, t.*, c.relkind, format_type(nullif(t.typbasetype, 0), t.typtypmod) "
    "as base_type_name, d.description FROM pg_catalog.pg_type t "
    "LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid = t.typelem "
    "LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid = t.typrelid "
    "LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid = d.objoid "
    "WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') "
    "AND (et.typcategory IS NULL OR et.typcategory <> 'C')",
    "SELECT r.oid, r.* FROM pg_catalog.pg_roles r",
    "SELECT e.oid, e.* FROM pg_catalog.pg_extension e",
    "SELECT i.*, c.relnamespace FROM pg_catalog.pg_index i "
    "INNER JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s",
    "SELECT c.oid, c.*, t.relname as tabrelname FROM pg_catalog.pg_constraint c "
    "LEFT OUTER JOIN pg_catalog.pg_class t ON t.oid = c.conrelid WHERE c.conrelid = %s",
    "select pg_backend_pid()",
    "SELECT p.oid, p.* FROM pg_catalog.pg_proc p WHERE p.pronamespace = %s",
]


@pytest.fixture(scope="module")
def conn(running: Running) -> Iterator[psycopg.Connection]:
    with psycopg.connect(running.dsn(), autocommit=True) as connection:
        yield connection


PARAMETERS = {"WHERE datname = %s": ["dpproxy"], "where name = %s": ["standard_conforming_strings"],
              "relnamespace = %s": [2200], "pronamespace = %s": [2200]}  # fmt: skip


@pytest.mark.parametrize("sql", QUERIES)
def test_dbeaver_query_runs(conn: psycopg.Connection, sql: str) -> None:
    members = conn.execute("SELECT 'members'::regclass::oid").fetchone()
    assert members is not None and members[0] > 0
    params = next((v for k, v in PARAMETERS.items() if k in sql), None)
    if params is None and "%s" in sql:
        params = [members[0]]  # the table's oid
    cursor = conn.execute(sql, params)
    assert cursor.description is not None
    cursor.fetchall()


def test_navigator_sees_tables_and_columns(conn: psycopg.Connection) -> None:
    tables = conn.execute(
        "SELECT c.relname, d.description FROM pg_catalog.pg_class c "
        "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 "
        "AND d.classoid = 'pg_class'::regclass WHERE c.relnamespace = 2200 ORDER BY 1"
    ).fetchall()
    assert tables[1] == ("products", "Public product catalog. (public table)")
    columns = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
        "WHERE a.attrelid = 'purchases'::regclass AND a.attnum > 0 ORDER BY a.attnum"
    ).fetchall()
    assert [c[0] for c in columns] == ["loyalty_number", "product", "amount", "ts"]
    assert [c[1] for c in columns] == ["bigint", "text", "double precision",
                                       "timestamp without time zone"]  # fmt: skip
